//! HTTP caching semantics for the proxy, from `http-cache-semantics` (RFC
//! 9111) rather than hand-written `Cache-Control` parsing: whether GitHub's
//! answer may be stored (`no-store` may not), for how long (its own
//! freshness, never longer than the path family's TTL), and whether a
//! client's own directives (`no-cache`, `max-age=0`, …) ask for a
//! revalidation before a stored answer is reused.
//!
//! The cache is per token scope (the scope is in the key), so answers are
//! judged as a private cache would: `private` may be stored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::header::{CACHE_CONTROL, EXPIRES, PRAGMA};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use http_cache_semantics::{BeforeRequest, CacheOptions, CachePolicy};

/// How stored answers are reused: for their TTL, or only after GitHub says
/// they are still right (a free 304) — ghproxy's model: never stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Freshness {
    /// Fresh for the TTL (the path family's, shortened by GitHub's max-age).
    Ttl,
    /// Every request revalidates with the stored ETag.
    Revalidate,
}

impl Freshness {
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Ttl => "ttl",
            Freshness::Revalidate => "revalidate",
        }
    }
}

const OPTIONS: CacheOptions = CacheOptions {
    shared: false,
    cache_heuristic: 0.1,
    immutable_min_time_to_live: Duration::from_secs(24 * 3600),
    ignore_cargo_cult: true,
};

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn response(status: StatusCode, headers: &HeaderMap) -> axum::http::response::Parts {
    let mut response = Response::new(()).into_parts().0;
    response.status = status;
    response.headers = headers.clone();
    response
}

/// The original request of a stored answer, as far as caching goes: the
/// same method and URI, without the client's cache directives.
fn original(request: &Parts) -> axum::http::request::Parts {
    let mut original = Request::new(()).into_parts().0;
    original.method = request.method.clone();
    original.uri = request.uri.clone();
    original
}

/// How long GitHub's answer may be reused, at most `cap_secs`; `None` when
/// it must not be stored. Without any freshness of its own (no
/// `Cache-Control`, no `Expires`) it gets the cap.
pub fn storable_ttl(
    request: &Parts,
    status: StatusCode,
    headers: &HeaderMap,
    now_ms: u64,
    cap_secs: u64,
) -> Option<u64> {
    let policy = CachePolicy::new_options(request, &response(status, headers), time(now_ms), OPTIONS);
    if !policy.is_storable() {
        return None;
    }
    if !headers.contains_key(CACHE_CONTROL) && !headers.contains_key(EXPIRES) {
        return Some(cap_secs);
    }
    Some(policy.time_to_live(time(now_ms)).as_secs().min(cap_secs))
}

/// Whether the client's own cache directives ask for more than a stored
/// answer (`status`, `headers`, stored at `stored_at_ms`) gives at `now_ms`.
pub fn client_wants_revalidation(
    request: &Parts,
    status: StatusCode,
    headers: &HeaderMap,
    stored_at_ms: u64,
    now_ms: u64,
) -> bool {
    if !has_directives(request) {
        return false;
    }
    let policy = CachePolicy::new_options(&original(request), &response(status, headers), time(stored_at_ms), OPTIONS);
    !matches!(policy.before_request(request, time(now_ms)), BeforeRequest::Fresh(_))
}

/// Whether a request says anything about caching at all.
pub fn has_directives(request: &Parts) -> bool {
    request.headers.contains_key(CACHE_CONTROL) || request.headers.contains_key(PRAGMA)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn request(cache_control: Option<&'static str>) -> Parts {
        let mut builder = Request::get("/github/repos/o/r");
        if let Some(value) = cache_control {
            builder = builder.header(CACHE_CONTROL, value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn headers(cache_control: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("etag", HeaderValue::from_static("\"v1\""));
        if let Some(value) = cache_control {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(value));
        }
        headers
    }

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn githubs_own_freshness_shortens_the_family_ttl_and_no_store_is_not_stored() {
        let get = request(None);
        assert_eq!(
            storable_ttl(&get, StatusCode::OK, &headers(Some("private, max-age=60, s-maxage=60")), NOW, 300),
            Some(60)
        );
        assert_eq!(storable_ttl(&get, StatusCode::OK, &headers(Some("private, max-age=600")), NOW, 300), Some(300));
        assert_eq!(storable_ttl(&get, StatusCode::OK, &headers(None), NOW, 300), Some(300));
        assert_eq!(storable_ttl(&get, StatusCode::OK, &headers(Some("no-store")), NOW, 300), None);
        assert_eq!(
            storable_ttl(&get, StatusCode::OK, &headers(Some("no-cache")), NOW, 300),
            Some(0),
            "stored, always revalidated"
        );
    }

    #[test]
    fn a_clients_no_cache_or_max_age_zero_asks_for_revalidation() {
        let stored = headers(Some("private, max-age=60"));
        let fresh = |request: &Parts| !client_wants_revalidation(request, StatusCode::OK, &stored, NOW, NOW + 10_000);
        assert!(fresh(&request(None)));
        assert!(!fresh(&request(Some("no-cache"))));
        assert!(!fresh(&request(Some("max-age=0"))));
        assert!(!fresh(&request(Some("max-age=5"))), "older than the client accepts");
        assert!(fresh(&request(Some("max-age=30"))));
    }
}
