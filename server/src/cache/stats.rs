//! The cache's counters. Lookups are counted where they happen; nothing here is
//! derived from anything but what really occurred, and `clear()` leaves every
//! counter usable (the original crashed computing stats after a clear).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use app::model::{ApiCall, OperationStats};

/// How many upstream calls the log keeps.
pub const API_CALL_LOG_LEN: usize = 100;
/// How many operation names get their own row; the rest are summed as "other",
/// so keys chosen by clients cannot grow the table without bound.
pub const MAX_OPERATIONS: usize = 256;
const OTHER_OPERATION: &str = "other";

/// How one lookup ended: the one value every lookup counter is derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A fresh entry this node fetched itself.
    LocalHit,
    /// A fresh entry that came from a peer.
    PeerHit,
    /// Nothing fresh here or at a peer: the caller went upstream.
    Miss,
    /// Nothing fresh, yet answered without a full upstream call (a 304
    /// revalidation, another caller's fetch, a stale answer).
    Spared,
}

impl Lookup {
    /// A hit on `entry` (local or peer by where it came from), or a miss.
    pub fn of_entry(entry: Option<&crate::cache::entry::Entry>) -> Lookup {
        match entry.map(|e| &e.origin) {
            Some(crate::cache::entry::Origin::Local) => Lookup::LocalHit,
            Some(crate::cache::entry::Origin::Peer(_)) => Lookup::PeerHit,
            None => Lookup::Miss,
        }
    }
}

/// The operation of GitHub answers' keys (`github:…`).
const GITHUB_OPERATION: &str = "github";

#[derive(Default)]
pub struct Counters {
    pub local_hits: AtomicU64,
    pub peer_hits: AtomicU64,
    pub misses: AtomicU64,
    pub expirations: AtomicU64,
    pub evictions: AtomicU64,
    pub api_calls_made: AtomicU64,
    /// GitHub answers given without a full call to GitHub (hits, and
    /// lookups spared one: revalidated, confirmed, coalesced, stale). Only
    /// GitHub's: a user's own entries never were GitHub calls.
    pub calls_saved: AtomicU64,
    operations: Mutex<HashMap<String, OperationStats>>,
    api_calls: Mutex<VecDeque<ApiCall>>,
}

/// A consistent-enough copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CounterSnapshot {
    pub local_hits: u64,
    pub peer_hits: u64,
    pub misses: u64,
    pub expirations: u64,
    pub evictions: u64,
    pub api_calls_made: u64,
    pub api_calls_saved: u64,
    pub operations: BTreeMap<String, OperationStats>,
    pub api_call_log: Vec<ApiCall>,
}

impl CounterSnapshot {
    pub fn total_hits(&self) -> u64 {
        self.local_hits + self.peer_hits
    }

    pub fn total_requests(&self) -> u64 {
        self.total_hits() + self.misses
    }
}

impl Counters {
    /// Counts one lookup of `operation` that ended as `lookup`.
    pub fn lookup(&self, operation: &str, lookup: Lookup) {
        let (counter, hit) = match lookup {
            Lookup::LocalHit => (&self.local_hits, true),
            Lookup::PeerHit => (&self.peer_hits, true),
            Lookup::Miss | Lookup::Spared => (&self.misses, false),
        };
        if operation == GITHUB_OPERATION && lookup != Lookup::Miss {
            self.calls_saved.fetch_add(1, Ordering::Relaxed);
        }
        counter.fetch_add(1, Ordering::Relaxed);
        self.per_operation(operation, |op| if hit { op.hits += 1 } else { op.misses += 1 });
    }

    pub fn expired(&self) {
        self.expirations.fetch_add(1, Ordering::Relaxed);
    }

    pub fn evicted(&self, count: u64) {
        self.evictions.fetch_add(count, Ordering::Relaxed);
    }

    pub fn api_call(&self, call: ApiCall) {
        self.api_calls_made.fetch_add(1, Ordering::Relaxed);
        let mut log = self.api_calls.lock().expect("api call log lock");
        if log.len() == API_CALL_LOG_LEN {
            log.pop_front();
        }
        log.push_back(call);
    }

    fn per_operation(&self, operation: &str, update: impl FnOnce(&mut OperationStats)) {
        let mut operations = self.operations.lock().expect("operation stats lock");
        // Known names are found without allocating (the hot path of a hit).
        if let Some(stats) = operations.get_mut(operation) {
            return update(stats);
        }
        let name = if operations.len() >= MAX_OPERATIONS { OTHER_OPERATION } else { operation };
        update(operations.entry(name.to_owned()).or_default());
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        let local_hits = self.local_hits.load(Ordering::Relaxed);
        let peer_hits = self.peer_hits.load(Ordering::Relaxed);
        CounterSnapshot {
            local_hits,
            peer_hits,
            misses: self.misses.load(Ordering::Relaxed),
            expirations: self.expirations.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            api_calls_made: self.api_calls_made.load(Ordering::Relaxed),
            api_calls_saved: self.calls_saved.load(Ordering::Relaxed),
            operations: self
                .operations
                .lock()
                .expect("operation stats lock")
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            api_call_log: self.api_calls.lock().expect("api call log lock").iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(n: usize) -> ApiCall {
        ApiCall {
            timestamp: format!("t{n}"),
            api_type: "rest".into(),
            operation: "get_repo".into(),
            status: "200".into(),
        }
    }

    #[test]
    fn totals_add_up() {
        let counters = Counters::default();
        counters.lookup("get_repo", Lookup::LocalHit);
        counters.lookup("get_repo", Lookup::PeerHit);
        counters.lookup("get_repo", Lookup::Miss);
        counters.lookup("list_runners", Lookup::Spared);
        counters.lookup("github", Lookup::LocalHit);
        counters.lookup("github", Lookup::Spared);
        counters.lookup("github", Lookup::Miss);
        let snap = counters.snapshot();
        assert_eq!((snap.local_hits, snap.peer_hits, snap.misses), (2, 1, 4));
        assert_eq!(snap.total_hits(), 3);
        assert_eq!(snap.total_requests(), 7);
        assert_eq!(snap.api_calls_saved, 2, "GitHub's hit and spared call; a user's lookups never were GitHub calls");
        assert_eq!(snap.operations["get_repo"], OperationStats { hits: 2, misses: 1 });
        assert_eq!(snap.operations["list_runners"], OperationStats { hits: 0, misses: 1 });
    }

    #[test]
    fn api_call_log_keeps_the_last_hundred() {
        let counters = Counters::default();
        for n in 0..150 {
            counters.api_call(call(n));
        }
        let snap = counters.snapshot();
        assert_eq!(snap.api_calls_made, 150);
        assert_eq!(snap.api_call_log.len(), API_CALL_LOG_LEN);
        assert_eq!(snap.api_call_log.first().unwrap().timestamp, "t50");
        assert_eq!(snap.api_call_log.last().unwrap().timestamp, "t149");
    }

    #[test]
    fn operation_rows_are_bounded() {
        let counters = Counters::default();
        for n in 0..MAX_OPERATIONS + 10 {
            counters.lookup(&format!("op{n}"), Lookup::Miss);
        }
        let snap = counters.snapshot();
        assert_eq!(snap.operations.len(), MAX_OPERATIONS + 1);
        assert_eq!(snap.operations[OTHER_OPERATION].misses, 10);
    }
}
