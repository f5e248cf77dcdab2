//! Fleet-wide single flight: before asking GitHub, a node asks the key's
//! coordinator for the lease to fetch it; one node of the fleet fetches, the
//! others wait for its entry to arrive by gossip. With confirmed sharing the
//! lease is the request's (every scope's), not one scope's: while one node
//! fetches a key for one token, requests for it from other tokens wait for
//! that body and then confirm it for free.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::cache::entry::Entry;
use crate::cache::Cache;
use crate::github::key::scopes_prefix;
use crate::github::request::Call;
use crate::github::stats::ProxyCounters;
use crate::p2p::client::{LeaseAnswer, NodeClient};

/// How long a node waits for another node's fetch before asking its
/// coordinator again (a holder that died loses the lease to the next asker).
const FLEET_SLICE: Duration = Duration::from_millis(1000);

/// What the fleet's single flight says this node should do.
pub enum FleetTurn {
    /// Fetch from GitHub (`mine`: holding the lease, to give back after).
    Fetch { mine: bool },
    /// The holder's entry arrived (for this scope, or another).
    Arrived(Arc<Entry>, String),
}

/// Which stored entries answer a wait: the call's own key, or with sharing
/// any scope's entry for the same request.
pub struct Awaited {
    key: String,
    any_scope: Option<String>,
}

impl Awaited {
    pub fn new(call: &Call<'_>, shared: bool) -> Awaited {
        let any_scope = shared.then(|| scopes_prefix(&call.request.identity()));
        Awaited { key: call.key.clone(), any_scope }
    }

    /// The lease's name: the request's, when scopes share.
    pub fn lease_key(&self) -> &str {
        match &self.any_scope {
            Some(prefix) => prefix,
            None => &self.key,
        }
    }

    fn answers(&self, entry: &Entry) -> bool {
        entry.key == self.key || self.any_scope.as_deref().is_some_and(|prefix| entry.key.starts_with(prefix))
    }

    /// What is already stored that answers the wait.
    fn stored(&self, cache: &Cache) -> Option<Arc<Entry>> {
        if let Some(entry) = cache.fresh(&self.key) {
            return Some(entry);
        }
        let prefix = self.any_scope.as_deref()?;
        let now = cache.now_ms();
        cache.with_prefix(prefix).into_iter().filter(|e| e.is_fresh(now)).max_by_key(|e| e.stored_at_ms)
    }
}

/// An entry answering `awaited`, once stored here (by gossip from its
/// fetcher), waiting at most `within`.
async fn arrival(
    arrivals: &mut broadcast::Receiver<Arc<Entry>>,
    cache: &Cache,
    awaited: &Awaited,
    within: Duration,
) -> Option<Arc<Entry>> {
    if let Some(entry) = awaited.stored(cache) {
        return Some(entry);
    }
    let wait = async {
        loop {
            match arrivals.recv().await {
                Ok(entry) if awaited.answers(&entry) => return Some(entry),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(entry) = awaited.stored(cache) {
                        return Some(entry);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    tokio::time::timeout(within, wait).await.ok().flatten()
}

/// Asks the coordinator of `awaited`'s lease whether to fetch or to wait
/// for another node's fetch; waits (in slices, asking again, so a holder
/// that died hands the lease on) at most `wait`, then fetches.
pub async fn turn(
    node: &NodeClient,
    cache: &Cache,
    awaited: &Awaited,
    wait: Duration,
    counters: &ProxyCounters,
) -> FleetTurn {
    let mut arrivals = cache.subscribe_inserts();
    let deadline = tokio::time::Instant::now() + wait;
    let mut waited = false;
    loop {
        let (holder, remaining) = match node.lease(awaited.lease_key()).await {
            // Unanswered: the lease may have been granted, its answer late.
            LeaseAnswer::Fetch | LeaseAnswer::Unanswered => return FleetTurn::Fetch { mine: true },
            LeaseAnswer::Wait { holder, remaining } => (holder, remaining),
        };
        if !waited {
            counters.fleet_wait();
            waited = true;
        }
        let slice = remaining.min(FLEET_SLICE).min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        if let Some(entry) = arrival(&mut arrivals, cache, awaited, slice).await {
            return FleetTurn::Arrived(entry, holder);
        }
        if tokio::time::Instant::now() >= deadline {
            counters.fleet_wait_timeout();
            node.stalled(&holder).await;
            return FleetTurn::Fetch { mine: false };
        }
    }
}
