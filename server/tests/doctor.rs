//! `peercache doctor`: healthy nodes exit 0 with a line per check; each
//! fault a team meets on its first day is injected and named — a swarm key
//! others can read, another swarm key on a peer (named on both sides), an
//! unreachable or malformed bootstrap address, a taken P2P port, a peer whose
//! clock is off (the injected clock), GitHub down or refusing the token.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use support::inproc::{start_peercache_at, start_peercache_with, START_MS};
use support::{serve, standin, wait_for_blocking as until, Serve, BIN};

/// `peercache doctor` against `url`, with `GITHUB_TOKEN` set to `token`.
fn doctor(url: &str, token: &str) -> Output {
    assert_cmd::Command::new(BIN)
        .args(["doctor", "--server", url])
        .env("GITHUB_TOKEN", token)
        .env_remove("GH_TOKEN")
        .env("RUST_LOG", "warn")
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The output's line for `check` at `mark` (✓ ⚠ ✗) that contains `words`.
fn line<'a>(out: &'a str, mark: &str, check: &str, words: &str) -> Option<&'a str> {
    out.lines().find(|l| l.starts_with(&format!("{mark} {check} ")) && l.contains(words))
}

fn keygen(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    support::peercache(&["keygen", "--out", path.to_str().unwrap()]);
    path.display().to_string()
}

/// A node's multiaddr, from `status --json`.
fn multiaddr(node: &Serve) -> String {
    until("the node's address", || {
        let out = support::run(&["status", "--json", "--server", &node.url], b"");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        json["peers"]["listen_addrs"][0].as_str().map(str::to_owned)
    })
}

