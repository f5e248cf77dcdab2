//! The cache's memory: the LRU of entries, the bytes they hold, their keys in
//! order (prefix look-ups: every scope's answer to one request), and which of
//! them are kept apart (untrusted publishers'). Changed only under the
//! cache's writer lock, after the store has committed.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use lru::LruCache;

use super::entry::Entry;

pub(super) struct Memory {
    pub(super) lru: LruCache<String, Arc<Entry>>,
    pub(super) bytes: u64,
    /// The keys in order, for prefix look-ups (every scope's answer to one request).
    pub(super) keys: BTreeSet<String>,
    /// Keys held apart (from publishers the node does not trust) and their bytes.
    pub(super) apart: HashSet<String>,
    pub(super) apart_bytes: u64,
}

impl Memory {
    /// Holds `entry` as the most recently used (`apart`: in the partition
    /// of entries from untrusted publishers).
    pub(super) fn put(&mut self, entry: Arc<Entry>, apart: bool) {
        self.pop(&entry.key);
        self.bytes += entry.size();
        if apart {
            self.apart_bytes += entry.size();
            self.apart.insert(entry.key.clone());
        }
        self.keys.insert(entry.key.clone());
        self.lru.put(entry.key.clone(), entry);
    }

    pub(super) fn pop(&mut self, key: &str) -> Option<Arc<Entry>> {
        let old = self.lru.pop(key)?;
        self.bytes -= old.size();
        if self.apart.remove(key) {
            self.apart_bytes -= old.size();
        }
        self.keys.remove(key);
        Some(old)
    }

    pub(super) fn pop_lru(&mut self) -> Option<(String, Arc<Entry>)> {
        let key = self.lru.peek_lru()?.0.clone();
        let old = self.pop(&key)?;
        Some((key, old))
    }

    /// Keys starting with `prefix`, in order.
    pub(super) fn prefixed<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.keys
            .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
            .take_while(move |key| key.starts_with(prefix))
    }
}
