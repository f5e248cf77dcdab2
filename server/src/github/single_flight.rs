//! Single flight: of all callers that want the same key at the same time, one
//! (the leader) does the work and the others wait for its result: the GitHub
//! proxy's request coalescing (`GithubProxy::coalesced`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

pub struct SingleFlight<V> {
    inflight: Mutex<HashMap<String, watch::Receiver<Option<V>>>>,
    /// Followers waiting right now, over every key.
    waiting: AtomicUsize,
}

impl<V> Default for SingleFlight<V> {
    fn default() -> Self {
        SingleFlight { inflight: Mutex::new(HashMap::new()), waiting: AtomicUsize::new(0) }
    }
}

/// What a caller is for one key.
pub enum Role<'a, V> {
    /// Do the work, then `finish` with its result.
    Leader(Leader<'a, V>),
    /// Someone is already at it: `wait` for their result.
    Follower(Follower<'a, V>),
}

pub struct Leader<'a, V> {
    flight: &'a SingleFlight<V>,
    key: String,
    sender: watch::Sender<Option<V>>,
}

pub struct Follower<'a, V> {
    flight: &'a SingleFlight<V>,
    receiver: watch::Receiver<Option<V>>,
}

impl<V: Clone> SingleFlight<V> {
    pub fn join(&self, key: &str) -> Role<'_, V> {
        let mut inflight = self.inflight.lock().expect("single flight lock");
        match inflight.get(key) {
            Some(receiver) => Role::Follower(Follower { flight: self, receiver: receiver.clone() }),
            None => {
                let (sender, receiver) = watch::channel(None);
                inflight.insert(key.to_owned(), receiver);
                Role::Leader(Leader { flight: self, key: key.to_owned(), sender })
            }
        }
    }

    /// How many callers are waiting for another's result right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

impl<V> Leader<'_, V> {
    /// Hands the result to every follower.
    pub fn finish(self, value: V) {
        let _ = self.sender.send(Some(value));
    }
}

impl<V> Drop for Leader<'_, V> {
    /// Finished or abandoned (its future dropped), the key is free again.
    fn drop(&mut self) {
        self.flight.inflight.lock().expect("single flight lock").remove(&self.key);
    }
}

impl<V: Clone> Follower<'_, V> {
    /// The leader's result; `None` when the leader was dropped without one.
    pub async fn wait(mut self) -> Option<V> {
        self.flight.waiting.fetch_add(1, Ordering::SeqCst);
        let _counted = Waiting(&self.flight.waiting);
        self.receiver.wait_for(Option::is_some).await.ok().and_then(|value| value.clone())
    }
}

/// Uncounts a follower when it stops waiting, however that happens.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_result_and_the_key_frees_up() {
        let flight = std::sync::Arc::new(SingleFlight::<u32>::default());
        let Role::Leader(leader) = flight.join("k") else { panic!("first caller leads") };
        let waiting = tokio::spawn({
            let flight = flight.clone();
            async move {
                let Role::Follower(follower) = flight.join("k") else { panic!("second caller follows") };
                follower.wait().await
            }
        });
        let counted = async {
            while flight.waiting() == 0 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), counted).await.expect("the follower is counted");
        leader.finish(7);
        assert_eq!(waiting.await.unwrap(), Some(7));
        assert_eq!(flight.waiting(), 0, "uncounted once it has its answer");
        assert!(matches!(flight.join("k"), Role::Leader(_)), "free again after the leader is done");
    }

    #[tokio::test]
    async fn an_abandoned_leader_releases_its_followers() {
        let flight = SingleFlight::<u32>::default();
        let leader = flight.join("k");
        let Role::Follower(follower) = flight.join("k") else { panic!() };
        drop(leader);
        assert_eq!(follower.wait().await, None);
    }
}
