//! Memory of the cache at 100k entries of 1 KiB: resident set growth while
//! filling, against the payload bytes themselves (the reference).
//!
//! Run: `cargo bench -p server --bench cache_memory`

use std::sync::Arc;

use bytes::Bytes;
use server::cache::ttl::SystemClock;
use server::cache::{Cache, CacheConfig, PutOptions};

const ENTRIES: usize = 100_000;
const VALUE_BYTES: usize = 1024;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes every bench binary
    }
    let config = CacheConfig { max_entries: ENTRIES as u64, max_bytes: 1 << 40, ..CacheConfig::default() };
    let cache = Cache::in_memory(config, Arc::new(SystemClock));
    let before = rss_bytes();
    let mut payload = 0u64;
    for n in 0..ENTRIES {
        let key = format!("get_repo:octo/r{n}");
        let head = format!("{{\"n\":{n},\"pad\":\"");
        let value = Bytes::from(format!("{head}{}\"}}", "x".repeat(VALUE_BYTES - head.len() - 2)));
        payload += (key.len() + value.len()) as u64;
        cache.put(&key, value, PutOptions::default()).unwrap();
    }
    let grown = rss_bytes() - before;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("entries:              {ENTRIES}");
    println!("payload (keys+values): {:.1} MiB", mib(payload));
    println!("RSS growth:           {:.1} MiB", mib(grown));
    println!("RSS per entry:        {} bytes", grown / ENTRIES as u64);
    println!("overhead per entry:   {} bytes", (grown.saturating_sub(payload)) / ENTRIES as u64);
    println!("RSS / payload ratio:  {:.2}", grown as f64 / payload as f64);
    println!("total RSS:            {:.1} MiB", mib(rss_bytes()));
    assert_eq!(cache.len(), ENTRIES);
}
