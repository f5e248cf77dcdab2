//! Cache speed, each next to a reference measured in the same run:
//! - `get_hit`: a hit at 100k entries vs a plain `HashMap<String, Bytes>` lookup;
//! - `put_memory`: a put (CID, JSON check, LRU, eviction) at 100k entries, memory only;
//! - `put_persistent`: a durable put vs a bare redb insert + commit of the same bytes.
//!
//! Run: `cargo bench -p server --bench cache`

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use redb::{Database, TableDefinition};
use server::cache::ttl::SystemClock;
use server::cache::{Cache, CacheConfig, PutOptions};

const ENTRIES: usize = 100_000;

fn json_value(size: usize, n: usize) -> Bytes {
    let head = format!("{{\"n\":{n},\"pad\":\"");
    let pad = size.saturating_sub(head.len() + 2);
    Bytes::from(format!("{head}{}\"}}", "x".repeat(pad)))
}

fn filled_cache(size: usize) -> Cache {
    let config =
        CacheConfig { max_entries: ENTRIES as u64, max_bytes: 8 * 1024 * 1024 * 1024, ..CacheConfig::default() };
    let cache = Cache::in_memory(config, Arc::new(SystemClock));
    for n in 0..ENTRIES {
        cache.put(&format!("get_repo:octo/r{n}"), json_value(size, n), PutOptions::default()).unwrap();
    }
    cache
}

fn get_hit(c: &mut Criterion) {
    let cache = filled_cache(1024);
    let reference: HashMap<String, Bytes> =
        (0..ENTRIES).map(|n| (format!("get_repo:octo/r{n}"), json_value(1024, n))).collect();
    let keys: Vec<String> = (0..1024).map(|n| format!("get_repo:octo/r{}", n * 97 % ENTRIES)).collect();
    let mut group = c.benchmark_group("get_hit_100k");
    let mut i = 0;
    group.bench_function("peercache", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(cache.get(&keys[i]).unwrap());
        })
    });
    group.bench_function("reference_hashmap", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(reference.get(&keys[i]).unwrap().clone());
        })
    });
    group.finish();
}

fn put_memory(c: &mut Criterion) {
    let mut group = c.benchmark_group("put_memory_100k");
    for size in [1024, 64 * 1024] {
        // A full cache: every put also evicts the least recently used entry.
        let cache = filled_cache(1024);
        let value = json_value(size, 0);
        let mut n = 0usize;
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &value, |b, value| {
            b.iter(|| {
                n += 1;
                cache.put(&format!("bench:{n}"), value.clone(), PutOptions::default()).unwrap();
            })
        });
    }
    group.finish();
}

fn put_persistent(c: &mut Criterion) {
    const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("reference");
    let mut group = c.benchmark_group("put_persistent");
    group.sample_size(30).measurement_time(Duration::from_secs(5));
    for size in [1024, 64 * 1024] {
        let dir = tempfile::tempdir().unwrap();
        let config = CacheConfig { dir: Some(dir.path().join("cache")), ..CacheConfig::default() };
        let cache = Cache::open(config, Arc::new(SystemClock)).unwrap();
        let db = Database::create(dir.path().join("reference.redb")).unwrap();
        let value = json_value(size, 0);
        let mut n = 0usize;
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("peercache", size), &value, |b, value| {
            b.iter(|| {
                n += 1;
                cache.put(&format!("bench:{}", n % 1000), value.clone(), PutOptions::default()).unwrap();
            })
        });
        group.bench_with_input(BenchmarkId::new("reference_redb", size), &value, |b, value| {
            b.iter(|| {
                n += 1;
                let txn = db.begin_write().unwrap();
                txn.open_table(TABLE).unwrap().insert(format!("bench:{}", n % 1000).as_str(), value.as_ref()).unwrap();
                txn.commit().unwrap();
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = get_hit, put_memory, put_persistent
}
criterion_main!(benches);
