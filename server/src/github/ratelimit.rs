//! GitHub's rate limits per token scope and resource (`core`, `search`,
//! `graphql`, … as `X-RateLimit-Resource` names them): what the last
//! response said, and when a scope was refused for a resource, until when to
//! stop asking for that resource (Retry-After, else the reset time) and the
//! refusal to replay meanwhile — never a retry loop. A search refusal does
//! not stop the same token's core requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::model::RateLimitInfo;
use axum::http::{HeaderMap, StatusCode};

use crate::cache::ttl::rfc3339;
use crate::github::key::RequestKey;
use crate::github::stored::Decoded;

/// Scopes remembered at most; the least recently seen go first.
const MAX_SCOPES: usize = 1024;
/// How long to back off when GitHub refuses without saying until when.
const DEFAULT_BLOCK_SECS: u64 = 60;

#[derive(Clone, Default)]
struct ScopeLimit {
    remaining: Option<u64>,
    limit: Option<u64>,
    reset_epoch: Option<u64>,
    seen_ms: u64,
    blocked_until_ms: Option<u64>,
    refusal: Option<Arc<Decoded>>,
}

/// The cache key under which a token scope's refusal for `resource` is held
/// for the fleet: GitHub counts a token's requests wherever they come from,
/// so one node's refusal spares the others the call that would learn it
/// again. Not for anonymous requests: GitHub counts those per IP address.
pub fn hold_key(scope: &str, resource: &str) -> String {
    RequestKey {
        method: "HOLD",
        path: format!("/{resource}"),
        query: String::new(),
        accept: String::new(),
        api_version: String::new(),
    }
    .scoped(scope)
}

/// Which limit a request counts against, before GitHub says: by its path.
pub fn resource_of(path: &str) -> &'static str {
    if path == "/graphql" {
        "graphql"
    } else if path.starts_with("/search/code") {
        "code_search"
    } else if path.starts_with("/search/") {
        "search"
    } else {
        "core"
    }
}

