//! The HTTP surface driven in-process (no socket): JSON endpoints, the 404
//! JSON shape, health, and the server-rendered dashboard.

use std::sync::{Arc, LazyLock};

use app::model::{CacheStats, ErrorBody, PeerStatus};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use server::cache::ttl::{Clock, ManualClock};
use server::cache::PutOptions;
use server::config::ServeConfig;
use server::http::router::router;
use server::http::state::AppState;
use tower::ServiceExt;

mod support;

/// One runtime for the whole test binary, and every test body a task on its
/// workers (as a server's requests are): Leptos keeps process-wide reactive
/// state, and SSR driven from outside the workers (`block_on` on each test's
/// own thread) can stall.
fn run<F>(test: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let _shared = SSR.read().unwrap_or_else(|e| e.into_inner());
    on_runtime(test)
}

/// `run`, with no other test running at the same time.
fn run_alone<F>(test: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let _alone = SSR.write().unwrap_or_else(|e| e.into_inner());
    on_runtime(test)
}

fn on_runtime<F>(test: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    static RUNTIME: LazyLock<tokio::runtime::Runtime> =
        LazyLock::new(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap());
    RUNTIME.block_on(RUNTIME.spawn(test)).expect("the test task panicked")
}

/// Server-side rendering takes this exclusively, every other test shares it.
/// Rendering the dashboard while other tests drive their own app instances in
/// the same process stalled about one run in ten (never with one server under
/// concurrent load, never with tests run one at a time); a real server has a
/// single app instance, so only this test binary needs the guard.
static SSR: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn app_state() -> AppState {
    state_at("127.0.0.1:0", None).unwrap()
}

fn state_at(addr: &str, admin_token: Option<&str>) -> anyhow::Result<AppState> {
    state_with(addr, admin_token, |_| {}, Arc::new(server::cache::ttl::SystemClock))
}

fn state_with(
    addr: &str,
    admin_token: Option<&str>,
    adjust: impl FnOnce(&mut ServeConfig),
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut config = ServeConfig::for_tests(addr.parse().unwrap(), dir);
    config.admin_token = admin_token.map(str::to_owned);
    config.max_body = 64 * 1024;
    adjust(&mut config);
    AppState::with_clock(&config, clock)
}

async fn send(app: Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
    (status, json)
}

/// A change as the CLI sends it: to 127.0.0.1, as JSON.
fn change(method: &str, uri: &str, body: &str) -> axum::http::request::Builder {
    let builder = Request::builder().method(method).uri(uri).header("host", "127.0.0.1:8899");
    if method == "DELETE" && body.is_empty() {
        builder
    } else {
        builder.header("content-type", "application/json")
    }
}

fn put(uri: &str, body: &str) -> Request<Body> {
    change("PUT", uri, body).body(Body::from(body.to_owned())).unwrap()
}

fn post(uri: &str, body: &str) -> Request<Body> {
    change("POST", uri, body).body(Body::from(body.to_owned())).unwrap()
}

async fn get(app: Router, uri: &str) -> (StatusCode, String, Vec<u8>) {
    get_response(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// Status, content type and body of any request.
async fn get_response(app: Router, request: Request<Body>) -> (StatusCode, String, Vec<u8>) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, content_type, body)
}

#[test]
fn peers_endpoint_reports_a_node_switched_off() {
    run(async {
        let (status, content_type, body) = get(router(app_state()), "/api/mcp/peers").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("application/json"), "{content_type}");
        let peers: PeerStatus = serde_json::from_slice(&body).unwrap();
        assert!(!peers.enabled && !peers.active);
        assert_eq!(peers.peer_count, 0);
        assert_eq!(peers.reason.as_deref(), Some("P2P disabled by CACHE_ENABLE_P2P=false"));
    })
}

