//! The caching reverse proxy for GitHub's REST API under `/github/...`.
//!
//! A GET is answered, in order, from: a fresh local entry (HIT, or PEER-HIT
//! when the entry came from a peer); while GitHub refuses this token's scope,
//! a stale entry (STALE) or the refusal replayed; otherwise one shared fetch
//! per key (other callers wait: COALESCED) that asks the peers (PEER-HIT),
//! then GitHub — with `If-None-Match` when an expired entry has an ETag, a 304
//! refreshing it for free (REVALIDATED) — and stores a 200 (MISS). Other
//! methods pass through (PASS) and invalidate the repository's entries.
//!
//! Each request ends as one [`Answer`]; its response, its mode count and its
//! cache lookup count are all made from that one value.

use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::http::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, IF_NONE_MATCH, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use lru::LruCache;

use crate::cache::entry::{Entry, Origin};
use crate::cache::key::validate_key;
use crate::cache::stats::Lookup;
use crate::cache::ttl::{family_ttl_secs, path_family};
use crate::cache::Cache;
use crate::github::error::ProxyError;
use crate::github::ratelimit::{is_rate_limited, RateLimits};
use crate::github::scope::{Scope, Scopes};
use crate::github::single_flight::{Role, SingleFlight};
use crate::github::stats::{Mode, ProxyCounters};
use crate::github::stored::{Binding, Decoded, HOP_BY_HOP};
use crate::p2p::protocol::Rejection;
use crate::p2p::client::NodeClient;
use crate::AGENT;

const X_PEERCACHE: HeaderName = HeaderName::from_static("x-peercache");
const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
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

/// One proxied request, as the proxy works on it.
struct Call<'a> {
    parts: &'a Parts,
    /// The GitHub path, without `/github`.
    path: String,
    /// The query, parameters sorted.
    query: String,
    scope: Scope,
    /// The cache key of a GET or HEAD.
    key: String,
}

impl Call<'_> {
    fn head(&self) -> bool {
        self.parts.method == Method::HEAD
    }

    /// A GET or HEAD whose key the cache can hold.
    fn cacheable(&self) -> bool {
        matches!(self.parts.method, Method::GET | Method::HEAD) && validate_key(&self.key).is_ok()
    }
}

/// How a request ended: the one value its response and every counter are
/// made from.
enum Answer {
    /// A body to send as it is (stored, from a peer, or just fetched); the
    /// waiters of a coalesced fetch get it too.
    Body(Mode, Arc<Decoded>),
    /// Forwarded or streamed through: this caller's only.
    Passed(Response),
    /// The proxy itself could not answer.
    Failed(Mode, ProxyError),
}

impl Answer {
    fn mode(&self) -> Mode {
        match self {
            Answer::Body(mode, _) | Answer::Failed(mode, _) => *mode,
            Answer::Passed(_) => Mode::Pass,
        }
    }

    /// What the waiters of a shared fetch get: `None` for a stream, which
    /// cannot be shared (each waiter then asks on its own).
    fn shared(&self) -> Option<Shared> {
        match self {
            Answer::Body(_, decoded) => Some(Shared::Body(decoded.clone())),
            Answer::Failed(_, error) => Some(Shared::Failed(error.clone())),
            Answer::Passed(_) => None,
        }
    }
}

/// A shared fetch's answer, as its waiters get it.
#[derive(Clone)]
enum Shared {
    Body(Arc<Decoded>),
    Failed(ProxyError),
}

