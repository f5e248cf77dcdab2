//! Fleet-wide single flight on the wire: asking a key's coordinator for the
//! lease (itself, without a round trip, when it ranks first), deciding as a
//! coordinator, and waiting only on a trusted holder this node has not
//! waited on in vain lately.

use super::*;

impl EventLoop {
    /// A key's coordinator: the first of this node and the connected peers it
    /// trusts, in the key's rendezvous ranking.
    pub(super) fn coordinator(&self, key: &str) -> PeerId {
        let me = *self.swarm.local_peer_id();
        let trusted = self.peers.keys().copied().filter(|p| self.trust.trusts(p));
        rank(key, trusted.chain(std::iter::once(me)))[0]
    }

    /// This node wants to fetch `key`: asks its coordinator (itself, without
    /// a round trip, when it is first in the ranking).
    pub(super) fn ask_lease(&mut self, key: String, reply: oneshot::Sender<LeaseAnswer>) {
        let me = *self.swarm.local_peer_id();
        let coordinator = self.coordinator(&key);
        if coordinator == me {
            let answer = self.decide_lease(&key, me);
            let _ = reply.send(self.lease_answer(answer));
            return;
        }
        let request = self
            .swarm
            .behaviour_mut()
            .lease
            .send_request(&coordinator, wire::Request::Read(LeaseRequest { key, release: false, stored: false }));
        self.lease_replies.insert(request, reply);
    }

    /// As coordinator: `asker` wants to fetch `key`.
    pub(super) fn decide_lease(&mut self, key: &str, asker: PeerId) -> Decision {
        let decision = self.leases.ask(key, asker, Instant::now());
        if decision == Decision::Granted {
            self.refusals.leases_granted += 1;
        }
        decision
    }

    /// What this node does with a coordinator's decision: it waits only for
    /// a holder it trusts (whose entry it would take).
    pub(super) fn lease_answer(&self, decision: Decision) -> LeaseAnswer {
        let stalled = |holder: &PeerId| self.stalled.get(holder).is_some_and(|at| at.elapsed() < DEMOTED_FOR);
        match decision {
            Decision::Wait { holder, remaining }
                if self.trust.trusts(&holder) && holder != *self.swarm.local_peer_id() && !stalled(&holder) =>
            {
                LeaseAnswer::Wait { holder: holder.to_string(), remaining }
            }
            _ => LeaseAnswer::Fetch,
        }
    }

    pub(super) fn on_lease_event(
        &mut self,
        event: request_response::Event<wire::Request<LeaseRequest>, LeaseResponse>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let Some(request) = self.readable(peer, request, "lease request") else { return };
                    let response = if request.release {
                        self.leases.release(&request.key, peer, request.stored, Instant::now());
                        LeaseResponse { granted: true, holder: None, remaining_ms: 0 }
                    } else if !self.trust.trusts(&peer) || !self.limits.allow_fetch(&peer) {
                        // Nobody waits on an untrusted holder: not recorded.
                        LeaseResponse { granted: true, holder: None, remaining_ms: 0 }
                    } else {
                        match self.decide_lease(&request.key, peer) {
                            Decision::Granted => LeaseResponse { granted: true, holder: None, remaining_ms: 0 },
                            Decision::Wait { holder, remaining } => LeaseResponse {
                                granted: false,
                                holder: Some(holder.to_string()),
                                remaining_ms: remaining.as_millis() as u64,
                            },
                        }
                    };
                    let _ = self.swarm.behaviour_mut().lease.send_response(channel, response);
                }
                request_response::Message::Response { request_id, response } => {
                    let Some(reply) = self.lease_replies.remove(&request_id) else { return };
                    let decision = match (response.granted, response.holder.and_then(|h| h.parse().ok())) {
                        (false, Some(holder)) => Decision::Wait {
                            holder,
                            remaining: Duration::from_millis(response.remaining_ms.min(60_000)),
                        },
                        _ => Decision::Granted,
                    };
                    let _ = reply.send(self.lease_answer(decision));
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if let request_response::OutboundFailure::Io(io) = &error {
                    self.unreadable(peer, io, "lease response");
                }
                if let Some(reply) = self.lease_replies.remove(&request_id) {
                    tracing::info!(%peer, %error, "the lease's coordinator did not answer");
                    let _ = reply.send(LeaseAnswer::Unanswered);
                }
            }
            request_response::Event::InboundFailure {
                peer, error: request_response::InboundFailure::Io(io), ..
            } => self.unreadable(peer, &io, "lease request"),
            _ => {}
        }
    }
}
