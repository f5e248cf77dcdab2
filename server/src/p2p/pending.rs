//! Connections still in their handshake, per remote IP: one address may hold
//! only a few of the node's pending slots, so idle sockets from one host
//! cannot keep members out (libp2p's own limits count pending connections in
//! all, not per address). With the transport's first-byte deadline (see
//! `behaviour::transport`), a socket that says nothing gives its slot back
//! within seconds.

use std::collections::HashMap;
use std::net::IpAddr;

use libp2p::swarm::ConnectionId;
use libp2p::Multiaddr;

use crate::p2p::dial_guard::ip_of;

/// Handshakes one IP may have in progress at once.
pub const MAX_PENDING_PER_IP: usize = 16;

#[derive(Default)]
pub struct PendingPerIp {
    pending: HashMap<ConnectionId, IpAddr>,
    per_ip: HashMap<IpAddr, usize>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} has {MAX_PENDING_PER_IP} connections in their handshake already")]
pub struct TooManyPending(IpAddr);

impl PendingPerIp {
    /// A connection from `remote` starts its handshake: refused when its IP
    /// has its share in progress already.
    pub fn admit(&mut self, connection: ConnectionId, remote: &Multiaddr) -> Result<(), TooManyPending> {
        let Some(ip) = ip_of(remote) else { return Ok(()) };
        let count = self.per_ip.entry(ip).or_default();
        if *count >= MAX_PENDING_PER_IP {
            return Err(TooManyPending(ip));
        }
        *count += 1;
        self.pending.insert(connection, ip);
        Ok(())
    }

    /// A connection's handshake ended (done or failed).
    pub fn done(&mut self, connection: ConnectionId) {
        let Some(ip) = self.pending.remove(&connection) else { return };
        if let Some(count) = self.per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_at_most_its_share_of_handshakes() {
        let mut pending = PendingPerIp::default();
        let stranger: Multiaddr = "/ip4/10.0.0.9/tcp/5555".parse().unwrap();
        let member: Multiaddr = "/ip4/10.0.0.2/tcp/4444".parse().unwrap();
        let ids: Vec<ConnectionId> = (0..=MAX_PENDING_PER_IP).map(|_| ConnectionId::new_unchecked(rand_id())).collect();
        for id in &ids[..MAX_PENDING_PER_IP] {
            assert!(pending.admit(*id, &stranger).is_ok());
        }
        assert!(pending.admit(ids[MAX_PENDING_PER_IP], &stranger).is_err(), "its share is taken");
        assert!(pending.admit(ConnectionId::new_unchecked(rand_id()), &member).is_ok(), "another address is not");
        pending.done(ids[0]);
        assert!(pending.admit(ids[MAX_PENDING_PER_IP], &stranger).is_ok(), "a handshake ended: room for one more");
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1_000_000);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
