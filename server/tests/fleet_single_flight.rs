//! One upstream call per key for the whole fleet: a burst of the same GitHub
//! request on every node reaches GitHub once — through the key's coordinator,
//! which leases the fetch to one node while the others wait for its entry —
//! even when the holder or the coordinator dies mid-burst, and once per token
//! when two tokens burst together.

mod support;

use std::path::Path;
use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use server::github::key::{scopes_prefix, RequestKey};
use server::p2p::rendezvous::rank;
use support::inproc::fleet;
use support::{serve, standin, wait_for, Serve};

const KEY: &str = "/key/swarm/psk/1.0.0/\n/base16/\n5151515151515151515151515151515151515151515151515151515151515151\n";

fn swarm_key(dir: &Path) -> String {
    let path = dir.join("swarm.key");
    std::fs::write(&path, KEY).unwrap();
    path.display().to_string()
}

async fn get(base: &str, path: &str, token: &str) -> (StatusCode, String, String, String) {
    let response = reqwest::Client::new()
        .get(format!("{base}/github{path}"))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let (mode, status_header) = (header("x-peercache"), header("cache-status"));
    let status = response.status();
    (status, response.text().await.unwrap(), mode, status_header)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_eight_nodes_reaches_github_once() {
    let upstream = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = swarm_key(dir.path());
    let nodes = fleet(8, &upstream.base, &key).await;
    let burst: Vec<_> =
        nodes.iter().map(|node| tokio::spawn(get_owned(node.url.clone(), "/slow/octo/burst", "T"))).collect();
    let mut modes = Vec::new();
    for answer in burst {
        let (status, body, mode, cache_status) = answer.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("octo/burst") && body.contains("token T"), "{body}");
        if mode == "COALESCED" {
            assert!(cache_status.contains("fleet lease held by 12D3KooW"), "{cache_status}");
        }
        modes.push(mode);
    }
    assert_eq!(upstream.count("/slow/octo/burst"), 1, "one upstream call for the fleet: {modes:?}");
    let stats: Vec<_> = nodes.iter().map(|n| app::api::Backend::proxy_stats(&n.state.core).fleet).collect();
    assert_eq!(stats.iter().map(|s| s.leases_granted).sum::<u64>(), 1, "{stats:?}");
    assert!(stats.iter().map(|s| s.waits).sum::<u64>() >= 1);
    assert_eq!(stats.iter().map(|s| s.wait_timeouts).sum::<u64>(), 0);
}

