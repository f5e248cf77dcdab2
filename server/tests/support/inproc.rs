//! A peercache in the test process (its router on a loopback port, its clock
//! a manual one the test moves), for tests that drive the proxy over HTTP.

use std::sync::Arc;

use server::cache::ttl::ManualClock;
use server::config::ServeConfig;
use server::http::router::router;
use server::http::state::AppState;

pub struct Peercache {
    pub url: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

/// A peercache forwarding to `upstream`; with `p2p`, a P2P node on loopback
/// bootstrapped from it (`""`: from nobody).
pub async fn start_peercache(upstream: &str, p2p: Option<String>) -> Peercache {
    start_peercache_with(upstream, p2p, |_| {}).await
}

/// The same, with settings `adjust` changes.
pub async fn start_peercache_with(
    upstream: &str,
    p2p: Option<String>,
    adjust: impl FnOnce(&mut ServeConfig),
) -> Peercache {
    start_peercache_at(upstream, p2p, adjust, START_MS).await
}

/// Where the nodes' manual clocks start.
pub const START_MS: u64 = 1_700_000_000_000;

/// The same, its clock starting at `now_ms` (another node's clock, skewed).
pub async fn start_peercache_at(
    upstream: &str,
    p2p: Option<String>,
    adjust: impl FnOnce(&mut ServeConfig),
    now_ms: u64,
) -> Peercache {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::for_tests("127.0.0.1:0".parse().unwrap(), dir.path().to_owned());
    adjust(&mut config);
    config.github_api_url = upstream.to_owned();
    if let Some(bootstrap) = p2p {
        config.enable_p2p = true;
        config.p2p_host = "127.0.0.1".parse().unwrap();
        config.p2p_port = 0;
        config.bootstrap_peers = bootstrap;
    }
    let clock = Arc::new(ManualClock::new(now_ms));
    let state = AppState::with_clock(&config, clock.clone()).unwrap();
    // As `serve` does: the node tells the fleet its summary.
    let _ = state.core.spawn_fleet_summaries();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Peercache { url, state, clock, _dir: dir }
}

/// `n` in-process nodes of one private swarm (swarm key file `key`), every
/// one connected to every other, with settings `adjust` changes (given each
/// node's index).
pub async fn fleet_with(
    n: usize,
    upstream: &str,
    key: &str,
    adjust: impl Fn(usize, &mut ServeConfig),
) -> Vec<Peercache> {
    let first = start_peercache_with(upstream, Some(String::new()), |c| {
        c.swarm_key = Some(key.into());
        adjust(0, c);
    })
    .await;
    let addr =
        super::wait_for("node 0's address", || first.state.core.status.current().listen_addrs.first().cloned()).await;
    let mut nodes = vec![first];
    for i in 1..n {
        nodes.push(
            start_peercache_with(upstream, Some(addr.clone()), |c| {
                c.swarm_key = Some(key.into());
                adjust(i, c);
            })
            .await,
        );
    }
    super::wait_for("every node meshed and subscribed", || {
        nodes
            .iter()
            .all(|node| {
                let status = node.state.core.status.current();
                status.peer_count == n - 1 && status.gossip.topic_peers == n - 1
            })
            .then_some(())
    })
    .await;
    nodes
}

/// [`fleet_with`] on default settings.
pub async fn fleet(n: usize, upstream: &str, key: &str) -> Vec<Peercache> {
    fleet_with(n, upstream, key, |_, _| {}).await
}
