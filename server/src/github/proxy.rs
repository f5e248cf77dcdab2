//! The caching reverse proxy for GitHub's REST API under `/github/...` (and
//! for `gh` on its socket).
//!
//! A GET is answered, in order, from: a fresh local entry (HIT, or PEER-HIT
//! when the entry came from a peer) unless the client's directives or the
//! "always revalidate" mode ask GitHub first; while GitHub refuses this
//! token's scope for the resource, a stale entry (STALE) or the refusal
//! replayed; otherwise one shared fetch per key (other callers wait:
//! COALESCED) that asks the peers (PEER-HIT), then GitHub — with
//! `If-None-Match` when an entry has an ETag, a 304 refreshing it for free
//! (REVALIDATED) — and stores a storable 200 (MISS). Other methods pass
//! through (PASS); a successful write makes the repository's answers stale
//! on every node. GitHub's URLs in answers are rewritten to the base the
//! client used.
//!
//! Each request ends as one [`Answer`]; its response, its mode count and its
//! cache lookup count are all made from that one value.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::header::{AGE, CONTENT_LENGTH, CONTENT_TYPE, ETAG, HOST, IF_NONE_MATCH, LINK};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::broadcast;

use crate::cache::entry::{Entry, Origin};
use crate::cache::stats::Lookup;
use crate::cache::ttl::{family_ttl_secs, longest_github_ttl, path_family};
use crate::cache::Cache;
use crate::github::error::ProxyError;
use crate::github::freshness::{self, Freshness};
use crate::github::graphql::{self, Malformed, Operation};
use crate::github::ratelimit::{is_rate_limited, RateLimits};
use crate::github::ready::Ready;
use crate::github::request::{forwarded, invalidation_prefixes, Call, GRAPHQL_KEY_PREFIX};
use crate::github::rewrite::{rewrite_body, rewrite_link};
use crate::github::scope::{Scope, Scopes};
use crate::github::single_flight::{Role, SingleFlight};
use crate::github::stats::{Mode, ProxyCounters, UpstreamError};
use crate::github::stored::{Binding, Decoded, HOP_BY_HOP, KEPT_HEADERS};
use crate::p2p::client::{LeaseAnswer, NodeClient};
use crate::p2p::protocol::{Rejection, MAX_CLOCK_SKEW_MS};

const X_PEERCACHE: HeaderName = HeaderName::from_static("x-peercache");
const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

pub struct ProxyConfig {
    /// `GITHUB_API_URL`, e.g. `https://api.github.com` or a GitHub Enterprise
    /// Server's `https://ghe.example/api/v3`.
    pub upstream: String,
    pub default_ttl_secs: u64,
    /// Larger response bodies stream through uncached.
    pub max_body: usize,
    pub scopes: Scopes,
    pub freshness: Freshness,
    /// The base clients reach `/github` at (`PEERCACHE_PUBLIC_URL`), when
    /// the request's `Host` would not say it right (a TLS front, a path).
    pub public_url: Option<String>,
    /// How long a GraphQL read's answer is reused.
    pub graphql_ttl_secs: u64,
    /// Fleet-wide single flight: one node of the fleet fetches a key at a time.
    pub fleet_single_flight: bool,
    /// The longest a node waits for another node's fetch.
    pub fleet_wait: Duration,
}

/// How a request ended: the one value its response and every counter are
/// made from.
enum Answer {
    /// A body to send as it is (stored, from a peer, or just fetched), with
    /// when it was stored (for `Age`); the waiters of a coalesced fetch get it too.
    Body(Mode, Arc<Decoded>, Option<u64>),
    /// Forwarded or streamed through: this caller's only.
    Passed(Response),
    /// The proxy itself could not answer.
    Failed(Mode, ProxyError),
    /// Another node of the fleet fetched it (holding the lease); this node
    /// waited for its entry.
    Fleet { decoded: Arc<Decoded>, stored_at: u64, holder: String },
}

impl Answer {
    fn mode(&self) -> Mode {
        match self {
            Answer::Body(mode, ..) | Answer::Failed(mode, _) => *mode,
            Answer::Passed(_) => Mode::Pass,
            Answer::Fleet { .. } => Mode::Coalesced,
        }
    }

