use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;

use super::entry::Origin;
use super::ttl::ManualClock;
use app::model::MAX_PAGE;

use super::*;

const T0: u64 = 1_700_000_000_000;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0))
}

fn memory_cache(config: CacheConfig, clock: &Arc<ManualClock>) -> Cache {
    Cache::in_memory(config, clock.clone())
}

fn json(n: usize) -> Bytes {
    Bytes::from(format!("{{\"n\":{n}}}"))
}

fn ttl(secs: u64) -> PutOptions {
    PutOptions { ttl_secs: Some(secs), ..PutOptions::default() }
}

#[test]
fn entries_expire_after_their_ttl_and_count_as_expirations() {
    let clock = clock();
    let cache = memory_cache(CacheConfig::default(), &clock);
    cache.put("get_repo:octo/a", json(1), ttl(10)).unwrap();
    clock.advance_secs(9);
    assert!(cache.get("get_repo:octo/a").is_some());
    clock.advance_secs(1);
    assert!(cache.get("get_repo:octo/a").is_none());
    let stats = cache.stats().counters;
    assert_eq!((stats.local_hits, stats.misses, stats.expirations), (1, 1, 1));
    // Still there for the rate-limited path, and that is not a hit.
    assert_eq!(cache.get_stale("get_repo:octo/a").unwrap().value, json(1));
    assert_eq!(cache.stats().counters.total_hits(), 1);
}

#[test]
fn a_put_without_ttl_gets_its_family_default() {
    let clock = clock();
    let cache = memory_cache(CacheConfig { default_ttl_secs: 77, ..CacheConfig::default() }, &clock);
    let runs = cache.put("list_workflow_runs:octo/a", json(1), PutOptions::default()).unwrap();
    let other = cache.put("misc:x", json(1), PutOptions::default()).unwrap();
    assert_eq!(runs.ttl_secs, 60);
    assert_eq!(other.ttl_secs, 77);
}

#[test]
fn lru_by_count_keeps_the_recently_read() {
    let clock = clock();
    let cache = memory_cache(CacheConfig { max_entries: 3, ..CacheConfig::default() }, &clock);
    for key in ["a", "b", "c"] {
        cache.put(key, json(1), ttl(60)).unwrap();
    }
    assert!(cache.get("a").is_some()); // a is now the most recent; b the least
    cache.put("d", json(1), ttl(60)).unwrap();
    assert!(cache.peek("b").is_none(), "least recently used is evicted");
    for key in ["a", "c", "d"] {
        assert!(cache.peek(key).is_some(), "{key} kept");
    }
    assert_eq!(cache.stats().counters.evictions, 1);
}

#[test]
fn lru_by_bytes_evicts_until_the_new_entry_fits() {
    let clock = clock();
    // Each entry: 1-byte key + 10-byte value = 11 bytes.
    let cache = memory_cache(CacheConfig { max_bytes: 33, ..CacheConfig::default() }, &clock);
    let ten = Bytes::from_static(b"\"12345678\"");
    for key in ["a", "b", "c"] {
        cache.put(key, ten.clone(), ttl(60)).unwrap();
    }
    assert_eq!(cache.stats().size_bytes, 33);
    let twenty = Bytes::from_static(b"\"123456789012345678\"");
    cache.put("d", twenty, ttl(60)).unwrap(); // 21 bytes: a and b must go
    assert!(cache.peek("a").is_none() && cache.peek("b").is_none());
    assert!(cache.peek("c").is_some() && cache.peek("d").is_some());
    assert_eq!(cache.stats().size_bytes, 32);
    assert_eq!(cache.stats().counters.evictions, 2);
}

#[test]
fn replacing_a_key_does_not_evict_others_or_double_count_bytes() {
    let clock = clock();
    let cache = memory_cache(CacheConfig { max_entries: 2, ..CacheConfig::default() }, &clock);
    cache.put("a", json(1), ttl(60)).unwrap();
    cache.put("b", json(1), ttl(60)).unwrap();
    cache.put("b", json(2), ttl(60)).unwrap();
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.stats().counters.evictions, 0);
    assert_eq!(cache.stats().size_bytes, 2 * (1 + json(1).len() as u64));
}

#[test]
fn an_entry_larger_than_the_cache_is_refused() {
    let clock = clock();
    let cache = memory_cache(CacheConfig { max_bytes: 8, ..CacheConfig::default() }, &clock);
    let err = cache.put("k", Bytes::from_static(b"\"0123456789\""), ttl(60)).unwrap_err();
    assert!(matches!(err, CacheError::TooLarge { .. }), "{err}");
    assert!(cache.is_empty());
}