#[test]
fn cache_stats_endpoint_reads_the_live_cache() {
    run(async {
        let state = app_state();
        state.core.cache.put("repos:octocat/hello", Bytes::from_static(br#"{"id":1}"#), PutOptions::default()).unwrap();
        assert!(state.core.cache.get("repos:octocat/hello").is_some());
        assert!(state.core.cache.get("repos:octocat/missing").is_none());

        let (status, _, body) = get(router(state), "/api/mcp/cache/stats").await;
        assert_eq!(status, StatusCode::OK);
        let stats: CacheStats = serde_json::from_slice(&body).unwrap();
        assert!(stats.available);
        assert_eq!(stats.total_entries, 1);
        assert_eq!((stats.total_hits, stats.total_misses, stats.total_requests), (1, 1, 2));
        assert_eq!(stats.hit_rate, 0.5);
        assert!(stats.total_size_mb > 0.0);
        assert!(!stats.p2p_enabled);
    })
}

#[test]
fn unknown_api_paths_are_404_json() {
    run(async {
        let (status, content_type, body) = get(router(app_state()), "/api/no/such/thing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(content_type.starts_with("application/json"), "{content_type}");
        let error: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert!(error.error.contains("/api/no/such/thing"), "{}", error.error);
    })
}

#[test]
fn healthz_is_ok() {
    run(async {
        let (status, _, _) = get(router(app_state()), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
    })
}

#[test]
fn dashboard_is_server_rendered_with_values_and_hydration_scripts() {
    run_alone(async {
        let (status, _, body) = get(router(app_state()), "/").await;
        assert_eq!(status, StatusCode::OK);
        let html = String::from_utf8(body).unwrap();
        assert!(html.contains(r#"id="peer-status""#), "{html}");
        assert!(html.contains("✗ Disabled"));
        assert!(html.contains(r#"id="cache-hit-rate">0.0%"#), "{html}");
        // The bundle by its content hash (see http/assets.rs), CSS, JS and WASM alike.
        let hash = html.split("/pkg/peercache.").nth(1).expect("the page names the bundle")[..16].to_owned();
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");
        for file in [".css", ".js", "_bg.wasm"] {
            let name = format!("/pkg/peercache.{hash}{file}");
            assert!(html.contains(&name), "{name} in {html}");
            let response = router(app_state()).oneshot(Request::get(&name).body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
        }
        let page = router(app_state()).oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(page.headers()["cache-control"], "no-store", "the HTML is never kept");
    })
}

#[test]
fn server_functions_answer_with_the_same_numbers_as_the_json_api() {
    run(async {
        let state = app_state();
        state.core.cache.put("k", Bytes::from_static(b"1"), PutOptions::default()).unwrap();
        let (status, _, body) = get(router(state.clone()), "/sfn/cache_stats").await;
        assert_eq!(status, StatusCode::OK);
        let from_server_fn: CacheStats = serde_json::from_slice(&body).unwrap();
        let (_, _, body) = get(router(state), "/api/mcp/cache/stats").await;
        let from_api: CacheStats = serde_json::from_slice(&body).unwrap();
        assert_eq!(from_server_fn, from_api);
        assert_eq!(from_api.total_entries, 1);
    })
}

#[test]
fn put_get_list_and_delete_an_entry() {
    run(async {
        let state = app_state();
        let (status, stored) =
            send(router(state.clone()), put("/api/cache/entry?key=get_repo:octo/a&ttl=120", r#"{"id": 7}"#)).await;
        assert_eq!(status, StatusCode::CREATED, "{stored}");
        assert_eq!(stored["ttl_secs"], 120);
        assert!(stored["cid"].as_str().unwrap().starts_with("bafkrei"));

        let (status, entry) = send(
            router(state.clone()),
            Request::get("/api/cache/entry?key=get_repo:octo/a").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(entry["value"]["id"], 7);
        assert_eq!(entry["origin"], "local");
        assert_eq!(entry["cid"], stored["cid"]);

        let (_, page) = send(
            router(state.clone()),
            Request::get("/api/cache/entries?prefix=get_repo:&limit=10").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(page["total"], 1);
        assert_eq!(page["entries"][0]["key"], "get_repo:octo/a");
        assert_eq!(page["entries"][0]["ttl_left_secs"], 120);

        let (status, gone) = send(
            router(state.clone()),
            change("DELETE", "/api/cache/entry?key=get_repo:octo/a", "").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(gone["invalidated"], 1);
        let (status, error) = send(
            router(state.clone()),
            Request::get("/api/cache/entry?key=get_repo:octo/a").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(error["error"].as_str().unwrap().contains("get_repo:octo/a"));

        // Both GETs of the entry were lookups: one hit, one miss.
        let (_, stats) = send(router(state), Request::get("/api/mcp/cache/stats").body(Body::empty()).unwrap()).await;
        assert_eq!((stats["total_hits"].as_u64(), stats["misses"].as_u64()), (Some(1), Some(1)));
        assert_eq!(stats["operations"]["get_repo"]["hits"], 1);
    })
}

#[test]
fn invalidate_by_prefix_counts_what_it_removed() {
    run(async {
        let state = app_state();
        for key in ["repos:a/1", "repos:a/2", "repos:b/1"] {
            let (status, _) = send(router(state.clone()), put(&format!("/api/cache/entry?key={key}"), "{}")).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let (status, result) =
            send(router(state.clone()), post("/api/cache/invalidate", r#"{"pattern": "repos:a/"}"#)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(result["invalidated"], 2);
        assert_eq!(state.core.cache.len(), 1);
        // Everything only when asked for in so many words.
        for vague in ["{}", r#"{"pattern": ""}"#, r#"{"pattern": "x", "all": true}"#, "not json"] {
            let (status, body) = send(router(state.clone()), post("/api/cache/invalidate", vague)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{vague}: {body}");
        }
        let empty = change("POST", "/api/cache/invalidate", "").body(Body::empty()).unwrap();
        assert_eq!(send(router(state.clone()), empty).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(state.core.cache.len(), 1, "nothing refused changed anything");
        let (_, result) = send(router(state.clone()), post("/api/cache/invalidate", r#"{"all": true}"#)).await;
        assert_eq!(result["invalidated"], 1);
    })
}

#[test]
fn bad_input_is_a_json_error_and_stores_nothing() {
    run(async {
        let state = app_state();
        let long_key = "k".repeat(1025);
        let cases = [
            (put("/api/cache/entry?key=k", "not json"), StatusCode::BAD_REQUEST),
            (put("/api/cache/entry?key=", "{}"), StatusCode::BAD_REQUEST),
            (put(&format!("/api/cache/entry?key={long_key}"), "{}"), StatusCode::BAD_REQUEST),
            (put("/api/cache/entry", "{}"), StatusCode::BAD_REQUEST),
            (put("/api/cache/entry?key=k&ttl=soon", "{}"), StatusCode::BAD_REQUEST),
            (put("/api/cache/entry?key=big", &format!("\"{}\"", "x".repeat(64 * 1024))), StatusCode::PAYLOAD_TOO_LARGE),
        ];
        for (request, expected) in cases {
            let uri = request.uri().to_string();
            let (status, body) = send(router(state.clone()), request).await;
            assert_eq!(status, expected, "{uri}: {body}");
            assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{uri}: {body}");
        }
        assert!(state.core.cache.is_empty());
    })
}

#[test]
fn off_loopback_mutations_need_the_admin_token() {
    run(async {
        let error = state_at("0.0.0.0:0", None).err().expect("refuses to start without a token");
        assert!(error.to_string().contains("PEERCACHE_ADMIN_TOKEN"), "{error}");

        let state = state_at("0.0.0.0:0", Some("s3cret")).unwrap();
        let (status, body) = send(router(state.clone()), put("/api/cache/entry?key=k", "{}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body["error"].as_str().unwrap().contains("Bearer"));
        let wrong = change("PUT", "/api/cache/entry?key=k", "{}")
            .header("authorization", "Bearer nope")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(send(router(state.clone()), wrong).await.0, StatusCode::UNAUTHORIZED);
        let right = change("PUT", "/api/cache/entry?key=k", "{}")
            .header("authorization", "Bearer s3cret")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(send(router(state.clone()), right).await.0, StatusCode::CREATED);
        // Reads stay open.
        let read = Request::get("/api/cache/entries").body(Body::empty()).unwrap();
        assert_eq!(send(router(state), read).await.0, StatusCode::OK);
    })
}

#[test]
fn the_dashboard_invalidates_through_the_api_code_and_off_loopback_only_with_the_token() {
    run(async {
        let state = state_at("0.0.0.0:0", Some("s3cret")).unwrap();
        for key in ["get_repo:octo/a", "get_repo:octo/b", "list_prs:octo/a"] {
            state.core.cache.put(key, Bytes::from_static(b"{}"), PutOptions::default()).unwrap();
        }
        let (_, _, body) = get(router(state.clone()), "/sfn/node_info").await;
        let node: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(node["admin_required"], true);

        let wrong = post("/sfn/invalidate", r#"{"target": {"prefix": "get_repo:"}, "admin_token": "nope"}"#);
        let (status, _, body) = get_response(router(state.clone()), wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the same status as the JSON API");
        assert!(String::from_utf8_lossy(&body).contains("admin token"), "{}", String::from_utf8_lossy(&body));
        assert_eq!(state.core.cache.len(), 3, "a refused change changes nothing");

        let right = post("/sfn/invalidate", r#"{"target": {"prefix": "get_repo:"}, "admin_token": "s3cret"}"#);
        let (status, _, body) = get_response(router(state.clone()), right).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let done: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(done, serde_json::json!({"invalidated": 2, "pattern": "get_repo:"}));

        let one = post("/sfn/invalidate", r#"{"target": {"key": "list_prs:octo/a"}, "admin_token": "s3cret"}"#);
        let (_, _, body) = get_response(router(state.clone()), one).await;
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["invalidated"], 1);
        assert!(state.core.cache.is_empty());
    })
}

#[test]
fn the_dashboard_browses_entries_without_counting_lookups() {
    run(async {
        let state = app_state();
        for i in 0..30 {
            state
                .core
                .cache
                .put(&format!("get_repo:octo/r{i:02}"), Bytes::from(format!(r#"{{"id":{i}}}"#)), PutOptions::default())
                .unwrap();
        }
        let (status, _, body) =
            get(router(state.clone()), "/sfn/entries?prefix=get_repo%3Aocto%2Fr2&offset=5&limit=3").await;
        assert_eq!(status, StatusCode::OK);
        let page: app::model::EntryPage = serde_json::from_slice(&body).unwrap();
        assert_eq!(page.total, 10);
        let keys: Vec<_> = page.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["get_repo:octo/r25", "get_repo:octo/r26", "get_repo:octo/r27"]);

        let (status, _, body) = get(router(state.clone()), "/sfn/entry?key=get_repo%3Aocto%2Fr07").await;
        assert_eq!(status, StatusCode::OK);
        let pretty: String = serde_json::from_slice(&body).unwrap();
        let entry: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(entry["value"], serde_json::json!({"id": 7}));
        assert_eq!(entry["origin"], "local");
        let (status, _, body) = get(router(state.clone()), "/sfn/entry?key=nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            String::from_utf8_lossy(&body).contains("no entry under \"nope\""),
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(state.core.cache.stats().counters.total_requests(), 0, "browsing is not a lookup");
    })
}

#[test]
fn the_sampler_keeps_a_sample_each_period_from_the_start() {
    run(async {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let state = state_with("127.0.0.1:0", None, |c| c.sample_period_ms = 100, clock.clone()).unwrap();
        let core = state.core.clone();
        let sampler = core.spawn_sampler();
        let mut seen = 0;
        // Each sample is stamped with the injected clock, which moves by a
        // second between samples: three samples, three distinct times.
        support::wait_for("three samples", || {
            let samples = core.history.snapshot();
            if samples.len() > seen {
                seen = samples.len();
                clock.advance_secs(1);
            }
            (samples.len() >= 3).then_some(())
        })
        .await;
        sampler.abort();
        let at: Vec<u64> = core.history.snapshot().iter().map(|s| s.at_ms).collect();
        assert!(at.windows(2).all(|w| w[1] > w[0]), "oldest first: {at:?}");
        let (_, _, body) = get(router(state), "/api/history").await;
        let history: app::model::History = serde_json::from_slice(&body).unwrap();
        assert_eq!(history.period_ms, 100);
    })
}

#[test]
fn history_ends_with_a_live_sample_after_the_kept_ones() {
    run(async {
        let state = app_state();
        state.core.history.push(state.core.sample());
        state.core.cache.put("get_repo:octo/h", Bytes::from_static(b"{}"), PutOptions::default()).unwrap();
        assert!(state.core.cache.get("get_repo:octo/h").is_some());
        assert!(state.core.cache.get("get_repo:octo/none").is_none());

        let (status, _, body) = get(router(state.clone()), "/api/history").await;
        assert_eq!(status, StatusCode::OK);
        let history: app::model::History = serde_json::from_slice(&body).unwrap();
        assert_eq!(history.period_ms, 10_000);
        assert_eq!(history.samples.len(), 2);
        assert_eq!((history.samples[0].requests, history.samples[0].hits), (0, 0));
        assert_eq!((history.samples[1].requests, history.samples[1].hits), (2, 1));
        assert!(history.samples[1].at_ms >= history.samples[0].at_ms);
        let (_, _, body) = get(router(state), "/sfn/history").await;
        let via_server_fn: app::model::History = serde_json::from_slice(&body).unwrap();
        assert_eq!(via_server_fn.samples.len(), 2);
    })
}

#[test]
fn connect_rejects_bad_multiaddrs_and_says_when_p2p_is_off() {
    run(async {
        let state = app_state();
        let connect = |body: &str| post("/api/mcp/peers/connect", body);
        let (status, body) = send(router(state.clone()), connect(r#"{"multiaddr": "/ip4/1.2.3"}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("invalid multiaddr"), "{body}");
        let (status, body) = send(router(state.clone()), connect(r#"{"multiaddr": "/ip4/127.0.0.1/tcp/9100"}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("/p2p/"), "{body}");
        let (status, _) = send(router(state.clone()), connect("nope")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let good =
            r#"{"multiaddr": "/ip4/127.0.0.1/tcp/9100/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"}"#;
        let (status, body) = send(router(state), connect(good)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body["error"].as_str().unwrap().contains("CACHE_ENABLE_P2P=false"), "{body}");
    })
}

/// Samples of an OpenMetrics text page: `name{labels}` → value. Panics on a
/// line that is not a comment, a sample, or the closing `# EOF`.
fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    assert!(text.trim_end().ends_with("# EOF"), "OpenMetrics text ends with # EOF");
    let mut samples = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
        samples.insert(series.to_owned(), value);
    }
    samples
}

#[test]
fn metrics_parse_and_move_when_the_cache_is_used() {
    run(async {
        let state = app_state();
        let (status, _, body) = get(router(state.clone()), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        let before = parse_metrics(&String::from_utf8(body).unwrap());
        assert_eq!(before["peercache_cache_hits_total{source=\"local\"}"], 0.0);
        assert_eq!(before["peercache_cache_entries"], 0.0);

        let (status, _) = send(router(state.clone()), put("/api/cache/entry?key=get_repo:octo/m", "{}")).await;
        assert_eq!(status, StatusCode::CREATED);
        get(router(state.clone()), "/api/cache/entry?key=get_repo:octo/m").await;
        get(router(state.clone()), "/api/cache/entry?key=get_repo:octo/none").await;

        let (_, content_type, body) = get(router(state), "/metrics").await;
        assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
        let after = parse_metrics(&String::from_utf8(body).unwrap());
        assert_eq!(after["peercache_cache_hits_total{source=\"local\"}"], 1.0);
        assert_eq!(after["peercache_cache_misses_total"], 1.0);
        assert_eq!(after["peercache_cache_entries"], 1.0);
        assert!(after["peercache_cache_bytes"] > 0.0);
        assert_eq!(after["peercache_proxy_responses_total{mode=\"HIT\"}"], 0.0);
        assert_eq!(after["peercache_peers_connected"], 0.0);
    })
}

#[test]
fn node_endpoint_names_the_version_and_counts_uptime() {
    run(async {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let state = state_with("127.0.0.1:0", None, |_| {}, clock.clone()).unwrap();
        let node = |body: Vec<u8>| serde_json::from_slice::<app::model::NodeInfo>(&body).unwrap();
        let (status, _, body) = get(router(state.clone()), "/api/node").await;
        assert_eq!(status, StatusCode::OK);
        let first = node(body);
        assert_eq!(first.version, env!("CARGO_PKG_VERSION"));
        assert!(!first.name.is_empty());
        assert_eq!(first.peer_id, None, "P2P is off in these tests");
        assert_eq!(first.uptime_secs, 0);
        clock.advance_secs(90);
        let (_, _, body) = get(router(state), "/api/node").await;
        assert_eq!(node(body).uptime_secs, 90);
    })
}

// ---- Trust: who may change the cache (issue: "Trusted sharing") ----

#[test]
fn the_generic_api_refuses_to_write_github_answers() {
    run(async {
        let state = app_state();
        let key = "github:GET:/repos/octocat/hello-world:accept=application/vnd.github+json:scope=anonymous";
        let planted = r#"{"status":200,"headers":[["content-type","text/html"],["set-cookie","sid=x"]],"body_b64":"PGgxPmhpPC9oMT4="}"#;
        let (status, body) =
            send(router(state.clone()), put(&format!("/api/cache/entry?key={key}&ttl=315360000"), planted)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["error"].as_str().unwrap().contains("only the proxy writes them"), "{body}");
        assert!(state.core.cache.is_empty());
        // Other keys stay writable, within the global TTL maximum.
        let (status, _) = send(router(state.clone()), put("/api/cache/entry?key=mine:x&ttl=600", "{}")).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = send(router(state.clone()), put("/api/cache/entry?key=mine:y&ttl=315360000", "{}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(state.core.cache.len(), 1);
    })
}

#[test]
fn cross_site_pages_and_rebinding_hosts_cannot_change_anything() {
    run(async {
        let state = app_state();
        state.core.cache.put("get_repo:octo/a", Bytes::from_static(b"{}"), PutOptions::default()).unwrap();
        let attempts = [
            // A form a web page posts to 127.0.0.1:8899: no preflight.
            Request::post("/sfn/invalidate")
                .header("host", "127.0.0.1:8899")
                .header("origin", "https://evil.example")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("pattern=&exact=false&admin_token="))
                .unwrap(),
            Request::post("/sfn/connect_peer")
                .header("host", "127.0.0.1:8899")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("multiaddr=%2Fip4%2F1.2.3.4%2Ftcp%2F1%2Fp2p%2F12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN&admin_token="))
                .unwrap(),
            // A text/plain fetch() with no-cors: no preflight either.
            Request::post("/api/cache/invalidate")
                .header("host", "127.0.0.1:8899")
                .header("content-type", "text/plain;charset=UTF-8")
                .body(Body::from(r#"{"all": true}"#))
                .unwrap(),
            // DNS rebinding: the page's own name now points at 127.0.0.1.
            Request::put("/api/cache/entry?key=mine:planted")
                .header("host", "rebind.example:8899")
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap(),
            Request::post("/api/cache/invalidate")
                .header("host", "rebind.example:8899")
                .header("origin", "http://rebind.example:8899")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"all": true}"#))
                .unwrap(),
            // JSON, but from another site's page (a preflight we never grant).
            Request::post("/api/cache/invalidate")
                .header("host", "127.0.0.1:8899")
                .header("origin", "https://evil.example")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"all": true}"#))
                .unwrap(),
            Request::post("/mcp")
                .header("host", "rebind.example:8899")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"gh_invalidate_cache","arguments":{}}}"#))
                .unwrap(),
        ];
        for attempt in attempts {
            let what = format!("{} {} {:?}", attempt.method(), attempt.uri(), attempt.headers().get("host"));
            let (status, body) = send(router(state.clone()), attempt).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
            assert!(
                body["error"].as_str().is_some_and(|e| e.starts_with("refusing") || e.contains("application/json")),
                "{body}"
            );
        }
        assert_eq!(state.core.cache.len(), 1, "nothing changed");
        assert!(state.core.cache.peek("mine:planted").is_none());
        // The dashboard's own page, same origin, JSON: allowed.
        let own = Request::post("/sfn/invalidate")
            .header("host", "localhost:8899")
            .header("origin", "http://localhost:8899")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"target": "all", "admin_token": ""}"#))
            .unwrap();
        let (status, body) = send(router(state.clone()), own).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(state.core.cache.is_empty());
    })
}

#[test]
fn a_configured_admin_token_is_needed_on_loopback_too() {
    run(async {
        let state = state_at("127.0.0.1:0", Some("s3cret")).unwrap();
        let (status, _) = send(router(state.clone()), put("/api/cache/entry?key=mine:x", "{}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let with = change("PUT", "/api/cache/entry?key=mine:x", "{}")
            .header("authorization", "Bearer s3cret")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(send(router(state.clone()), with).await.0, StatusCode::CREATED);
        let (status, _) = send(router(state), post("/api/cache/invalidate", r#"{"all": true}"#)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    })
}