fn wait_peers(node: &Serve, n: u64) {
    until("the node's peers", || {
        let out = support::run(&["status", "--json", "--server", &node.url], b"");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (json["peers"]["peer_count"] == n).then_some(())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_of_a_private_swarm_are_healthy() {
    let gh = standin::start("").await;
    let base = gh.base.clone();
    tokio::task::spawn_blocking(move || {
        let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = keygen(dir1.path(), "swarm.key");
        let args = ["--swarm-key", &key, "--github-api-url", &base];
        let node1 = serve(dir1.path(), &args, &[]);
        let addr = multiaddr(&node1);
        let node2 = serve(dir2.path(), &args, &[("CACHE_BOOTSTRAP_PEERS", &addr)]);
        wait_peers(&node2, 1);
        let out = doctor(&node2.url, "T");
        let report = text(&out);
        assert_eq!(out.status.code(), Some(0), "{report}");
        assert!(report.ends_with("healthy\n"), "{report}");
        for check in [
            "http",
            "p2p-port",
            "swarm-key",
            "bootstrap",
            "peers",
            "clock",
            "versions",
            "sharing",
            "store",
            "gh-socket",
            "upstream",
        ] {
            assert!(line(&report, "✓", check, "").is_some(), "no healthy {check} line in\n{report}");
        }
        assert!(line(&report, "✓", "bootstrap", "connected").is_some(), "{report}");
        assert!(line(&report, "✓", "upstream", "4999 of 5000").is_some(), "{report}");
        assert!(!report.contains('✗') && !report.contains('⚠'), "{report}");
        // --json: the same checks, as one document.
        let out = assert_cmd::Command::new(BIN).args(["doctor", "--json", "--server", &node2.url]).output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["healthy"], true);
        assert!(json["checks"].as_array().unwrap().iter().all(|c| c["level"] != "fail"), "{json}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_is_named_and_fails_the_doctor() {
    let gh = standin::start("").await;
    let base = gh.base.clone();
    tokio::task::spawn_blocking(move || {
        let dirs: Vec<_> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
        let key = keygen(dirs[0].path(), "swarm.key");
        let node1 = serve(dirs[0].path(), &["--swarm-key", &key, "--github-api-url", &base], &[]);
        let addr = multiaddr(&node1);
        let port = addr.split('/').nth(4).unwrap().to_owned();
        let node1_id = addr.rsplit('/').next().unwrap().to_owned();

        // Another swarm key on a peer: named by the dialer and by the node it dialled.
        let other = keygen(dirs[1].path(), "other.key");
        let stranger = serve(
            dirs[1].path(),
            &["--swarm-key", &other, "--github-api-url", &base],
            &[("CACHE_BOOTSTRAP_PEERS", &addr)],
        );
        let out = doctor(&stranger.url, "T");
        let report = text(&out);
        assert_eq!(out.status.code(), Some(6), "{report}");
        assert!(line(&report, "✗", "bootstrap", "swarm key mismatch").is_some(), "{report}");
        let accepting = until("node 1 to name the mismatch", || {
            let report = text(&doctor(&node1.url, "T"));
            line(&report, "✗", "swarm-key", "swarm key mismatch").map(|_| report.clone())
        });
        assert!(accepting.contains("a connection from"), "{accepting}");

        // A swarm key other users can read.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let report = text(&doctor(&node1.url, "T"));
        assert!(line(&report, "✗", "swarm-key", "mode 0644").is_some(), "{report}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

        // An address nobody answers at, and an entry that is not a multiaddr.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let unreachable = format!("/ip4/127.0.0.1/tcp/{closed}/p2p/{node1_id},10.99.0.2:9100");
        let lonely = serve(
            dirs[2].path(),
            &["--swarm-key", &key, "--github-api-url", &base],
            &[("CACHE_BOOTSTRAP_PEERS", &unreachable)],
        );
        let out = doctor(&lonely.url, "T");
        let report = text(&out);
        assert_eq!(out.status.code(), Some(6), "{report}");
        assert!(line(&report, "✗", "bootstrap", &format!("tcp/{closed}")).is_some(), "{report}");
        assert!(line(&report, "✗", "bootstrap", "\"10.99.0.2:9100\": not a multiaddr").is_some(), "{report}");
        assert!(line(&report, "✗", "peers", "no peer connected").is_some(), "{report}");

        // A taken P2P port (node 1's), and GitHub down.
        let down = format!("http://127.0.0.1:{closed}");
        let mut command = std::process::Command::new(BIN);
        command
            .args(["serve", "--http", "127.0.0.1:0", "--p2p-host", "127.0.0.1", "--p2p-port", &port])
            .args(["--swarm-key", &key, "--github-api-url", &down, "--cache-dir"])
            .arg(dirs[3].path());
        let taken = support::serve_command(command);
        let out = doctor(&taken.url, "T");
        let report = text(&out);
        assert_eq!(out.status.code(), Some(6), "{report}");
        assert!(
            line(&report, "✗", "p2p-port", &format!("cannot listen on port {port}: address in use")).is_some(),
            "{report}"
        );
        assert!(line(&report, "✗", "upstream", "cannot be reached").is_some(), "{report}");

        // GitHub refusing the caller's token.
        let report = text(&doctor(&node1.url, "revoked"));
        assert!(line(&report, "✗", "upstream", "refused the token with GITHUB_TOKEN").is_some(), "{report}");
        assert!(!report.contains("revoked"), "the token is never printed: {report}");
    })
    .await
    .unwrap();
}

/// A peer whose clock runs ten minutes ahead (its injected clock): both
/// sides' doctors name it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_clock_is_named_on_both_sides() {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("swarm.key");
    std::fs::write(
        &key,
        "/key/swarm/psk/1.0.0/\n/base16/\n6262626262626262626262626262626262626262626262626262626262626262\n",
    )
    .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = key.display().to_string();
    let first = start_peercache_with(&gh.base, Some(String::new()), |c| c.swarm_key = Some(key.clone().into())).await;
    let addr =
        support::wait_for("its address", || first.state.core.status.current().listen_addrs.first().cloned()).await;
    let ahead =
        start_peercache_at(&gh.base, Some(addr), |c| c.swarm_key = Some(key.clone().into()), START_MS + 600_000).await;
    support::wait_for("the clocks measured", || {
        let measured = |pc: &support::inproc::Peercache| {
            pc.state.core.status.current().peers.first().and_then(|p| p.clock_offset_ms)
        };
        Some((measured(&first)?, measured(&ahead)?))
    })
    .await;
    for (node, way) in [(&first, "600 s ahead of"), (&ahead, "600 s behind")] {
        let diagnosis = node.state.core.diagnose().await;
        assert!(!diagnosis.healthy, "{diagnosis:?}");
        let clock = diagnosis.checks.iter().find(|c| c.check == "clock").unwrap();
        assert_eq!(clock.level, app::model::Level::Fail, "{clock:?}");
        assert!(clock.detail.contains(way), "{clock:?}");
    }
}