/// How a request's answer counts as a cache lookup.
fn lookup_of(mode: Mode) -> Lookup {
    match mode {
        Mode::Hit => Lookup::LocalHit,
        Mode::PeerHit => Lookup::PeerHit,
        Mode::Revalidated | Mode::Coalesced | Mode::Stale => Lookup::Spared,
        Mode::Miss | Mode::Pass => Lookup::Miss,
    }
}

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
    inflight: SingleFlight<Option<Shared>>,
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

    pub async fn handle(&self, request: Request<Body>) -> Response {
        let (parts, body) = request.into_parts();
        let path = match parts.uri.path().strip_prefix("/github") {
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => "/".to_owned(),
        };
        let query = sorted_query(parts.uri.query());
        let scope = self.scopes.scope_of(header(&parts.headers, &AUTHORIZATION));
        let key = proxy_key(&path, &query, header(&parts.headers, &ACCEPT).unwrap_or(""), &scope.id);
        let call = Call { parts: &parts, path, query, scope, key };
        let answer = if call.cacheable() { self.cached(&call).await } else { self.pass(&call, body).await };
        self.respond(&call, answer)
    }

    /// Requests waiting for an identical request's fetch right now.
    pub fn waiting(&self) -> usize {
        self.inflight.waiting()
    }

    /// Counts the answer (once, by its mode) and makes it a response.
    fn respond(&self, call: &Call<'_>, answer: Answer) -> Response {
        let mode = answer.mode();
        self.counters.record(mode, self.cache.now_ms());
        if call.cacheable() {
            self.cache.count(&call.key, lookup_of(mode));
        }
        let mut response = match answer {
            Answer::Body(mode, decoded) => reply(mode, &decoded, &call.parts.headers, call.head()),
            Answer::Passed(response) => response,
            Answer::Failed(_, error) => error.to_response(),
        };
        response.headers_mut().insert(X_PEERCACHE, HeaderValue::from_static(mode.as_str()));
        response.headers_mut().insert(CACHE_STATUS, HeaderValue::from_static(mode.cache_status()));
        response
    }

    async fn cached(&self, call: &Call<'_>) -> Answer {
        if let Some(entry) = self.cache.fresh(&call.key) {
            if let Some(decoded) = self.open(&entry, &call.scope).await {
                let mode = if matches!(entry.origin, Origin::Peer(_)) { Mode::PeerHit } else { Mode::Hit };
                return Answer::Body(mode, decoded);
            }
        }
        if let Some(refusal) = self.limits.blocked(&call.scope.id, self.cache.now_ms()) {
            return match self.stale(call).await {
                Some(stale) => Answer::Body(Mode::Stale, stale),
                None => Answer::Body(Mode::Miss, refusal),
            };
        }
        if call.head() {
            return self.forward(call, Bytes::new()).await;
        }
        self.coalesced(call).await
    }

    /// One fetch per key at a time; the others wait for its answer. When the
    /// fetch fails, its waiters try once more together (one of them fetches).
    async fn coalesced(&self, call: &Call<'_>) -> Answer {
        for round in 0..2 {
            match self.inflight.join(&call.key) {
                Role::Leader(leader) => {
                    let answer = self.fetch(call).await;
                    leader.finish(answer.shared());
                    return answer;
                }
                Role::Follower(follower) => match follower.wait().await.flatten() {
                    Some(Shared::Body(decoded)) => return Answer::Body(Mode::Coalesced, decoded),
                    Some(Shared::Failed(error)) if round == 1 => return Answer::Failed(Mode::Coalesced, error),
                    Some(Shared::Failed(_)) => continue,
                    None => break,
                },
            }
        }
        self.fetch(call).await
    }

    /// Peers, then GitHub.
    async fn fetch(&self, call: &Call<'_>) -> Answer {
        if let Some(peers) = &self.peers {
            if let Some(entry) = self.cache.fetch_from_peers(&call.key, peers).await {
                if let Some(decoded) = self.open(&entry, &call.scope).await {
                    return Answer::Body(Mode::PeerHit, decoded);
                }
            }
        }
        // Revalidated only with what we can serve: an entry that opens.
        let stale = match self.cache.get_stale(&call.key) {
            Some(entry) => self.open(&entry, &call.scope).await.map(|decoded| (entry, decoded)),
            None => None,
        };
        let mut request = self.client.get(self.url(call)).headers(forwarded(&call.parts.headers));
        if let Some(etag) = stale.as_ref().and_then(|(entry, _)| entry.etag.clone()) {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let upstream = match self.send(request, call).await {
            Ok(upstream) => upstream,
            Err(error) => return Answer::Failed(Mode::Miss, error),
        };
        let status = upstream.status();
        let headers = upstream.headers().clone();
        let now = self.cache.now_ms();

        if status == StatusCode::NOT_MODIFIED {
            if let Some((stale, decoded)) = stale {
                // Sealed anew: the seal is bound to the stored time and TTL.
                let ttl = self.ttl(&call.path, &headers);
                let refreshed = self.entry(call, &decoded, now, ttl, stale.etag.clone());
                if let Err(error) = self.cache.write(move |cache| cache.insert(refreshed)).await {
                    tracing::warn!(%error, "could not refresh a cached GitHub response");
                }
                return Answer::Body(Mode::Revalidated, decoded);
            }
        }
        let body = match read_limited(upstream, self.max_body).await {
            Ok(body) => body,
            Err(Oversized::Stream(response)) => return Answer::Passed(response),
            Err(Oversized::Failed(error)) => return Answer::Failed(Mode::Miss, error),
        };
        let decoded = Arc::new(Decoded::new(status, &headers, body));
        if is_rate_limited(status, &headers, &decoded.body) {
            tracing::warn!(scope = call.scope.id, %status, "GitHub rate-limited this token scope; backing off");
            self.limits.block(&call.scope.id, &headers, decoded.clone(), now);
            return match self.stale(call).await {
                Some(stale) => Answer::Body(Mode::Stale, stale),
                None => Answer::Body(Mode::Miss, decoded),
            };
        }
        if status == StatusCode::OK {
            // Stored before the answer leaves, so whoever asks next (here or at
            // a peer) finds it. A failure only costs the caching, never the answer.
            let etag = header(&headers, &axum::http::header::ETAG).map(str::to_owned);
            let entry = self.entry(call, &decoded, now, self.ttl(&call.path, &headers), etag);
            if let Err(error) = self.cache.write(move |cache| cache.insert(entry)).await {
                tracing::warn!(%error, "could not cache a GitHub response");
            }
        }
        Answer::Body(Mode::Miss, decoded)
    }

    /// Non-GET methods (and what cannot be cached) go straight through; a
    /// successful write drops the repository's cached answers.
    async fn pass(&self, call: &Call<'_>, body: Body) -> Answer {
        let body = match to_bytes(body, self.max_body).await {
            Ok(body) => body,
            Err(_) => {
                let error = ProxyError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {} bytes", self.max_body));
                return Answer::Failed(Mode::Pass, error);
            }
        };
        let answer = self.forward(call, body).await;
        let written = matches!(&answer, Answer::Passed(response) if response.status().is_success());
        if written && !matches!(call.parts.method, Method::GET | Method::HEAD) && call.path != "/graphql" {
            let prefixes = invalidation_prefixes(&call.path);
            let removed = self
                .cache
                .write(move |cache| prefixes.iter().try_fold(0, |sum, p| Ok(sum + cache.invalidate_prefix(p)?)))
                .await;
            match removed {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "invalidated cached GitHub responses after a write"),
                Err(error) => tracing::warn!(%error, "could not invalidate cached GitHub responses after a write"),
            }
        }
        answer
    }

    async fn forward(&self, call: &Call<'_>, body: Bytes) -> Answer {
        let mut headers = forwarded(&call.parts.headers);
        if let Some(content_type) = call.parts.headers.get(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, content_type.clone());
        }
        let request = self.client.request(call.parts.method.clone(), self.url(call)).headers(headers).body(body);
        let upstream = match self.send(request, call).await {
            Ok(upstream) => upstream,
            Err(error) => return Answer::Failed(Mode::Pass, error),
        };
        let mut response = Response::builder().status(upstream.status());
        for (name, value) in upstream.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                response = response.header(name, value);
            }
        }
        match response.body(Body::from_stream(upstream.bytes_stream())) {
            Ok(response) => Answer::Passed(response),
            Err(error) => Answer::Failed(Mode::Pass, ProxyError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, call: &Call<'_>) -> Result<reqwest::Response, ProxyError> {
        match request.send().await {
            Ok(response) => {
                self.cache.record_api_call("rest", path_family(&call.path), response.status().as_str());
                self.limits.observe(&call.scope.id, response.headers(), self.cache.now_ms());
                Ok(response)
            }
            Err(error) => {
                self.cache.record_api_call("rest", path_family(&call.path), "unreachable");
                tracing::warn!(upstream = self.upstream, scope = call.scope.id, %error, "GitHub request failed");
                Err(ProxyError::bad_gateway(format!("peercache cannot reach GitHub at {}: {error}", self.upstream)))
            }
        }
    }

    fn url(&self, call: &Call<'_>) -> String {
        if call.query.is_empty() {
            format!("{}{}", self.upstream, call.path)
        } else {
            format!("{}{}?{}", self.upstream, call.path, call.query)
        }
    }

    /// The family TTL of a path, shortened by GitHub's `max-age`.
    fn ttl(&self, path: &str, headers: &HeaderMap) -> u64 {
        let family = family_ttl_secs(path_family(path)).unwrap_or(self.default_ttl_secs);
        match header(headers, &CACHE_CONTROL).and_then(max_age) {
            Some(max_age) => family.min(max_age),
            None => family,
        }
    }

    /// The entry that stores `decoded` for `call`, sealed for its scope and
    /// bound to its key, time, TTL and ETag.
    fn entry(&self, call: &Call<'_>, decoded: &Decoded, now: u64, ttl_secs: u64, etag: Option<String>) -> Entry {
        let binding = Binding { key: &call.key, stored_at_ms: now, ttl_secs, etag: etag.as_deref() };
        let value = Bytes::from(decoded.encode(&call.scope, &binding));
        Entry::new(call.key.clone(), value, now, ttl_secs, etag, Some(decoded.status.as_u16()))
    }

    /// The decoded form of a stored entry. A sealed entry that does not open
    /// under its own key, time and TTL was moved or replayed: it is dropped,
    /// and counted against the peer it came from.
    async fn open(&self, entry: &Entry, scope: &Scope) -> Option<Arc<Decoded>> {
        if let Some(decoded) = self.decoded(entry, scope) {
            return Some(decoded);
        }
        self.refuse(entry).await;
        None
    }

    /// The decoded form of a stored entry, kept ready for the next hit.
    fn decoded(&self, entry: &Entry, scope: &Scope) -> Option<Arc<Decoded>> {
        let id = format!("{}:{}:{}", entry.key, entry.cid, scope.id);
        if let Some(ready) = self.ready.lock().expect("ready lock").lru.get(&id) {
            return Some(ready.clone());
        }
        let binding = Binding {
            key: &entry.key,
            stored_at_ms: entry.stored_at_ms,
            ttl_secs: entry.signed_ttl_secs(),
            etag: entry.etag.as_deref(),
        };
        let decoded = Arc::new(Decoded::decode(&entry.value, scope, &binding)?);
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

    /// An entry under a scope's key that its scope cannot open.
    async fn refuse(&self, entry: &Entry) {
        tracing::warn!(key = entry.key, origin = %entry.origin.label(), "a cached GitHub answer does not open under its key; dropped");
        self.counters.seal_mismatch();
        if let (Origin::Peer(peer), Some(node)) = (&entry.origin, &self.peers) {
            node.report(peer.clone(), Rejection::SealMismatch);
        }
        let (key, cid) = (entry.key.clone(), entry.cid.clone());
        if let Err(error) = self.cache.write(move |cache| cache.invalidate_if(&key, &cid)).await {
            tracing::warn!(%error, "could not drop a cached answer that does not open");
        }
    }

    async fn stale(&self, call: &Call<'_>) -> Option<Arc<Decoded>> {
        let entry = self.cache.get_stale(&call.key)?;
        self.open(&entry, &call.scope).await
    }
}

/// The response for a body: a 304 when the client already has it (its
/// `If-None-Match` names our ETag), no body for HEAD, a `Warning` when stale.
fn reply(mode: Mode, decoded: &Decoded, request: &HeaderMap, head: bool) -> Response {
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
    response
}

enum Oversized {
    /// Too large to cache: the response, streaming what was read and the rest.
    Stream(Response),
    Failed(ProxyError),
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
                    return Err(Oversized::Failed(ProxyError::bad_gateway(format!("GitHub's response broke off: {error}"))))
                }
                None => return Ok(Bytes::from(read)),
            }
        }
    }
    let prefix = futures::stream::iter([Ok::<Bytes, reqwest::Error>(Bytes::from(read))]);
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    match response.body(Body::from_stream(prefix.chain(stream))) {
        Ok(response) => Err(Oversized::Stream(response)),
        Err(error) => Err(Oversized::Failed(ProxyError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))),
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
    fn ttls_follow_the_path_family_and_max_age() {
        let ttl = |path| family_ttl_secs(path_family(path));
        assert_eq!(ttl("/repos/o/r/actions/runs"), Some(60));
        assert_eq!(ttl("/repos/o/r/actions/runs/5/jobs"), Some(60));
        assert_eq!(ttl("/repos/o/r/actions/runners"), Some(30));
        assert_eq!(ttl("/repos/o/r"), Some(300));
        assert_eq!(ttl("/users/octocat"), None);
        assert_eq!(max_age("private, max-age=60, s-maxage=60"), Some(60));
        assert_eq!(max_age("no-cache"), None);
    }
}
