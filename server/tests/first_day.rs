//! A team's first day: what the headers say is what happened. A refusal
//! replayed from the node's own rate-limit hold says HELD and reached GitHub
//! zero times; `stored` appears in `Cache-Status` only when something was
//! stored (not for a 404, a refusal or a 502); saved calls count only
//! `/github` answers.

mod support;

use app::api::Backend;
use axum::http::StatusCode;
use support::inproc::start_peercache;
use support::standin;

async fn get(url: &str) -> (StatusCode, String, String) {
    get_as(url, "T").await
}

async fn get_as(url: &str, token: &str) -> (StatusCode, String, String) {
    let response =
        reqwest::Client::new().get(url).header("authorization", format!("token {token}")).send().await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let (mode, cache_status) = (header("x-peercache"), header("cache-status"));
    (response.status(), mode, cache_status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_say_what_happened() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let base = format!("{}/github", pc.url);
    // A 200 that was stored says so.
    assert_eq!(
        get(&format!("{base}/repos/octo/demo")).await,
        (StatusCode::OK, "MISS".into(), "peercache; fwd=uri-miss; stored".into())
    );
    // A 404 was not stored.
    let (status, mode, cache_status) = get_as(&format!("{base}/repos/octo/private"), "outsider").await;
    assert_eq!((status, mode.as_str()), (StatusCode::NOT_FOUND, "MISS"));
    assert!(!cache_status.contains("stored"), "{cache_status}");
    // GitHub's rate-limit refusal: not stored; then held, and GitHub not asked again.
    let (status, mode, cache_status) = get(&format!("{base}/search/issues?q=x")).await;
    assert_eq!((status, mode.as_str()), (StatusCode::FORBIDDEN, "MISS"));
    assert!(!cache_status.contains("stored"), "{cache_status}");
    let asked = gh.count("/search/issues");
    let (status, mode, cache_status) = get(&format!("{base}/search/issues?q=x")).await;
    assert_eq!((status, mode.as_str()), (StatusCode::FORBIDDEN, "HELD"), "{cache_status}");
    assert_eq!(cache_status, "peercache; hit; detail=rate-limit-held");
    assert_eq!(gh.count("/search/issues"), asked, "a held refusal reaches GitHub zero times");
    // GitHub failing: a 502, not stored.
    let (status, mode, cache_status) = get(&format!("{base}/fail/502")).await;
    assert_eq!((status, mode.as_str()), (StatusCode::BAD_GATEWAY, "MISS"));
    assert!(!cache_status.contains("stored"), "{cache_status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_calls_count_only_github_answers() {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    // A user's own entries, looked up again and again, never were GitHub calls.
    pc.state.core.put_entry("mine:notes".into(), bytes::Bytes::from_static(b"{}"), None).await.unwrap();
    for _ in 0..3 {
        pc.state.core.lookup("mine:notes").await.unwrap();
    }
    assert_eq!(pc.state.core.cache_stats().api_calls_saved, 0);
    // A GitHub answer served from the cache is one.
    get(&format!("{}/github/repos/octo/demo", pc.url)).await;
    get(&format!("{}/github/repos/octo/demo", pc.url)).await;
    let stats = pc.state.core.cache_stats();
    assert_eq!(stats.api_calls_saved, 1, "one HIT");
    assert_eq!(stats.api_calls_saved, pc.state.core.proxy_stats().calls_saved_last_hour, "the two figures agree");
}
