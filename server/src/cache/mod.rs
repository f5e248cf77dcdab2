//! The local cache. For now an in-memory map with honest hit/miss counters;
//! the persistent, bounded, content-addressed engine replaces its insides.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters and sizes the statistics are computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounters {
    pub entries: u64,
    pub size_bytes: u64,
    pub hits: u64,
    pub misses: u64,
}

#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<String, Vec<u8>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let found = self.entries.lock().expect("cache lock").get(key).cloned();
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn put(&self, key: impl Into<String>, value: Vec<u8>) {
        self.entries.lock().expect("cache lock").insert(key.into(), value);
    }

    pub fn stats(&self) -> CacheCounters {
        let entries = self.entries.lock().expect("cache lock");
        CacheCounters {
            entries: entries.len() as u64,
            size_bytes: entries.values().map(|v| v.len() as u64).sum(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hits_misses_and_bytes() {
        let cache = Cache::new();
        assert_eq!(cache.get("repos:a/b"), None);
        cache.put("repos:a/b", b"{}".to_vec());
        assert_eq!(cache.get("repos:a/b").as_deref(), Some(&b"{}"[..]));
        assert_eq!(
            cache.stats(),
            CacheCounters { entries: 1, size_bytes: 2, hits: 1, misses: 1 }
        );
    }
}
