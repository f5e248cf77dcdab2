//! P2P latency on loopback, each next to a reference measured in the same run:
//! - announcement → visible on every other node, for 2 and 10 nodes (star
//!   around the publisher), against a local durable put of the same entry;
//! - fetch on miss for 1 KiB and 1 MiB entries, the network part
//!   (`NodeClient::fetch`: request, response, CID check) against a plain TCP
//!   round trip of the same payload, and the whole lookup (`NodeClient::lookup`,
//!   which also commits the entry to disk), paced under the serving peer's
//!   per-peer fetch rate limit.
//!
//! Run: `cargo bench -p server --bench p2p`

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use server::cache::ttl::SystemClock;
use server::cache::{Cache, CacheConfig, PutOptions};
use server::p2p::client::NodeClient;
use server::p2p::{start, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROUNDS: usize = 200;

struct Node {
    cache: Arc<Cache>,
    client: NodeClient,
    _dir: tempfile::TempDir,
}

fn node(bootstrap: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let config = CacheConfig { dir: Some(dir.path().to_owned()), max_bytes: 1 << 30, ..CacheConfig::default() };
    let cache = Arc::new(Cache::open(config, Arc::new(SystemClock)).unwrap());
    let config = NodeConfig {
        fetch_timeout: Duration::from_secs(5),
        max_entry_bytes: 1 << 30,
        ..NodeConfig::loopback(bootstrap)
    };
    let client = start(config, cache.clone()).unwrap();
    Node { cache, client, _dir: dir }
}

async fn until<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
}

async fn group(n: usize) -> Vec<Node> {
    let first = node("");
    let addr = until(|| first.client.status().listen_addrs.first().cloned()).await;
    let mut nodes = vec![first];
    nodes.extend((1..n).map(|_| node(&addr)));
    until(|| (nodes[0].client.status().peer_count == n - 1).then_some(())).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // gossip subscriptions settle
    nodes
}

fn body(size: usize, n: usize) -> Bytes {
    let head = format!("{{\"n\":{n},\"pad\":\"");
    Bytes::from(format!("{head}{}\"}}", "x".repeat(size - head.len() - 2)))
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e3;
    (at(0.50), at(0.99))
}

fn report(name: &str, samples: Vec<Duration>, reference: Option<(&str, (f64, f64))>) {
    let (p50, p99) = percentiles(samples);
    match reference {
        Some((what, (r50, r99))) => println!(
            "{name:<40} p50 {p50:>7.3} ms  p99 {p99:>7.3} ms   | {what}: p50 {r50:.3} ms p99 {r99:.3} ms  (ratio p50 {:.1}×)",
            p50 / r50
        ),
        None => println!("{name:<40} p50 {p50:>7.3} ms  p99 {p99:>7.3} ms"),
    }
}

async fn announcement(n: usize) {
    let nodes = group(n).await;
    let mut visible = Vec::with_capacity(ROUNDS);
    let mut local = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let key = format!("get_repo:bench/{n}/{round}");
        let started = Instant::now();
        nodes[0].cache.put(&key, body(1024, round), PutOptions::default()).unwrap();
        local.push(started.elapsed());
        for other in &nodes[1..] {
            until(|| other.cache.peek(&key)).await;
        }
        visible.push(started.elapsed());
    }
    report(
        &format!("announce 1 KiB → visible on all {n} nodes"),
        visible,
        Some(("local durable put", percentiles(local))),
    );
}

/// A TCP server answering each 4-byte length with that many bytes.
async fn tcp_reference(size: usize) -> (f64, f64) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.set_nodelay(true).unwrap();
        let mut len = [0u8; 4];
        while socket.read_exact(&mut len).await.is_ok() {
            let reply = vec![b'x'; u32::from_be_bytes(len) as usize];
            socket.write_all(&reply).await.unwrap();
        }
    });
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client.set_nodelay(true).unwrap();
    let mut buffer = vec![0u8; size];
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        client.write_all(&(size as u32).to_be_bytes()).await.unwrap();
        client.read_exact(&mut buffer).await.unwrap();
        samples.push(started.elapsed());
    }
    percentiles(samples)
}

async fn fetch_on_miss(size: usize, label: &str) {
    let a = node("");
    for round in 0..ROUNDS * 2 {
        a.cache.put(&format!("list_runners:bench/{round}"), body(size, round), PutOptions::default()).unwrap();
    }
    let addr = until(|| a.client.status().listen_addrs.first().cloned()).await;
    let b = node(&addr);
    until(|| (b.client.status().peer_count == 1).then_some(())).await;
    // B asks A on connecting what it stored (sync): wait for that to end,
    // then forget it all, so the lookups below are misses that go to A.
    until(|| (0..ROUNDS * 2).all(|r| b.cache.peek(&format!("list_runners:bench/{r}")).is_some()).then_some(())).await;
    b.cache.invalidate_prefix("list_runners:bench/").unwrap();
    // A serves one peer 100 fetches a second after a burst (the sync used
    // most of it): two fetches per round, a round every 25 ms.
    let mut pace = tokio::time::interval(Duration::from_millis(25));
    let mut network = Vec::with_capacity(ROUNDS);
    let mut lookup = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        pace.tick().await;
        let started = Instant::now();
        b.client.fetch(&format!("list_runners:bench/{round}")).await.expect("A has it");
        network.push(started.elapsed());
        let started = Instant::now();
        b.client.lookup(&b.cache, &format!("list_runners:bench/{}", ROUNDS + round)).await.expect("A has it");
        lookup.push(started.elapsed());
    }
    let reference = tcp_reference(size).await;
    report(&format!("fetch {label} (network + CID check)"), network, Some(("TCP round trip", reference)));
    report(&format!("lookup {label} (fetch + durable store)"), lookup, None);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        announcement(2).await;
        announcement(10).await;
        fetch_on_miss(1024, "1 KiB").await;
        fetch_on_miss(1024 * 1024, "1 MiB").await;
    });
}
