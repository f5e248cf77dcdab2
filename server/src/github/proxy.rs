//! The caching reverse proxy for GitHub's REST API under `/github/...`.
//!
//! A GET is answered, in order, from: a fresh local entry (HIT, or PEER-HIT
//! when the entry came from a peer); while GitHub refuses this token's scope,
//! a stale entry (STALE) or the refusal replayed; otherwise one shared fetch
//! per key (other callers wait: COALESCED) that asks the peers (PEER-HIT),
//! then GitHub — with `If-None-Match` when an expired entry has an ETag, a 304
//! refreshing it for free (REVALIDATED) — and stores a 200 (MISS). Other
//! methods pass through (PASS) and invalidate the repository's entries.

use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::http::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, IF_NONE_MATCH, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use lru::LruCache;

use crate::cache::entry::{Entry, Origin};
use crate::cache::key::validate_key;
use crate::cache::{Cache, PutOptions};
use crate::github::ratelimit::{is_rate_limited, RateLimits};
use crate::github::scope::{Scope, Scopes};
use crate::github::stats::{Mode, ProxyCounters};
use crate::github::stored::Decoded;
use crate::http::errors::ApiError;
use crate::p2p::client::NodeClient;
use crate::single_flight::{Role, SingleFlight};

const X_PEERCACHE: HeaderName = HeaderName::from_static("x-peercache");
const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
const AGENT: &str = concat!("peercache/", env!("CARGO_PKG_VERSION"));
/// Request headers sent on to GitHub.
const FORWARDED: [HeaderName; 4] = [AUTHORIZATION, ACCEPT, USER_AGENT, HeaderName::from_static("x-github-api-version")];
/// Decoded responses kept ready for hits, in bytes.
const DECODED_BUDGET: usize = 64 * 1024 * 1024;

pub struct ProxyConfig {
    /// `GITHUB_API_URL`, e.g. `https://api.github.com`.
    pub upstream: String,
    pub default_ttl_secs: u64,
    /// Larger response bodies stream through uncached.
    pub max_body: usize,
    pub scopes: Scopes,
}

/// What a shared fetch hands its waiters: the answer, or `None` when it was
/// streamed through and cannot be shared (the waiter then asks itself).
type Shared = Option<(Mode, Arc<Decoded>)>;

struct Ready {
    lru: LruCache<String, Arc<Decoded>>,
    bytes: usize,
}

pub struct GithubProxy {
    client: reqwest::Client,
    upstream: String,
    cache: Arc<Cache>,
    peers: Option<NodeClient>,
    scopes: Scopes,
    default_ttl_secs: u64,
    max_body: usize,
    pub limits: RateLimits,
    pub counters: ProxyCounters,
    inflight: SingleFlight<Shared>,
    ready: Mutex<Ready>,
}

impl GithubProxy {
    pub fn new(config: ProxyConfig, cache: Arc<Cache>, peers: Option<NodeClient>) -> anyhow::Result<GithubProxy> {
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(GithubProxy {
            client,
            upstream: config.upstream.trim_end_matches('/').to_owned(),
            cache,
            peers,
            scopes: config.scopes,
            default_ttl_secs: config.default_ttl_secs,
            max_body: config.max_body,
            limits: RateLimits::default(),
            counters: ProxyCounters::default(),
            inflight: SingleFlight::default(),
            ready: Mutex::new(Ready { lru: LruCache::unbounded(), bytes: 0 }),
        })
    }

    pub async fn handle(self: &Arc<Self>, request: Request<Body>) -> Response {
        let (parts, body) = request.into_parts();
        let path = match parts.uri.path().strip_prefix("/github") {
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => "/".to_owned(),
        };
        let query = sorted_query(parts.uri.query());
        let response = match parts.method {
            Method::GET | Method::HEAD => self.cached(&parts, &path, &query).await,
            _ => self.pass(parts, body, &path, &query).await,
        };
        response.unwrap_or_else(IntoResponse::into_response)
    }

