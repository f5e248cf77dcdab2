//! Fleet-wide single flight, the coordinator's side. Every key has a
//! coordinator — the first of the connected trusted peers and this node in
//! the key's rendezvous ranking — which grants the lease to fetch the key
//! from GitHub to the first node that asks; later askers are told who holds
//! it and for how long, and wait for that node's entry to arrive by gossip.
//! A lease ends when its holder gives it back, leaves, or runs out of time
//! (a slow GitHub, a dead holder): the next asker gets it. A holder that
//! gives it back having stored the entry leaves it settling for a moment:
//! askers in that moment are told to wait for the entry, which gossip is
//! still carrying to them, rather than fetch it again.
//!
//! With confirmed sharing a lease may name a request (every scope's key) or
//! one scope's key; the coordinator does not tell them apart.
//!
//! Tokens never travel: the holder fetches with its own token, and the token
//! scope in the key keeps different tokens' keys — and leases — apart.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// How long a lease lasts without being given back.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How long a released lease whose entry was stored keeps askers waiting
/// for that entry (gossip takes milliseconds; a lost entry costs this much).
pub const SETTLE: Duration = Duration::from_secs(1);
/// Leases one holder may have at once: past it, its asks are granted but
/// not recorded (nobody waits on it).
pub const MAX_PER_HOLDER: usize = 64;
/// Leases a holder let run out without giving them back before nobody
/// waits on it any more (until it gives one back with its entry stored).
pub const MAX_STRIKES: u32 = 3;
/// Leases kept at most (expired ones are dropped first).
const MAX_LEASES: usize = 10_000;

/// What the coordinator tells an asker.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Fetch it; the lease is yours.
    Granted,
    /// `holder` is fetching it: wait for its entry at most `remaining`.
    Wait { holder: PeerId, remaining: Duration },
}

#[derive(Default)]
pub struct Leases {
    held: HashMap<String, (PeerId, Instant)>,
    /// Leases given back with the entry stored, while gossip carries it.
    settling: HashMap<String, (PeerId, Instant)>,
    /// Leases each holder let run out.
    strikes: HashMap<PeerId, u32>,
}

impl Leases {
    /// `asker` wants to fetch `key` at `now`.
    pub fn ask(&mut self, key: &str, asker: PeerId, now: Instant) -> Decision {
        for (holder, until) in [self.held.get(key), self.settling.get(key)].into_iter().flatten() {
            if *until > now && *holder != asker {
                return Decision::Wait { holder: *holder, remaining: *until - now };
            }
        }
        self.lapse(now);
        let holding = self.held.values().filter(|(holder, _)| *holder == asker).count();
        let struck_out = self.strikes.get(&asker).is_some_and(|n| *n >= MAX_STRIKES);
        if self.held.len() < MAX_LEASES && holding < MAX_PER_HOLDER && !struck_out {
            self.held.insert(key.to_owned(), (asker, now + LEASE_TTL));
        }
        Decision::Granted
    }

    /// Drops the leases that ran out, a strike each against its holder.
    fn lapse(&mut self, now: Instant) {
        self.settling.retain(|_, (_, until)| *until > now);
        let strikes = &mut self.strikes;
        self.held.retain(|_, (holder, until)| {
            let lapsed = *until <= now;
            if lapsed {
                *strikes.entry(*holder).or_default() += 1;
            }
            !lapsed
        });
    }

    /// `holder` is done with `key`: having `stored` its entry (askers wait
    /// for it a moment longer), or not (the next asker fetches).
    pub fn release(&mut self, key: &str, holder: PeerId, stored: bool, now: Instant) {
        if stored {
            self.strikes.remove(&holder);
        }
        if self.held.get(key).is_some_and(|(h, _)| *h == holder) {
            self.held.remove(key);
            if stored {
                self.settling.insert(key.to_owned(), (holder, now + SETTLE));
            }
        }
    }

    /// `peer` left: its leases end now.
    pub fn drop_holder(&mut self, peer: PeerId) {
        self.held.retain(|_, (holder, _)| *holder != peer);
        self.settling.retain(|_, (holder, _)| *holder != peer);
    }

    /// Leases run out since the last look, counted against their holders;
    /// called now and then so that strikes come without new asks.
    pub fn tick(&mut self, now: Instant) {
        self.lapse(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_asker_holds_the_lease_until_it_gives_it_back_leaves_or_runs_out() {
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        let mut leases = Leases::default();
        assert_eq!(leases.ask("k", a, t0), Decision::Granted);
        assert_eq!(leases.ask("k", b, t0), Decision::Wait { holder: a, remaining: LEASE_TTL });
        assert_eq!(leases.ask("k", a, t0), Decision::Granted, "asking again is no harm");
        assert_eq!(leases.ask("other", b, t0), Decision::Granted, "keys are apart");
        leases.release("k", b, false, t0);
        assert!(matches!(leases.ask("k", c, t0), Decision::Wait { .. }), "only the holder gives it back");
        leases.release("k", a, false, t0);
        assert_eq!(leases.ask("k", c, t0), Decision::Granted);
        leases.drop_holder(c);
        assert_eq!(leases.ask("k", b, t0), Decision::Granted, "a holder that left holds nothing");
        assert_eq!(leases.ask("k", a, t0 + LEASE_TTL), Decision::Granted, "an expired lease goes to the next asker");
    }

    #[test]
    fn a_holder_that_never_delivers_stops_being_waited_on() {
        let (liar, honest, asker) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut now = Instant::now();
        let mut leases = Leases::default();
        for round in 0..MAX_STRIKES {
            let key = format!("k{round}");
            assert_eq!(leases.ask(&key, liar, now), Decision::Granted);
            assert!(matches!(leases.ask(&key, asker, now), Decision::Wait { .. }), "waited on, so far");
            now += LEASE_TTL;
            leases.tick(now);
        }
        assert_eq!(leases.ask("next", liar, now), Decision::Granted);
        assert_eq!(leases.ask("next", asker, now), Decision::Granted, "nobody waits on a holder that never delivers");
        // One holder holds at most its share of leases at once.
        for i in 0..MAX_PER_HOLDER {
            assert_eq!(leases.ask(&format!("h{i}"), honest, now), Decision::Granted);
        }
        assert_eq!(leases.ask("one-more", honest, now), Decision::Granted);
        assert_eq!(leases.ask("one-more", asker, now), Decision::Granted, "past its share, not recorded");
        // Delivering clears the strikes.
        leases.release("next", liar, true, now);
        assert_eq!(leases.ask("again", liar, now), Decision::Granted);
        assert!(matches!(leases.ask("again", asker, now), Decision::Wait { .. }));
    }

    #[test]
    fn a_lease_given_back_with_its_entry_stored_settles_before_the_next_fetch() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        let mut leases = Leases::default();
        assert_eq!(leases.ask("k", a, t0), Decision::Granted);
        leases.release("k", a, true, t0);
        assert_eq!(leases.ask("k", b, t0), Decision::Wait { holder: a, remaining: SETTLE }, "its entry is on the way");
        assert_eq!(leases.ask("k", b, t0 + SETTLE), Decision::Granted, "it never came: fetch");
    }
}
