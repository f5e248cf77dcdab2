//! Misses: a local miss asks the key's best-ranked peers one at a time —
//! trusted and responsive ones first, a peer that left a question unanswered
//! lately last — the next when the last said "no" or did not answer within
//! the hedge delay; and the fetch requests peers send this node, answered to
//! a stranger with anonymous GitHub answers at most.

use super::*;

impl EventLoop {
    /// A local miss: asks the key's best-ranked peers, one at a time (all
    /// at once with a fan-out of 0).
    pub(super) fn start_fetch(&mut self, key: String, reply: oneshot::Sender<Option<Entry>>) {
        // Trusted peers first, then strangers; those that left a question
        // unanswered lately last; the key's ranking within each.
        let mut ranked = rank(&key, self.peers.keys().copied());
        let now = Instant::now();
        ranked.sort_by_key(|peer| {
            let silent = self.unresponsive.get(peer).is_some_and(|at| now.duration_since(*at) < DEMOTED_FOR);
            (silent, !self.trust.trusts(peer))
        });
        let mut ranked: VecDeque<PeerId> = ranked.into();
        if ranked.is_empty() {
            let _ = reply.send(None);
            return;
        }
        let at_once = if self.fanout == 0 { ranked.len() } else { 1 };
        if self.fanout > 0 {
            ranked.truncate(self.fanout);
        }
        let id = self.next_fetch;
        self.next_fetch += 1;
        self.fetches.insert(id, Fetch { key, next: ranked, outstanding: 0, reply: Some(reply) });
        for _ in 0..at_once {
            self.ask_next(id);
        }
    }

    /// Asks the next peer for a miss (a hedge timer fired, or the last peer
    /// had nothing), and arms the next hedge.
    pub(super) fn ask_next(&mut self, id: u64) {
        let Some(fetch) = self.fetches.get_mut(&id) else { return };
        if fetch.reply.is_none() {
            return;
        }
        let Some(peer) = fetch.next.pop_front() else { return };
        fetch.outstanding += 1;
        let key = fetch.key.clone();
        let more = !fetch.next.is_empty();
        let request = self
            .swarm
            .behaviour_mut()
            .fetch
            .send_request(&peer, wire::Request::Read(FetchRequest { key: key.clone() }));
        self.requests.insert(request, Asked { key, purpose: Purpose::Miss(id) });
        if more && self.fanout > 0 {
            let hedge = self.hedge;
            self.hedges.push(Box::pin(async move {
                tokio::time::sleep(hedge).await;
                id
            }));
        }
    }

    /// One answer to a miss fetch: `entry` when it was verified. Without one,
    /// the next peer is asked at once; when nobody is left, the miss is told.
    pub(super) fn fetch_answered(&mut self, id: u64, entry: Option<Entry>) {
        let Some(fetch) = self.fetches.get_mut(&id) else { return };
        fetch.outstanding -= 1;
        if let Some(entry) = entry {
            if let Some(reply) = fetch.reply.take() {
                let _ = reply.send(Some(entry));
            }
        }
        if fetch.reply.is_some() && fetch.outstanding == 0 && !fetch.next.is_empty() {
            self.ask_next(id);
            return;
        }
        if fetch.outstanding == 0 {
            if let Some(reply) = fetch.reply.take() {
                let _ = reply.send(None);
            }
            self.fetches.remove(&id);
        }
    }

    pub(super) fn on_fetch_event(
        &mut self,
        event: request_response::Event<wire::Request<FetchRequest>, FetchResponse>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let Some(request) = self.readable(peer, request, "fetch request") else { return };
                    self.refusals.served += 1;
                    let entry = if self.limits.allow_fetch(&peer) {
                        let now = self.cache.now_ms();
                        let trusted = self.trust.trusts(&peer);
                        self.cache.peek(&request.key).filter(|e| e.is_fresh(now) && (trusted || for_strangers(&e.key)))
                    } else {
                        self.refuse(peer, &Rejection::RateLimited);
                        None
                    };
                    if entry.is_some() {
                        if let Some(peer) = self.peers.get_mut(&peer) {
                            peer.entries_sent += 1;
                        }
                    }
                    let response = FetchResponse { entry: entry.map(|e| WireEntry::full(&e, &self.identity)) };
                    let _ = self.swarm.behaviour_mut().fetch.send_response(channel, response);
                }
                request_response::Message::Response { request_id, response } => {
                    let Some(asked) = self.requests.remove(&request_id) else { return };
                    self.unresponsive.remove(&peer);
                    let verified = match response.entry {
                        Some(wire) => self.answered(peer, &asked, wire),
                        None => None,
                    };
                    match asked.purpose {
                        Purpose::Miss(id) => {
                            if verified.is_some() {
                                self.accepted(peer);
                            }
                            self.fetch_answered(id, verified)
                        }
                        Purpose::Announced { author, .. } => {
                            if let Some(entry) = verified {
                                self.admit(author, entry);
                            }
                        }
                        Purpose::Sync { .. } => {
                            self.sync_in_flight -= 1;
                            if let Some(entry) = verified {
                                self.admit(peer, entry);
                            }
                            self.fetch_synced();
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if let request_response::OutboundFailure::Io(io) = &error {
                    self.unreadable(peer, io, "fetch response");
                }
                match self.requests.remove(&request_id) {
                    Some(Asked { purpose: Purpose::Miss(id), .. }) => {
                        self.unresponsive.insert(peer, Instant::now());
                        self.fetch_answered(id, None)
                    }
                    Some(Asked { purpose: Purpose::Sync { .. }, .. }) => {
                        self.sync_in_flight -= 1;
                        self.fetch_synced();
                    }
                    _ => {}
                }
            }
            request_response::Event::InboundFailure {
                peer, error: request_response::InboundFailure::Io(io), ..
            } => self.unreadable(peer, &io, "fetch request"),
            _ => {}
        }
    }

    /// A fetch answer must be the entry that was asked for (and, for an
    /// announcement, the one announced); then it is verified like any other.
    pub(super) fn answered(&mut self, peer: PeerId, asked: &Asked, wire: WireEntry) -> Option<Entry> {
        if wire.key != asked.key {
            let rejection = Rejection::WrongKey { asked: asked.key.clone(), answered: wire.key };
            self.refuse(peer, &rejection);
            return None;
        }
        if let Purpose::Announced { cid, .. } | Purpose::Sync { cid } = &asked.purpose {
            if wire.cid != *cid {
                self.refuse(peer, &Rejection::CidMismatch(wire.cid));
                return None;
            }
        }
        let for_a_miss = matches!(asked.purpose, Purpose::Miss(_));
        self.check(peer, wire, !for_a_miss).ok().flatten()
    }
}
