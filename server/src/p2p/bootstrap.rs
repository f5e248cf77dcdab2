//! Bootstrap peers: parsing `CACHE_BOOTSTRAP_PEERS` and redialling the ones
//! that are not connected, with capped exponential backoff, forever.

use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A bootstrap address that names its peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapPeer {
    pub peer_id: PeerId,
    pub addr: Multiaddr,
}

/// Parses a comma-separated list; each bad item is returned with why, to be
/// named in a warning and skipped.
pub fn parse_bootstrap_list(list: &str) -> (Vec<BootstrapPeer>, Vec<String>) {
    let mut peers = Vec::new();
    let mut problems = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match parse_peer_addr(item) {
            Ok(peer) => peers.push(peer),
            Err(why) => problems.push(format!("ignoring bootstrap peer {item:?}: {why}")),
        }
    }
    (peers, problems)
}

/// Parses one multiaddr that must end in `/p2p/<peer id>`.
pub fn parse_peer_addr(text: &str) -> Result<BootstrapPeer, String> {
    let addr: Multiaddr = text.trim().parse().map_err(|e| format!("not a multiaddr ({e})"))?;
    match addr.iter().last() {
        Some(Protocol::P2p(peer_id)) => Ok(BootstrapPeer { peer_id, addr }),
        _ => Err("it does not end in /p2p/<peer id>".to_owned()),
    }
}

/// When to dial a bootstrap peer next, and what went wrong last.
#[derive(Debug)]
pub struct Redial {
    pub peer: BootstrapPeer,
    pub next_attempt: Instant,
    pub backoff: Duration,
    pub last_error: Option<String>,
    pub in_flight: bool,
}

impl Redial {
    pub fn new(peer: BootstrapPeer, now: Instant) -> Self {
        Redial { peer, next_attempt: now, backoff: FIRST_BACKOFF, last_error: None, in_flight: false }
    }

    pub fn due(&self, now: Instant) -> bool {
        !self.in_flight && now >= self.next_attempt
    }

    /// A dial failed: wait twice as long next time (up to the cap). Returns
    /// true when the error is new, i.e. worth a warning in the log.
    pub fn failed(&mut self, error: String, now: Instant) -> bool {
        self.in_flight = false;
        self.next_attempt = now + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        let new = self.last_error.as_deref() != Some(error.as_str());
        self.last_error = Some(error);
        new
    }

    /// Connected: start again from the shortest wait if it drops.
    pub fn connected(&mut self) {
        self.in_flight = false;
        self.backoff = FIRST_BACKOFF;
        self.last_error = None;
    }

    /// The connection closed: try again after the current backoff.
    pub fn disconnected(&mut self, now: Instant) {
        self.in_flight = false;
        self.next_attempt = now + self.backoff;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

    #[test]
    fn good_addresses_parse_and_bad_ones_are_named() {
        let list =
            format!(" /ip4/127.0.0.1/tcp/9100/p2p/{PEER} , not-an-addr,/ip4/10.0.0.1/tcp/1, ,/dns4/x/tcp/1/p2p/{PEER}");
        let (peers, problems) = parse_bootstrap_list(&list);
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0].peer_id.to_string(), PEER);
        assert_eq!(problems.len(), 2);
        assert!(problems[0].contains("\"not-an-addr\""), "{}", problems[0]);
        assert!(problems[1].contains("/ip4/10.0.0.1/tcp/1") && problems[1].contains("/p2p/"), "{}", problems[1]);
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_on_connect() {
        let now = Instant::now();
        let (peers, _) = parse_bootstrap_list(&format!("/ip4/127.0.0.1/tcp/1/p2p/{PEER}"));
        let mut redial = Redial::new(peers[0].clone(), now);
        assert!(redial.due(now));
        assert!(redial.failed("refused".into(), now), "first error is logged");
        assert!(!redial.failed("refused".into(), now), "the same error again is not");
        for _ in 0..10 {
            redial.failed("refused".into(), now);
        }
        assert_eq!(redial.backoff, MAX_BACKOFF);
        assert!(!redial.due(now));
        assert!(redial.due(now + MAX_BACKOFF));
        redial.connected();
        assert_eq!(redial.backoff, FIRST_BACKOFF);
    }
}
