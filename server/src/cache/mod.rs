//! The local cache: a bounded LRU of entries in memory, written through to a
//! redb store so it still hits after a restart.
//!
//! Reads take one short in-memory lock and never wait on disk. Writes are
//! ordered by a writer lock: the eviction set is chosen, the store commits the
//! new entry and the evictions in one durable transaction, and only then does
//! memory change — so what is served is always what a restart would find.
//! Writes block on that commit; async callers go through [`Cache::write`],
//! the one place that hands them to a blocking thread.
//!
//! When the disk refuses (full), a new entry is refused too (it was never
//! stored), but a removal still happens in memory — an invalidated answer
//! must not be served — and is written to the store with the next write that
//! succeeds; [`Cache::store_trouble`] says what went wrong meanwhile.

pub mod barrier;
pub mod entry;
pub mod key;
mod memory;
pub mod stats;
pub mod store;
pub mod ttl;
mod views;

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lru::LruCache;
use tokio::sync::broadcast;

use self::barrier::Barriers;
use self::entry::{Entry, Origin};
use self::key::{operation_of, validate_key, KeyError};
use self::memory::Memory;
use self::stats::{CounterSnapshot, Counters, Lookup};
use self::store::{Store, StoreError};
use self::ttl::{family_ttl_secs, Clock};

#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Where the store lives; `None` keeps the cache in memory only.
    pub dir: Option<PathBuf>,
    pub max_entries: u64,
    pub max_bytes: u64,
    /// TTL of an operation outside the known families.
    pub default_ttl_secs: u64,
    /// How long an expired entry is kept for `get_stale` before it is purged.
    pub stale_grace_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            dir: None,
            max_entries: 10_000,
            max_bytes: 256 * 1024 * 1024,
            default_ttl_secs: 300,
            stale_grace_secs: 3600,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the value is not valid JSON: {0}")]
    NotJson(String),
    #[error("the entry is {size} bytes; the cache holds at most {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the cache write task failed: {0}")]
    Task(String),
    #[error("a copy of {0:?} from before a write to it")]
    Barred(String),
    #[error("no room for {size} bytes among the entries of untrusted publishers (at most {cap} bytes)")]
    NoRoomApart { size: u64, cap: u64 },
}

/// How to store a value; `PutOptions::default()` is a local entry with the
/// operation family's TTL.
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    pub ttl_secs: Option<u64>,
    pub etag: Option<String>,
    pub upstream_status: Option<u16>,
    pub origin: Option<Origin>,
}

/// Statistics of the cache at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheSnapshot {
    pub counters: CounterSnapshot,
    pub entries: u64,
    pub size_bytes: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
    pub dir: Option<PathBuf>,
    pub persistent: bool,
    /// What the store last refused (a full disk), while it still does.
    pub store_trouble: Option<String>,
}

/// How many local puts may wait for the P2P node before the oldest are dropped.
const PUT_FEED_CAPACITY: usize = 1024;

pub struct Cache {
    config: CacheConfig,
    clock: Arc<dyn Clock>,
    memory: Mutex<Memory>,
    store: Option<Store>,
    writer: Mutex<()>,
    counters: Counters,
    local_puts: broadcast::Sender<Arc<Entry>>,
    /// Every entry stored, from anywhere: what a node waiting for a peer's
    /// fetch listens to.
    inserted: broadcast::Sender<Arc<Entry>>,
    barriers: Barriers,
    /// Removals done in memory that the store has not taken yet, and why.
    unpersisted: Mutex<(Vec<String>, Option<String>)>,
}

impl Cache {
    /// A cache that lives in memory only (tests, or when no store can be had).
    pub fn in_memory(mut config: CacheConfig, clock: Arc<dyn Clock>) -> Cache {
        config.dir = None;
        Cache::with_store(config, clock, None)
    }

