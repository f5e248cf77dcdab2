//! The status snapshot readers see (`NodeClient::status`), so a status
//! request never waits on the network: published after anything that
//! changes what the node looks like, except the routine of a settled node
//! (pings, the DHT, identify, other nodes' summaries), which a tick shows:
//! each second while someone looks at the status, else every
//! `UNWATCHED_REFRESH`. A snapshot names every peer: one per ping was most
//! of an idle node's CPU, and one per tick still its largest single item.

use super::*;
use crate::p2p::status::UNWATCHED_REFRESH;

impl EventLoop {
    pub fn publish_status(&mut self) {
        self.published_at = Instant::now();
        let status = self.snapshot();
        self.status.send_if_modified(|current| {
            if *current == status {
                false
            } else {
                *current = status;
                true
            }
        });
    }

    /// Whether a tick refreshes the routine figures: someone looked since
    /// the last tick, or nobody did for `UNWATCHED_REFRESH`.
    pub(super) fn refresh_due(&self) -> bool {
        self.status.looked() || self.published_at.elapsed() >= UNWATCHED_REFRESH
    }

    pub(super) fn snapshot(&self) -> PeerStatus {
        let mut peers: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(id, peer)| PeerInfo {
                peer_id: id.to_string(),
                addr: peer.addr.to_string(),
                direction: if peer.outbound { "outbound" } else { "inbound" }.to_owned(),
                latency_ms: peer.latency.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
                agent: peer.agent.clone(),
                protocols: peer.protocols.clone(),
                connected_since: rfc3339(peer.connected_since_ms),
                entries_received: peer.entries_received,
                entries_sent: peer.entries_sent,
                gossip_score: self.swarm.behaviour().gossipsub.peer_score(id),
                trusted: self.trust.trusts(id),
                refused: peer.refused,
                clock_offset_ms: peer.clock_offset_ms,
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        let active = !peers.is_empty();
        let (state, reason) = if let Some(error) = &self.listen_error {
            (NodeState::Failed, Some(error.clone()))
        } else if active {
            (NodeState::Active, None)
        } else {
            (NodeState::Connecting, Some(self.idle_reason()))
        };
        PeerStatus {
            enabled: true,
            active,
            state,
            peer_count: peers.len(),
            peer_id: Some(self.swarm.local_peer_id().to_string()),
            listen_addrs: self.listen_addrs_routable_first(),
            peers,
            reason,
            bootstrap_problems: self.bootstrap_problems.clone(),
            swarm_key_mismatch: self.swarm_key_mismatch.clone(),
            rejected_from_peers: self.refusals.total,
            accepted_from_peers: self.refusals.accepted,
            fetches_served: self.refusals.served,
            syncs_served: self.refusals.syncs_served,
            leases_granted: self.refusals.leases_granted,
            refused_by_reason: self.refusals.by_reason.clone(),
            trust: self.trust.describe(),
            sharing_warning: self.trust.sharing_warning(),
            gossip: self.gossip_health(),
        }
    }

    pub(super) fn gossip_health(&self) -> GossipHealth {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let topic = self.topic.hash();
        let threshold = score_thresholds().gossip_threshold;
        GossipHealth {
            topic_peers: gossipsub.all_peers().filter(|(_, topics)| topics.contains(&&topic)).count(),
            mesh_peers: gossipsub.mesh_peers(&topic).count(),
            low_score_peers: self
                .peers
                .keys()
                .filter(|p| gossipsub.peer_score(p).is_some_and(|s| s < threshold))
                .count(),
        }
    }

    /// This node's addresses with its peer id, routable first.
    fn listen_addrs_routable_first(&self) -> Vec<String> {
        routable_first(&self.listen_addrs).into_iter().map(|a| self.with_peer_id(a).to_string()).collect()
    }

    pub(super) fn idle_reason(&self) -> String {
        if self.redials.is_empty() && !self.bootstrap_problems.is_empty() {
            format!(
                "no usable bootstrap peer: {} entr{} of CACHE_BOOTSTRAP_PEERS ignored (see bootstrap problems)",
                self.bootstrap_problems.len(),
                if self.bootstrap_problems.len() == 1 { "y" } else { "ies" }
            )
        } else if !self.redials.is_empty() {
            let mut reason = format!("dialing {} bootstrap peers", self.redials.len());
            if let Some(error) = self.redials.iter().rev().find_map(|r| r.last_error.as_deref()) {
                reason.push_str("; last error: ");
                reason.push_str(error);
            }
            reason
        } else if self.mdns {
            "no peers found by mDNS yet".to_owned()
        } else {
            "no bootstrap peers configured and mDNS off".to_owned()
        }
    }
}

/// `addrs` with those other machines can reach first, in their order: a
/// loopback address copied to another machine dials whoever listens there,
/// and fails with "Unexpected peer ID".
fn routable_first(addrs: &[Multiaddr]) -> Vec<&Multiaddr> {
    let mut sorted: Vec<&Multiaddr> = addrs.iter().collect();
    sorted.sort_by_key(|addr| ip_of(addr).is_none_or(|ip| ip.is_loopback()));
    sorted
}

/// Whether `event` is the routine of a settled node (a ping's round trip,
/// the DHT and identify talking, another node's summary): shown with a tick
/// rather than at once.
pub(super) fn routine(event: &SwarmEvent<BehaviourEvent>) -> bool {
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Ping(_) | BehaviourEvent::Kad(_) | BehaviourEvent::Identify(_)) => true,
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message { message, .. })) => {
            Announcement::is_summary(&message.data)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gossip(data: Vec<u8>) -> SwarmEvent<BehaviourEvent> {
        let message =
            gossipsub::Message { source: None, data, sequence_number: None, topic: IdentTopic::new("t").hash() };
        let (propagation_source, message_id) = (PeerId::random(), gossipsub::MessageId::new(b"m"));
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        }))
    }

    #[test]
    fn another_nodes_summary_waits_for_a_tick_and_an_entry_is_shown_at_once() {
        let node = Keypair::generate_ed25519();
        let summary = WireSummary::new(Default::default(), &node).encode_announcement();
        assert!(routine(&gossip(summary)), "a summary changes only the fleet book");
        let entry = Entry::new("k".into(), bytes::Bytes::from_static(b"{}"), 1, 60, None, Some(200));
        let announcement = WireEntry::announcement(&entry, &node).encode_announcement();
        assert!(!routine(&gossip(announcement)), "an entry counts in the status");
        assert!(!routine(&gossip(b"garbage".to_vec())), "a refusal counts in the status");
    }

    #[test]
    fn routable_addresses_come_before_loopback_ones() {
        let addrs: Vec<Multiaddr> =
            ["/ip4/127.0.0.1/tcp/9100", "/ip4/10.1.2.3/tcp/9100", "/ip6/::1/tcp/9100", "/ip4/192.168.5.6/tcp/9100"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect();
        let sorted: Vec<String> = routable_first(&addrs).iter().map(ToString::to_string).collect();
        assert_eq!(
            sorted,
            ["/ip4/10.1.2.3/tcp/9100", "/ip4/192.168.5.6/tcp/9100", "/ip4/127.0.0.1/tcp/9100", "/ip6/::1/tcp/9100"]
        );
    }
}
