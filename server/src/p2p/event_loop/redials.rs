//! Keeping the fleet connected: the one-second tick (bootstrap and
//! lost-peer redials with backoff, Kademlia refresh, forgetting idle peers'
//! limits, lapsed leases, demotions that ran out), and a connection that
//! comes up (the peer table, redials reset, the dialled address kept) or
//! goes down (the peer remembered and redialled).

use super::*;

impl EventLoop {
    pub(super) fn on_tick(&mut self) {
        let now = Instant::now();
        let connected: HashSet<PeerId> = self.peers.keys().copied().collect();
        for redial in &mut self.redials {
            if !connected.contains(&redial.peer.peer_id) && redial.due(now) {
                redial.in_flight = true;
                if let Err(error) = self.swarm.dial(redial.peer.addr.clone()) {
                    redial.failed(error.to_string(), now);
                }
            }
        }
        self.lost.retain(|_, lost| now.duration_since(lost.since) < LOST_PEER_KEPT);
        let due: Vec<PeerId> = self.lost.iter().filter(|(_, l)| now >= l.next_attempt).map(|(p, _)| *p).collect();
        for peer in due {
            if let Some(lost) = self.lost.get_mut(&peer) {
                lost.next_attempt = now + lost.backoff;
                lost.backoff = (lost.backoff * 2).min(LOST_PEER_MAX_BACKOFF);
            }
            let _ = self.swarm.dial(peer);
        }
        if now.duration_since(self.last_kad_refresh) >= self.kad_refresh_every && !self.peers.is_empty() {
            self.last_kad_refresh = now;
            self.kad_refresh_every = (self.kad_refresh_every * 2).min(KAD_REFRESH_MAX);
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
        let minute = self.minute();
        self.limits.forget_idle(minute);
        self.leases.tick(Instant::now());
        self.stalled.retain(|_, at| at.elapsed() < DEMOTED_FOR);
        self.unresponsive.retain(|_, at| at.elapsed() < DEMOTED_FOR);
    }

    /// A connection to `peer_id` closed; with none left, the peer is gone:
    /// remembered (to ask what it stored since), redialled with backoff.
    pub(super) fn closed(&mut self, peer_id: PeerId, num_established: u32) {
        if num_established > 0 {
            if let Some(peer) = self.peers.get_mut(&peer_id) {
                peer.connections = num_established as usize;
            }
            return;
        }
        self.peers.remove(&peer_id);
        self.kad_refresh_every = KAD_REFRESH;
        self.book.lock().expect("fleet book lock").left(&peer_id);
        tracing::info!(peer = %peer_id, "peer disconnected");
        self.last_contact.insert(peer_id, self.cache.now_ms());
        self.leases.drop_holder(peer_id);
        let now = Instant::now();
        if self.lost.len() < MAX_LOST_PEERS {
            self.lost.insert(peer_id, Lost { since: now, next_attempt: now + FIRST_BACKOFF, backoff: FIRST_BACKOFF });
        }
        for redial in self.redials.iter_mut().filter(|r| r.peer.peer_id == peer_id) {
            redial.disconnected(now);
        }
    }

    pub(super) fn connected(&mut self, peer_id: PeerId, endpoint: &ConnectedPoint) {
        let addr = endpoint.get_remote_address().clone();
        self.lost.remove(&peer_id);
        if !self.peers.contains_key(&peer_id) {
            self.kad_refresh_every = KAD_REFRESH;
            // What did it store while we were apart (everything fresh, if we never met)?
            let since = self.last_contact.get(&peer_id).map_or(0, |at| at.saturating_sub(MAX_CLOCK_SKEW_MS));
            let asked = self
                .swarm
                .behaviour_mut()
                .sync
                .send_request(&peer_id, wire::Request::Read(SyncRequest { since_ms: since }));
            self.sync_asked.insert(asked, self.cache.now_ms());
        }
        let peer = self.peers.entry(peer_id).or_insert_with(|| {
            tracing::info!(peer = %peer_id, %addr, "peer connected");
            Peer {
                addr: addr.clone(),
                outbound: endpoint.is_dialer(),
                connections: 0,
                latency: None,
                agent: None,
                protocols: Vec::new(),
                connected_since_ms: self.cache.now_ms(),
                entries_received: 0,
                entries_sent: 0,
                refused: 0,
                clock_offset_ms: None,
            }
        });
        peer.connections += 1;
        for redial in self.redials.iter_mut().filter(|r| r.peer.peer_id == peer_id) {
            redial.connected();
        }
        if endpoint.is_dialer() {
            self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
        }
    }
}