#[test]
fn non_json_and_bad_keys_are_refused_and_nothing_is_stored() {
    let clock = clock();
    let cache = memory_cache(CacheConfig::default(), &clock);
    assert!(matches!(cache.put("k", Bytes::from_static(b"not json"), ttl(1)), Err(CacheError::NotJson(_))));
    assert!(matches!(cache.put("", json(1), ttl(1)), Err(CacheError::Key(_))));
    assert!(cache.is_empty());
}

#[test]
fn invalidation_by_key_and_prefix() {
    let clock = clock();
    let cache = memory_cache(CacheConfig::default(), &clock);
    for key in ["repos:a/1", "repos:a/2", "repos:b/1", "runners:a"] {
        cache.put(key, json(1), ttl(60)).unwrap();
    }
    assert!(cache.invalidate("runners:a").unwrap());
    assert!(!cache.invalidate("runners:a").unwrap());
    assert_eq!(cache.invalidate_prefix("repos:a/").unwrap(), 2);
    assert_eq!(cache.list("", 0, 10).entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["repos:b/1"]);
    assert!(cache.get("repos:b/1").is_some());
    assert_eq!(cache.invalidate_prefix("").unwrap(), 1, "the empty prefix matches every key");
    // Every statistic still works after the cache is emptied.
    assert!(cache.get("repos:b/1").is_none());
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.size_bytes), (0, 0));
    assert_eq!(stats.counters.total_requests(), 2);
}

#[test]
fn a_lookup_is_counted_once_by_how_it_ended() {
    let clock = clock();
    let cache = memory_cache(CacheConfig::default(), &clock);
    cache.put("repos:a", json(1), ttl(60)).unwrap();
    // `fresh` finds without counting; the caller counts the outcome once.
    assert!(cache.fresh("repos:a").is_some());
    assert!(cache.fresh("repos:none").is_none());
    assert_eq!(cache.stats().counters.total_requests(), 0);
    cache.count("repos:none", Lookup::Spared);
    cache.count("github:GET:/none:accept=:scope=anonymous", Lookup::Spared);
    let counters = cache.stats().counters;
    assert_eq!((counters.misses, counters.api_calls_saved), (2, 1), "only GitHub's answers save GitHub calls");
    // An expired entry is an expiration, whoever looks.
    clock.advance_secs(60);
    assert!(cache.fresh("repos:a").is_none());
    assert_eq!(cache.stats().counters.expirations, 1);
}

#[test]
fn hits_on_peer_entries_are_peer_hits() {
    let clock = clock();
    let cache = memory_cache(CacheConfig::default(), &clock);
    let from_peer =
        PutOptions { ttl_secs: Some(60), origin: Some(Origin::Peer("12D3KooWpeer".into())), ..PutOptions::default() };
    cache.put("repos:p", json(1), from_peer).unwrap();
    cache.put("repos:l", json(1), ttl(60)).unwrap();
    cache.get("repos:p").unwrap();
    cache.get("repos:l").unwrap();
    cache.get("repos:l").unwrap();
    let stats = cache.stats().counters;
    assert_eq!((stats.local_hits, stats.peer_hits, stats.total_hits()), (2, 1, 3));
    assert_eq!(cache.list("repos:p", 0, 1).entries[0].origin, "12D3KooWpeer");
}

#[test]
fn listing_pages_sorted_by_key_with_ages() {
    let clock = clock();
    let cache = memory_cache(CacheConfig::default(), &clock);
    for n in 0..5 {
        cache.put(&format!("k{n}"), json(n), ttl(100)).unwrap();
    }
    clock.advance_secs(30);
    let page = cache.list("k", 1, 2);
    assert_eq!(page.total, 5);
    let keys: Vec<_> = page.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["k1", "k2"]);
    assert_eq!(page.entries[0].age_secs, 30);
    assert_eq!(page.entries[0].ttl_left_secs, 70);
    assert!(page.entries[0].cid.starts_with("bafkrei"));
}

#[test]
fn a_page_holds_at_most_max_page_entries() {
    let clock = clock();
    let cache = memory_cache(CacheConfig::default(), &clock);
    for n in 0..MAX_PAGE + 5 {
        cache.put(&format!("k{n:05}"), json(n), ttl(100)).unwrap();
    }
    let page = cache.list("k", 0, usize::MAX);
    assert_eq!(page.total, MAX_PAGE + 5);
    assert_eq!(page.entries.len(), MAX_PAGE);
}

