//! The node's status snapshot: a `watch` channel the node's event loop keeps
//! current and every reader clones from without blocking.

use app::model::{NodeState, PeerStatus};
use tokio::sync::watch;

/// Cheap, cloneable reader of the node's latest status.
#[derive(Clone)]
pub struct NodeStatusHandle {
    receiver: watch::Receiver<PeerStatus>,
}

impl NodeStatusHandle {
    /// A channel whose sender the node keeps; readers get the handle.
    pub fn channel(initial: PeerStatus) -> (watch::Sender<PeerStatus>, Self) {
        let (sender, receiver) = watch::channel(initial);
        (sender, NodeStatusHandle { receiver })
    }

    pub fn current(&self) -> PeerStatus {
        self.receiver.borrow().clone()
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
        sender.send(active.clone()).unwrap();
        assert_eq!(handle.current(), active);
    }
}