    async fn cached(self: &Arc<Self>, parts: &Parts, path: &str, query: &str) -> Result<Response, ApiError> {
        let scope = self.scopes.scope_of(header(&parts.headers, &AUTHORIZATION));
        let key = proxy_key(path, query, header(&parts.headers, &ACCEPT).unwrap_or(""), &scope.id);
        let head = parts.method == Method::HEAD;
        if validate_key(&key).is_err() {
            return self.forward(parts, Bytes::new(), path, query, &scope).await;
        }
        if let Some(entry) = self.cache.get_fresh(&key) {
            if let Some(decoded) = self.decoded(&entry, &scope) {
                let mode = if matches!(entry.origin, Origin::Peer(_)) { Mode::PeerHit } else { Mode::Hit };
                return Ok(self.reply(mode, &decoded, &parts.headers, head));
            }
        }
        if let Some(refusal) = self.limits.blocked(&scope.id, self.cache.now_ms()) {
            self.cache.count_miss(&key);
            return Ok(match self.stale(&key, &scope) {
                Some(stale) => {
                    self.cache.count_saved();
                    self.reply(Mode::Stale, &stale, &parts.headers, head)
                }
                None => self.reply(Mode::Miss, &refusal, &parts.headers, head),
            });
        }
        if head {
            self.cache.count_miss(&key);
            return self.forward(parts, Bytes::new(), path, query, &scope).await;
        }
        self.coalesced(parts, path, query, &key, &scope).await
    }

    /// One fetch per key at a time; the others wait for its answer.
    async fn coalesced(self: &Arc<Self>, parts: &Parts, path: &str, query: &str, key: &str, scope: &Scope) -> Result<Response, ApiError> {
        match self.inflight.join(key) {
            Role::Leader(leader) => {
                let (response, shared) = self.fetch(parts, path, query, key, scope).await;
                leader.finish(shared);
                response
            }
            Role::Follower(follower) => {
                let shared = follower.wait().await.flatten();
                self.cache.count_miss(key);
                match shared {
                    Some((_, decoded)) => {
                        self.cache.count_saved();
                        Ok(self.reply(Mode::Coalesced, &decoded, &parts.headers, false))
                    }
                    None => self.fetch(parts, path, query, key, scope).await.0,
                }
            }
        }
    }

