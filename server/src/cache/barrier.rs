//! Write barriers: after a write to GitHub through any node, no node may take
//! a copy of that repository's answers from before the write. A barrier names
//! a key prefix and the moment of the write; until it lapses (the longest
//! such an answer could have lived), an entry from a peer under the prefix
//! that was stored before that moment is refused. An operator's invalidation
//! raises one too (of one key, or a prefix), so peers cannot hand back what
//! was just dropped.

use std::collections::HashMap;
use std::sync::Mutex;

/// Barriers kept at most; the oldest go first beyond it.
const MAX_BARRIERS: usize = 10_000;

#[derive(Default)]
pub struct Barriers {
    /// prefix → (written at, lapses at), in ms.
    by_prefix: Mutex<HashMap<String, (u64, u64)>>,
    /// One key → the same (an operator's invalidation of one key).
    by_key: Mutex<HashMap<String, (u64, u64)>>,
}

impl Barriers {
    /// A write under `prefix` at `at_ms`; the barrier lapses at `until_ms`.
    pub fn raise(&self, prefix: &str, at_ms: u64, until_ms: u64) {
        raise_in(&mut self.by_prefix.lock().expect("barrier lock"), prefix, at_ms, until_ms);
    }

    /// The same for exactly one key.
    pub fn raise_key(&self, key: &str, at_ms: u64, until_ms: u64) {
        raise_in(&mut self.by_key.lock().expect("barrier lock"), key, at_ms, until_ms);
    }

    /// Whether an entry under `key` stored at `stored_at_ms` predates (or
    /// shares the millisecond of) a write that is still barred at `now_ms`.
    pub fn bars(&self, key: &str, stored_at_ms: u64, now_ms: u64) -> bool {
        let barred = |(at, until): &(u64, u64)| *until > now_ms && stored_at_ms <= *at;
        if self.by_key.lock().expect("barrier lock").get(key).is_some_and(barred) {
            return true;
        }
        let barriers = self.by_prefix.lock().expect("barrier lock");
        !barriers.is_empty() && barriers.iter().any(|(prefix, times)| key.starts_with(prefix.as_str()) && barred(times))
    }
}

fn raise_in(barriers: &mut HashMap<String, (u64, u64)>, prefix: &str, at_ms: u64, until_ms: u64) {
    if barriers.len() >= MAX_BARRIERS {
        barriers.retain(|_, (_, until)| *until > at_ms);
        if barriers.len() >= MAX_BARRIERS {
            if let Some(oldest) = barriers.iter().min_by_key(|(_, (at, _))| *at).map(|(p, _)| p.clone()) {
                barriers.remove(&oldest);
            }
        }
    }
    let barrier = barriers.entry(prefix.to_owned()).or_insert((at_ms, until_ms));
    barrier.0 = barrier.0.max(at_ms);
    barrier.1 = barrier.1.max(until_ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_copies_are_barred_until_the_barrier_lapses() {
        let barriers = Barriers::default();
        assert!(!barriers.bars("github:GET:/repos/o/r", 1, 2));
        barriers.raise("github:GET:/repos/o/r/", 1_000, 5_000);
        assert!(barriers.bars("github:GET:/repos/o/r/issues", 999, 2_000), "from before the write");
        assert!(barriers.bars("github:GET:/repos/o/r/issues", 1_000, 2_000), "from its very millisecond");
        assert!(!barriers.bars("github:GET:/repos/o/r/issues", 1_001, 2_000), "from after it");
        assert!(!barriers.bars("github:GET:/repos/o/rx/issues", 999, 2_000), "another repository");
        assert!(!barriers.bars("github:GET:/repos/o/r/issues", 999, 5_000), "lapsed");
        barriers.raise_key("mine:a", 1_000, 5_000);
        assert!(barriers.bars("mine:a", 999, 2_000), "one key's barrier");
        assert!(!barriers.bars("mine:ab", 999, 2_000), "one key's barrier bars that key alone");
    }
}
