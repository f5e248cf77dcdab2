//! The fleet at a glance: every node's signed summary reaches the others;
//! `/api/fleet`'s totals are the sum of each node's own figures; a node
//! killed with -9 shows as gone and drops out of the totals; an untrusted
//! node is shown apart and never summed.

mod support;

use app::api::Backend;

use support::inproc::{fleet_with, start_peercache_with, Peercache};
use support::{serve, standin, wait_for_blocking as until, Serve};

async fn get(url: &str, token: &str) -> String {
    let response =
        reqwest::Client::new().get(url).header("authorization", format!("token {token}")).send().await.unwrap();
    response.headers()["x-peercache"].to_str().unwrap().to_owned()
}

/// (upstream calls, calls saved, hits, misses) as the node's own stats say.
fn own(node: &Peercache) -> [u64; 4] {
    let stats = node.state.core.cache_stats();
    [stats.proxy.upstream_calls, stats.api_calls_saved, stats.total_hits, stats.misses]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_totals_are_the_sum_of_each_nodes_own_figures() {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("swarm.key");
    std::fs::write(
        &key,
        "/key/swarm/psk/1.0.0/\n/base16/\n4848484848484848484848484848484848484848484848484848484848484848\n",
    )
    .unwrap();
    let nodes = fleet_with(5, &gh.base, &key.display().to_string(), |_, c| c.fleet_summary_ms = 100).await;
    // A workload: misses, local hits and peers' answers, on every node.
    for (i, node) in nodes.iter().enumerate() {
        for repo in ["shared", &format!("own{i}")] {
            get(&format!("{}/github/repos/octo/{repo}", node.url), "T").await;
            get(&format!("{}/github/repos/octo/{repo}", node.url), "T").await;
        }
    }
    let sum = || {
        nodes.iter().map(own).fold([0u64; 4], |mut sum, figures| {
            for (s, f) in sum.iter_mut().zip(figures) {
                *s += f;
            }
            sum
        })
    };
    let expected = sum();
    assert!(expected[0] >= 5 && expected[1] >= 5, "a real workload: {expected:?}");
    let view = support::wait_for("node 0's view to add up", || {
        let view = nodes[0].state.core.fleet();
        let t = &view.totals;
        (t.nodes_up == 5 && [t.upstream_calls, t.calls_saved, t.hits, t.misses] == sum()).then_some(view)
    })
    .await;
    assert_eq!(sum(), expected, "nothing moved while the summaries travelled");
    assert_eq!(view.nodes.len(), 5);
    assert!(view.nodes[0].this_node);
    assert!(view.nodes.iter().all(|n| n.trusted && n.summary.version == env!("CARGO_PKG_VERSION")));
    assert_eq!(view.totals.nodes_gone + view.totals.nodes_untrusted, 0);
    assert_eq!(view.totals.core_remaining_min, Some(4999), "the stand-in's limit");
    // The JSON route says the same, in the shape the README documents.
    let json: serde_json::Value =
        reqwest::get(format!("{}/api/fleet", nodes[0].url)).await.unwrap().json().await.unwrap();
    assert_eq!(json["totals"]["upstream_calls"], expected[0]);
    assert_eq!(json["nodes"][0]["state"], "up");
    assert!(json["as_of_ms"].as_u64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_node_is_shown_apart_and_not_summed() {
    let gh = standin::start("").await;
    let a = start_peercache_with(&gh.base, Some(String::new()), |c| c.fleet_summary_ms = 100).await;
    let addr = support::wait_for("a's address", || a.state.core.status.current().listen_addrs.first().cloned()).await;
    let b = start_peercache_with(&gh.base, Some(addr), |c| c.fleet_summary_ms = 100).await;
    get(&format!("{}/github/repos/octo/b", b.url), "T").await;
    let view = support::wait_for("b's summary on a", || {
        let view = a.state.core.fleet();
        (view.nodes.len() == 2 && view.nodes[1].summary.upstream_calls == 1).then_some(view)
    })
    .await;
    assert!(!view.nodes[1].trusted, "an open swarm trusts nobody");
    assert_eq!((view.totals.nodes_up, view.totals.nodes_untrusted), (1, 1));
    assert_eq!(view.totals.upstream_calls, 0, "b's call is not the fleet's");
}

fn fleet_json(node: &Serve) -> serde_json::Value {
    reqwest::blocking::get(format!("{}/api/fleet", node.url)).unwrap().json().unwrap()
}

#[test]
fn a_node_killed_with_minus_nine_shows_as_gone() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let key = dirs[0].path().join("swarm.key");
    support::peercache(&["keygen", "--out", key.to_str().unwrap()]);
    let args = ["--swarm-key", key.to_str().unwrap(), "--fleet-summary-ms", "200"];
    let first = serve(dirs[0].path(), &args, &[]);
    let addr = until("the first node's address", || {
        let json: serde_json::Value =
            reqwest::blocking::get(format!("{}/api/mcp/peers", first.url)).ok()?.json().ok()?;
        json["listen_addrs"][0].as_str().map(str::to_owned)
    });
    let second = serve(dirs[1].path(), &args, &[("CACHE_BOOTSTRAP_PEERS", &addr)]);
    let mut third = serve(dirs[2].path(), &args, &[("CACHE_BOOTSTRAP_PEERS", &addr)]);
    let third_id = until("all three up on the first", || {
        let json = fleet_json(&first);
        (json["totals"]["nodes_up"] == 3).then(|| {
            let nodes = json["nodes"].as_array().unwrap().clone();
            let second_id = fleet_json(&second)["nodes"][0]["peer_id"].as_str().unwrap().to_owned();
            nodes.iter().skip(1).map(|n| n["peer_id"].as_str().unwrap().to_owned()).find(|id| *id != second_id).unwrap()
        })
    });
    third.kill();
    let json = until("the killed node gone", || {
        let json = fleet_json(&first);
        let row = json["nodes"].as_array()?.iter().find(|n| n["peer_id"] == third_id.as_str())?.clone();
        (row["state"] == "gone").then_some(json)
    });
    assert_eq!((json["totals"]["nodes_up"].as_u64(), json["totals"]["nodes_gone"].as_u64()), (Some(2), Some(1)));
    // `peercache fleet` says the same for a person.
    let text = support::peercache(&["fleet", "--server", &first.url]);
    let row = text.lines().find(|l| l.starts_with(&third_id)).unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains(" gone "), "{row}");
    assert!(text.contains("2 up, 1 gone, 0 apart"), "{text}");
    drop(second);
}
