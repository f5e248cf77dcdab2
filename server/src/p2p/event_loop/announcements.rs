//! Gossip: this node's entries and invalidations announced, and peers'
//! received — every entry checked by `verify`, stored within its publisher's
//! budget, large ones fetched from their author after the checks that can be
//! made first; invalidations narrow, dated now at the latest, rate-limited per
//! publisher. What is refused is counted by reason, unreadable messages too.

use super::*;

impl EventLoop {
    pub(super) fn announce(&mut self, entry: &Entry) {
        let bytes = WireEntry::announcement(entry, &self.identity).encode_announcement();
        match self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), bytes) {
            Ok(_) => {
                for peer in self.topic_peers() {
                    if let Some(peer) = self.peers.get_mut(&peer) {
                        peer.entries_sent += 1;
                    }
                }
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(error) => tracing::debug!(%error, key = entry.key, "announcement not published"),
        }
    }

    /// The peers subscribed to the announcement topic: who a publication reaches.
    pub(super) fn topic_peers(&self) -> Vec<PeerId> {
        let topic = self.topic.hash();
        let gossipsub = &self.swarm.behaviour().gossipsub;
        gossipsub.all_peers().filter(|(_, topics)| topics.contains(&&topic)).map(|(peer, _)| *peer).collect()
    }

    /// Checks an announcement from `author`, passed on by `via`; stores it,
    /// or fetches its body.
    pub(super) fn on_announcement(&mut self, author: PeerId, via: PeerId, data: &[u8]) -> MessageAcceptance {
        if !self.limits.allow_message(&via) {
            self.refuse(via, &Rejection::RateLimited);
            return MessageAcceptance::Ignore;
        }
        let wire = match Announcement::decode(data) {
            Ok(Announcement::Entry(wire)) => wire,
            Ok(Announcement::Invalidation(invalidation)) => {
                return self.on_invalidation(author, Cause::Write, invalidation)
            }
            Ok(Announcement::Flush(invalidation)) => {
                return self.on_invalidation(author, Cause::Operator, invalidation)
            }
            Ok(Announcement::Summary(summary)) => return self.on_summary(author, summary),
            Err(rejection @ Rejection::UnknownVersion(_)) => {
                // A newer (or older) node: not garbage, and no reason to part.
                self.refuse(author, &rejection);
                return MessageAcceptance::Ignore;
            }
            Err(rejection) => {
                self.refuse(author, &rejection);
                // Garbage is not a disagreement: the sender is broken or hostile.
                let _ = self.swarm.disconnect_peer_id(author);
                return MessageAcceptance::Reject;
            }
        };
        if wire.body.is_none() {
            return self.fetch_announced(author, wire);
        }
        match self.check(author, wire, true) {
            Ok(Some(entry)) => self.admit(author, entry),
            Ok(None) => MessageAcceptance::Ignore,
            Err(rejection) if rejection.is_forgery() => MessageAcceptance::Reject,
            Err(_) => MessageAcceptance::Ignore,
        }
    }

    /// A node's summary of itself: kept for the fleet view when it verifies
    /// (an untrusted node's apart, never summed).
    pub(super) fn on_summary(&mut self, author: PeerId, summary: WireSummary) -> MessageAcceptance {
        let now = self.cache.now_ms();
        match summary.verify(self.swarm.local_peer_id(), now) {
            Ok((publisher, summary)) => {
                let trusted = self.trust.trusts(&publisher);
                self.book.lock().expect("fleet book lock").heard(publisher, summary, trusted, now);
                MessageAcceptance::Accept
            }
            Err(Rejection::OwnEntry) => MessageAcceptance::Ignore,
            Err(rejection) => {
                self.refuse(author, &rejection);
                match rejection.is_forgery() {
                    true => MessageAcceptance::Reject,
                    false => MessageAcceptance::Ignore,
                }
            }
        }
    }

    /// A write to GitHub at a trusted peer, or its operator's fleet-wide
    /// invalidation: drop what is older, and bar older copies for as long as
    /// they could live.
    pub(super) fn on_invalidation(
        &mut self,
        author: PeerId,
        cause: Cause,
        invalidation: WireInvalidation,
    ) -> MessageAcceptance {
        let now = self.cache.now_ms();
        let publisher = match invalidation.verify(cause, &self.trust, now) {
            Ok(publisher) => publisher,
            Err(rejection) => {
                self.refuse(author, &rejection);
                return if rejection.is_forgery() { MessageAcceptance::Reject } else { MessageAcceptance::Ignore };
            }
        };
        if !self.limits.allow_invalidation(&publisher) {
            self.refuse(author, &Rejection::RateLimited);
            return MessageAcceptance::Ignore;
        }
        // Never later than now: a date ahead would bar fresh copies for longer.
        let at = invalidation.at_ms.min(now);
        let longest_secs = match cause {
            Cause::Write => longest_github_ttl(self.cache.config().default_ttl_secs),
            Cause::Operator => MAX_TTL_SECS,
        };
        let lasts_ms = (longest_secs * 1000).saturating_add(MAX_CLOCK_SKEW_MS);
        let until = at.saturating_add(lasts_ms);
        let cache = self.cache.clone();
        tokio::spawn(async move {
            let prefixes = invalidation.prefixes;
            let dropped = cache
                .write(move |cache| prefixes.iter().try_fold(0, |sum, p| Ok(sum + cache.write_barrier(p, at, until)?)))
                .await;
            match dropped {
                Ok(dropped) if cause == Cause::Operator => {
                    tracing::info!(dropped, %publisher, "invalidated for the fleet by a peer's operator")
                }
                Ok(dropped) => tracing::debug!(dropped, "a peer's write made cached answers stale"),
                Err(error) => tracing::warn!(%error, "could not drop answers a peer's write made stale"),
            }
        });
        MessageAcceptance::Accept
    }

    /// A large entry was announced without its body: check what can be
    /// checked now, then ask its author for it.
    pub(super) fn fetch_announced(&mut self, author: PeerId, wire: WireEntry) -> MessageAcceptance {
        let now = self.cache.now_ms();
        let refused = if !wire.signature_holds() {
            Some(Rejection::BadSignature)
        } else if wire.stored_at_ms.saturating_add(wire.ttl_secs.saturating_mul(1000)) <= now {
            Some(Rejection::Expired)
        } else if wire.size > self.cache.config().max_bytes {
            Some(Rejection::TooLarge(wire.size as usize))
        } else if wire.size > UNTRUSTED_MAX_BYTES && !wire.publisher().is_some_and(|p| self.trust.trusts(&p)) {
            // Not worth fetching: refused whatever the body (see `verify`).
            Some(Rejection::TooLarge(wire.size as usize))
        } else {
            None
        };
        if let Some(rejection) = refused {
            self.refuse(author, &rejection);
            return if rejection.is_forgery() { MessageAcceptance::Reject } else { MessageAcceptance::Ignore };
        }
        let ours = self.cache.peek(&wire.key);
        if ours.is_some_and(|ours| ours.cid == wire.cid || ours.stored_at_ms >= wire.stored_at_ms) {
            return MessageAcceptance::Ignore;
        }
        let request = self
            .swarm
            .behaviour_mut()
            .fetch
            .send_request(&author, wire::Request::Read(FetchRequest { key: wire.key.clone() }));
        self.requests.insert(request, Asked { key: wire.key, purpose: Purpose::Announced { cid: wire.cid, author } });
        MessageAcceptance::Accept
    }

    /// Verifies a complete wire entry sent by `peer`: `Some` to store, `None`
    /// when we already have it (or a newer copy), `Err` when it was refused
    /// (and counted). A miss wants the entry whatever we hold, so it passes
    /// `compare_with_ours = false`.
    pub(super) fn check(
        &mut self,
        peer: PeerId,
        wire: WireEntry,
        compare_with_ours: bool,
    ) -> Result<Option<Entry>, Rejection> {
        let held = self.cache.peek(&wire.key);
        let ours = if compare_with_ours { held.clone() } else { None };
        let from = peer.to_string();
        let check = Check {
            from: &from,
            now_ms: self.cache.now_ms(),
            ours: ours.as_deref(),
            holds: held.is_some(),
            trust: &self.trust,
            ttl_cap: max_ttl_for(&wire.key, self.cache.config().default_ttl_secs),
        };
        match verify(wire, &check) {
            Ok(Verdict::Store(entry)) => Ok(Some(entry)),
            Ok(Verdict::AlreadyHave) => Ok(None),
            Err(rejection) => {
                self.refuse(peer, &rejection);
                Err(rejection)
            }
        }
    }

    /// Stores a verified announced entry, within its publisher's share of
    /// the cache and the room in the disk queue.
    pub(super) fn admit(&mut self, author: PeerId, entry: Entry) -> MessageAcceptance {
        let minute = self.minute();
        if !self.limits.allow_entry(&author, minute, entry.size()) {
            self.refuse(author, &Rejection::OverBudget);
            return MessageAcceptance::Ignore;
        }
        self.store(author, entry);
        MessageAcceptance::Accept
    }

    /// Counts a refusal of something no peer stands behind (a connection).
    pub(super) fn count_refusal(&mut self, reason: &str) {
        self.refusals.total += 1;
        *self.refusals.by_reason.entry(reason.to_owned()).or_default() += 1;
        self.publish_status();
    }

    /// Counts and logs what `peer` sent that was not stored.
    pub(super) fn refuse(&mut self, peer: PeerId, rejection: &Rejection) {
        self.refusals.total += 1;
        *self.refusals.by_reason.entry(rejection.reason().to_owned()).or_default() += 1;
        if let Some(peer) = self.peers.get_mut(&peer) {
            peer.refused += 1;
        }
        tracing::warn!(peer = %peer, reason = %rejection, "refused an entry or message from a peer");
    }

    /// Queues a verified entry from a peer for the disk (the writer task
    /// commits it); a full queue drops it, counted.
    pub(super) fn store(&mut self, from: PeerId, entry: Entry) {
        match self.store.try_send(entry) {
            Ok(()) => self.accepted(from),
            Err(mpsc::error::TrySendError::Full(_)) => self.refuse(from, &Rejection::QueueFull),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Counts an entry from `peer` that was taken.
    pub(super) fn accepted(&mut self, peer: PeerId) {
        self.refusals.accepted += 1;
        if let Some(peer) = self.peers.get_mut(&peer) {
            peer.entries_received += 1;
        }
    }

    /// A request or response from `peer` that could not be read. Another
    /// wire version is counted and the connection kept (a rolling upgrade
    /// must not split the fleet); what is not a message of ours at all (or
    /// is over its size bound) is counted and the peer dropped.
    pub(super) fn unreadable(&mut self, peer: PeerId, error: &std::io::Error, what: &str) {
        match WireError::of(error) {
            Some(error) => self.refuse_unreadable(peer, error, what),
            // The stream broke (reset, closed early): nothing was said.
            None => tracing::debug!(peer = %peer, %error, "a {what} broke off"),
        }
    }

    /// The request, or `None` when it could not be read (counted; see
    /// [`Self::unreadable`]).
    pub(super) fn readable<T>(&mut self, peer: PeerId, request: wire::Request<T>, what: &str) -> Option<T> {
        match request {
            wire::Request::Read(request) => Some(request),
            wire::Request::Unreadable(error) => {
                self.refuse_unreadable(peer, &error, what);
                None
            }
        }
    }

    /// See [`Self::unreadable`].
    pub(super) fn refuse_unreadable(&mut self, peer: PeerId, error: &WireError, what: &str) {
        match error {
            WireError::Version(version) => {
                tracing::debug!(peer = %peer, version, "a {what} of another wire version; ignored");
                self.refuse(peer, &Rejection::UnknownVersion(*version));
            }
            WireError::Malformed(why) => {
                tracing::warn!(peer = %peer, %why, "a {what} that is not a peercache message; disconnecting");
                self.refuse(peer, &Rejection::Malformed(why.clone()));
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }
}