    /// Opens the store in `config.dir`, drops what expired beyond the stale
    /// grace, and loads the rest (oldest first, so LRU order resumes).
    pub fn open(config: CacheConfig, clock: Arc<dyn Clock>) -> Result<Cache, StoreError> {
        let Some(dir) = config.dir.clone() else {
            return Ok(Cache::in_memory(config, clock));
        };
        let opened = Store::open(&dir)?;
        let cache = Cache::with_store(config, clock, Some(opened.store));
        let now = cache.clock.now_ms();
        let (mut keep, gone): (Vec<Entry>, Vec<Entry>) =
            opened.entries.into_iter().partition(|e| !cache.beyond_grace(e, now));
        let gone: Vec<String> = gone.into_iter().map(|e| e.key).collect();
        if let Some(store) = &cache.store {
            store.apply(None, &gone)?;
        }
        keep.sort_by_key(|e| e.stored_at_ms);
        let mut over = Vec::new();
        {
            let mut memory = cache.memory.lock().expect("cache memory lock");
            for entry in keep {
                memory.put(Arc::new(entry), false);
            }
            while memory.lru.len() as u64 > cache.config.max_entries || memory.bytes > cache.config.max_bytes {
                let Some((key, _)) = memory.pop_lru() else { break };
                over.push(key);
            }
        }
        if let Some(store) = &cache.store {
            store.apply(None, &over)?;
        }
        cache.counters.evicted(over.len() as u64);
        tracing::info!(
            store = %dir.display(),
            loaded = cache.len(),
            purged = gone.len(),
            evicted = over.len(),
            undecodable = opened.undecodable,
            "cache store opened"
        );
        Ok(cache)
    }

    fn with_store(config: CacheConfig, clock: Arc<dyn Clock>, store: Option<Store>) -> Cache {
        Cache {
            config,
            clock,
            memory: Mutex::new(Memory {
                lru: LruCache::unbounded(),
                bytes: 0,
                keys: BTreeSet::new(),
                apart: HashSet::new(),
                apart_bytes: 0,
            }),
            store,
            writer: Mutex::new(()),
            counters: Counters::default(),
            local_puts: broadcast::channel(PUT_FEED_CAPACITY).0,
            inserted: broadcast::channel(PUT_FEED_CAPACITY).0,
            barriers: Barriers::default(),
            unpersisted: Mutex::default(),
        }
    }

    /// Every entry stored from now on (local or from a peer).
    pub fn subscribe_inserts(&self) -> broadcast::Receiver<Arc<Entry>> {
        self.inserted.subscribe()
    }

    /// Entries put locally (not those from peers), for the P2P node to announce.
    pub fn subscribe_local_puts(&self) -> broadcast::Receiver<Arc<Entry>> {
        self.local_puts.subscribe()
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn len(&self) -> usize {
        self.memory.lock().expect("cache memory lock").lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The TTL a put without an explicit one gets.
    pub fn default_ttl_for(&self, key: &str) -> u64 {
        family_ttl_secs(operation_of(key)).unwrap_or(self.config.default_ttl_secs)
    }

    fn beyond_grace(&self, entry: &Entry, now_ms: u64) -> bool {
        now_ms >= entry.expires_at_ms().saturating_add(self.config.stale_grace_secs * 1000)
    }

    /// Looks an entry up without counting it or touching its recency.
    pub fn peek(&self, key: &str) -> Option<Arc<Entry>> {
        self.memory.lock().expect("cache memory lock").lru.peek(key).cloned()
    }

    /// A fresh entry (a hit) or `None` (a miss; an expired entry also counts as
    /// an expiration). A hit makes the entry the most recently used.
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        let found = self.fresh(key);
        self.count(key, Lookup::of_entry(found.as_deref()));
        found
    }

    /// A fresh entry, made the most recently used; an expired one counts as
    /// an expiration. The lookup itself is left for the caller to count (with
    /// [`Cache::count`]) once it knows how the request ended.
    pub fn fresh(&self, key: &str) -> Option<Arc<Entry>> {
        let found = self.memory.lock().expect("cache memory lock").lru.get(key).cloned()?;
        if !found.is_fresh(self.clock.now_ms()) {
            self.counters.expired();
            return None;
        }
        Some(found)
    }

    /// Counts how one lookup of `key` ended.
    pub fn count(&self, key: &str, lookup: Lookup) {
        self.counters.lookup(operation_of(key), lookup);
    }

    /// Every entry whose key starts with `prefix` (say, every scope's answer
    /// to one request), fresh or not, without counting or touching recency.
    pub fn with_prefix(&self, prefix: &str) -> Vec<Arc<Entry>> {
        let memory = self.memory.lock().expect("cache memory lock");
        memory.prefixed(prefix).filter_map(|key| memory.lru.peek(key).cloned()).collect()
    }

    /// Runs a write (it commits to disk) on a blocking thread: the one place
    /// async code crosses into the store.
    pub async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        write: impl FnOnce(&Cache) -> Result<T, CacheError> + Send + 'static,
    ) -> Result<T, CacheError> {
        let cache = Arc::clone(self);
        tokio::task::spawn_blocking(move || write(&cache)).await.map_err(|e| CacheError::Task(e.to_string()))?
    }

