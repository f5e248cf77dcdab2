//! Whom the node dials on others' word. Peers tell a node addresses —
//! identify's listen addresses, Kademlia's closer peers — and a node that
//! dials them all can be pointed at addresses of a stranger's choosing (its
//! own loopback services, an internal network). So an address learnt from a
//! peer is dialled only when it is a public one, or it lies in a range the
//! node's own configuration puts it in: loopback when the node listens on
//! loopback, private ranges when it listens on a private address or names a
//! bootstrap peer in one. Peers the operator named (bootstrap, `connect`,
//! mDNS on the local network) are dialled wherever they are. Identify's
//! listen addresses are further kept to the IP the peer was seen at (see
//! `event_loop`).

use std::collections::HashSet;
use std::net::IpAddr;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// An address's kind, as far as dialling it on a peer's word goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    Loopback,
    /// RFC 1918, carrier-grade NAT, link-local, unique-local IPv6, unspecified.
    Private,
    Public,
}

pub fn reach_of(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Reach::Loopback,
        IpAddr::V4(v4) => {
            let cgnat = v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]);
            if v4.is_private() || v4.is_link_local() || v4.is_unspecified() || cgnat {
                Reach::Private
            } else {
                Reach::Public
            }
        }
        IpAddr::V6(v6) if v6.is_loopback() => Reach::Loopback,
        IpAddr::V6(v6) => {
            let unique_local = (v6.segments()[0] & 0xfe00) == 0xfc00;
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            if unique_local || link_local || v6.is_unspecified() {
                Reach::Private
            } else {
                Reach::Public
            }
        }
    }
}

pub fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|part| match part {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

#[derive(Debug)]
pub struct DialGuard {
    allow_loopback: bool,
    allow_private: bool,
    /// Peers the operator named: dialled wherever they are.
    named: HashSet<PeerId>,
}

#[derive(Debug, thiserror::Error)]
#[error("not dialling {0} on a peer's word: outside the ranges this node's own addresses are in")]
pub struct NotOurRange(Multiaddr);

impl DialGuard {
    /// For a node listening on `listen` with bootstrap peers at `bootstrap`.
    pub fn new(listen: IpAddr, bootstrap: &[Multiaddr]) -> DialGuard {
        let private_listen = reach_of(listen) == Reach::Private && !listen.is_unspecified();
        let private_bootstrap = bootstrap.iter().filter_map(ip_of).any(|ip| reach_of(ip) == Reach::Private);
        DialGuard {
            allow_loopback: reach_of(listen) == Reach::Loopback,
            allow_private: private_listen || private_bootstrap,
            named: HashSet::new(),
        }
    }

    /// The operator named `peer` (bootstrap, `connect`, mDNS).
    pub fn name(&mut self, peer: PeerId) {
        self.named.insert(peer);
    }

    /// Whether an address learnt from a peer may be dialled.
    pub fn allows(&self, addr: &Multiaddr) -> bool {
        match ip_of(addr).map(reach_of) {
            Some(Reach::Loopback) => self.allow_loopback,
            Some(Reach::Private) => self.allow_private,
            Some(Reach::Public) | None => true,
        }
    }

    /// Whether a dial of `peer` (if known) at `addresses` goes ahead.
    pub fn check(&self, peer: Option<PeerId>, addresses: &[Multiaddr]) -> Result<(), NotOurRange> {
        if peer.is_some_and(|peer| self.named.contains(&peer)) {
            return Ok(());
        }
        match addresses.iter().find(|addr| !self.allows(addr)) {
            Some(addr) => Err(NotOurRange(addr.clone())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Multiaddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_peers_word_reaches_only_the_ranges_the_node_is_in() {
        let public_node = DialGuard::new("0.0.0.0".parse().unwrap(), &[addr("/ip4/203.0.113.7/tcp/9100")]);
        assert!(public_node.check(None, &[addr("/ip4/198.51.100.1/tcp/9100")]).is_ok());
        assert!(public_node.check(None, &[addr("/ip4/127.0.0.1/tcp/22")]).is_err(), "a loopback canary");
        assert!(public_node.check(None, &[addr("/ip4/10.0.0.8/tcp/9100")]).is_err(), "an internal service");
        assert!(public_node.check(None, &[addr("/ip4/169.254.169.254/tcp/80")]).is_err(), "link-local metadata");
        assert!(public_node.check(None, &[addr("/ip6/::1/tcp/9100")]).is_err());
        assert!(public_node.check(None, &[addr("/ip4/198.51.100.1/tcp/1"), addr("/ip4/127.0.0.1/tcp/1")]).is_err());
        // A fleet on a private network: its bootstrap peers say where it is.
        let fleet = DialGuard::new("0.0.0.0".parse().unwrap(), &[addr("/ip4/10.0.0.2/tcp/9100")]);
        assert!(fleet.check(None, &[addr("/ip4/10.0.0.9/tcp/9100")]).is_ok());
        assert!(fleet.check(None, &[addr("/ip4/127.0.0.1/tcp/9100")]).is_err(), "loopback is never the fleet's");
        let on_private = DialGuard::new("10.1.0.5".parse().unwrap(), &[]);
        assert!(on_private.check(None, &[addr("/ip4/10.1.0.6/tcp/9100")]).is_ok());
        // One host (tests, a laptop): loopback is where its peers are.
        let one_host = DialGuard::new("127.0.0.1".parse().unwrap(), &[]);
        assert!(one_host.check(None, &[addr("/ip4/127.0.0.1/tcp/4001")]).is_ok());
        // Whom the operator named is dialled wherever it is.
        let mut named = DialGuard::new("0.0.0.0".parse().unwrap(), &[]);
        let peer = PeerId::random();
        named.name(peer);
        assert!(named.check(Some(peer), &[addr("/ip4/127.0.0.1/tcp/9100")]).is_ok());
        assert!(named.check(Some(PeerId::random()), &[addr("/ip4/127.0.0.1/tcp/9100")]).is_err());
    }
}