async fn get_owned(base: String, path: &'static str, token: &'static str) -> (StatusCode, String, String, String) {
    get(&base, path, token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tokens_bursting_on_one_path_make_one_call_each() {
    let upstream = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = swarm_key(dir.path());
    let nodes = fleet(4, &upstream.base, &key).await;
    let mut burst = Vec::new();
    for node in &nodes {
        for token in ["A", "B"] {
            burst.push((token, tokio::spawn(get_owned(node.url.clone(), "/slow/octo/two", token))));
        }
    }
    for (token, answer) in burst {
        let (status, body, _, _) = answer.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(&format!("token {token}")), "each token gets its own answer: {body}");
    }
    assert_eq!(upstream.charged(), 2, "one charged call per token (their answers differ)");
}

/// Real `peercache serve` processes of one private swarm.
fn processes(n: usize, upstream: &str, dir: &Path) -> Vec<(Serve, String)> {
    let key = swarm_key(dir);
    let mut nodes: Vec<(Serve, String)> = Vec::new();
    let mut bootstrap = String::new();
    for i in 0..n {
        let cache = dir.join(format!("node{i}"));
        let node = serve(
            &cache,
            &["--github-api-url", upstream, "--swarm-key", &key, "--bootstrap", &bootstrap, "--gh-socket", ""],
            &[],
        );
        let id = support::peercache(&["peer-id", "--cache-dir", &cache.display().to_string()]).trim().to_owned();
        if i == 0 {
            let url = node.url.clone();
            bootstrap = tokio::task::block_in_place(|| {
                support::wait_for_blocking("node 0's address", || {
                    let peers: serde_json::Value =
                        reqwest::blocking::get(format!("{url}/api/mcp/peers")).ok()?.json().ok()?;
                    peers["listen_addrs"][0].as_str().map(str::to_owned)
                })
            });
        }
        nodes.push((node, id));
    }
    let urls: Vec<String> = nodes.iter().map(|(node, _)| node.url.clone()).collect();
    tokio::task::block_in_place(|| {
        support::wait_for_blocking("the processes meshed", || {
            urls.iter()
                .all(|url| {
                    let peers: Option<serde_json::Value> =
                        reqwest::blocking::get(format!("{url}/api/mcp/peers")).ok().and_then(|r| r.json().ok());
                    peers.is_some_and(|p| p["gossip"]["topic_peers"] == n as u64 - 1)
                })
                .then_some(())
        })
    });
    nodes
}

/// The lease of a GET with no Accept, as every node names it: the request's,
/// whatever the token (scopes share leases, see `github::fleet`).
fn lease_of(path: &str) -> String {
    scopes_prefix(&RequestKey::rest(path, None, "", "").identity())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lease_holder_killed_mid_fetch_costs_at_most_one_more_call() {
    let upstream = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = processes(4, &upstream.base, dir.path());
    let ids: Vec<libp2p::PeerId> = nodes.iter().map(|(_, id)| id.parse().unwrap()).collect();
    let coordinator = rank(&lease_of("/slow/octo/held"), ids.clone())[0];
    // The holder: a node that is not the coordinator, asking first.
    let holder = ids.iter().position(|id| *id != coordinator).unwrap();
    upstream.gate.send_replace(false);
    let first = tokio::spawn(get_owned(nodes[holder].0.url.clone(), "/slow/octo/held", "T"));
    wait_for("the holder's call at GitHub", || (upstream.count("/slow/octo/held") == 1).then_some(())).await;
    let waiters: Vec<_> = (0..nodes.len())
        .filter(|i| *i != holder)
        .map(|i| tokio::spawn(get_owned(nodes[i].0.url.clone(), "/slow/octo/held", "T")))
        .collect();
    nodes[holder].0.kill();
    upstream.gate.send_replace(true);
    for answer in waiters {
        let (status, body, _, _) = answer.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("octo/held"));
    }
    let _ = first.await;
    assert!(upstream.count("/slow/octo/held") <= 2, "{} upstream calls", upstream.count("/slow/octo/held"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_coordinator_leaving_mid_burst_costs_at_most_one_more_call() {
    let upstream = standin::start("").await;
    upstream.slow_ms.store(1000, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = processes(4, &upstream.base, dir.path());
    let ids: Vec<libp2p::PeerId> = nodes.iter().map(|(_, id)| id.parse().unwrap()).collect();
    let coordinator_id = rank(&lease_of("/slow/octo/coord"), ids.clone())[0];
    let coordinator = ids.iter().position(|id| *id == coordinator_id).unwrap();
    let askers: Vec<usize> = (0..nodes.len()).filter(|i| *i != coordinator).collect();
    let first = tokio::spawn(get_owned(nodes[askers[0]].0.url.clone(), "/slow/octo/coord", "T"));
    wait_for("the first call at GitHub", || (upstream.count("/slow/octo/coord") == 1).then_some(())).await;
    let rest: Vec<_> =
        askers[1..].iter().map(|i| tokio::spawn(get_owned(nodes[*i].0.url.clone(), "/slow/octo/coord", "T"))).collect();
    nodes[coordinator].0.kill();
    let (status, _, _, _) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    for answer in rest {
        let (status, body, _, _) = answer.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert!(upstream.count("/slow/octo/coord") <= 2, "{} upstream calls", upstream.count("/slow/octo/coord"));
}
