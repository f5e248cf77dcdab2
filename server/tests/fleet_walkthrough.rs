//! The README's "Share a cache between machines" walkthrough, run literally
//! with the real binary on loopback (the two "machines" are two processes with
//! their own CACHE_DIR and ports), and the README's settings table checked
//! against `peercache serve --help`.

mod support;

use std::collections::BTreeSet;

use support::{peercache, serve, wait_for_blocking as until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_machines_share_one_cache() {
    let gh = support::standin::start("").await;
    let upstream = gh.base.clone();
    tokio::task::spawn_blocking(move || {
        let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let github = ["--github-api-url", upstream.as_str()];
        // 1. Make the group's key and start node 1 with it.
        let key1 = dir1.path().join("swarm.key");
        peercache(&["keygen", "--out", key1.to_str().unwrap()]);
        let node1 = serve(dir1.path(), &github, &[("CACHE_SWARM_KEY", key1.to_str().unwrap())]);
        // 2. Copy its multiaddr from `peercache status` (which exits 5 while it has no peer).
        let multiaddr = until("node 1's listen address", || {
            let out = support::run(&["status", "--server", &node1.url], b"");
            assert_eq!(out.status.code(), Some(5), "no peer yet: not active");
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .find_map(|line| line.strip_prefix("Listen:").map(|addr| addr.trim().to_owned()))
        });
        assert!(multiaddr.contains("/p2p/12D3KooW"), "{multiaddr}");
        // 3. Start node 2 with a copy of the key and CACHE_BOOTSTRAP_PEERS.
        let key2 = dir2.path().join("swarm.key");
        std::fs::copy(&key1, &key2).unwrap();
        let node2 = serve(
            dir2.path(),
            &github,
            &[("CACHE_SWARM_KEY", key2.to_str().unwrap()), ("CACHE_BOOTSTRAP_PEERS", &multiaddr)],
        );
        // 4. See "✓ Active" with one peer.
        let status: serde_json::Value = until("node 2 to connect", || {
            let out = support::run(&["status", "--json", "--server", &node2.url], b"");
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            (json["peers"]["peer_count"] == 1).then_some(json)
        });
        assert_eq!(status["peers"]["active"], true);
        let text = peercache(&["status", "--server", &node2.url]);
        assert!(text.contains("✓ Active — 1 peer(s)"), "{text}");
        assert!(!text.contains("Sharing: ⚠"), "a private swarm shares: {text}");
        let node1_id = multiaddr.rsplit('/').next().unwrap();
        assert!(peercache(&["peers", "--server", &node2.url]).contains(node1_id));
        // What node 1 fetches from GitHub, node 2 answers without asking GitHub.
        let client = reqwest::blocking::Client::new();
        let ask = |node: &support::Serve| {
            let response = client
                .get(format!("{}/github/repos/octo/hello", node.url))
                .header("authorization", "token T")
                .send()
                .unwrap();
            assert_eq!(response.status(), 200);
            response.headers()["x-peercache"].to_str().unwrap().to_owned()
        };
        assert_eq!(ask(&node1), "MISS");
        until("node 2 to hold node 1's answer", || {
            let held: serde_json::Value = client
                .get(format!("{}/api/cache/entries?prefix=github:GET:/repos/octo/hello", node2.url))
                .send()
                .ok()?
                .json()
                .ok()?;
            (held["total"] == 1).then_some(())
        });
        assert!(matches!(ask(&node2).as_str(), "HIT" | "PEER-HIT"));
        assert_eq!(gh.count("/repos/octo/hello"), 1, "one call to GitHub for the two machines");
        // What node 1 caches, node 2 has.
        let put = client
            .put(format!("{}/api/cache/entry?key=get_repo:octo/fleet&ttl=600", node1.url))
            .header("content-type", "application/json")
            .body(r#"{"id": 5}"#)
            .send()
            .unwrap();
        assert_eq!(put.status(), 201);
        let entry: serde_json::Value = until("the entry on node 2", || {
            let response = client.get(format!("{}/api/cache/entry?key=get_repo:octo/fleet", node2.url)).send().ok()?;
            response.status().is_success().then(|| response.json().unwrap())
        });
        assert_eq!(entry["value"]["id"], 5);
        assert_eq!(entry["origin"], node1_id);
        // `invalidate --fleet` on node 1 drops node 2's copy too, and it does not come back.
        let done = peercache(&["invalidate", "--fleet", "get_repo:octo/", "--server", &node1.url]);
        assert_eq!(done.trim(), "invalidated 1 entry here; told 1 peer(s) to drop theirs");
        until("node 2 to drop its copy", || {
            let response = client.get(format!("{}/api/cache/entry?key=get_repo:octo/fleet", node2.url)).send().ok()?;
            (response.status() == 404).then_some(())
        });
    })
    .await
    .unwrap();
}

/// The same walkthrough without step 1's key: an open swarm, which connects
/// but serves no peer's GitHub answer as it is; `status` says so, and why.
#[test]
fn an_open_swarm_says_it_does_not_share() {
    let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node1 = serve(dir1.path(), &[], &[]);
    let multiaddr = until("node 1's listen address", || {
        let out = support::run(&["status", "--json", "--server", &node1.url], b"");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        json["peers"]["listen_addrs"][0].as_str().map(str::to_owned)
    });
    let node2 = serve(dir2.path(), &[], &[("CACHE_BOOTSTRAP_PEERS", &multiaddr)]);
    let text = until("node 2 to connect", || {
        let out = support::run(&["status", "--server", &node2.url], b"");
        out.status.success().then(|| String::from_utf8(out.stdout).unwrap())
    });
    let sharing = text.lines().find(|l| l.starts_with("Sharing: ⚠")).unwrap_or_else(|| panic!("{text}"));
    assert!(sharing.contains("open swarm") && sharing.contains("peercache keygen"), "{sharing}");
}

/// Every environment variable of the README's `peercache serve` table is in
/// `peercache serve --help`, and every one in `--help` is in the table.
#[test]
fn readme_settings_table_matches_serve_help() {
    let help = peercache(&["serve", "--help"]);
    let from_help: BTreeSet<String> =
        help.split("[env: ").skip(1).map(|rest| rest.split(['=', ']']).next().unwrap().to_owned()).collect();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let table = readme
        .split("### `peercache serve` settings")
        .nth(1)
        .expect("README has a `peercache serve` settings section")
        .split("\n#")
        .next()
        .unwrap();
    let from_readme: BTreeSet<String> = table
        .lines()
        .filter(|line| line.starts_with("| `-"))
        .map(|line| line.split('|').nth(2).unwrap().trim().trim_matches('`').to_owned())
        .collect();
    assert!(from_help.len() >= 15, "parsing --help found too few: {from_help:?}");
    assert_eq!(from_readme, from_help, "README table (left) vs `peercache serve --help` (right)");
}
