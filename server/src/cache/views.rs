//! What readers see of the cache: a page of entries by key prefix (the
//! dashboard's browser and `cache_list`), the fresh entries stored since a
//! moment (what a peer catching up asks for), and the call log of upstream
//! calls. Reads only: one short lock each, nothing counted as a lookup.

use app::model::{ApiCall, EntryPage, EntrySummary, MAX_PAGE};

use super::entry::Entry;
use super::ttl::rfc3339;
use super::{Cache, CacheSnapshot};

impl Cache {
    /// The cache's statistics at this moment.
    pub fn stats(&self) -> CacheSnapshot {
        let (entries, size_bytes) = {
            let memory = self.memory.lock().expect("cache memory lock");
            (memory.lru.len() as u64, memory.bytes)
        };
        CacheSnapshot {
            counters: self.counters.snapshot(),
            entries,
            size_bytes,
            max_entries: self.config.max_entries,
            max_bytes: self.config.max_bytes,
            dir: self.config.dir.clone(),
            persistent: self.store.is_some(),
            store_trouble: self.store_trouble(),
        }
    }

    /// Entries whose key starts with `prefix`, sorted by key, one page of them
    /// (at most `MAX_PAGE` entries, whatever `limit` asks for).
    pub fn list(&self, prefix: &str, offset: usize, limit: usize) -> EntryPage {
        let now = self.clock.now_ms();
        let matching = self.with_prefix(prefix);
        EntryPage {
            total: matching.len(),
            entries: matching.iter().skip(offset).take(limit.min(MAX_PAGE)).map(|e| summary(e, now)).collect(),
        }
    }

    /// The fresh entries stored at or after `since_ms`, newest first, at most
    /// `limit`: (key, CID, stored time), what a peer catching up asks for.
    pub fn held_since(&self, since_ms: u64, limit: usize) -> Vec<(String, String, u64)> {
        let now = self.clock.now_ms();
        let mut held: Vec<(String, String, u64)> = {
            let memory = self.memory.lock().expect("cache memory lock");
            memory
                .lru
                .iter()
                .filter(|(_, e)| e.stored_at_ms >= since_ms && e.is_fresh(now))
                .map(|(k, e)| (k.clone(), e.cid.clone(), e.stored_at_ms))
                .collect()
        };
        held.sort_by(|a, b| b.2.cmp(&a.2));
        held.truncate(limit);
        held
    }

    /// Records a call that went upstream.
    pub fn record_api_call(&self, api_type: &str, operation: &str, status: &str) {
        self.counters.api_call(ApiCall {
            timestamp: rfc3339(self.clock.now_ms()),
            api_type: api_type.to_owned(),
            operation: operation.to_owned(),
            status: status.to_owned(),
        });
    }
}

fn summary(entry: &Entry, now_ms: u64) -> EntrySummary {
    EntrySummary {
        key: entry.key.clone(),
        size: entry.value.len() as u64,
        age_secs: now_ms.saturating_sub(entry.stored_at_ms) / 1000,
        ttl_left_secs: entry.expires_at_ms().saturating_sub(now_ms).div_ceil(1000),
        expired: !entry.is_fresh(now_ms),
        cid: entry.cid.clone(),
        origin: entry.origin.label(),
    }
}