    /// What the waiters of a shared fetch get: `None` for a stream, which
    /// cannot be shared (each waiter then asks on its own).
    fn shared(&self) -> Option<Shared> {
        match self {
            Answer::Body(_, decoded, stored_at) => Some(Shared::Body(decoded.clone(), *stored_at)),
            Answer::Failed(_, error) => Some(Shared::Failed(error.clone())),
            Answer::Fleet { decoded, stored_at, .. } => Some(Shared::Body(decoded.clone(), Some(*stored_at))),
            Answer::Passed(_) => None,
        }
    }
}

/// A shared fetch's answer, as its waiters get it.
#[derive(Clone)]
enum Shared {
    Body(Arc<Decoded>, Option<u64>),
    Failed(ProxyError),
}

/// How long a node waits for another node's fetch before asking its
/// coordinator again (a holder that died loses the lease to the next asker).
const FLEET_SLICE: Duration = Duration::from_millis(1000);

/// What the fleet's single flight says this node should do.
enum FleetTurn {
    /// Fetch from GitHub (`mine`: holding the lease, to give back after).
    Fetch { mine: bool },
    /// The holder's entry arrived.
    Arrived(Arc<Entry>, String),
}

/// `key`'s entry, once stored here (by gossip from its fetcher), waiting at
/// most `within`.
async fn arrival(
    arrivals: &mut broadcast::Receiver<Arc<Entry>>,
    cache: &Cache,
    key: &str,
    within: Duration,
) -> Option<Arc<Entry>> {
    if let Some(entry) = cache.fresh(key) {
        return Some(entry);
    }
    let wait = async {
        loop {
            match arrivals.recv().await {
                Ok(entry) if entry.key == key => return Some(entry),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(entry) = cache.fresh(key) {
                        return Some(entry);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    tokio::time::timeout(within, wait).await.ok().flatten()
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

pub struct GithubProxy {
    client: reqwest::Client,
    upstream: String,
    cache: Arc<Cache>,
    peers: Option<NodeClient>,
    scopes: Scopes,
    default_ttl_secs: u64,
    max_body: usize,
    pub freshness: Freshness,
    public_url: Option<String>,
    graphql_ttl_secs: u64,
    pub fleet_single_flight: bool,
    fleet_wait: Duration,
    pub limits: RateLimits,
    pub counters: ProxyCounters,
    inflight: SingleFlight<Option<Shared>>,
    ready: Ready,
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
            freshness: config.freshness,
            public_url: config.public_url.map(|url| url.trim_end_matches('/').to_owned()),
            graphql_ttl_secs: config.graphql_ttl_secs,
            fleet_single_flight: config.fleet_single_flight,
            fleet_wait: config.fleet_wait,
            limits: RateLimits::default(),
            counters: ProxyCounters::default(),
            inflight: SingleFlight::default(),
            ready: Ready::default(),
        })
    }

    /// Requests waiting for an identical request's fetch right now.
    pub fn waiting(&self) -> usize {
        self.inflight.waiting()
    }

    /// A request under `/github`: the client sees GitHub at
    /// `http://<Host>/github` (or the configured public URL).
    pub async fn handle(&self, request: Request<Body>) -> Response {
        let base = match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let host = request.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
                format!("http://{host}/github")
            }
        };
        let path = request.uri().path().strip_prefix("/github").unwrap_or("/").to_owned();
        self.serve(request, &path, base).await
    }

    /// A request for GitHub path `path`, from a client that sees GitHub at `base`.
    pub async fn serve(&self, request: Request<Body>, path: &str, base: String) -> Response {
        let (parts, body) = request.into_parts();
        let call = match Call::new(&parts, path, base, &self.scopes) {
            Ok(call) => call,
            Err(error) => return stamp(error.to_response(), Mode::Pass),
        };
        if parts.method == Method::POST && call.path == "/graphql" {
            return self.graphql(call, body).await;
        }
        let answer = if call.cacheable() { self.cached(&call).await } else { self.pass(&call, body).await };
        self.respond(&call, answer)
    }

    /// `POST /graphql`: a read is cached like a GET; a write passes through
    /// and makes the cached GraphQL answers stale; a body that is not a
    /// GraphQL request gets GitHub's error, without asking GitHub.
    async fn graphql(&self, call: Call<'_>, body: Body) -> Response {
        let body = match self.request_body(body).await {
            Ok(body) => body,
            Err(error) => return self.respond(&call, Answer::Failed(Mode::Pass, error)),
        };
        match graphql::classify(&body) {
            Ok(Operation::Read { digest }) => {
                let call = call.graphql_read(body, &digest);
                let answer = self.cached(&call).await;
                self.respond(&call, answer)
            }
            Ok(Operation::Write) => {
                let answer = self.forward(&call, body).await;
                if matches!(&answer, Answer::Passed(response) if response.status().is_success()) {
                    self.written(vec![GRAPHQL_KEY_PREFIX.to_owned()]).await;
                }
                self.respond(&call, answer)
            }
            Err(malformed) => {
                let status = if malformed == Malformed::NotJson {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                let error =
                    ProxyError::new(status, malformed.to_string()).documented("https://docs.github.com/graphql");
                self.respond(&call, Answer::Failed(Mode::Pass, error))
            }
        }
    }

    /// Counts the answer (once, by its mode) and makes it a response.
    fn respond(&self, call: &Call<'_>, answer: Answer) -> Response {
        let mode = answer.mode();
        let now = self.cache.now_ms();
        self.counters.record(mode, now);
        if call.cacheable() {
            self.cache.count(&call.key, lookup_of(mode));
        }
        let mut holder = None;
        let response = match answer {
            Answer::Body(mode, decoded, stored_at) => {
                let rewritten = self.rewritten(call, &decoded);
                let age = stored_at.map(|at| now.saturating_sub(at) / 1000);
                reply(mode, &rewritten, &call.parts.headers, call.head(), age)
            }
            Answer::Fleet { decoded, stored_at, holder: lease_holder } => {
                holder = Some(lease_holder);
                let rewritten = self.rewritten(call, &decoded);
                reply(
                    Mode::Coalesced,
                    &rewritten,
                    &call.parts.headers,
                    call.head(),
                    Some(now.saturating_sub(stored_at) / 1000),
                )
            }
            Answer::Passed(response) => response,
            Answer::Failed(_, error) => error.to_response(),
        };
        let mut response = stamp(response, mode);
        self.counters.answered_in(mode, call.started.elapsed());
        if let Some(holder) = holder {
            // RFC 9211: collapsed into the fetch of the lease holder.
            let status = format!("peercache; fwd=uri-miss; collapsed; detail=\"fleet lease held by {holder}\"");
            if let Ok(value) = HeaderValue::from_str(&status) {
                response.headers_mut().insert(CACHE_STATUS, value);
            }
        }
        response
    }

    async fn cached(&self, call: &Call<'_>) -> Answer {
        let now = self.cache.now_ms();
        if let Some(entry) = self.cache.fresh(&call.key) {
            if let Some(decoded) = self.open(&entry, &call.scope).await {
                if !self.must_revalidate(call, &entry, &decoded, now) {
                    let mode = if matches!(entry.origin, Origin::Peer(_)) { Mode::PeerHit } else { Mode::Hit };
                    return Answer::Body(mode, decoded, Some(entry.stored_at_ms));
                }
            }
        }
        if let Some(refusal) = self.limits.blocked(&call.scope.id, call.resource, now) {
            return match self.stale(call).await {
                Some((stored_at, stale)) => Answer::Body(Mode::Stale, stale, Some(stored_at)),
                None => Answer::Body(Mode::Miss, refusal, None),
            };
        }
        if call.head() {
            return self.forward(call, Bytes::new()).await;
        }
        self.coalesced(call).await
    }

    /// Whether a fresh entry must still be confirmed by GitHub: always in
    /// "revalidate" mode, or when the client's directives ask for it.
    fn must_revalidate(&self, call: &Call<'_>, entry: &Entry, decoded: &Decoded, now: u64) -> bool {
        self.freshness == Freshness::Revalidate
            || (call.has_directives()
                && freshness::client_wants_revalidation(
                    call.parts,
                    decoded.status,
                    &decoded.headers,
                    entry.stored_at_ms,
                    now,
                ))
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
                    Some(Shared::Body(decoded, stored_at)) => return Answer::Body(Mode::Coalesced, decoded, stored_at),
                    Some(Shared::Failed(error)) if round == 1 => return Answer::Failed(Mode::Coalesced, error),
                    Some(Shared::Failed(_)) => continue,
                    None => break,
                },
            }
        }
        self.fetch(call).await
    }

    /// What this node holds for the call that opens, else (when it holds
    /// nothing) what a peer has; then GitHub, conditionally on its ETag.
    async fn fetch(&self, call: &Call<'_>) -> Answer {
        let now = self.cache.now_ms();
        let mut held = match self.cache.get_stale(&call.key) {
            Some(entry) => self.open(&entry, &call.scope).await.map(|decoded| (entry, decoded)),
            None => None,
        };
        if let (None, Some(peers)) = (&held, &self.peers) {
            if let Some(entry) = self.cache.fetch_from_peers(&call.key, peers).await {
                if let Some(decoded) = self.open(&entry, &call.scope).await {
                    if entry.is_fresh(now) && !self.must_revalidate(call, &entry, &decoded, now) {
                        return Answer::Body(Mode::PeerHit, decoded, Some(entry.stored_at_ms));
                    }
                    held = Some((entry, decoded));
                }
            }
        }
        // Fleet-wide single flight: nobody here or at a peer has it; one node
        // of the fleet asks GitHub, the others wait for its entry.
        let mut lease = None;
        if let (None, Some(node), true) = (&held, &self.peers, self.fleet_single_flight) {
            match self.fleet_turn(node, call).await {
                FleetTurn::Fetch { mine } => lease = mine.then_some(node),
                FleetTurn::Arrived(entry, holder) => {
                    if let Some(decoded) = self.open(&entry, &call.scope).await {
                        return Answer::Fleet { decoded, stored_at: entry.stored_at_ms, holder };
                    }
                }
            }
        }
        let answer = self.ask_github(call, held, now).await;
        if let Some(node) = lease {
            node.release(&call.key).await;
        }
        answer
    }

    /// Asks the key's coordinator whether to fetch or to wait for another
    /// node's fetch; waits (in slices, asking again, so a holder that died
    /// hands the lease on) at most the fleet wait, then fetches.
    async fn fleet_turn(&self, node: &NodeClient, call: &Call<'_>) -> FleetTurn {
        let mut arrivals = self.cache.subscribe_inserts();
        let deadline = tokio::time::Instant::now() + self.fleet_wait;
        let mut waited = false;
        loop {
            let (holder, remaining) = match node.lease(&call.key).await {
                LeaseAnswer::Fetch => return FleetTurn::Fetch { mine: true },
                LeaseAnswer::Wait { holder, remaining } => (holder, remaining),
            };
            if !waited {
                self.counters.fleet_wait();
                waited = true;
            }
            let slice = remaining.min(FLEET_SLICE).min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            if let Some(entry) = arrival(&mut arrivals, &self.cache, &call.key, slice).await {
                return FleetTurn::Arrived(entry, holder);
            }
            if tokio::time::Instant::now() >= deadline {
                self.counters.fleet_wait_timeout();
                return FleetTurn::Fetch { mine: false };
            }
        }
    }

    /// GitHub, conditionally on what is held.
    async fn ask_github(&self, call: &Call<'_>, held: Option<(Arc<Entry>, Arc<Decoded>)>, now: u64) -> Answer {
        let mut request = match &call.graphql {
            Some(body) => self.client.post(call.url(&self.upstream)).body(body.clone()),
            None => self.client.get(call.url(&self.upstream)),
        }
        .headers(forwarded(&call.parts.headers));
        if let Some(etag) = held.as_ref().and_then(|(entry, _)| entry.etag.clone()) {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let upstream = match self.send(request, call).await {
            Ok(upstream) => upstream,
            Err(error) => return Answer::Failed(Mode::Miss, error),
        };
        let status = upstream.status();
        let headers = upstream.headers().clone();

        if status == StatusCode::NOT_MODIFIED {
            if let Some((entry, stored)) = held {
                return self.revalidated(call, &entry, &stored, &headers, now).await;
            }
        }
        let body = match read_limited(upstream, self.max_body).await {
            Ok(body) => body,
            Err(Oversized::Stream(mut response)) => {
                self.rewrite_link_header(call, response.headers_mut());
                return Answer::Passed(response);
            }
            Err(Oversized::Failed(error)) => {
                self.counters.upstream_error(UpstreamError::BrokenBody);
                return Answer::Failed(Mode::Miss, error);
            }
        };
        let decoded = Arc::new(Decoded::new(status, &headers, body));
        if is_rate_limited(status, &headers, &decoded.body) {
            self.counters.upstream_error(UpstreamError::RateLimited);
            tracing::warn!(scope = &*call.scope.id, resource = call.resource, %status, "GitHub rate-limited this token scope; backing off");
            self.limits.block(&call.scope.id, call.resource, &headers, decoded.clone(), now);
            return match self.stale(call).await {
                Some((stored_at, stale)) => Answer::Body(Mode::Stale, stale, Some(stored_at)),
                None => Answer::Body(Mode::Miss, decoded, None),
            };
        }
        if status == StatusCode::OK {
            if let Some(ttl) = self.storable_ttl(call, &decoded, now) {
                // Stored before the answer leaves, so whoever asks next (here or
                // at a peer) finds it. A failure only costs the caching.
                let etag = header(&headers, &ETAG).map(str::to_owned);
                let entry = self.entry(call, &decoded, now, ttl, etag);
                if let Err(error) = self.cache.write(move |cache| cache.insert(entry)).await {
                    tracing::warn!(%error, "could not cache a GitHub response");
                }
            }
        }
        Answer::Body(Mode::Miss, decoded, None)
    }

    /// How long an OK answer may be reused; `None` when it must not be
    /// stored. A GraphQL read's answer lives the GraphQL TTL, unless it
    /// carries errors (which are not kept).
    fn storable_ttl(&self, call: &Call<'_>, decoded: &Decoded, now: u64) -> Option<u64> {
        if call.graphql.is_some() {
            let answer: serde_json::Value = serde_json::from_slice(&decoded.body).ok()?;
            return answer.get("errors").is_none().then_some(self.graphql_ttl_secs);
        }
        let cap = family_ttl_secs(path_family(&call.path)).unwrap_or(self.default_ttl_secs);
        freshness::storable_ttl(call.parts, decoded.status, &decoded.headers, now, cap)
    }

    /// GitHub confirmed `entry` (304): its stored headers refreshed by the
    /// 304's, its TTL computed anew, sealed anew (the seal is bound to the
    /// stored time and TTL); the answer carries the 304's live headers.
    async fn revalidated(
        &self,
        call: &Call<'_>,
        entry: &Entry,
        stored: &Decoded,
        fresh: &HeaderMap,
        now: u64,
    ) -> Answer {
        let mut refreshed = Decoded::new_as_is(stored.status, stored.headers.clone(), stored.body.clone());
        for name in KEPT_HEADERS {
            if let Some(value) = fresh.get(*name) {
                refreshed.headers.insert(HeaderName::from_static(name), value.clone());
            }
        }
        let cap = family_ttl_secs(path_family(&call.path)).unwrap_or(self.default_ttl_secs);
        let ttl = freshness::storable_ttl(call.parts, StatusCode::OK, &refreshed.headers, now, cap).unwrap_or(0);
        let stored_entry = self.entry(call, &refreshed, now, ttl, entry.etag.clone());
        if let Err(error) = self.cache.write(move |cache| cache.insert(stored_entry)).await {
            tracing::warn!(%error, "could not refresh a cached GitHub response");
        }
        let mut live = refreshed;
        for (name, value) in fresh {
            if !HOP_BY_HOP.contains(&name.as_str()) && name != CONTENT_LENGTH {
                live.headers.insert(name.clone(), value.clone());
            }
        }
        Answer::Body(Mode::Revalidated, Arc::new(live), None)
    }

    /// A client's request body, at most `max_body` bytes.
    async fn request_body(&self, body: Body) -> Result<Bytes, ProxyError> {
        to_bytes(body, self.max_body).await.map_err(|_| {
            ProxyError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {} bytes", self.max_body))
        })
    }

    /// Non-GET methods (and what cannot be cached) go straight through; a
    /// successful write makes the repository's answers stale everywhere.
    async fn pass(&self, call: &Call<'_>, body: Body) -> Answer {
        let body = match self.request_body(body).await {
            Ok(body) => body,
            Err(error) => return Answer::Failed(Mode::Pass, error),
        };
        let answer = self.forward(call, body).await;
        let written = matches!(&answer, Answer::Passed(response) if response.status().is_success());
        if written && !matches!(call.parts.method, Method::GET | Method::HEAD) {
            self.written(invalidation_prefixes(&call.path)).await;
        }
        answer
    }

    /// A write went through: drop the older answers under `prefixes` here,
    /// bar older copies from peers, and tell the group to do the same.
    async fn written(&self, prefixes: Vec<String>) {
        let at = self.cache.now_ms();
        let until = at.saturating_add(longest_github_ttl(self.default_ttl_secs) * 1000 + MAX_CLOCK_SKEW_MS);
        let local = prefixes.clone();
        let removed = self
            .cache
            .write(move |cache| local.iter().try_fold(0, |sum, p| Ok(sum + cache.write_barrier(p, at, until)?)))
            .await;
        match removed {
            Ok(removed) => tracing::debug!(removed, "invalidated cached GitHub responses after a write"),
            Err(error) => tracing::warn!(%error, "could not invalidate cached GitHub responses after a write"),
        }
        if let Some(peers) = &self.peers {
            peers.invalidate(prefixes, at).await;
        }
    }

    /// Sends the call as it is; a JSON answer small enough is read, so its
    /// URLs can be rewritten, anything else streams.
    async fn forward(&self, call: &Call<'_>, body: Bytes) -> Answer {
        let mut headers = forwarded(&call.parts.headers);
        if let Some(content_type) = call.parts.headers.get(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, content_type.clone());
        }
        let request =
            self.client.request(call.parts.method.clone(), call.url(&self.upstream)).headers(headers).body(body);
        let upstream = match self.send(request, call).await {
            Ok(upstream) => upstream,
            Err(error) => return Answer::Failed(Mode::Pass, error),
        };
        let json = header(upstream.headers(), &CONTENT_TYPE).is_some_and(|t| t.contains("json"));
        let status = upstream.status();
        let upstream_headers = upstream.headers().clone();
        let mut response = if json && !call.head() {
            match read_limited(upstream, self.max_body).await {
                Ok(body) => {
                    let decoded = Decoded::new(status, &upstream_headers, body);
                    self.rewritten(call, &Arc::new(decoded)).into_response()
                }
                Err(Oversized::Stream(response)) => response,
                Err(Oversized::Failed(error)) => {
                    self.counters.upstream_error(UpstreamError::BrokenBody);
                    return Answer::Failed(Mode::Pass, error);
                }
            }
        } else {
            let mut response = Response::builder().status(status);
            for (name, value) in &upstream_headers {
                if !HOP_BY_HOP.contains(&name.as_str()) {
                    response = response.header(name, value);
                }
            }
            match response.body(Body::from_stream(upstream.bytes_stream())) {
                Ok(response) => response,
                Err(error) => {
                    return Answer::Failed(
                        Mode::Pass,
                        ProxyError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                    )
                }
            }
        };
        self.rewrite_link_header(call, response.headers_mut());
        Answer::Passed(response)
    }

    async fn send(&self, request: reqwest::RequestBuilder, call: &Call<'_>) -> Result<reqwest::Response, ProxyError> {
        match request.send().await {
            Ok(response) => {
                if response.status().is_server_error() {
                    self.counters.upstream_error(UpstreamError::ServerError);
                }
                self.cache.record_api_call("rest", path_family(&call.path), response.status().as_str());
                self.limits.observe(&call.scope.id, call.resource, response.headers(), self.cache.now_ms());
                Ok(response)
            }
            Err(error) => {
                self.counters.upstream_error(UpstreamError::of(&error));
                self.cache.record_api_call("rest", path_family(&call.path), "unreachable");
                tracing::warn!(upstream = self.upstream, scope = &*call.scope.id, %error, "GitHub request failed");
                Err(ProxyError::bad_gateway(format!("peercache cannot reach GitHub at {}: {error}", self.upstream)))
            }
        }
    }

    /// The entry that stores `decoded` for `call`, sealed for its scope and
    /// bound to its key, time, TTL and ETag.
    fn entry(&self, call: &Call<'_>, decoded: &Decoded, now: u64, ttl_secs: u64, etag: Option<String>) -> Entry {
        let binding = Binding { key: &call.key, stored_at_ms: now, ttl_secs, etag: etag.as_deref() };
        let value = Bytes::from(decoded.encode(&call.scope, &binding));
        Entry::new(call.key.clone(), value, now, ttl_secs, etag, Some(decoded.status.as_u16()))
    }

    /// `decoded` as the client should see it: GitHub's URLs in its body and
    /// `Link` header made the client's. The rewritten form stays with the
    /// decoded one, so a hot entry is rewritten once per client base.
    fn rewritten(&self, call: &Call<'_>, decoded: &Arc<Decoded>) -> Arc<Decoded> {
        if call.base == self.upstream {
            return decoded.clone();
        }
        decoded.rewrites.get_or_insert(&call.base, || {
            let json = header(&decoded.headers, &CONTENT_TYPE).is_none_or(|t| t.contains("json"));
            let body = json.then(|| rewrite_body(&decoded.body, &self.upstream, &call.base)).flatten();
            let mut headers = decoded.headers.clone();
            let link_changed = self.rewrite_link_header(call, &mut headers);
            if body.is_none() && !link_changed {
                return decoded.clone();
            }
            Arc::new(Decoded::new_as_is(decoded.status, headers, body.unwrap_or_else(|| decoded.body.clone())))
        })
    }

    /// Rewrites a `Link` header in place; whether it changed.
    fn rewrite_link_header(&self, call: &Call<'_>, headers: &mut HeaderMap) -> bool {
        let rewritten = header(headers, &LINK).and_then(|link| rewrite_link(link, &self.upstream, &call.base));
        match rewritten.and_then(|link| HeaderValue::from_str(&link).ok()) {
            Some(value) => {
                headers.insert(LINK, value);
                true
            }
            None => false,
        }
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
        if let Some(ready) = self.ready.get(&entry.cid, &entry.key, &scope.id, "") {
            return Some(ready);
        }
        let binding = Binding {
            key: &entry.key,
            stored_at_ms: entry.stored_at_ms,
            ttl_secs: entry.signed_ttl_secs(),
            etag: entry.etag.as_deref(),
        };
        let decoded = Arc::new(Decoded::decode(&entry.value, scope, &binding)?);
        self.ready.put(&entry.cid, &entry.key, &scope.id, "", decoded.clone());
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

    /// The last known answer, fresh or not, and when it was stored.
    async fn stale(&self, call: &Call<'_>) -> Option<(u64, Arc<Decoded>)> {
        let entry = self.cache.get_stale(&call.key)?;
        Some((entry.stored_at_ms, self.open(&entry, &call.scope).await?))
    }
}