    /// Any entry under `key`, fresh or expired (within the stale grace), for
    /// answering when upstream refuses; not counted as a hit.
    pub fn get_stale(&self, key: &str) -> Option<Arc<Entry>> {
        self.peek(key)
    }

    /// Stores a JSON value under `key`.
    pub fn put(&self, key: &str, value: Bytes, options: PutOptions) -> Result<Arc<Entry>, CacheError> {
        validate_key(key)?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&value).map_err(|e| CacheError::NotJson(e.to_string()))?;
        // A value may be a slice of a larger buffer (or a `Vec` with spare
        // capacity); copying it makes the bytes held equal the bytes counted.
        let value = Bytes::copy_from_slice(&value);
        let ttl_secs = options.ttl_secs.unwrap_or_else(|| self.default_ttl_for(key));
        let mut entry =
            Entry::new(key.to_owned(), value, self.clock.now_ms(), ttl_secs, options.etag, options.upstream_status);
        if let Some(origin) = options.origin {
            entry.origin = origin;
        }
        self.insert(entry)
    }

    /// Stores a complete entry as given (its CID must already be checked).
    /// An entry from a peer older than a write to its prefix is refused.
    pub fn insert(&self, entry: Entry) -> Result<Arc<Entry>, CacheError> {
        self.insert_in(entry, None)
    }

    /// Stores an entry from a publisher the node does not trust, apart: it
    /// and the others like it hold at most `cap_bytes` together, and make
    /// room only by pushing out each other, never what the node trusts.
    pub fn insert_apart(&self, entry: Entry, cap_bytes: u64) -> Result<Arc<Entry>, CacheError> {
        self.insert_in(entry, Some(cap_bytes))
    }

    fn insert_in(&self, entry: Entry, apart: Option<u64>) -> Result<Arc<Entry>, CacheError> {
        validate_key(&entry.key)?;
        if entry.origin != Origin::Local && self.barriers.bars(&entry.key, entry.stored_at_ms, self.clock.now_ms()) {
            return Err(CacheError::Barred(entry.key));
        }
        let size = entry.size();
        let max = apart.unwrap_or(self.config.max_bytes).min(self.config.max_bytes);
        if size > max {
            return Err(CacheError::TooLarge { size, max });
        }
        let _writer = self.writer.lock().expect("cache writer lock");
        let evict = match apart {
            None => self.choose_evictions(&entry.key, size),
            Some(cap) => self.choose_apart_evictions(&entry.key, size, cap)?,
        };
        self.persist(Some(&entry), &evict)?;
        let entry = Arc::new(entry);
        {
            let mut memory = self.memory.lock().expect("cache memory lock");
            for key in &evict {
                memory.pop(key);
            }
            memory.put(entry.clone(), apart.is_some());
        }
        self.counters.evicted(evict.len() as u64);
        if entry.origin == Origin::Local {
            // No receiver (P2P off) is fine.
            let _ = self.local_puts.send(entry.clone());
        }
        let _ = self.inserted.send(entry.clone());
        Ok(entry)
    }

    /// Least recently used keys to drop so that an entry of `size` bytes
    /// under `key` fits both bounds.
    fn choose_evictions(&self, key: &str, size: u64) -> Vec<String> {
        let memory = self.memory.lock().expect("cache memory lock");
        let (mut count, mut bytes) = (memory.lru.len() as u64, memory.bytes);
        if let Some(old) = memory.lru.peek(key) {
            count -= 1;
            bytes -= old.size();
        }
        let mut evict = Vec::new();
        for (candidate, entry) in memory.lru.iter().rev() {
            if count < self.config.max_entries && bytes + size <= self.config.max_bytes {
                break;
            }
            if candidate == key {
                continue;
            }
            count -= 1;
            bytes -= entry.size();
            evict.push(candidate.clone());
        }
        evict
    }

    /// Least recently used keys held apart to drop so that an entry of
    /// `size` bytes under `key` fits both bounds and the partition's `cap`;
    /// a full cache with nothing apart to drop has no room for it.
    fn choose_apart_evictions(&self, key: &str, size: u64, cap: u64) -> Result<Vec<String>, CacheError> {
        let memory = self.memory.lock().expect("cache memory lock");
        let (mut count, mut bytes, mut apart) = (memory.lru.len() as u64, memory.bytes, memory.apart_bytes);
        if let Some(old) = memory.lru.peek(key) {
            count -= 1;
            bytes -= old.size();
            if memory.apart.contains(key) {
                apart -= old.size();
            }
        }
        let fits = |count: u64, bytes: u64, apart: u64| {
            count < self.config.max_entries && bytes + size <= self.config.max_bytes && apart + size <= cap
        };
        let mut evict = Vec::new();
        for (candidate, entry) in memory.lru.iter().rev() {
            if fits(count, bytes, apart) {
                break;
            }
            if candidate == key || !memory.apart.contains(candidate) {
                continue;
            }
            count -= 1;
            bytes -= entry.size();
            apart -= entry.size();
            evict.push(candidate.clone());
        }
        if fits(count, bytes, apart) {
            Ok(evict)
        } else {
            Err(CacheError::NoRoomApart { size, cap })
        }
    }

    /// Drops one key; true when it was there.
    pub fn invalidate(&self, key: &str) -> Result<bool, CacheError> {
        Ok(self.remove_where(|k, _| k == key)? == 1)
    }

    /// A write happened under `prefix` at `at_ms`: drops what is not newer,
    /// and refuses such copies from peers until `until_ms`. How many were dropped.
    pub fn write_barrier(&self, prefix: &str, at_ms: u64, until_ms: u64) -> Result<usize, CacheError> {
        self.barriers.raise(prefix, at_ms, until_ms);
        self.remove_where(|k, entry| k.starts_with(prefix) && entry.stored_at_ms <= at_ms)
    }

    /// An operator dropped `key` at `at_ms`: peers' copies from before then
    /// are refused until `until_ms`. True when it was there.
    pub fn invalidate_barred(&self, key: &str, at_ms: u64, until_ms: u64) -> Result<bool, CacheError> {
        self.barriers.raise_key(key, at_ms, until_ms);
        self.invalidate(key)
    }

    /// Drops `key` if it still holds the content `cid` (not a newer copy).
    pub fn invalidate_if(&self, key: &str, cid: &str) -> Result<bool, CacheError> {
        Ok(self.remove_where(|k, entry| k == key && entry.cid == cid)? == 1)
    }

    /// Drops every key starting with `prefix`; how many there were.
    pub fn invalidate_prefix(&self, prefix: &str) -> Result<usize, CacheError> {
        self.remove_where(|k, _| k.starts_with(prefix))
    }

    /// Drops entries expired for longer than the stale grace.
    pub fn purge_expired(&self) -> Result<usize, CacheError> {
        let now = self.clock.now_ms();
        self.remove_where(|_, entry| self.beyond_grace(entry, now))
    }

    /// Writes `put` and `remove` (and removals still owed) in one
    /// transaction; on success nothing is owed any more.
    fn persist(&self, put: Option<&Entry>, remove: &[String]) -> Result<(), CacheError> {
        let Some(store) = &self.store else { return Ok(()) };
        let mut unpersisted = self.unpersisted.lock().expect("unpersisted lock");
        let mut all: Vec<String> = unpersisted.0.iter().filter(|k| put.is_none_or(|e| e.key != **k)).cloned().collect();
        all.extend_from_slice(remove);
        match store.apply(put, &all) {
            Ok(()) => {
                if unpersisted.1.take().is_some() {
                    tracing::info!("the cache store takes writes again; owed removals written");
                }
                unpersisted.0.clear();
                Ok(())
            }
            Err(error) => {
                unpersisted.1 = Some(error.to_string());
                Err(error.into())
            }
        }
    }

    /// What the store last refused, while removals are still owed to it.
    pub fn store_trouble(&self) -> Option<String> {
        self.unpersisted.lock().expect("unpersisted lock").1.clone()
    }

    fn remove_where(&self, doomed: impl Fn(&str, &Entry) -> bool) -> Result<usize, CacheError> {
        let _writer = self.writer.lock().expect("cache writer lock");
        let keys: Vec<String> = {
            let memory = self.memory.lock().expect("cache memory lock");
            memory.lru.iter().filter(|(k, e)| doomed(k, e)).map(|(k, _)| k.clone()).collect()
        };
        if keys.is_empty() {
            return Ok(0);
        }
        if let Err(error) = self.persist(None, &keys) {
            // Gone from memory all the same; the store gets them with its next write.
            tracing::error!(%error, removed = keys.len(), "cache store refused a removal; dropped from memory, owed to the store");
            self.unpersisted.lock().expect("unpersisted lock").0.extend(keys.iter().cloned());
        }
        let mut memory = self.memory.lock().expect("cache memory lock");
        for key in &keys {
            memory.pop(key);
        }
        Ok(keys.len())
    }
}

#[cfg(test)]
mod tests;
