//! A team's first day: what the headers say is what happened. A refusal
//! replayed from the node's own rate-limit hold says HELD and reached GitHub
//! zero times; `stored` appears in `Cache-Status` only when something was
//! stored (not for a 404, a refusal or a 502); saved calls count only
//! `/github` answers.

mod support;

use app::api::Backend;
use axum::http::StatusCode;
use support::inproc::start_peercache;
use support::standin;

async fn get(url: &str) -> (StatusCode, String, String) {
    get_as(url, "T").await
}

async fn get_as(url: &str, token: &str) -> (StatusCode, String, String) {
    let response =
        reqwest::Client::new().get(url).header("authorization", format!("token {token}")).send().await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let (mode, cache_status) = (header("x-peercache"), header("cache-status"));
    (response.status(), mode, cache_status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_say_what_happened() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let base = format!("{}/github", pc.url);
    // A 200 that was stored says so.
    assert_eq!(
        get(&format!("{base}/repos/octo/demo")).await,
        (StatusCode::OK, "MISS".into(), "peercache; fwd=uri-miss; stored".into())
    );
    // A 404 was not stored.
    let (status, mode, cache_status) = get_as(&format!("{base}/repos/octo/private"), "outsider").await;
    assert_eq!((status, mode.as_str()), (StatusCode::NOT_FOUND, "MISS"));
    assert!(!cache_status.contains("stored"), "{cache_status}");
    // GitHub's rate-limit refusal: not stored; then held, and GitHub not asked again.
    let (status, mode, cache_status) = get(&format!("{base}/search/issues?q=x")).await;
    assert_eq!((status, mode.as_str()), (StatusCode::FORBIDDEN, "MISS"));
    assert!(!cache_status.contains("stored"), "{cache_status}");
    let asked = gh.count("/search/issues");
    let (status, mode, cache_status) = get(&format!("{base}/search/issues?q=x")).await;
    assert_eq!((status, mode.as_str()), (StatusCode::FORBIDDEN, "HELD"), "{cache_status}");
    assert_eq!(cache_status, "peercache; hit; detail=rate-limit-held");
    assert_eq!(gh.count("/search/issues"), asked, "a held refusal reaches GitHub zero times");
    // GitHub failing: a 502, not stored.
    let (status, mode, cache_status) = get(&format!("{base}/fail/502")).await;
    assert_eq!((status, mode.as_str()), (StatusCode::BAD_GATEWAY, "MISS"));
    assert!(!cache_status.contains("stored"), "{cache_status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_calls_count_only_github_answers() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    // A user's own entries, looked up again and again, never were GitHub calls.
    pc.state.core.put_entry("mine:notes".into(), bytes::Bytes::from_static(b"{}"), None).await.unwrap();
    for _ in 0..3 {
        pc.state.core.lookup("mine:notes").await.unwrap();
    }
    assert_eq!(pc.state.core.cache_stats().api_calls_saved, 0);
    // A GitHub answer served from the cache is one.
    get(&format!("{}/github/repos/octo/demo", pc.url)).await;
    get(&format!("{}/github/repos/octo/demo", pc.url)).await;
    let stats = pc.state.core.cache_stats();
    assert_eq!(stats.api_calls_saved, 1, "one HIT");
    assert_eq!(stats.api_calls_saved, pc.state.core.proxy_stats().calls_saved_last_hour, "the two figures agree");
}

const SWARM: &str =
    "/key/swarm/psk/1.0.0/\n/base16/\n5151515151515151515151515151515151515151515151515151515151515151\n";

/// Two members of a private swarm (its key file in the directory returned).
async fn two_members(upstream: &str) -> (tempfile::TempDir, Vec<support::inproc::Peercache>) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("swarm.key");
    std::fs::write(&key, SWARM).unwrap();
    let nodes = support::inproc::fleet(2, upstream, &key.display().to_string()).await;
    (dir, nodes)
}

/// `invalidate --fleet`: node 1's operator drops a repository's answers and a
/// user's entry on every node; node 0 drops its copies, and neither node
/// takes an older copy back (node 0 asks GitHub again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_invalidation_drops_every_nodes_copies_and_none_comes_back() {
    let gh = standin::start("").await;
    let (_dir, nodes) = two_members(&gh.base).await;
    let repo = |i: usize| format!("{}/github/repos/octo/demo", nodes[i].url);
    assert_eq!(get(&repo(0)).await.1, "MISS");
    nodes[0].state.core.put_entry("mine:a".into(), bytes::Bytes::from_static(b"{}"), None).await.unwrap();
    let held = |i: usize| nodes[i].state.core.cache.list("github:GET:/repos/octo/demo", 0, 10).total;
    support::wait_for("node 1 holds both", || {
        (held(1) == 1 && nodes[1].state.core.cache.peek("mine:a").is_some()).then_some(())
    })
    .await;
    // From node 1, through the API as `peercache invalidate --fleet` asks.
    let client = reqwest::Client::new();
    for pattern in ["github:GET:/repos/octo/demo", "mine:"] {
        let done: serde_json::Value = client
            .post(format!("{}/api/cache/invalidate", nodes[1].url))
            .header("content-type", "application/json")
            .body(serde_json::json!({"pattern": pattern, "reach": "fleet"}).to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!((done["invalidated"].as_u64(), done["told_peers"].as_u64()), (Some(1), Some(1)), "{done}");
    }
    support::wait_for("node 0 drops its copies", || {
        (held(0) == 0 && nodes[0].state.core.cache.peek("mine:a").is_none()).then_some(())
    })
    .await;
    // Nobody hands an older copy back: both ask GitHub.
    let before = gh.count("/repos/octo/demo");
    assert_eq!(get(&repo(0)).await.1, "MISS");
    assert_eq!(gh.count("/repos/octo/demo"), before + 1);
    let node = nodes[1].state.core.p2p.as_ref().unwrap();
    assert!(node.lookup(&nodes[1].state.core.cache, "mine:a").await.is_none(), "no peer has mine:a any more");
}

/// Without a P2P node, a fleet-wide invalidation says it cannot tell the
/// fleet and drops nothing (a script must not believe the fleet was told).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_invalidation_without_a_p2p_node_is_refused_and_drops_nothing() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    pc.state.core.put_entry("mine:a".into(), bytes::Bytes::from_static(b"{}"), None).await.unwrap();
    let refused = pc
        .state
        .core
        .invalidate(app::model::Invalidation::Prefix("mine:".into()), app::model::Reach::Fleet)
        .await
        .unwrap_err();
    assert!(refused.message.contains("cannot tell the fleet"), "{}", refused.message);
    assert!(pc.state.core.cache.peek("mine:a").is_some());
}

