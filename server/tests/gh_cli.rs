//! Stock `gh` (Debian's package, installed by the README's test command)
//! pointed at peercache's socket with `gh config set http_unix_socket`, its
//! own `GH_CONFIG_DIR` in a temporary directory, against a GitHub-like
//! stand-in: REST with `Link` pages, GraphQL queries cached, mutations passed
//! through, two nodes sharing, and clear errors for what is not served.

mod support;

use std::path::{Path, PathBuf};

use support::gh::Gh;
use support::{json_now, serve, standin, wait_for, Serve};

/// A peercache process whose gh socket is in `dir`, forwarding to `upstream`.
fn peercache(dir: &Path, upstream: &str, extra: &[&str]) -> (Serve, PathBuf) {
    let socket = dir.join("gh.sock");
    let mut args = vec!["--github-api-url", upstream];
    args.extend_from_slice(extra);
    let server = serve(dir, &args, &[]);
    (server, socket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gh_api_rest_and_paginate_are_answered_from_the_cache_the_second_time() {
    let upstream = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let (_server, socket) = peercache(dir.path(), &upstream.base, &["--no-p2p"]);
    let gh = Gh::at(&socket).await;

    let repo = gh.ok(&["api", "repos/octo/demo"]).await;
    let parsed: serde_json::Value = serde_json::from_str(&repo).unwrap();
    assert_eq!(parsed["url"], "https://api.github.com/repos/octo/demo", "GitHub's own URLs, as gh expects");
    let pages = gh.ok(&["api", "--paginate", "repos/octo/demo/issues"]).await;
    let numbers: Vec<u64> = serde_json::Deserializer::from_str(&pages)
        .into_iter::<Vec<serde_json::Value>>()
        .flat_map(|page| page.unwrap())
        .map(|issue| issue["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=standin::ISSUES).collect::<Vec<_>>());
    assert_eq!(
        upstream.count(&format!("/repositories/{}/issues", standin::REPO_ID)),
        2,
        "pages 2 and 3 through the socket"
    );
    let calls = upstream.total();
    assert_eq!(gh.ok(&["api", "repos/octo/demo"]).await, repo);
    assert_eq!(gh.ok(&["api", "--paginate", "repos/octo/demo/issues"]).await, pages);
    assert_eq!(upstream.total(), calls, "the second runs reached GitHub zero times");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600, "its owner's alone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_queries_are_cached_and_a_mutation_makes_them_stale() {
    let upstream = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let (server, socket) = peercache(dir.path(), &upstream.base, &["--no-p2p"]);
    let gh = Gh::at(&socket).await;
    let query = ["api", "graphql", "-f", "query=query { viewer { login } version }"];
    let first = gh.ok(&query).await;
    assert!(first.contains("octocat") && first.contains("\"version\":1"), "{first}");
    assert_eq!(gh.ok(&query).await, first);
    assert_eq!(upstream.count("/graphql"), 1, "the second query was answered from the cache");
    let mutation =
        ["api", "graphql", "-f", "query=mutation { addStar(input: {starrableId: \"x\"}) { clientMutationId } }"];
    gh.ok(&mutation).await;
    gh.ok(&mutation).await;
    assert_eq!(upstream.count("/graphql"), 3, "mutations pass through, every time");
    let after = gh.ok(&query).await;
    assert!(after.contains("\"version\":3"), "the query asks GitHub again after the writes: {after}");
    assert_eq!(upstream.count("/graphql"), 4);
    let stats: serde_json::Value =
        reqwest::get(format!("{}/api/mcp/cache/stats", server.url)).await.unwrap().json().await.unwrap();
    let graphql =
        stats["proxy"]["rate_limits"].as_array().unwrap().iter().find(|l| l["resource"] == "graphql").cloned();
    assert_eq!(graphql.expect("a graphql rate-limit row")["remaining"], 4990);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_on_node_a_is_answered_on_node_b_without_github() {
    let upstream = standin::start("").await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = dir_a.path().join("swarm.key");
    std::fs::write(
        &key,
        "/key/swarm/psk/1.0.0/\n/base16/\n7777777777777777777777777777777777777777777777777777777777777777\n",
    )
    .unwrap();
    let key = key.display().to_string();
    let (a, socket_a) = peercache(dir_a.path(), &upstream.base, &["--swarm-key", &key]);
    let a_addr = wait_for("A's address", || {
        let peers = json_now(&format!("{}/api/mcp/peers", a.url))?;
        peers["listen_addrs"][0].as_str().map(str::to_owned)
    })
    .await;
    let (b, socket_b) = peercache(dir_b.path(), &upstream.base, &["--swarm-key", &key, "--bootstrap", &a_addr]);
    wait_for("B connected to A", || {
        let peers = json_now(&format!("{}/api/mcp/peers", b.url))?;
        (peers["gossip"]["topic_peers"] == 1).then_some(())
    })
    .await;
    let query = ["api", "graphql", "-f", "query=query { viewer { login } }"];
    let on_a = Gh::at(&socket_a).await.ok(&query).await;
    assert_eq!(upstream.count("/graphql"), 1);
    let on_b = Gh::at(&socket_b).await.ok(&query).await;
    assert_eq!(on_b, on_a);
    assert_eq!(upstream.count("/graphql"), 1, "B answered from what A fetched");
}

/// Sends a raw HTTP request down a Unix socket; the whole answer.
async fn over_socket(socket: &Path, raw: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_graphql_and_other_hosts_get_clear_errors_and_nothing_is_cached() {
    let upstream = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let (_server, socket) = peercache(dir.path(), &upstream.base, &["--no-p2p"]);
    let gh = Gh::at(&socket).await;
    let out = gh.run(&["api", "graphql", "-f", "query=query { viewer { login }"]).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("Parse error"), "{said}");
    let not_json = "POST /graphql HTTP/1.1\r\nHost: api.github.com\r\nContent-Type: application/json\r\nContent-Length: 8\r\nConnection: close\r\n\r\nnot json";
    let answer = over_socket(&socket, not_json).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains(r#""message":"Problems parsing JSON""#) && answer.contains("documentation_url"),
        "{answer}"
    );
    assert_eq!(upstream.count("/graphql"), 0, "never sent on, never cached");

    let elsewhere =
        "GET /octo/demo/releases/download/v1/x.tar.gz HTTP/1.1\r\nHost: github.com\r\nConnection: close\r\n\r\n";
    let answer = over_socket(&socket, elsewhere).await;
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
    assert!(answer.contains("serves GitHub's API (api.github.com) only"), "{answer}");
    assert_eq!(upstream.total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_is_removed_on_shutdown_replaced_after_a_kill_and_never_shared() {
    let upstream = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut first, socket) = peercache(dir.path(), &upstream.base, &["--no-p2p"]);
    assert!(socket.exists());
    let other = tempfile::tempdir().unwrap();
    let socket_arg = socket.display().to_string();
    let refused = support::run(
        &[
            "serve",
            "--no-p2p",
            "--http",
            "127.0.0.1:0",
            "--cache-dir",
            &other.path().display().to_string(),
            "--gh-socket",
            &socket_arg,
        ],
        b"",
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("another server is listening on the gh socket"));
    first.terminate();
    assert!(!socket.exists(), "removed on SIGTERM");
    let (mut second, _) = peercache(dir.path(), &upstream.base, &["--no-p2p"]);
    second.kill();
    assert!(socket.exists(), "a killed server leaves its socket behind");
    let (_third, _) = peercache(dir.path(), &upstream.base, &["--no-p2p"]);
    let gh = Gh::at(&socket).await;
    assert!(gh.ok(&["api", "repos/octo/demo"]).await.contains("octo/demo"), "the stale socket was replaced");
}
