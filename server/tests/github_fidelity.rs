//! The proxy answers like GitHub: against a GitHub-like stand-in that writes
//! absolute URLs, `Link` headers, rate-limit and request-id headers. URLs come
//! back under the client's base, live answers keep GitHub's headers, caching
//! follows HTTP's rules, limits are per resource, writes are seen on every
//! node, an Enterprise base path is never left, and credentials that are not
//! text are never cached.

mod support;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use server::github::freshness::Freshness;
use support::inproc::{start_peercache, start_peercache_with};
use support::standin;
use support::wait_for;

fn mode(headers: &HeaderMap) -> &str {
    headers.get("x-peercache").expect("every response says its mode").to_str().unwrap()
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> (StatusCode, String, HeaderMap) {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

async fn get(url: &str) -> (StatusCode, String, HeaderMap) {
    get_with(url, &[("authorization", "token T")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_in_bodies_and_link_headers_come_back_under_the_clients_base() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let base = format!("{}/github", pc.url);
    for expected in ["MISS", "HIT"] {
        let (status, body, headers) = get(&format!("{base}/repos/octo/demo/issues")).await;
        assert_eq!((status, mode(&headers)), (StatusCode::OK, expected));
        let link = headers["link"].to_str().unwrap();
        assert!(
            link.starts_with(&format!("<{base}/repositories/{}/issues?page=2>; rel=\"next\"", standin::REPO_ID)),
            "{link}"
        );
        let issues: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(issues[0]["url"], format!("{base}/repos/octo/demo/issues/1"));
        assert_eq!(issues[0]["user"]["url"], format!("{base}/users/user1"));
        assert_eq!(issues[0]["html_url"], "https://github.com/octo/demo/issues/1", "not an API URL");
        assert_eq!(
            issues[0]["body"],
            format!("see {}/repos/octo/demo for details", gh.base),
            "text is not a URL field"
        );
    }
    // The stored bytes are GitHub's: the entry's CID is the content's.
    let entry = pc.state.core.cache.list("github:GET:/repos/octo/demo/issues", 0, 1).entries[0].clone();
    let stored = pc.state.core.cache.peek(&entry.key).unwrap();
    assert!(!String::from_utf8_lossy(&stored.value).contains("/github/"), "stored as GitHub wrote it");
    assert_eq!(gh.total(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_answers_keep_githubs_headers_hits_add_age_and_refusals_are_replayed_unchanged() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let base = format!("{}/github", pc.url);
    let (_, _, miss) = get(&format!("{base}/repos/octo/demo")).await;
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-used",
        "x-ratelimit-resource",
        "x-github-request-id",
        "x-accepted-github-permissions",
        "etag",
        "cache-control",
    ] {
        assert!(miss.contains_key(name), "a MISS keeps {name}: {miss:?}");
    }
    assert!(!miss.contains_key("age"));
    pc.clock.advance_secs(7);
    let (_, _, hit) = get(&format!("{base}/repos/octo/demo")).await;
    assert_eq!(mode(&hit), "HIT");
    assert_eq!(hit["age"], "7");
    assert_eq!(hit["etag"], miss["etag"]);
    assert!(!hit.contains_key("x-github-request-id"), "a HIT replays what was stored, not another request's id");
    let (_, _, sso) = get(&format!("{base}/private-sso")).await;
    assert_eq!(sso["x-github-sso"], "partial-results; organizations=21955855");

    let (status, body, refused) = get(&format!("{base}/search/issues?q=bug")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        (refused["retry-after"].to_str().unwrap(), refused["x-github-request-id"].to_str().unwrap()),
        ("60", "SEARCH:1")
    );
    let (status, again, replayed) = get(&format!("{base}/search/issues?q=bug")).await;
    assert_eq!((status, again), (StatusCode::FORBIDDEN, body), "replayed unchanged");
    assert_eq!(replayed["retry-after"], "60");
    assert_eq!(replayed["x-ratelimit-resource"], "search");
    assert_eq!(gh.count("/search/issues"), 1, "not asked again while refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_refusal_does_not_block_the_tokens_core_requests() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let base = format!("{}/github", pc.url);
    assert_eq!(get(&format!("{base}/search/issues?q=x")).await.0, StatusCode::FORBIDDEN);
    let (status, _, headers) = get(&format!("{base}/repos/octo/demo")).await;
    assert_eq!((status, mode(&headers)), (StatusCode::OK, "MISS"));
    let stats: serde_json::Value =
        reqwest::get(format!("{}/api/mcp/cache/stats", pc.url)).await.unwrap().json().await.unwrap();
    let limits = stats["proxy"]["rate_limits"].as_array().unwrap();
    let search = limits.iter().find(|l| l["resource"] == "search").expect("a search row");
    assert_eq!(search["remaining"], 0);
    assert!(search["blocked_until"].is_string());
    let core = limits.iter().find(|l| l["resource"] == "core").expect("a core row");
    assert_eq!(core["remaining"], 4999);
    assert!(core["blocked_until"].is_null());
    let metrics = reqwest::get(format!("{}/metrics", pc.url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"resource="search""#), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_store_is_not_stored_and_accept_and_api_version_vary_the_answer() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let base = format!("{}/github", pc.url);
    for _ in 0..2 {
        let (_, _, headers) = get(&format!("{base}/no-store")).await;
        assert_eq!(mode(&headers), "MISS");
    }
    assert_eq!(gh.count("/no-store"), 2);
    assert_eq!(pc.state.core.cache.list("github:GET:/no-store", 0, 1).total, 0);

    let url = format!("{base}/repos/octo/demo");
    let variants: [&[(&str, &str)]; 3] = [
        &[("authorization", "token T"), ("accept", "application/vnd.github+json")],
        &[("authorization", "token T"), ("accept", "application/vnd.github.raw+json")],
        &[
            ("authorization", "token T"),
            ("accept", "application/vnd.github+json"),
            ("x-github-api-version", "2022-11-28"),
        ],
    ];
    for headers in variants {
        assert_eq!(mode(&get_with(&url, headers).await.2), "MISS", "{headers:?}");
        assert_eq!(mode(&get_with(&url, headers).await.2), "HIT", "{headers:?}");
    }
    assert_eq!(gh.count("/repos/octo/demo"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_no_cache_revalidates_with_the_etag_for_free() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let url = format!("{}/github/repos/octo/demo", pc.url);
    let (_, first, _) = get(&url).await;
    for directive in ["no-cache", "max-age=0"] {
        let (status, body, headers) =
            get_with(&url, &[("authorization", "token T"), ("cache-control", directive)]).await;
        assert_eq!((status, mode(&headers)), (StatusCode::OK, "REVALIDATED"), "{directive}");
        assert_eq!(body, first);
        assert!(headers.contains_key("x-github-request-id"), "the 304's own headers come along");
    }
    assert_eq!(gh.count("/repos/octo/demo"), 3, "one fetch and two conditional requests (GitHub answered 304)");
    assert_eq!(mode(&get(&url).await.2), "HIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_always_revalidate_mode_asks_github_every_time_and_says_so() {
    let gh = standin::start("").await;
    let pc = start_peercache_with(&gh.base, None, |c| c.freshness = Freshness::Revalidate).await;
    let url = format!("{}/github/repos/octo/demo", pc.url);
    assert_eq!(mode(&get(&url).await.2), "MISS");
    for _ in 0..3 {
        assert_eq!(mode(&get(&url).await.2), "REVALIDATED");
    }
    assert_eq!(gh.count("/repos/octo/demo"), 4);
    let stats: serde_json::Value =
        reqwest::get(format!("{}/api/mcp/cache/stats", pc.url)).await.unwrap().json().await.unwrap();
    assert_eq!(stats["proxy"]["freshness"], "revalidate");
    assert_eq!(stats["proxy"]["modes"]["REVALIDATED"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_write_through_one_node_no_node_serves_the_answer_from_before_it() {
    let gh = standin::start("").await;
    let a = start_peercache(&gh.base, Some(String::new())).await;
    let a_addr = wait_for("A's address", || a.state.core.status.current().listen_addrs.first().cloned()).await;
    let a_id = a.state.core.status.current().peer_id.unwrap();
    let b = start_peercache_with(&gh.base, Some(a_addr), |c| c.trusted_peers = a_id).await;
    wait_for("A and B connected", || {
        (a.state.core.status.current().gossip.topic_peers == 1 && b.state.core.status.current().gossip.topic_peers == 1)
            .then_some(())
    })
    .await;
    // B trusts A, so A's signed invalidation reaches it.
    let issues = |pc: &support::inproc::Peercache| format!("{}/github/repos/octo/demo/issues", pc.url);
    let (_, before, _) = get(&issues(&a)).await;
    assert!(before.contains("(v1)"));
    let (_, on_b, headers) = get(&issues(&b)).await;
    assert!(matches!(mode(&headers), "PEER-HIT" | "MISS"));
    assert!(on_b.contains("(v1)") && !on_b.contains("(v2)"));
    // The write goes through A; B must not answer from before it.
    let response = reqwest::Client::new()
        .post(issues(&a))
        .header("authorization", "token T")
        .header("content-type", "application/json")
        .body(r#"{"title": "new"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    wait_for("B to drop its answer", || {
        (b.state.core.cache.list("github:GET:/repos/octo/demo/issues", 0, 1).total == 0).then_some(())
    })
    .await;
    let (_, after, headers) = get(&issues(&b)).await;
    assert!(after.contains("(v2)") && !after.contains("(v1)"), "{}", mode(&headers));
    // B's new answer is A's (taken from it) or GitHub's own: never the old one.
    assert!(matches!(mode(&headers), "PEER-HIT" | "MISS"), "{}", mode(&headers));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ghes_base_path_works_and_is_never_left() {
    let gh = standin::start("/api/v3").await;
    let pc = start_peercache(&gh.base, None).await;
    let base = format!("{}/github", pc.url);
    let (status, body, _) = get(&format!("{base}/repos/octo/demo")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let repo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(repo["url"], format!("{base}/repos/octo/demo"));
    assert_eq!(gh.count("/repos/octo/demo"), 1, "asked under /api/v3 (the stand-in lives only there)");
    for escape in ["/github/../admin", "/github/repos/..%2F..%2Fadmin", "/github/%2e%2e/%2e%2e/admin"] {
        let raw = format!("GET {escape} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let response = raw_http(&pc.url, &raw).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{escape}: {response}");
        assert!(response.contains("documentation_url"), "{response}");
    }
    assert_eq!(gh.total(), 1, "nothing escaped to the server");
}

/// Sends `raw` as it is (no client normalises its path) and reads the answer.
async fn raw_http(url: &str, raw: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_that_is_not_text_passes_through_uncached() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let url = format!("{}/github/repos/octo/demo", pc.url);
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .get(&url)
            .header("authorization", HeaderValue::from_bytes(b"token caf\xe9").unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-peercache"], "PASS");
    }
    assert_eq!(gh.count("/repos/octo/demo"), 2);
    assert!(pc.state.core.cache.is_empty(), "never stored, least of all as anonymous");
    // `token X` and `Bearer X` are one credential: one scope.
    get_with(&url, &[("authorization", "token T")]).await;
    let (_, _, headers) = get_with(&url, &[("authorization", "Bearer T")]).await;
    assert_eq!(mode(&headers), "HIT");
}

/// The value of the sample `series` (`name{labels}`) on a metrics page.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_time_answers_by_mode_and_count_upstream_failures_by_kind() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let base = format!("{}/github", pc.url);
    assert_eq!(mode(&get(&format!("{base}/repos/octo/demo")).await.2), "MISS");
    assert_eq!(mode(&get(&format!("{base}/repos/octo/demo")).await.2), "HIT");
    assert_eq!(get(&format!("{base}/search/issues?q=x")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&format!("{base}/fail/502")).await.0, StatusCode::BAD_GATEWAY);
    let metrics = reqwest::get(format!("{}/metrics", pc.url)).await.unwrap().text().await.unwrap();

    let version = env!("CARGO_PKG_VERSION");
    assert!(
        metrics.contains(&format!("peercache_build_info{{version=\"{version}\",profile=\"debug\"}} 1")),
        "{metrics}"
    );
    // Three went to GitHub (the repository, the refused search, the 502), one was a hit.
    for (mode, answers) in [("MISS", 3.0), ("HIT", 1.0)] {
        let count = sample(&metrics, &format!("peercache_proxy_answer_seconds_count{{mode=\"{mode}\"}}"));
        assert_eq!(count, Some(answers), "{mode}: {metrics}");
        let sum = sample(&metrics, &format!("peercache_proxy_answer_seconds_sum{{mode=\"{mode}\"}}")).unwrap();
        assert!(sum > 0.0 && sum < 10.0, "{mode} took {sum} s");
    }
    let errors = |kind: &str| sample(&metrics, &format!("peercache_upstream_errors_total{{kind=\"{kind}\"}}"));
    assert_eq!(errors("rate_limited"), Some(1.0));
    assert_eq!(errors("server_error"), Some(1.0));
    assert_eq!(errors("unreachable"), Some(0.0));
    let scoped = |name: &str, resource: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l.contains(&format!("resource=\"{resource}\"")))
            .and_then(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
    };
    assert_eq!(scoped("peercache_github_rate_limit_limit{", "search"), Some(30.0));
    assert_eq!(scoped("peercache_github_rate_limit_reset_timestamp_seconds{", "search"), Some(4102444800.0));

    // Nobody at the upstream's address: counted as unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let lone = start_peercache(&nowhere, None).await;
    assert_eq!(get(&format!("{}/github/repos/octo/demo", lone.url)).await.0, StatusCode::BAD_GATEWAY);
    let metrics = reqwest::get(format!("{}/metrics", lone.url)).await.unwrap().text().await.unwrap();
    assert_eq!(sample(&metrics, "peercache_upstream_errors_total{kind=\"unreachable\"}"), Some(1.0), "{metrics}");
}
