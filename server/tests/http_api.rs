//! The HTTP surface driven in-process (no socket): JSON endpoints, the 404
//! JSON shape, health, and the server-rendered dashboard.

use std::sync::LazyLock;

use app::model::{CacheStats, ErrorBody, PeerStatus};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use server::config::ServeConfig;
use server::http::router::router;
use server::state::AppState;
use tower::ServiceExt;

/// One runtime for the whole test binary: Leptos keeps process-wide reactive
/// state, and SSR stalls when each test brings (and drops) a runtime of its own.
fn run<F: std::future::Future>(test: F) -> F::Output {
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    });
    RUNTIME.block_on(test)
}

fn app_state() -> AppState {
    AppState::new(&ServeConfig { http_addr: "127.0.0.1:0".parse().unwrap(), site_root: None })
}

async fn get(app: Router, uri: &str) -> (StatusCode, String, Vec<u8>) {
    let response = app.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, content_type, body)
}

#[test]
fn peers_endpoint_reports_the_node_that_was_not_started() {
    run(async {
        let (status, content_type, body) = get(router(app_state()), "/api/mcp/peers").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("application/json"), "{content_type}");
        let peers: PeerStatus = serde_json::from_slice(&body).unwrap();
        assert!(!peers.enabled && !peers.active);
        assert_eq!(peers.peer_count, 0);
        assert_eq!(peers.reason.as_deref(), Some("P2P node not started"));
    })
}

#[test]
fn cache_stats_endpoint_reads_the_live_cache() {
    run(async {
        let state = app_state();
        state.cache.put("repos:octocat/hello", br#"{"id":1}"#.to_vec());
        assert!(state.cache.get("repos:octocat/hello").is_some());
        assert!(state.cache.get("repos:octocat/missing").is_none());

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
    run(async {
        let (status, _, body) = get(router(app_state()), "/").await;
        assert_eq!(status, StatusCode::OK);
        let html = String::from_utf8(body).unwrap();
        assert!(html.contains(r#"id="peer-status""#), "{html}");
        assert!(html.contains("✗ Disabled"));
        assert!(html.contains(r#"id="cache-hit-rate">0.0%"#), "{html}");
        assert!(html.contains("/pkg/peercache.js"));
        assert!(html.contains("peercache_bg.wasm"));
    })
}

#[test]
fn server_functions_answer_with_the_same_numbers_as_the_json_api() {
    run(async {
        let state = app_state();
        state.cache.put("k", b"1".to_vec());
        let (status, _, body) = get(router(state.clone()), "/sfn/cache_stats").await;
        assert_eq!(status, StatusCode::OK);
        let from_server_fn: CacheStats = serde_json::from_slice(&body).unwrap();
        let (_, _, body) = get(router(state), "/api/mcp/cache/stats").await;
        let from_api: CacheStats = serde_json::from_slice(&body).unwrap();
        assert_eq!(from_server_fn, from_api);
        assert_eq!(from_api.total_entries, 1);
    })
}
