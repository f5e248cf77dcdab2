//! GitHub's rate limit per token scope: what the last response said, and when
//! a scope was refused, until when to stop asking (Retry-After, else the reset
//! time) and the refusal to replay meanwhile — never a retry loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::model::RateLimitInfo;
use axum::http::{HeaderMap, StatusCode};

use crate::cache::ttl::rfc3339;
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
    resource: Option<String>,
    seen_ms: u64,
    blocked_until_ms: Option<u64>,
    refusal: Option<Arc<Decoded>>,
}

#[derive(Default)]
pub struct RateLimits {
    scopes: Mutex<HashMap<String, ScopeLimit>>,
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
    /// Records the `X-RateLimit-*` headers of a response for `scope`.
    pub fn observe(&self, scope: &str, headers: &HeaderMap, now_ms: u64) {
        if number(headers, "x-ratelimit-limit").is_none() {
            return;
        }
        let mut scopes = self.scopes.lock().expect("rate limit lock");
        if !scopes.contains_key(scope) && scopes.len() >= MAX_SCOPES {
            if let Some(oldest) = scopes.iter().min_by_key(|(_, l)| l.seen_ms).map(|(k, _)| k.clone()) {
                scopes.remove(&oldest);
            }
        }
        let limit = scopes.entry(scope.to_owned()).or_default();
        limit.remaining = number(headers, "x-ratelimit-remaining");
        limit.limit = number(headers, "x-ratelimit-limit");
        limit.reset_epoch = number(headers, "x-ratelimit-reset");
        limit.resource = headers.get("x-ratelimit-resource").and_then(|v| v.to_str().ok()).map(str::to_owned);
        limit.seen_ms = now_ms;
    }

    /// GitHub refused `scope`: stop asking until Retry-After (or the reset).
    pub fn block(&self, scope: &str, headers: &HeaderMap, refusal: Arc<Decoded>, now_ms: u64) {
        let until = match (number(headers, "retry-after"), number(headers, "x-ratelimit-reset")) {
            (Some(secs), _) => now_ms + secs * 1000,
            (None, Some(reset)) if reset * 1000 > now_ms => reset * 1000,
            _ => now_ms + DEFAULT_BLOCK_SECS * 1000,
        };
        let mut scopes = self.scopes.lock().expect("rate limit lock");
        let limit = scopes.entry(scope.to_owned()).or_default();
        limit.blocked_until_ms = Some(until);
        limit.refusal = Some(refusal);
        limit.seen_ms = now_ms;
    }

    /// The refusal to replay while `scope` is blocked.
    pub fn blocked(&self, scope: &str, now_ms: u64) -> Option<Arc<Decoded>> {
        let scopes = self.scopes.lock().expect("rate limit lock");
        let limit = scopes.get(scope)?;
        (limit.blocked_until_ms? > now_ms).then(|| limit.refusal.clone()).flatten()
    }

    /// Every scope's last known limit, most constrained first.
    pub fn snapshot(&self, now_ms: u64) -> Vec<RateLimitInfo> {
        let scopes = self.scopes.lock().expect("rate limit lock");
        let mut out: Vec<RateLimitInfo> = scopes
            .iter()
            .map(|(scope, l)| RateLimitInfo {
                scope: scope.clone(),
                remaining: l.remaining,
                limit: l.limit,
                reset: l.reset_epoch.map(|s| rfc3339(s * 1000)),
                reset_in_secs: l.reset_epoch.map(|s| s.saturating_sub(now_ms / 1000)),
                resource: l.resource.clone(),
                blocked_until: l.blocked_until_ms.filter(|&t| t > now_ms).map(rfc3339),
            })
            .collect();
        out.sort_by_key(|l| (l.remaining.unwrap_or(u64::MAX), l.scope.clone()));
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
        limits.block("s", &headers(&[("retry-after", "30")]), refusal, 1_000_000);
        assert!(limits.blocked("s", 1_000_000 + 29_999).is_some());
        assert!(limits.blocked("s", 1_000_000 + 30_000).is_none());
        assert!(limits.blocked("other", 1_000_000).is_none());
    }

    #[test]
    fn keeps_the_last_limits_per_scope_most_constrained_first() {
        let limits = RateLimits::default();
        limits.observe("a", &headers(&[("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "4000"), ("x-ratelimit-reset", "1800000000")]), 1);
        limits.observe("b", &headers(&[("x-ratelimit-limit", "1000"), ("x-ratelimit-remaining", "10"), ("x-ratelimit-resource", "core")]), 2);
        limits.observe("c", &HeaderMap::new(), 3);
        let snap = limits.snapshot(0);
        assert_eq!(snap.len(), 2);
        assert_eq!((snap[0].scope.as_str(), snap[0].remaining), ("b", Some(10)));
        assert_eq!(snap[1].reset.as_deref(), Some("2027-01-15T08:00:00Z"));
    }
}
