//! The node's status snapshot: a `watch` channel the node's event loop keeps
//! current and every reader clones from without blocking, and a flag that
//! tells the loop whether anyone looks. Naming every peer costs an idle node
//! more than anything else it does, so the routine figures (pings' round
//! trips, gossip scores, summaries heard) are refreshed each second only
//! while someone looks, and every [`UNWATCHED_REFRESH`] otherwise; anything
//! else that changes the status (a peer comes or goes, a refusal) is
//! published at once either way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::model::{NodeState, PeerStatus};
use tokio::sync::watch;

/// How old the routine figures of a status nobody looks at may grow.
pub const UNWATCHED_REFRESH: Duration = Duration::from_secs(10);

/// Cheap, cloneable reader of the node's latest status.
#[derive(Clone)]
pub struct NodeStatusHandle {
    receiver: watch::Receiver<PeerStatus>,
    looked: Arc<AtomicBool>,
}

/// The event loop's end: publishes, and learns whether anyone looked.
pub struct StatusSender {
    sender: watch::Sender<PeerStatus>,
    looked: Arc<AtomicBool>,
}

impl NodeStatusHandle {
    /// A channel whose sender the node keeps; readers get the handle.
    pub fn channel(initial: PeerStatus) -> (StatusSender, Self) {
        let (sender, receiver) = watch::channel(initial);
        let looked = Arc::new(AtomicBool::new(false));
        (StatusSender { sender, looked: looked.clone() }, NodeStatusHandle { receiver, looked })
    }

    /// The status as of the last refresh, for the node's own use (peer
    /// counts, its id, its reason: always current).
    pub fn current(&self) -> PeerStatus {
        self.receiver.borrow().clone()
    }

    /// The status for a person or a scraper, who sees its routine figures
    /// too: from now on they are refreshed every second (see the module).
    pub fn looked_at(&self) -> PeerStatus {
        self.looked.store(true, Ordering::Relaxed);
        self.current()
    }
}

impl StatusSender {
    /// Whether anyone looked at the status since the last call.
    pub fn looked(&self) -> bool {
        self.looked.swap(false, Ordering::Relaxed)
    }

    pub fn send_if_modified(&self, modify: impl FnOnce(&mut PeerStatus) -> bool) -> bool {
        self.sender.send_if_modified(modify)
    }

    pub fn send_modify(&self, modify: impl FnOnce(&mut PeerStatus)) {
        self.sender.send_modify(modify)
    }
}

/// Status of a node that is off, with the reason a person reads.
pub fn disabled(reason: &str) -> PeerStatus {
    PeerStatus {
        enabled: false,
        active: false,
        state: NodeState::Disabled,
        peer_count: 0,
        peer_id: None,
        listen_addrs: Vec::new(),
        peers: Vec::new(),
        reason: Some(reason.to_owned()),
        bootstrap_problems: Vec::new(),
        swarm_key_mismatch: None,
        rejected_from_peers: 0,
        accepted_from_peers: 0,
        fetches_served: 0,
        syncs_served: 0,
        leases_granted: 0,
        refused_by_reason: Default::default(),
        trust: String::new(),
        sharing_warning: None,
        gossip: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_what_the_node_publishes() {
        let (sender, handle) = NodeStatusHandle::channel(disabled("P2P node not started"));
        assert_eq!(handle.current().reason.as_deref(), Some("P2P node not started"));
        let mut active = disabled("");
        active.enabled = true;
        active.active = true;
        active.state = NodeState::Active;
        active.peer_count = 1;
        active.reason = None;
        sender.send_modify(|status| *status = active.clone());
        assert_eq!(handle.current(), active);
    }

    #[test]
    fn the_loop_learns_whether_anyone_looked_once_per_look() {
        let (sender, handle) = NodeStatusHandle::channel(disabled("P2P node not started"));
        assert!(!sender.looked(), "nobody looked yet");
        let _ = handle.current();
        assert!(!sender.looked(), "the node's own reads are not a person looking");
        let _ = handle.clone().looked_at();
        assert!(sender.looked(), "a look through any clone of the handle is seen");
        assert!(!sender.looked(), "and seen once");
    }
}
