//! The README's "Share a cache between machines" walkthrough, run literally
//! with the real binary on loopback (the two "machines" are two processes with
//! their own CACHE_DIR and ports), and the README's settings table checked
//! against `peercache serve --help`.

mod support;

use std::collections::BTreeSet;

use support::{peercache, serve, wait_for_blocking as until};

#[test]
fn two_machines_share_one_cache() {
    let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // 1. Start node 1.
    let node1 = serve(dir1.path(), &[], &[]);
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
    // 3. Start node 2 with CACHE_BOOTSTRAP_PEERS.
    let node2 = serve(dir2.path(), &[], &[("CACHE_BOOTSTRAP_PEERS", &multiaddr)]);
    // 4. See "✓ Active" with one peer.
    let status: serde_json::Value = until("node 2 to connect", || {
        let out = support::run(&["status", "--json", "--server", &node2.url], b"");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (json["peers"]["peer_count"] == 1).then_some(json)
    });
    assert_eq!(status["peers"]["active"], true);
    assert!(peercache(&["status", "--server", &node2.url]).contains("✓ Active — 1 peer(s)"));
    let node1_id = multiaddr.rsplit('/').next().unwrap();
    assert!(peercache(&["peers", "--server", &node2.url]).contains(&node1_id[..6]));
    // 5. What node 1 caches, node 2 has.
    let client = reqwest::blocking::Client::new();
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
    drop(node2);
    drop(node1);
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