#[test]
fn entries_persist_across_a_restart_and_hit_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = CacheConfig { dir: Some(dir.path().to_owned()), ..CacheConfig::default() };
    {
        let cache = Cache::open(config.clone(), clock.clone()).unwrap();
        cache.put("get_repo:octo/a", json(1), ttl(300)).unwrap();
        cache.put("get_repo:octo/b", json(2), ttl(300)).unwrap();
        cache.invalidate("get_repo:octo/b").unwrap();
    }
    clock.advance_secs(10);
    let cache = Cache::open(config, clock.clone()).unwrap();
    let entry = cache.get("get_repo:octo/a").expect("hit after restart");
    assert_eq!(entry.value, json(1));
    assert!(cache.peek("get_repo:octo/b").is_none(), "invalidation persisted too");
    assert_eq!(cache.stats().counters.local_hits, 1);
}

#[test]
fn expired_entries_are_purged_at_start_after_the_stale_grace() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = CacheConfig { dir: Some(dir.path().to_owned()), stale_grace_secs: 100, ..CacheConfig::default() };
    {
        let cache = Cache::open(config.clone(), clock.clone()).unwrap();
        cache.put("short", json(1), ttl(10)).unwrap();
        cache.put("long", json(1), ttl(1000)).unwrap();
    }
    clock.advance_secs(50); // short expired, within grace: kept for get_stale
    assert!(Cache::open(config.clone(), clock.clone()).unwrap().get_stale("short").is_some());
    clock.advance_secs(100); // beyond grace: gone
    let cache = Cache::open(config, clock.clone()).unwrap();
    assert!(cache.peek("short").is_none());
    assert!(cache.get("long").is_some());
}

#[test]
fn periodic_purge_drops_only_entries_beyond_the_grace() {
    let clock = clock();
    let cache = memory_cache(CacheConfig { stale_grace_secs: 10, ..CacheConfig::default() }, &clock);
    cache.put("a", json(1), ttl(5)).unwrap();
    cache.put("b", json(1), ttl(60)).unwrap();
    clock.advance_secs(14);
    assert_eq!(cache.purge_expired().unwrap(), 0);
    clock.advance_secs(1);
    assert_eq!(cache.purge_expired().unwrap(), 1);
    assert!(cache.peek("b").is_some());
}

#[test]
fn a_smaller_bound_at_restart_evicts_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let config = CacheConfig { dir: Some(dir.path().to_owned()), ..CacheConfig::default() };
    {
        let cache = Cache::open(config.clone(), clock.clone()).unwrap();
        for n in 0..5 {
            cache.put(&format!("k{n}"), json(n), ttl(300)).unwrap();
            clock.advance_secs(1);
        }
    }
    let cache = Cache::open(CacheConfig { max_entries: 2, ..config }, clock.clone()).unwrap();
    let keys: Vec<_> = cache.list("", 0, 10).entries.into_iter().map(|e| e.key).collect();
    assert_eq!(keys, ["k3", "k4"]);
}

#[tokio::test]
async fn writes_from_async_code_commit_on_a_blocking_thread() {
    let dir = tempfile::tempdir().unwrap();
    let config = CacheConfig { dir: Some(dir.path().to_owned()), ..CacheConfig::default() };
    let cache = Arc::new(Cache::open(config, clock()).unwrap());
    let stored = cache.write(|cache| cache.put("repos:w", json(1), ttl(60))).await.unwrap();
    assert_eq!(stored.key, "repos:w");
    let refused = cache.write(|cache| cache.put("", json(1), ttl(60))).await;
    assert!(matches!(refused, Err(CacheError::Key(_))));
    assert_eq!(cache.write(|cache| cache.invalidate_prefix("repos:")).await.unwrap(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the operations, the bounds hold, the byte count is exact and
    /// the most recently written key is present.
    #[test]
    fn bounds_and_byte_accounting_hold(ops in proptest::collection::vec((0u8..3, 0usize..12, 0usize..40), 1..80)) {
        let clock = clock();
        let cache = memory_cache(CacheConfig { max_entries: 5, max_bytes: 120, ..CacheConfig::default() }, &clock);
        for (op, key, len) in ops {
            let key = format!("k{key}");
            match op {
                0 => {
                    let value = Bytes::from(format!("\"{}\"", "x".repeat(len)));
                    cache.put(&key, value, ttl(60)).unwrap();
                    prop_assert!(cache.peek(&key).is_some());
                }
                1 => { cache.get(&key); }
                _ => { cache.invalidate(&key).unwrap(); }
            }
            let stats = cache.stats();
            prop_assert!(stats.entries <= 5);
            prop_assert!(stats.size_bytes <= 120);
            let listed: u64 = cache.list("", 0, usize::MAX).entries.iter().map(|e| e.key.len() as u64 + e.size).sum();
            prop_assert_eq!(listed, stats.size_bytes);
            prop_assert_eq!(stats.counters.total_requests(), stats.counters.total_hits() + stats.counters.misses);
        }
    }
}
