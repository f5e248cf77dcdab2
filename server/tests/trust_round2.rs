//! Trust, round 2: the audit's attacks on the proxy, each tried as an
//! attacker would and refused by a rule that closes its whole class. A
//! browser's preflight and a rejected GraphQL mutation flush nothing (only
//! real writes invalidate); two requests GitHub answers differently never
//! share a key, and one repository spelled two ways is one repository; a
//! redirect from upstream is passed on, never followed.

mod support;

use axum::http::{HeaderMap, StatusCode};
use support::inproc::start_peercache;
use support::standin;

fn mode(headers: &HeaderMap) -> &str {
    headers.get("x-peercache").expect("every response says its mode").to_str().unwrap()
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, String, HeaderMap) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, response.text().await.unwrap(), headers)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cors_preflight_flushes_nothing() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let repo = format!("{}/github/repos/octo/demo", pc.url);
    let (_, _, headers) = send(client().get(&repo).header("authorization", "token T")).await;
    assert_eq!(mode(&headers), "MISS");
    // What a browser sends by itself before a cross-site request, with and without a token.
    for authorization in [None, Some("token T")] {
        let mut preflight = client()
            .request(reqwest::Method::OPTIONS, format!("{}/github/repos", pc.url))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "DELETE");
        if let Some(token) = authorization {
            preflight = preflight.header("authorization", token);
        }
        let (status, _, headers) = send(preflight).await;
        assert_eq!((status, mode(&headers)), (StatusCode::NO_CONTENT, "PASS"), "GitHub's 204, passed on");
    }
    assert_eq!(gh.count("/repos"), 2, "both preflights reached GitHub");
    let (_, _, headers) = send(client().get(&repo).header("authorization", "token T")).await;
    assert_eq!(mode(&headers), "HIT", "the repository's answer is still cached");
    // Nor does a write that names no repository drop every repository's answers.
    let (status, _, _) =
        send(client().delete(format!("{}/github/repos", pc.url)).header("authorization", "token T")).await;
    assert_ne!(status, StatusCode::OK);
    let (_, _, headers) = send(client().get(&repo).header("authorization", "token T")).await;
    assert_eq!(mode(&headers), "HIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_graphql_mutation_stales_nothing() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let graphql = format!("{}/github/graphql", pc.url);
    let post = |query: &str| {
        client()
            .post(&graphql)
            .header("authorization", "token T")
            .header("content-type", "application/json")
            .body(serde_json::json!({ "query": query }).to_string())
    };
    let read = "query { viewer { login } version }";
    let (_, _, headers) = send(post(read)).await;
    assert_eq!(mode(&headers), "MISS");
    let (status, body, _) =
        send(post("mutation { addStar(input: {starrableId: \"invalid\"}) { clientMutationId } }")).await;
    assert_eq!(status, StatusCode::OK, "GitHub rejects it with 200 …");
    assert!(body.contains("errors"), "… and errors: {body}");
    let (_, _, headers) = send(post(read)).await;
    assert_eq!(mode(&headers), "HIT", "a rejected mutation changed nothing");
    // A mutation that ran does stale the GraphQL answers.
    let (_, body, _) = send(post("mutation { addStar(input: {starrableId: \"R_1\"}) { clientMutationId } }")).await;
    assert!(!body.contains("errors"), "{body}");
    let (_, body, headers) = send(post(read)).await;
    assert_eq!(mode(&headers), "MISS");
    assert!(body.contains("\"version\":2"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accept_that_looks_like_an_api_version_is_another_request() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let url = format!("{}/github/users/octocat", pc.url);
    let (_, _, headers) =
        send(client().get(&url).header("authorization", "token T").header("accept", "application/json:api=2022-11-28"))
            .await;
    assert_eq!(mode(&headers), "MISS");
    let versioned = client()
        .get(&url)
        .header("authorization", "token T")
        .header("accept", "application/json")
        .header("x-github-api-version", "2022-11-28");
    let (_, _, headers) = send(versioned).await;
    assert_eq!(mode(&headers), "MISS", "GitHub was asked another question: it gets asked");
    assert_eq!(gh.count("/users/octocat"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_however_spelled_invalidates_the_repository() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let repo = format!("{}/github/repos/octo/demo", pc.url);
    for spelling in ["/repos/OCTO/Demo/issues", "/repos/octo/%64emo/issues"] {
        let (_, before, headers) = send(client().get(&repo).header("authorization", "token T")).await;
        assert!(matches!(mode(&headers), "MISS" | "HIT"));
        let (status, _, _) = send(
            client()
                .post(format!("{}/github{spelling}", pc.url))
                .header("authorization", "token T")
                .header("content-type", "application/json")
                .body(r#"{"title":"x"}"#),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, after, headers) = send(client().get(&repo).header("authorization", "token T")).await;
        assert_eq!(mode(&headers), "MISS", "{spelling} wrote to octo/demo");
        assert_ne!(before, after, "the answer after the write");
    }
    // And the other spellings of a read share the repository's entry.
    let (_, _, headers) =
        send(client().get(format!("{}/github/repos/Octo/DEMO", pc.url)).header("authorization", "token T")).await;
    assert_eq!(mode(&headers), "HIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_from_upstream_is_passed_on_never_followed() {
    // A canary where an internal service would be.
    let canary = standin::start("").await;
    let gh = standin::start("").await;
    *gh.redirect_to.lock().unwrap() = format!("{}/users/internal-secret", canary.base);
    let pc = start_peercache(&gh.base, None).await;
    for _ in 0..2 {
        let (status, _, headers) =
            send(client().get(format!("{}/github/redirect", pc.url)).header("authorization", "token T")).await;
        assert_eq!(status, StatusCode::FOUND, "GitHub's 302, for the client to judge");
        assert_eq!(headers["location"], format!("{}/users/internal-secret", canary.base));
        assert_ne!(mode(&headers), "HIT", "a redirect is never stored");
    }
    assert_eq!(canary.total(), 0, "peercache never fetched the redirect's target");
    assert_eq!(gh.count("/redirect"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_rebound_page_reads_nothing() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let (_, _, headers) =
        send(client().get(format!("{}/github/repos/octo/private", pc.url)).header("authorization", "token member"))
            .await;
    assert_eq!(mode(&headers), "MISS");
    let key = pc.state.core.cache.list("github:", 0, 1).entries.first().map(|e| e.key.clone());
    let port = pc.url.rsplit(':').next().unwrap().to_owned();
    let entry = format!("/api/cache/entry?key={}", key.unwrap_or_default());
    for path in
        ["/api/cache/entries", entry.as_str(), "/api/mcp/peers", "/api/mcp/cache/stats", "/metrics", "/", "/cache"]
    {
        // The page's own name, rebound to 127.0.0.1.
        let (status, body, _) =
            send(client().get(format!("{}{path}", pc.url)).header("host", format!("rebind.example:{port}"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(!body.contains("octo/private"), "{path}: {body}");
        // By its own name it answers (the pages aside: leptos renders on the
        // first test runtime of the process, see http_api.rs).
        if path.starts_with("/api") || path == "/metrics" {
            let (status, _, _) = send(client().get(format!("{}{path}", pc.url))).await;
            assert_ne!(status, StatusCode::FORBIDDEN, "{path} by its own name");
        }
    }
    let (status, _, _) =
        send(client().get(format!("{}/healthz", pc.url)).header("host", format!("rebind.example:{port}"))).await;
    assert_eq!(status, StatusCode::OK, "a health check answers any name");
}

#[test]
fn other_local_users_cannot_read_the_store() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    let mut node = support::serve(&dir, &["--gh-socket", &root.path().join("gh/gh.sock").display().to_string()], &[]);
    support::wait_for_blocking("the identity key", || dir.join("identity.ed25519").exists().then_some(()));
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "the cache directory");
    assert_eq!(mode(&dir.join("cache.redb")), 0o600, "the store");
    assert_eq!(mode(&dir.join("identity.ed25519")), 0o600, "the identity");
    assert_eq!(mode(&root.path().join("gh")), 0o700, "the gh socket's directory");
    node.terminate();
}

const SWARM: &str =
    "/key/swarm/psk/1.0.0/\n/base16/\n3434343434343434343434343434343434343434343434343434343434343434\n";

/// Two members of a private swarm; node 0 fetched `/repos/octo/demo` for token T.
async fn two_members_holding_a_repository(
) -> (std::sync::Arc<standin::Standin>, tempfile::TempDir, Vec<support::inproc::Peercache>) {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("swarm.key");
    std::fs::write(&key, SWARM).unwrap();
    let nodes = support::inproc::fleet(2, &gh.base, &key.display().to_string()).await;
    let repo = format!("{}/github/repos/octo/demo", nodes[0].url);
    let (_, _, headers) = send(client().get(&repo).header("authorization", "token T")).await;
    assert_eq!(mode(&headers), "MISS");
    (gh, dir, nodes)
}

fn refused(node: &support::inproc::Peercache, reason: &str) -> u64 {
    node.state.core.status.current().refused_by_reason.get(reason).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_invalidation_of_everything_dated_ahead_drops_nothing() {
    let (_gh, _dir, nodes) = two_members_holding_a_repository().await;
    let repo = format!("{}/github/repos/octo/demo", nodes[0].url);
    // A compromised member signs "everything under github:GET:/ changed", a minute ahead.
    let member = nodes[1].state.core.p2p.clone().unwrap();
    let ahead = server::cache::ttl::Clock::now_ms(&*nodes[1].clock) + 59_000;
    member.invalidate(vec!["github:GET:/".to_owned()], ahead).await;
    support::wait_for("the invalidation refused", || (refused(&nodes[0], "too_wide") == 1).then_some(())).await;
    let (_, _, headers) = send(client().get(&repo).header("authorization", "token T")).await;
    assert_eq!(mode(&headers), "HIT", "nothing dropped");
    // A repository's invalidation dated ahead is acted on as of now: copies
    // fetched after it are not barred for the minute it claimed.
    member
        .invalidate(vec!["github:GET:/repos/octo/demo/".to_owned(), "github:GET:/repos/octo/demo:".to_owned()], ahead)
        .await;
    support::wait_for("the repository's answers dropped", || {
        nodes[0].state.core.cache.list("github:GET:/repos/octo/demo:", 0, 1).entries.is_empty().then_some(())
    })
    .await;
    for node in &nodes {
        node.clock.advance_secs(1);
    }
    // Node 1 fetches the repository anew a second later (its own copy dropped first).
    nodes[1]
        .state
        .core
        .invalidate(app::model::Invalidation::Prefix("github:GET:/repos/octo/demo".into()), app::model::Reach::Node)
        .await
        .unwrap();
    let (_, _, headers) =
        send(client().get(format!("{}/github/repos/octo/demo", nodes[1].url)).header("authorization", "token T")).await;
    assert_eq!(mode(&headers), "MISS");
    support::wait_for("node 1's fresh copy taken by node 0", || {
        (!nodes[0].state.core.cache.list("github:GET:/repos/octo/demo:", 0, 1).entries.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_invalidation_is_not_undone_by_peers() {
    let (_gh, _dir, nodes) = two_members_holding_a_repository().await;
    let repo = format!("{}/github/repos/octo/demo", nodes[0].url);
    let key = nodes[0].state.core.cache.list("github:GET:/repos/octo/demo:", 0, 1).entries[0].key.clone();
    support::wait_for("node 1 holds it", || nodes[1].state.core.cache.peek(&key).map(|_| ())).await;
    let dropped = nodes[0]
        .state
        .core
        .invalidate(app::model::Invalidation::Key(key.clone()), app::model::Reach::Node)
        .await
        .unwrap();
    assert_eq!(dropped.invalidated, 1);
    // Node 1 still holds node 0's copy, and hands it back on the next miss: refused.
    let (_, _, headers) = send(client().get(&repo).header("authorization", "token T")).await;
    assert_eq!(mode(&headers), "MISS", "asked GitHub, not handed the dropped copy back");
    // The same for a user's own key.
    nodes[0].state.core.cache.put("mine:a", bytes::Bytes::from_static(b"{\"v\":1}"), Default::default()).unwrap();
    support::wait_for("node 1 holds mine:a", || nodes[1].state.core.cache.peek("mine:a").map(|_| ())).await;
    nodes[0]
        .state
        .core
        .invalidate(app::model::Invalidation::Key("mine:a".into()), app::model::Reach::Node)
        .await
        .unwrap();
    let node = nodes[0].state.core.p2p.as_ref().unwrap();
    let back = node.lookup(&nodes[0].state.core.cache, "mine:a").await;
    assert!(back.is_none(), "a peer's copy of what the operator dropped is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_learns_no_token_scopes_key_and_no_users_entry() {
    let gh = standin::start("").await;
    // A node of an open swarm, holding a token's answer, an anonymous one and a user's entry.
    let victim = support::inproc::start_peercache(&gh.base, Some(String::new())).await;
    // On the stranger's clock (the system's), so what it is given is fresh.
    let system_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    victim.clock.advance_secs((system_ms - server::cache::ttl::Clock::now_ms(&*victim.clock)) / 1000);
    for (path, token) in [("/users/private-reader", Some("token T")), ("/users/octocat", None)] {
        let mut request = client().get(format!("{}/github{path}", victim.url));
        if let Some(token) = token {
            request = request.header("authorization", token);
        }
        let (status, _, _) = send(request).await;
        assert_eq!(status, StatusCode::OK);
    }
    victim.state.core.cache.put("mine:secret", bytes::Bytes::from_static(b"{\"s\":1}"), Default::default()).unwrap();
    let held: Vec<String> = victim.state.core.cache.list("", 0, 10).entries.into_iter().map(|e| e.key).collect();
    assert_eq!(held.len(), 3, "{held:?}");
    // A stranger joins, trusting the victim so that it would store whatever it is given.
    let addr = victim.state.core.status.current().listen_addrs[0].clone();
    let victim_id: libp2p::PeerId = victim.state.core.status.current().peer_id.unwrap().parse().unwrap();
    let stranger = support::node::Node::start_with(
        &addr,
        |config| {
            config.trusted_peers = [victim_id].into();
        },
        |_| {},
    );
    support::wait_for("the anonymous answer, by catch-up sync", || {
        (stranger.cache.list("github:", 0, 10).total == 1).then_some(())
    })
    .await;
    let learnt: Vec<String> = stranger.cache.list("", 0, 10).entries.into_iter().map(|e| e.key).collect();
    assert_eq!(learnt.len(), 1, "{learnt:?}");
    assert!(learnt[0].ends_with(":scope=anonymous"), "{learnt:?}");
    // Nor does asking for a key by name give it.
    for key in held.iter().filter(|k| !k.ends_with(":scope=anonymous")) {
        assert!(stranger.client.fetch(key).await.is_none(), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_clients_cannot_wedge_the_node() {
    use std::io::{BufRead, BufReader};
    use tokio::io::AsyncWriteExt;
    // A node with few file descriptors, as a busy runner's would be.
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("prlimit")
        .args(["--nofile=128:128", support::BIN, "serve", "--http", "127.0.0.1:0", "--no-p2p", "--gh-socket", ""])
        .args(["--http-max-connections", "32", "--cache-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("peercache listening on ").unwrap().to_owned();
    let addr = url.trim_start_matches("http://").to_owned();
    // 200 idle HTTP/2 connections from a local process: the preface, then nothing.
    let mut idle = Vec::new();
    for _ in 0..200 {
        let mut connection = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _ = connection.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await;
        idle.push(connection);
    }
    let health = tokio::time::timeout(support::WAIT, async {
        reqwest::get(format!("{url}/healthz")).await.ok()?.text().await.ok()
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(health.ok().flatten().as_deref(), Some("ok"), "the node stopped answering");
}

/// A value of about `size` bytes.
fn blob(size: usize) -> bytes::Bytes {
    bytes::Bytes::from(format!("\"{}\"", "x".repeat(size - 2)))
}

/// A node with a 4 MiB cache holding 30 entries of its own (3.3 MB in all).
fn victim(bootstrap: &str, swarm_key: Option<libp2p::pnet::PreSharedKey>) -> support::node::Node {
    let node =
        support::node::Node::start_with(bootstrap, |c| c.swarm_key = swarm_key, |cache| cache.max_bytes = 4 << 20);
    for i in 0..30 {
        node.cache.put(&format!("own:{i}"), blob(110_000), Default::default()).unwrap();
    }
    node
}

fn holds_all_its_own(node: &support::node::Node) -> bool {
    (0..30).all(|i| node.cache.peek(&format!("own:{i}")).is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_large_entries_evict_nothing_the_node_trusts() {
    let v = victim("", None);
    let addr = v.addr().await;
    // One stranger's entry over the size a stranger's may have: refused.
    let first = support::node::Node::start(&addr, None);
    first.wait_all_subscribed().await;
    first.cache.put("big:one", blob(1_500_000), Default::default()).unwrap();
    support::wait_for("the large entry refused", || {
        (v.status().refused_by_reason.get("too_large").copied().unwrap_or(0) >= 1).then_some(())
    })
    .await;
    // Three strangers, each within its own budget, 1.2 MB together (in
    // entries small enough to ride on gossip): kept apart.
    let mut strangers = Vec::new();
    for s in 0..3 {
        let stranger = support::node::Node::start(&addr, None);
        stranger.wait_all_subscribed().await;
        for i in 0..13 {
            stranger.cache.put(&format!("s{s}:{i}"), blob(30_000), Default::default()).unwrap();
        }
        support::wait_for("the stranger's last entry taken", || v.cache.peek(&format!("s{s}:12")).map(|_| ())).await;
        strangers.push(stranger);
    }
    assert!(v.cache.peek("big:one").is_none(), "over the size a stranger's entry may have");
    assert!(holds_all_its_own(&v), "strangers' entries pushed out the node's own");
    let apart: u64 = (0..3)
        .flat_map(|s| (0..13).map(move |i| format!("s{s}:{i}")))
        .filter_map(|key| v.cache.peek(&key))
        .map(|e| e.size())
        .sum();
    assert!(apart <= (4 << 20) / 10, "strangers' entries hold {apart} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_large_answers_take_at_most_its_share_of_bytes() {
    let key = libp2p::pnet::PreSharedKey::new([9u8; 32]);
    let v = victim("", Some(key));
    let addr = v.addr().await;
    let member = support::node::Node::start(&addr, Some(key));
    v.wait_peers(1).await;
    member.wait_all_subscribed().await;
    // 1.2 MB in a minute, in entries small enough to ride on gossip.
    for i in 0..40 {
        member.cache.put(&format!("m:{i}"), blob(30_000), Default::default()).unwrap();
    }
    support::wait_for("the member over its share of bytes", || {
        (v.status().refused_by_reason.get("over_budget").copied().unwrap_or(0) > 0).then_some(())
    })
    .await;
    let taken: u64 = (0..40).filter_map(|i| v.cache.peek(&format!("m:{i}"))).map(|e| e.size()).sum();
    // A tenth of the cache's bytes a minute (twice that if a minute turned during the test).
    assert!(taken <= 2 * (4 << 20) / 10, "the member added {taken} bytes");
    assert!(holds_all_its_own(&v), "a member's large entries pushed out the node's own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_takes_leases_and_never_delivers_stalls_one_miss_at_most() {
    use server::github::key::{scopes_prefix, RequestKey};
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("swarm.key");
    std::fs::write(&key, SWARM).unwrap();
    let nodes =
        support::inproc::fleet_with(2, &gh.base, &key.display().to_string(), |_, c| c.fleet_wait_ms = 500).await;
    let (victim, liar) = (&nodes[0], nodes[1].state.core.p2p.clone().unwrap());
    // The lease every node asks for a GET of `path` (reqwest sends `Accept: */*`).
    let lease = |path: &str| scopes_prefix(&RequestKey::rest(path, None, "*/*", "").identity());
    for path in ["/users/one", "/users/two", "/users/three"] {
        // The liar takes the lease first, and never fetches nor gives it back.
        assert_eq!(liar.lease(&lease(path)).await, server::p2p::client::LeaseAnswer::Fetch);
        let (status, _, _) =
            send(client().get(format!("{}/github{path}", victim.url)).header("authorization", "token T")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let fleet = app::api::Backend::proxy_stats(&victim.state.core).fleet;
    assert_eq!(fleet.wait_timeouts, 1, "waited on the liar once, then never again: {fleet:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_without_the_key_keep_no_member_out() {
    let key = libp2p::pnet::PreSharedKey::new([3u8; 32]);
    let node = support::node::Node::start("", Some(key));
    let addr = node.addr().await;
    let port: u16 = addr.split("/tcp/").nth(1).unwrap().split('/').next().unwrap().parse().unwrap();
    // 80 sockets from another host (127.0.0.2) that connect and say
    // nothing: more than every handshake slot the node has.
    let mut idle = Vec::new();
    for _ in 0..80 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        idle.push(socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap());
    }
    let member = support::node::Node::start(&addr, Some(key));
    // Within the tests' deadline (20 s); the idle sockets held the slots for 25 s before.
    member.wait_peers(1).await;
    node.wait_peers(1).await;
    // Each refused socket is counted by why.
    support::wait_for("the idle sockets counted", || {
        let reasons = node.status().refused_by_reason;
        let per_ip = reasons.get("handshakes_per_ip").copied().unwrap_or(0);
        let silent = reasons.get("silent_connection").copied().unwrap_or(0);
        (per_ip >= 64 && silent >= 1).then_some(())
    })
    .await;
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_writing_in_a_loop_cannot_keep_flushing_the_fleet() {
    let (_gh, _dir, nodes) = two_members_holding_a_repository().await;
    let writes = 40;
    for i in 0..writes {
        let (status, _, _) = send(
            client()
                .post(format!("{}/github/repos/octo/demo/issues", nodes[0].url))
                .header("authorization", "token T")
                .header("content-type", "application/json")
                .body(format!(r#"{{"title":"{i}"}}"#)),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let held_back =
        nodes[0].state.core.github.counters.invalidations_held_back.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(held_back, writes - 30, "a burst of 30 told to the fleet, the rest held back");
    // The writing node itself dropped its copies after every write all the same.
    let (_, _, headers) =
        send(client().get(format!("{}/github/repos/octo/demo", nodes[0].url)).header("authorization", "token T")).await;
    assert_eq!(mode(&headers), "MISS");
}