/// `/metrics` has what an operator alerts on: refusals by reason, peers by
/// trust, whether sharing is off, the standard `process_*` families, and
/// libp2p's families named once (`peercache_libp2p_…`, never `…libp2p_libp2p_…`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_name_refusals_trust_and_the_process() {
    let gh = standin::start("").await;
    let (_dir, nodes) = two_members(&gh.base).await;
    // A member asks for more than any write may: refused, and counted by reason.
    let member = nodes[1].state.core.p2p.clone().unwrap();
    member.invalidate(vec!["github:GET:/".to_owned()], server::cache::ttl::Clock::now_ms(&*nodes[1].clock)).await;
    support::wait_for("the refusal", || {
        nodes[0].state.core.status.current().refused_by_reason.get("too_wide").copied().filter(|n| *n == 1)
    })
    .await;
    let text = reqwest::get(format!("{}/metrics", nodes[0].url)).await.unwrap().text().await.unwrap();
    let sample = |series: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(sample("peercache_peer_refusals_total{reason=\"too_wide\"}"), 1.0);
    assert_eq!(sample("peercache_peers_by_trust{trusted=\"true\"}"), 1.0);
    assert_eq!(sample("peercache_peers_by_trust{trusted=\"false\"}"), 0.0);
    assert_eq!(sample("peercache_github_sharing_off"), 0.0, "a private swarm shares");
    assert!(sample("process_resident_memory_bytes") > 1e6);
    assert!(sample("process_cpu_seconds_total") > 0.0);
    assert!(sample("process_open_fds") > 0.0);
    let names: Vec<&str> =
        text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
    assert!(names.iter().any(|name| name.starts_with("peercache_libp2p_")), "libp2p's families are there");
    assert!(names.iter().all(|name| !name.contains("libp2p_libp2p")), "no stutter");
}

/// One node's rate-limit refusal spares the fleet: the other member replays
/// it (HELD) for the same token instead of spending a call on GitHub to
/// learn it again; another token still asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_hold_is_shared_with_the_fleet() {
    let gh = standin::start("").await;
    let (_dir, nodes) = two_members(&gh.base).await;
    let search = |i: usize| format!("{}/github/search/issues?q=x", nodes[i].url);
    let (status, mode, _) = get(&search(0)).await;
    assert_eq!((status, mode.as_str()), (StatusCode::FORBIDDEN, "MISS"));
    support::wait_for("node 1 to hold the refusal", || {
        (nodes[1].state.core.cache.list("github:HOLD:", 0, 1).total == 1).then_some(())
    })
    .await;
    let asked = gh.count("/search/issues");
    let (status, mode, cache_status) = get(&search(1)).await;
    assert_eq!((status, mode.as_str()), (StatusCode::FORBIDDEN, "HELD"), "{cache_status}");
    assert_eq!(gh.count("/search/issues"), asked, "node 1 did not ask GitHub");
    // The hold is the token's: another token's search still goes to GitHub.
    let (_, mode, _) = get_as(&search(1), "U").await;
    assert_eq!(mode, "MISS");
    assert_eq!(gh.count("/search/issues"), asked + 1);
}