impl Decoded {
    /// As a response (its length counted anew: the body may be rewritten).
    fn into_response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response.headers_mut().remove(CONTENT_LENGTH);
        response
    }
}

/// Says what the proxy did, in `X-Peercache` and RFC 9211 `Cache-Status`.
fn stamp(mut response: Response, mode: Mode) -> Response {
    response.headers_mut().insert(X_PEERCACHE, HeaderValue::from_static(mode.as_str()));
    response.headers_mut().insert(CACHE_STATUS, HeaderValue::from_static(mode.cache_status()));
    response
}

/// The response for a body: a 304 when the client already has it (its
/// `If-None-Match` names our ETag), no body for HEAD, `Age` for a stored
/// answer, a `Warning` when stale.
fn reply(mode: Mode, decoded: &Decoded, request: &HeaderMap, head: bool, age: Option<u64>) -> Response {
    let not_modified = decoded.status == StatusCode::OK
        && matches!((header(request, &IF_NONE_MATCH), decoded.headers.get(ETAG)),
            (Some(wanted), Some(etag)) if etag.as_bytes() == wanted.as_bytes());
    let status = if not_modified { StatusCode::NOT_MODIFIED } else { decoded.status };
    let body = if head || not_modified { Body::empty() } else { Body::from(decoded.body.clone()) };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = decoded.headers.clone();
    response.headers_mut().remove(CONTENT_LENGTH);
    if head {
        response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(decoded.body.len()));
    }
    if let Some(age) = age {
        response.headers_mut().insert(AGE, HeaderValue::from(age));
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
                    return Err(Oversized::Failed(ProxyError::bad_gateway(format!(
                        "GitHub's response broke off: {error}"
                    ))))
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
