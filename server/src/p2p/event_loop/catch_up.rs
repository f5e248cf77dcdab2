//! Catch-up sync: a peer that connects (or comes back) is asked which
//! entries it stored since it was last seen, and those missing here are
//! fetched, a few at a time; what this node holds is listed for peers that
//! ask (to a stranger, anonymous GitHub answers only).

use super::*;

impl EventLoop {
    pub(super) fn on_sync_event(&mut self, event: request_response::Event<wire::Request<SyncRequest>, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let Some(request) = self.readable(peer, request, "sync request") else { return };
                    self.refusals.syncs_served += 1;
                    let entries = if self.limits.allow_fetch(&peer) {
                        let trusted = self.trust.trusts(&peer);
                        self.cache
                            .held_since(request.since_ms, SYNC_LIMIT)
                            .into_iter()
                            .filter(|(key, ..)| trusted || for_strangers(key))
                            .map(|(key, cid, stored_at_ms)| Held { key, cid, stored_at_ms })
                            .collect()
                    } else {
                        self.refuse(peer, &Rejection::RateLimited);
                        Vec::new()
                    };
                    let now_ms = Some(self.cache.now_ms());
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, SyncResponse { entries, now_ms });
                }
                request_response::Message::Response { request_id, response } => {
                    self.clock_measured(peer, request_id, response.now_ms);
                    let listed = response.entries.len();
                    for held in response.entries.into_iter().take(SYNC_LIMIT) {
                        let ours = self.cache.peek(&held.key);
                        let missing =
                            ours.is_none_or(|ours| ours.cid != held.cid && ours.stored_at_ms < held.stored_at_ms);
                        if missing && self.sync_wanted.len() < SYNC_QUEUE {
                            self.sync_wanted.push_back((peer, held));
                        }
                    }
                    tracing::debug!(peer = %peer, listed, wanted = self.sync_wanted.len(), "sync answer");
                    self.fetch_synced();
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                self.sync_asked.remove(&request_id);
                tracing::debug!(peer = %peer, %error, "sync request failed");
                if let request_response::OutboundFailure::Io(io) = &error {
                    self.unreadable(peer, io, "sync response");
                }
            }
            request_response::Event::InboundFailure {
                peer, error: request_response::InboundFailure::Io(io), ..
            } => self.unreadable(peer, &io, "sync request"),
            _ => {}
        }
    }

    /// How far `peer`'s clock is from ours: its time when it answered,
    /// against the middle of our asking and hearing back.
    fn clock_measured(&mut self, peer: PeerId, request: OutboundRequestId, theirs: Option<u64>) {
        let (Some(asked), Some(theirs)) = (self.sync_asked.remove(&request), theirs) else { return };
        let ours = asked + self.cache.now_ms().saturating_sub(asked) / 2;
        if let Some(peer) = self.peers.get_mut(&peer) {
            peer.clock_offset_ms = Some(theirs as i64 - ours as i64);
        }
    }

    /// Fetches what sync answers listed, a few at a time.
    pub(super) fn fetch_synced(&mut self) {
        while self.sync_in_flight < SYNC_FETCHES {
            let Some((peer, held)) = self.sync_wanted.pop_front() else { break };
            if !self.peers.contains_key(&peer) {
                continue;
            }
            if self
                .cache
                .peek(&held.key)
                .is_some_and(|ours| ours.cid == held.cid || ours.stored_at_ms >= held.stored_at_ms)
            {
                continue;
            }
            let request = self
                .swarm
                .behaviour_mut()
                .fetch
                .send_request(&peer, wire::Request::Read(FetchRequest { key: held.key.clone() }));
            self.requests.insert(request, Asked { key: held.key, purpose: Purpose::Sync { cid: held.cid } });
            self.sync_in_flight += 1;
        }
    }
}
