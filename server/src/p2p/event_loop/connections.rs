//! Connections that did not come up, and dials someone waits on. Each
//! failure is named for what it is and counted by reason: a stranger over
//! the per-IP handshake bound, a socket that said nothing, a dial out of
//! the node's ranges, and a swarm-key mismatch — on both sides, where libp2p
//! alone reports a frame-length error or a timeout (see `key_check`).

use super::*;

impl EventLoop {
    /// Dials `addr`; `reply` hears once the dial started, or with `wait`
    /// once the connection is up or failed.
    pub(super) fn dial(&mut self, addr: Multiaddr, wait: bool, reply: oneshot::Sender<Result<(), String>>) {
        let started = parse_peer_addr(&addr.to_string()).and_then(|peer| {
            self.swarm.behaviour_mut().gate.dials.name(peer.peer_id);
            self.swarm.behaviour_mut().kad.add_address(&peer.peer_id, peer.addr.clone());
            let dial = DialOpts::from(peer.addr);
            let connection = dial.connection_id();
            self.swarm.dial(dial).map(|()| connection).map_err(|e| e.to_string())
        });
        match started {
            Ok(connection) if wait => {
                self.dials_waiting.insert(connection, reply);
            }
            started => {
                let _ = reply.send(started.map(drop));
            }
        }
    }

    /// Tells whoever waits on the dial of `connection` how it went.
    pub(super) fn dial_answered(&mut self, connection: ConnectionId, result: Result<(), String>) {
        if let Some(reply) = self.dials_waiting.remove(&connection) {
            let _ = reply.send(result);
        }
    }

    pub(super) fn incoming_failed(&mut self, from: &Multiaddr, error: &ListenError) {
        let described = format!("{error:?}");
        match error {
            ListenError::Denied { cause } if cause.downcast_ref::<TooManyPending>().is_some() => {
                tracing::warn!(from = %from, "{cause}: connection refused");
                self.count_refusal("handshakes_per_ip");
            }
            ListenError::Transport(_) if described.contains("first-byte deadline") => {
                tracing::debug!(from = %from, "a connection sent nothing: dropped");
                self.count_refusal("silent_connection");
            }
            ListenError::Transport(_) if described.contains(key_check::MARKER) => {
                let words = key_check::mismatch_words(self.swarm_key);
                tracing::warn!(from = %from, "a peer could not join: {words}");
                self.key_mismatch(format!("{words} (a connection from {from})"));
            }
            _ => tracing::debug!(from = %from, %error, "an incoming connection failed"),
        }
    }

    pub(super) fn outgoing_failed(&mut self, connection: ConnectionId, peer: Option<PeerId>, error: &DialError) {
        let mismatch = format!("{error:?}").contains(key_check::MARKER);
        let words = match mismatch {
            true => key_check::mismatch_words(self.swarm_key).to_owned(),
            false => error.to_string(),
        };
        self.dial_answered(connection, Err(words.clone()));
        if let DialError::Denied { cause } = error {
            if cause.downcast_ref::<NotOurRange>().is_some() {
                tracing::warn!("{cause}");
                self.count_refusal("dial_out_of_range");
                return;
            }
        }
        if mismatch {
            let to = peer.map_or_else(|| "a peer".to_owned(), |p| p.to_string());
            self.key_mismatch(format!("{words} (dialing {to})"));
        }
        let now = Instant::now();
        for redial in self.redials.iter_mut().filter(|r| Some(r.peer.peer_id) == peer) {
            if redial.failed(words.clone(), now) {
                tracing::warn!(peer = %redial.peer.addr, error = %words, "cannot reach bootstrap peer; retrying with backoff");
            } else {
                tracing::debug!(peer = %redial.peer.addr, error = %words, "bootstrap peer still unreachable");
            }
        }
    }

    /// A handshake failed because the swarm keys differ: counted, and kept
    /// for the status (and `peercache doctor`) in `words`.
    fn key_mismatch(&mut self, words: String) {
        self.count_refusal("swarm_key_mismatch");
        self.swarm_key_mismatch = Some(Happened { at_ms: self.cache.now_ms(), what: words });
    }
}