    /// Peers, then GitHub.
    async fn fetch(self: &Arc<Self>, parts: &Parts, path: &str, query: &str, key: &str, scope: &Scope) -> (Result<Response, ApiError>, Shared) {
        if let Some(peers) = &self.peers {
            if let Some(entry) = self.cache.fetch_from_peers(key, peers).await {
                if let Some(decoded) = self.decoded(&entry, scope) {
                    return (Ok(self.reply(Mode::PeerHit, &decoded, &parts.headers, false)), Some((Mode::PeerHit, decoded)));
                }
            }
        }
        self.cache.count_miss(key);
        let stale = self.cache.get_stale(key);
        let mut request = self.client.get(self.url(path, query)).headers(forwarded(&parts.headers));
        if let Some(etag) = stale.as_ref().and_then(|e| e.etag.clone()) {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let upstream = match self.send(request, path, scope).await {
            Ok(upstream) => upstream,
            Err(error) => return (Err(error), None),
        };
        let status = upstream.status();
        let headers = upstream.headers().clone();
        let now = self.cache.now_ms();

        if status == StatusCode::NOT_MODIFIED {
            if let Some((stale, decoded)) = stale.as_ref().and_then(|s| Some((s, self.decoded(s, scope)?))) {
                let mut refreshed = Entry::clone(stale);
                refreshed.stored_at_ms = now;
                refreshed.ttl_secs = self.ttl(path, &headers);
                self.store_entry(refreshed).await;
                self.cache.count_saved();
                return (Ok(self.reply(Mode::Revalidated, &decoded, &parts.headers, false)), Some((Mode::Revalidated, decoded)));
            }
        }
        let body = match read_limited(upstream, self.max_body).await {
            Ok(body) => body,
            Err(Oversized::Stream(response)) => return (Ok(self.record(Mode::Pass, response)), None),
            Err(Oversized::Failed(error)) => return (Err(error), None),
        };
        let decoded = Arc::new(Decoded::new(status, &headers, body));
        if is_rate_limited(status, &headers, &decoded.body) {
            tracing::warn!(scope = scope.id, %status, "GitHub rate-limited this token scope; backing off");
            self.limits.block(&scope.id, &headers, decoded.clone(), now);
            if let Some(stale) = self.stale(key, scope) {
                self.cache.count_saved();
                return (Ok(self.reply(Mode::Stale, &stale, &parts.headers, false)), Some((Mode::Stale, stale)));
            }
            return (Ok(self.reply(Mode::Miss, &decoded, &parts.headers, false)), Some((Mode::Miss, decoded)));
        }
        if status == StatusCode::OK {
            let options = PutOptions {
                ttl_secs: Some(self.ttl(path, &headers)),
                etag: header(&headers, &axum::http::header::ETAG).map(str::to_owned),
                upstream_status: Some(status.as_u16()),
                ..PutOptions::default()
            };
            self.store_value(key.to_owned(), Bytes::from(decoded.encode(scope)), options).await;
        }
        (Ok(self.reply(Mode::Miss, &decoded, &parts.headers, false)), Some((Mode::Miss, decoded)))
    }

    /// Non-GET methods (and what cannot be cached) go straight through.
    async fn pass(self: &Arc<Self>, parts: Parts, body: Body, path: &str, query: &str) -> Result<Response, ApiError> {
        let body = to_bytes(body, self.max_body)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(format!("request body over {} bytes", self.max_body)))?;
        let scope = self.scopes.scope_of(header(&parts.headers, &AUTHORIZATION));
        let response = self.forward(&parts, body, path, query, &scope).await?;
        if response.status().is_success() && path != "/graphql" {
            let prefixes = invalidation_prefixes(path);
            let cache = self.cache.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let removed: usize = prefixes.iter().map(|p| cache.invalidate_prefix(p).unwrap_or(0)).sum();
                if removed > 0 {
                    tracing::debug!(removed, "invalidated cached GitHub responses after a write");
                }
            })
            .await;
        }
        Ok(response)
    }

    async fn forward(&self, parts: &Parts, body: Bytes, path: &str, query: &str, scope: &Scope) -> Result<Response, ApiError> {
        let mut headers = forwarded(&parts.headers);
        if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, content_type.clone());
        }
        let request = self.client.request(parts.method.clone(), self.url(path, query)).headers(headers).body(body);
        let upstream = self.send(request, path, scope).await?;
        let mut response = Response::builder().status(upstream.status());
        for (name, value) in upstream.headers() {
            if !is_hop_by_hop(name) {
                response = response.header(name, value);
            }
        }
        let response = response
            .body(Body::from_stream(upstream.bytes_stream()))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(self.record(Mode::Pass, response))
    }

    async fn send(&self, request: reqwest::RequestBuilder, path: &str, scope: &Scope) -> Result<reqwest::Response, ApiError> {
        self.counters.upstream_call();
        match request.send().await {
            Ok(response) => {
                self.cache.record_api_call("rest", path_family(path), response.status().as_str());
                self.limits.observe(&scope.id, response.headers(), self.cache.now_ms());
                Ok(response)
            }
            Err(error) => {
                self.cache.record_api_call("rest", path_family(path), "unreachable");
                tracing::warn!(upstream = self.upstream, scope = scope.id, %error, "GitHub request failed");
                Err(ApiError::BadGateway(format!("cannot reach GitHub at {}: {error}", self.upstream)))
            }
        }
    }

    fn url(&self, path: &str, query: &str) -> String {
        if query.is_empty() {
            format!("{}{path}", self.upstream)
        } else {
            format!("{}{path}?{query}", self.upstream)
        }
    }

    /// The family TTL of a path, shortened by GitHub's `max-age`.
    fn ttl(&self, path: &str, headers: &HeaderMap) -> u64 {
        let family = path_ttl(path).unwrap_or(self.default_ttl_secs);
        match header(headers, &CACHE_CONTROL).and_then(max_age) {
            Some(max_age) => family.min(max_age),
            None => family,
        }
    }

    /// The decoded form of a stored entry, kept ready for the next hit.
    fn decoded(&self, entry: &Entry, scope: &Scope) -> Option<Arc<Decoded>> {
        let id = format!("{}:{}", entry.cid, scope.id);
        if let Some(ready) = self.ready.lock().expect("ready lock").lru.get(&id) {
            return Some(ready.clone());
        }
        let decoded = Arc::new(Decoded::decode(&entry.value, scope)?);
        let mut ready = self.ready.lock().expect("ready lock");
        ready.bytes += decoded.body.len();
        if let Some(old) = ready.lru.put(id, decoded.clone()) {
            ready.bytes -= old.body.len();
        }
        while ready.bytes > DECODED_BUDGET {
            let Some((_, old)) = ready.lru.pop_lru() else { break };
            ready.bytes -= old.body.len();
        }
        Some(decoded)
    }

    fn stale(&self, key: &str, scope: &Scope) -> Option<Arc<Decoded>> {
        self.decoded(&*self.cache.get_stale(key)?, scope)
    }

    /// Stores before the answer leaves, so whoever asks next (here or at a
    /// peer) finds it. A failure only costs the caching, never the answer.
    async fn store_value(&self, key: String, value: Bytes, options: PutOptions) {
        let cache = self.cache.clone();
        let stored = tokio::task::spawn_blocking(move || cache.put(&key, value, options)).await;
        if let Ok(Err(error)) = stored {
            tracing::warn!(%error, "could not cache a GitHub response");
        }
    }

    async fn store_entry(&self, entry: Entry) {
        let cache = self.cache.clone();
        let stored = tokio::task::spawn_blocking(move || cache.insert(entry)).await;
        if let Ok(Err(error)) = stored {
            tracing::warn!(%error, "could not refresh a cached GitHub response");
        }
    }

    fn reply(&self, mode: Mode, decoded: &Decoded, request: &HeaderMap, head: bool) -> Response {
        let not_modified = decoded.status == StatusCode::OK
            && matches!((header(request, &IF_NONE_MATCH), decoded.headers.get(axum::http::header::ETAG)),
                (Some(wanted), Some(etag)) if etag.as_bytes() == wanted.as_bytes());
        let status = if not_modified { StatusCode::NOT_MODIFIED } else { decoded.status };
        let body = if head || not_modified { Body::empty() } else { Body::from(decoded.body.clone()) };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = decoded.headers.clone();
        if head {
            response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(decoded.body.len()));
        }
        if mode == Mode::Stale {
            response
                .headers_mut()
                .insert(axum::http::header::WARNING, HeaderValue::from_static("110 peercache \"Response is Stale\""));
        }
        self.record(mode, response)
    }

    fn record(&self, mode: Mode, mut response: Response) -> Response {
        self.counters.record(mode, self.cache.now_ms());
        response.headers_mut().insert(X_PEERCACHE, HeaderValue::from_static(mode.as_str()));
        response.headers_mut().insert(CACHE_STATUS, HeaderValue::from_static(mode.cache_status()));
        response
    }
}

