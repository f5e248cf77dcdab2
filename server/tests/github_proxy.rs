//! The GitHub proxy against the GitHub stand-in (`support/standin.rs`):
//! HITs, free revalidation, one upstream call for a burst, tokens kept apart,
//! rate limits, writes, an unreachable GitHub, a peer's answer, large bodies,
//! HEAD, planted and replayed entries. Both servers listen on 127.0.0.1,
//! OS-chosen ports; peercache's clock is a manual one the tests move.

mod support;

use std::sync::atomic::Ordering;

use axum::http::{HeaderMap, StatusCode};
use support::inproc::{start_peercache, start_peercache_with};
use support::{standin, wait_for};

async fn get(url: &str, token: Option<&str>) -> (StatusCode, String, HeaderMap) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("token {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

fn mode(headers: &HeaderMap) -> &str {
    headers.get("x-peercache").expect("every response says its mode").to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_get_is_a_hit_with_one_upstream_call() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let url = format!("{}/github/repos/octo/hello", pc.url);
    let (status, body, headers) = get(&url, Some("A")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mode(&headers), "MISS");
    assert_eq!(headers["cache-status"], "peercache; fwd=uri-miss; stored");
    assert!(body.contains("octo/hello"));
    let etag = headers["etag"].clone();
    let (status, again, headers) = get(&url, Some("A")).await;
    assert_eq!((status, mode(&headers)), (StatusCode::OK, "HIT"));
    assert_eq!(again, body);
    assert_eq!(headers["etag"], etag);
    assert_eq!(headers["cache-status"], "peercache; hit");
    assert_eq!(gh.total(), 1);

    // A client that already has the body gets a free 304 from us.
    let response = reqwest::Client::new()
        .get(&url)
        .header("authorization", "token A")
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(gh.total(), 1);

    let stats: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!("{}/api/mcp/cache/stats", pc.url)).await.unwrap().text().await.unwrap(),
    )
    .unwrap();
    assert_eq!(stats["proxy"]["upstream_calls"], 1);
    assert_eq!(stats["proxy"]["modes"]["HIT"], 2);
    assert_eq!(stats["proxy"]["modes"]["MISS"], 1);
    assert_eq!(stats["api_calls_made"], 1);
    let limit = &stats["proxy"]["rate_limits"][0];
    assert_eq!((limit["remaining"].as_u64(), limit["limit"].as_u64()), (Some(4999), Some(5000)));
    assert_eq!(limit["scope"].as_str().unwrap().len(), 16);
    assert!(!stats.to_string().contains("token A"), "the token never appears");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_ttl_a_304_revalidates_for_free() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let url = format!("{}/github/repos/short/lived", pc.url);
    let (_, first, headers) = get(&url, None).await;
    assert_eq!(mode(&headers), "MISS");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    pc.clock.advance_secs(2); // past max-age=1
    let (status, body, headers) = get(&url, None).await;
    assert_eq!((status, mode(&headers)), (StatusCode::OK, "REVALIDATED"));
    assert_eq!(body, first);
    assert_eq!(gh.total(), 2);
    assert_eq!(gh.offered("/repos/short/lived"), [None, Some(etag)]);
    assert_eq!(gh.free(), 1, "GitHub did not charge the revalidation");
    let (_, _, headers) = get(&url, None).await;
    assert_eq!(mode(&headers), "HIT", "the 304 refreshed the entry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_identical_gets_make_one_upstream_call() {
    let gh = standin::start("").await;
    gh.slow_ms.store(0, Ordering::SeqCst);
    gh.gate.send_replace(false);
    let pc = start_peercache(&gh.base, None).await;
    let url = format!("{}/github/slow/octo/repo", pc.url);
    let requests: Vec<_> = (0..50)
        .map(|_| {
            tokio::spawn({
                let url = url.clone();
                async move { get(&url, Some("A")).await }
            })
        })
        .collect();
    // GitHub holds the first request until peercache has everyone waiting on
    // it; requests arriving after it answered are hits, still no new call.
    wait_for("the first request at GitHub", || (gh.total() == 1).then_some(())).await;
    wait_for("the others waiting", || (pc.state.core.github.waiting() >= 1).then_some(())).await;
    gh.gate.send_replace(true);
    let mut modes = std::collections::BTreeMap::new();
    for request in requests {
        let (status, body, headers) = request.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("octo/repo"));
        *modes.entry(mode(&headers).to_owned()).or_insert(0) += 1;
    }
    assert_eq!(gh.total(), 1, "{modes:?}");
    assert_eq!(modes.get("MISS"), Some(&1), "{modes:?}");
    assert_eq!(modes.values().sum::<i32>(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_never_gets_another_tokens_response() {
    let gh = standin::start("").await;
    gh.slow_ms.store(0, Ordering::SeqCst);
    let pc = start_peercache(&gh.base, None).await;
    // An answer that names the token that asked.
    let url = format!("{}/github/slow/octo/private", pc.url);
    let (_, for_a, _) = get(&url, Some("A")).await;
    assert!(for_a.contains("token A"));
    let (_, for_b, headers) = get(&url, Some("B")).await;
    assert_eq!(mode(&headers), "MISS");
    assert!(for_b.contains("token B") && !for_b.contains("token A"));
    let (_, anonymous, headers) = get(&url, None).await;
    assert_eq!(mode(&headers), "MISS");
    assert!(!anonymous.contains("token A") && !anonymous.contains("token B"));
    assert_eq!(gh.total(), 3);
    // And what is stored for A is sealed: nothing of it is readable in the cache.
    let page = pc.state.core.cache.list("github:GET:/slow/octo/private", 0, 10);
    assert_eq!(page.total, 3);
    for summary in page.entries {
        let entry = pc.state.core.cache.peek(&summary.key).unwrap();
        let text = String::from_utf8_lossy(&entry.value);
        assert!(!text.contains("token A") && !text.contains("token B"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_scope_gets_stale_answers_and_github_is_not_asked_again() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let url = format!("{}/github/repos/short/limited", pc.url);
    let (_, fresh, _) = get(&url, Some("A")).await;
    pc.clock.advance_secs(2); // past max-age=1
    gh.rate_limited.store(true, Ordering::SeqCst);
    let (status, body, headers) = get(&url, Some("A")).await;
    assert_eq!((status, mode(&headers)), (StatusCode::OK, "STALE"));
    assert_eq!(body, fresh);
    assert!(headers["warning"].to_str().unwrap().starts_with("110"));
    let asked = gh.total();
    assert_eq!(asked, 2);
    let (_, _, headers) = get(&url, Some("A")).await;
    assert_eq!(mode(&headers), "STALE");
    assert_eq!(gh.total(), asked, "Retry-After is honoured: no new call");
    // Nothing stale to give: GitHub's refusal, unchanged (replayed while blocked).
    let (status, body, _) = get(&format!("{}/github/repos/octo/never-seen", pc.url), Some("A")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("API rate limit exceeded"));
    // Another token is not blocked by A's limit.
    let (status, body, _) = get(&format!("{}/github/repos/octo/other", pc.url), Some("B")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the stand-in refuses everyone now: {body}");
    assert_eq!(gh.total(), asked + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_passes_through_and_invalidates_the_repository() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let issues = format!("{}/github/repos/octo/hello/issues", pc.url);
    get(&issues, Some("A")).await;
    get(&format!("{}/github/repos/octo/hello", pc.url), Some("A")).await;
    assert_eq!(mode(&get(&issues, Some("A")).await.2), "HIT");
    let response = reqwest::Client::new()
        .post(&issues)
        .header("authorization", "token A")
        .body(r#"{"title": "bug"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-peercache"], "PASS");
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!(created["number"], standin::ISSUES + 1, "GitHub's answer, passed on: {created}");
    assert_eq!(pc.state.core.cache.list("github:GET:/repos/octo/hello", 0, 10).total, 0);
    assert_eq!(mode(&get(&issues, Some("A")).await.2), "MISS");
    assert_eq!(gh.total(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_github_is_a_502_json_error_and_nothing_is_cached() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let pc = start_peercache(&format!("http://{addr}"), None).await;
    let (status, body, headers) = get(&format!("{}/github/repos/octo/hello", pc.url), None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(error["message"].as_str().unwrap().contains("cannot reach GitHub"), "GitHub's error shape: {error}");
    assert!(error["documentation_url"].is_string(), "{error}");
    assert_eq!(mode(&headers), "MISS");
    assert!(pc.state.core.cache.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_b_serves_a_peer_hit_for_what_node_a_fetched() {
    let gh = standin::start("").await;
    let upstream = gh.base.clone();
    let a = start_peercache(&upstream, Some(String::new())).await;
    let a_addr = wait_for("A's address", || a.state.core.status.current().listen_addrs.first().cloned()).await;
    let a_id = a.state.core.status.current().peer_id.unwrap();
    // An open swarm: B takes A's GitHub answers because it names A.
    let b = start_peercache_with(&upstream, Some(a_addr), |c| c.trusted_peers = a_id).await;
    let connected = || b.state.core.status.current().peer_count == 1 && a.state.core.status.current().peer_count == 1;
    wait_for("A and B connected", || connected().then_some(())).await;
    let (_, from_a, headers) = get(&format!("{}/github/repos/octo/shared", a.url), Some("A")).await;
    assert_eq!(mode(&headers), "MISS");
    // By gossip: A, which trusts nobody, answers B's fetches anonymous answers at most.
    wait_for("A's answer at B", || {
        (!b.state.core.cache.list("github:GET:/repos/octo/shared", 0, 1).entries.is_empty()).then_some(())
    })
    .await;
    let (status, from_b, headers) = get(&format!("{}/github/repos/octo/shared", b.url), Some("A")).await;
    assert_eq!((status, mode(&headers)), (StatusCode::OK, "PEER-HIT"));
    assert_eq!(from_b, from_a.replace(&a.url, &b.url), "the same answer, its URLs made B's");
    assert_eq!(gh.total(), 1, "one upstream call for the whole group");
    // Another token gets A's bytes only once GitHub confirms them for it (a free 304).
    let (_, for_b, headers) = get(&format!("{}/github/repos/octo/shared", b.url), Some("B")).await;
    assert_eq!(mode(&headers), "CONFIRMED");
    assert_eq!(for_b, from_b);
    assert_eq!((gh.total(), gh.charged()), (2, 1), "B's token asked GitHub, which charged nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_stream_through_uncached() {
    let gh = standin::start("").await;
    let pc = start_peercache_with(&gh.base, None, |c| c.proxy_max_body = 64 * 1024).await;
    let url = format!("{}/github/big", pc.url);
    for _ in 0..2 {
        let (status, body, headers) = get(&url, None).await;
        assert_eq!((status, mode(&headers)), (StatusCode::OK, "PASS"));
        assert_eq!(body.len(), 100 * 1024 + 10);
    }
    assert_eq!(gh.total(), 2);
    assert!(pc.state.core.cache.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_answered_from_the_cached_get() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let url = format!("{}/github/repos/octo/hello", pc.url);
    let (_, body, _) = get(&url, None).await;
    let response = reqwest::Client::new().head(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-peercache"], "HIT");
    assert_eq!(response.headers()["content-length"], body.len().to_string().as_str());
    assert_eq!(gh.total(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_planted_through_the_cache_api_never_becomes_a_github_answer() {
    let gh = standin::start("").await;
    let upstream = gh.base.clone();
    let a = start_peercache(&upstream, Some(String::new())).await;
    let a_addr = wait_for("A's address", || a.state.core.status.current().listen_addrs.first().cloned()).await;
    let b = start_peercache(&upstream, Some(a_addr)).await;
    wait_for("A and B connected", || (a.state.core.status.current().peer_count == 1).then_some(())).await;
    // The attack: a CI job on B puts a GitHub answer of its own making.
    let key = "github:GET:/repos/octocat/hello-world:accept=application/vnd.github+json:scope=anonymous";
    let planted = r#"{"status":200,"headers":[["content-type","text/html"],["set-cookie","sid=x"]],"body_b64":"PGgxPmV2aWw8L2gxPg=="}"#;
    let response = reqwest::Client::new()
        .put(format!("{}/api/cache/entry", b.url))
        .query(&[("key", key), ("ttl", "315360000")])
        .header("content-type", "application/json")
        .body(planted)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A asks GitHub, and answers what GitHub said.
    let request = reqwest::Client::new()
        .get(format!("{}/github/repos/octocat/hello-world", a.url))
        .header("accept", "application/vnd.github+json");
    let response = request.send().await.unwrap();
    assert_eq!(response.headers()["x-peercache"], "MISS");
    assert!(response.headers().get("set-cookie").is_none());
    assert!(response.text().await.unwrap().contains("octocat/hello-world"));
    assert_eq!(gh.total(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_answer_moved_to_another_key_or_replayed_does_not_open() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let boss = format!("{}/github/repos/octo/boss", pc.url);
    let (_, body, _) = get(&boss, Some("A")).await;
    assert!(body.contains("octo/boss"));
    let cache = &pc.state.core.cache;
    let stored = cache.list("github:GET:/repos/octo/boss", 0, 1).entries[0].key.clone();
    let sealed = cache.peek(&stored).unwrap();
    // What a trusted but hostile peer could store: the same sealed bytes
    // under another key of the same scope, and under the same key with a
    // new stored time and TTL.
    let mallory_key = stored.replace("/repos/octo/boss", "/repos/octo/mallory");
    let mut moved = server::cache::entry::Entry::clone(&sealed);
    moved.key = mallory_key;
    cache.insert(moved).unwrap();
    let (status, body, headers) = get(&format!("{}/github/repos/octo/mallory", pc.url), Some("A")).await;
    assert_eq!((status, mode(&headers)), (StatusCode::OK, "MISS"), "asked GitHub instead: {body}");
    assert!(body.contains("octo/mallory") && !body.contains("octo/boss"));
    let mut replayed = server::cache::entry::Entry::clone(&sealed);
    replayed.stored_at_ms += 3_600_000;
    replayed.ttl_secs = 7 * 24 * 3600;
    pc.clock.advance_secs(3_700);
    cache.insert(replayed).unwrap();
    let (_, body, headers) = get(&boss, Some("A")).await;
    assert_eq!(mode(&headers), "MISS", "the replayed seal was refused and GitHub asked (without its ETag)");
    assert!(body.contains("octo/boss"));
    let stats: serde_json::Value =
        reqwest::get(format!("{}/api/mcp/cache/stats", pc.url)).await.unwrap().json().await.unwrap();
    assert_eq!(stats["proxy"]["seal_mismatches"], 2, "{stats}");
    assert_eq!(gh.total(), 3);
}