/// (scope, resource) → what GitHub said.
#[derive(Default)]
pub struct RateLimits {
    scopes: Mutex<HashMap<(String, String), ScopeLimit>>,
}

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Whether an upstream answer is GitHub refusing for a rate limit.
pub fn is_rate_limited(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> bool {
    match status {
        StatusCode::TOO_MANY_REQUESTS => true,
        StatusCode::FORBIDDEN => {
            number(headers, "x-ratelimit-remaining") == Some(0)
                || headers.contains_key("retry-after")
                || String::from_utf8_lossy(body).to_ascii_lowercase().contains("rate limit")
        }
        _ => false,
    }
}

impl RateLimits {
    /// The resource a response counted against: what it says, else `guess`.
    fn resource(headers: &HeaderMap, guess: &str) -> String {
        headers.get("x-ratelimit-resource").and_then(|v| v.to_str().ok()).unwrap_or(guess).to_owned()
    }

    /// Records the `X-RateLimit-*` headers of a response for `scope`; the
    /// resource is the response's, else the request path's (`guess`).
    pub fn observe(&self, scope: &str, guess: &str, headers: &HeaderMap, now_ms: u64) {
        if number(headers, "x-ratelimit-limit").is_none() {
            return;
        }
        let id = (scope.to_owned(), RateLimits::resource(headers, guess));
        let mut scopes = self.scopes.lock().expect("rate limit lock");
        if !scopes.contains_key(&id) && scopes.len() >= MAX_SCOPES {
            if let Some(oldest) = scopes.iter().min_by_key(|(_, l)| l.seen_ms).map(|(k, _)| k.clone()) {
                scopes.remove(&oldest);
            }
        }
        let limit = scopes.entry(id).or_default();
        limit.remaining = number(headers, "x-ratelimit-remaining");
        limit.limit = number(headers, "x-ratelimit-limit");
        limit.reset_epoch = number(headers, "x-ratelimit-reset");
        limit.seen_ms = now_ms;
    }

    /// GitHub refused `scope` for a resource: stop asking for it until
    /// Retry-After (or the reset), which it answers.
    pub fn block(&self, scope: &str, guess: &str, headers: &HeaderMap, refusal: Arc<Decoded>, now_ms: u64) -> u64 {
        let until = match (number(headers, "retry-after"), number(headers, "x-ratelimit-reset")) {
            (Some(secs), _) => now_ms.saturating_add(secs.saturating_mul(1000)),
            (None, Some(reset)) if reset.saturating_mul(1000) > now_ms => reset.saturating_mul(1000),
            _ => now_ms + DEFAULT_BLOCK_SECS * 1000,
        };
        let id = (scope.to_owned(), RateLimits::resource(headers, guess));
        let mut scopes = self.scopes.lock().expect("rate limit lock");
        let limit = scopes.entry(id).or_default();
        limit.blocked_until_ms = Some(until);
        limit.refusal = Some(refusal);
        limit.seen_ms = now_ms;
        until
    }

    /// The refusal to replay while `scope` is blocked for `resource`.
    pub fn blocked(&self, scope: &str, resource: &str, now_ms: u64) -> Option<Arc<Decoded>> {
        let scopes = self.scopes.lock().expect("rate limit lock");
        let limit = scopes.get(&(scope.to_owned(), resource.to_owned()))?;
        (limit.blocked_until_ms? > now_ms).then(|| limit.refusal.clone()).flatten()
    }

    /// Every scope's last known limit, most constrained first.
    pub fn snapshot(&self, now_ms: u64) -> Vec<RateLimitInfo> {
        let scopes = self.scopes.lock().expect("rate limit lock");
        let mut out: Vec<RateLimitInfo> = scopes
            .iter()
            .map(|((scope, resource), l)| RateLimitInfo {
                scope: scope.clone(),
                remaining: l.remaining,
                limit: l.limit,
                reset: l.reset_epoch.map(|s| rfc3339(s.saturating_mul(1000))),
                reset_in_secs: l.reset_epoch.map(|s| s.saturating_sub(now_ms / 1000)),
                reset_epoch: l.reset_epoch,
                resource: Some(resource.clone()),
                blocked_until: l.blocked_until_ms.filter(|&t| t > now_ms).map(rfc3339),
            })
            .collect();
        out.sort_by_key(|l| (l.remaining.unwrap_or(u64::MAX), l.scope.clone(), l.resource.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn recognises_rate_limit_refusals() {
        assert!(is_rate_limited(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), b""));
        assert!(is_rate_limited(StatusCode::FORBIDDEN, &headers(&[("x-ratelimit-remaining", "0")]), b""));
        assert!(is_rate_limited(StatusCode::FORBIDDEN, &HeaderMap::new(), b"API rate limit exceeded for user"));
        assert!(!is_rate_limited(StatusCode::FORBIDDEN, &HeaderMap::new(), b"Resource not accessible by integration"));
        assert!(!is_rate_limited(StatusCode::OK, &headers(&[("x-ratelimit-remaining", "0")]), b""));
    }

    #[test]
    fn blocks_until_retry_after_then_lets_go() {
        let limits = RateLimits::default();
        let refusal = Arc::new(Decoded::new(StatusCode::FORBIDDEN, &HeaderMap::new(), bytes::Bytes::new()));
        limits.block("s", "core", &headers(&[("retry-after", "30")]), refusal.clone(), 1_000_000);
        assert!(limits.blocked("s", "core", 1_000_000 + 29_999).is_some());
        assert!(limits.blocked("s", "core", 1_000_000 + 30_000).is_none());
        assert!(limits.blocked("other", "core", 1_000_000).is_none());
        // A search refusal stops the token's searches, not its core requests.
        limits.block(
            "s",
            "core",
            &headers(&[("retry-after", "30"), ("x-ratelimit-resource", "search")]),
            refusal,
            2_000_000,
        );
        assert!(limits.blocked("s", "search", 2_000_000).is_some());
        assert!(limits.blocked("s", "core", 2_000_000).is_none());
        assert_eq!(resource_of("/search/issues"), "search");
        assert_eq!(resource_of("/search/code"), "code_search");
        assert_eq!(resource_of("/graphql"), "graphql");
        assert_eq!(resource_of("/repos/o/r"), "core");
    }

    #[test]
    fn keeps_the_last_limits_per_scope_most_constrained_first() {
        let limits = RateLimits::default();
        limits.observe(
            "a",
            "core",
            &headers(&[
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", "4000"),
                ("x-ratelimit-reset", "1800000000"),
            ]),
            1,
        );
        limits.observe(
            "b",
            "core",
            &headers(&[
                ("x-ratelimit-limit", "1000"),
                ("x-ratelimit-remaining", "10"),
                ("x-ratelimit-resource", "core"),
            ]),
            2,
        );
        limits.observe(
            "b",
            "search",
            &headers(&[
                ("x-ratelimit-limit", "30"),
                ("x-ratelimit-remaining", "29"),
                ("x-ratelimit-resource", "search"),
            ]),
            2,
        );
        limits.observe("c", "core", &HeaderMap::new(), 3);
        let snap = limits.snapshot(0);
        assert_eq!(snap.len(), 3);
        assert_eq!((snap[0].scope.as_str(), snap[0].remaining), ("b", Some(10)));
        assert_eq!((snap[1].resource.as_deref(), snap[1].remaining), (Some("search"), Some(29)));
        assert_eq!(snap[2].reset.as_deref(), Some("2027-01-15T08:00:00Z"));
    }
}