enum Oversized {
    /// Too large to cache: the response, streaming what was read and the rest.
    Stream(Response),
    Failed(ApiError),
}

/// Reads a body of at most `limit` bytes; a larger one becomes a stream.
async fn read_limited(upstream: reqwest::Response, limit: usize) -> Result<Bytes, Oversized> {
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let announced = upstream.content_length().unwrap_or(0) as usize;
    let mut stream = upstream.bytes_stream();
    let mut read = Vec::new();
    if announced <= limit {
        loop {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    read.extend_from_slice(&chunk);
                    if read.len() > limit {
                        break;
                    }
                }
                Some(Err(error)) => {
                    return Err(Oversized::Failed(ApiError::BadGateway(format!("GitHub's response broke off: {error}"))))
                }
                None => return Ok(Bytes::from(read)),
            }
        }
    }
    let prefix = futures::stream::iter([Ok::<Bytes, reqwest::Error>(Bytes::from(read))]);
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if !is_hop_by_hop(name) {
            response = response.header(name, value);
        }
    }
    match response.body(Body::from_stream(prefix.chain(stream))) {
        Ok(response) => Err(Oversized::Stream(response)),
        Err(error) => Err(Oversized::Failed(ApiError::Internal(error.to_string()))),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

fn forwarded(incoming: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in FORWARDED {
        if let Some(value) = incoming.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers.entry(USER_AGENT).or_insert(HeaderValue::from_static(AGENT));
    headers
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(name.as_str(), "connection" | "keep-alive" | "transfer-encoding" | "te" | "trailer" | "upgrade" | "proxy-connection")
}

/// The query with its parameters sorted, so `?a=1&b=2` and `?b=2&a=1` share an entry.
pub fn sorted_query(query: Option<&str>) -> String {
    let mut pairs: Vec<&str> = query.unwrap_or("").split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    pairs.join("&")
}

/// `github:GET:<path>[?<query>]:accept=<accept>:scope=<scope>` — the scope
/// hash, never the token. The path comes first so a repository's entries share
/// a prefix across scopes.
pub fn proxy_key(path: &str, query: &str, accept: &str, scope: &str) -> String {
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    format!("github:GET:{path}{query}:accept={accept}:scope={scope}")
}

/// What a write to `path` makes stale: the repository's entries, else the path's.
pub fn invalidation_prefixes(path: &str) -> Vec<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let base = match segments.as_slice() {
        ["repos", owner, repo, ..] => format!("github:GET:/repos/{owner}/{repo}"),
        _ => format!("github:GET:{}", path.trim_end_matches('/')),
    };
    vec![format!("{base}/"), format!("{base}?"), format!("{base}:")]
}

/// Operation-family TTLs of REST paths.
pub fn path_ttl(path: &str) -> Option<u64> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["repos", _, _, "actions", "runners", ..] => Some(30),
        ["repos", _, _, "actions", "runs", ..] => Some(60),
        _ => None,
    }
}

