//! What one peer may cost this node: messages per second (announcements it
//! forwards, fetches it asks us to serve), and new cache entries and bytes
//! per minute — so no single peer can flood the node or push most of the
//! cache out, with many small entries or a few large ones.

use std::collections::HashMap;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use libp2p::PeerId;

/// Announcements a peer may pass us per second, after a burst.
const MESSAGES_PER_SECOND: u32 = 200;
const MESSAGE_BURST: u32 = 1000;
/// Fetch requests a peer may have us serve per second, after a burst.
const FETCHES_PER_SECOND: u32 = 100;
const FETCH_BURST: u32 = 500;
/// The share of the cache's entry bound one publisher may add per minute.
const BUDGET_SHARE: u64 = 10;
/// ... but at least this many entries per minute, however small the cache.
const MIN_BUDGET: u64 = 100;
/// Invalidations a publisher may have acted on per minute, after a burst: a
/// write is one, a busy CI fleet writes a few a second at most.
const INVALIDATIONS_PER_MINUTE: u32 = 120;
const INVALIDATION_BURST: u32 = 30;

pub struct PeerLimits {
    messages: DefaultKeyedRateLimiter<PeerId>,
    fetches: DefaultKeyedRateLimiter<PeerId>,
    invalidations: DefaultKeyedRateLimiter<PeerId>,
    /// Entries and bytes added per publisher in the current minute.
    added: HashMap<PeerId, (u64, u64, u64)>,
    budget_per_minute: u64,
    bytes_per_minute: u64,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(per_second).expect("non-zero rate"))
        .allow_burst(NonZeroU32::new(burst).expect("non-zero burst"))
}

impl PeerLimits {
    /// Limits for a cache of at most `max_entries` entries and `max_bytes` bytes.
    pub fn new(max_entries: u64, max_bytes: u64) -> PeerLimits {
        PeerLimits {
            messages: RateLimiter::keyed(quota(MESSAGES_PER_SECOND, MESSAGE_BURST)),
            fetches: RateLimiter::keyed(quota(FETCHES_PER_SECOND, FETCH_BURST)),
            invalidations: RateLimiter::keyed(
                Quota::per_minute(NonZeroU32::new(INVALIDATIONS_PER_MINUTE).expect("non-zero rate"))
                    .allow_burst(NonZeroU32::new(INVALIDATION_BURST).expect("non-zero burst")),
            ),
            added: HashMap::new(),
            budget_per_minute: (max_entries / BUDGET_SHARE).max(MIN_BUDGET),
            bytes_per_minute: max_bytes / BUDGET_SHARE,
        }
    }

    /// Whether `peer` may pass us one more announcement now.
    pub fn allow_message(&self, peer: &PeerId) -> bool {
        self.messages.check_key(peer).is_ok()
    }

    /// Whether an invalidation `publisher` signed is acted on now.
    pub fn allow_invalidation(&self, publisher: &PeerId) -> bool {
        self.invalidations.check_key(publisher).is_ok()
    }

    /// Whether we serve one more fetch for `peer` now.
    pub fn allow_fetch(&self, peer: &PeerId) -> bool {
        self.fetches.check_key(peer).is_ok()
    }

    /// Whether `publisher` may add one more entry of `bytes` in the minute
    /// `minute` (counted when it may).
    pub fn allow_entry(&mut self, publisher: &PeerId, minute: u64, bytes: u64) -> bool {
        let (current, added, added_bytes) = self.added.entry(*publisher).or_insert((minute, 0, 0));
        if *current != minute {
            *current = minute;
            *added = 0;
            *added_bytes = 0;
        }
        if *added >= self.budget_per_minute || added_bytes.saturating_add(bytes) > self.bytes_per_minute {
            return false;
        }
        *added += 1;
        *added_bytes += bytes;
        true
    }

    /// Forgets peers that have been quiet (called once a second).
    pub fn forget_idle(&mut self, minute: u64) {
        self.messages.retain_recent();
        self.fetches.retain_recent();
        self.added.retain(|_, (m, _, _)| *m + 1 >= minute);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publisher_adds_at_most_its_share_per_minute() {
        let mut limits = PeerLimits::new(2000, 10_000_000);
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!((0..500).filter(|_| limits.allow_entry(&a, 7, 10)).count(), 200);
        assert!(limits.allow_entry(&b, 7, 10), "another publisher has its own share");
        assert!(limits.allow_entry(&a, 8, 10), "a new minute, a new share");
        assert_eq!(PeerLimits::new(10, 1).budget_per_minute, MIN_BUDGET);
        // Bytes count too: a tenth of the cache's bytes a minute, however few the entries.
        let c = PeerId::random();
        assert_eq!((0..10).filter(|_| limits.allow_entry(&c, 9, 300_000)).count(), 3);
    }

    #[test]
    fn a_peer_over_its_message_rate_is_refused() {
        let limits = PeerLimits::new(1000, 1_000_000);
        let peer = PeerId::random();
        let allowed = (0..5000).filter(|_| limits.allow_message(&peer)).count();
        assert!((MESSAGE_BURST as usize..MESSAGE_BURST as usize + 100).contains(&allowed), "{allowed}");
        assert!(limits.allow_message(&PeerId::random()));
    }
}