/// A short name of a path for the call log: `/repos/*/*/actions/runs`.
fn path_family(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["repos", _, _, "actions", "runners", ..] => "repos.actions.runners",
        ["repos", _, _, "actions", "runs", ..] => "repos.actions.runs",
        ["repos", _, _, "actions", ..] => "repos.actions",
        ["repos", _, _, "issues", ..] => "repos.issues",
        ["repos", _, _, "pulls", ..] => "repos.pulls",
        ["repos", ..] => "repos",
        ["graphql"] => "graphql",
        ["user", ..] => "user",
        ["orgs", ..] => "orgs",
        ["users", ..] => "users",
        ["search", ..] => "search",
        ["rate_limit"] => "rate_limit",
        _ => "other",
    }
}

/// `max-age=N` of a Cache-Control value.
fn max_age(cache_control: &str) -> Option<u64> {
    cache_control
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_queries_and_never_hold_tokens() {
        assert_eq!(sorted_query(Some("per_page=10&a=1")), "a=1&per_page=10");
        assert_eq!(sorted_query(None), "");
        let key = proxy_key("/repos/o/r/pulls", "state=open", "application/vnd.github+json", "0123456789abcdef");
        assert_eq!(key, "github:GET:/repos/o/r/pulls?state=open:accept=application/vnd.github+json:scope=0123456789abcdef");
    }

    #[test]
    fn writes_invalidate_the_whole_repository_but_not_its_namesakes() {
        let prefixes = invalidation_prefixes("/repos/o/r/issues/1/comments");
        let repo_key = proxy_key("/repos/o/r", "", "", "anonymous");
        let issue_key = proxy_key("/repos/o/r/issues", "state=open", "", "anonymous");
        let other_key = proxy_key("/repos/o/rx", "", "", "anonymous");
        assert!(prefixes.iter().any(|p| repo_key.starts_with(p.as_str())));
        assert!(prefixes.iter().any(|p| issue_key.starts_with(p.as_str())));
        assert!(!prefixes.iter().any(|p| other_key.starts_with(p.as_str())));
    }

    #[test]
    fn ttls_follow_the_path_and_max_age() {
        assert_eq!(path_ttl("/repos/o/r/actions/runs"), Some(60));
        assert_eq!(path_ttl("/repos/o/r/actions/runs/5/jobs"), Some(60));
        assert_eq!(path_ttl("/repos/o/r/actions/runners"), Some(30));
        assert_eq!(path_ttl("/repos/o/r"), None);
        assert_eq!(max_age("private, max-age=60, s-maxage=60"), Some(60));
        assert_eq!(max_age("no-cache"), None);
    }
}
