//! The caching reverse proxy for GitHub's REST API under `/github/...` (and
//! for `gh` on its socket): the one entry, [`GithubProxy::serve`], that both
//! reach the cache through, and the order a read is answered in.
//!
//! A GET is answered, in order, from: a fresh local entry of the requester's
//! scope (HIT, or PEER-HIT when a trusted peer stored it) unless the client's
//! directives, the "always revalidate" mode or the "always confirm" mode ask
//! GitHub first; while GitHub refuses this token's scope for the resource, a
//! stale entry (STALE) or the refusal replayed; otherwise one shared fetch per
//! request (other callers wait: COALESCED) that asks the peers (PEER-HIT),
//! then GitHub — with `If-None-Match` offering the scope's own stored answer
//! (a 304 refreshes it for free: REVALIDATED) and the bodies other scopes
//! hold for the same request (a 304 says GitHub would send this requester
//! exactly those bytes: CONFIRMED, see `confirm`) — and stores a storable 200
//! (MISS). Other methods pass through (PASS); a real write makes the
//! repository's answers stale on every node. GitHub's URLs in answers are
//! rewritten to the base the client used.
//!
//! Each request ends as one [`Answer`]; its response, its mode count and its
//! cache lookup count are all made from that one value. Talking to GitHub is
//! in `upstream`, the fleet's turn-taking in `fleet`, what is offered to
//! GitHub in `candidates`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{AGE, CONTENT_LENGTH, CONTENT_TYPE, ETAG, HOST, IF_NONE_MATCH, LINK};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;

use crate::cache::entry::{Entry, Origin};
use crate::cache::stats::Lookup;
use crate::cache::Cache;
use crate::github::confirm::{Candidate, ConfirmCounters, ConfirmMode};
use crate::github::error::ProxyError;
use crate::github::fleet::{self, Awaited, FleetTurn};
use crate::github::freshness::{self, Freshness};
use crate::github::graphql::{self, Malformed, Operation};
use crate::github::ratelimit::RateLimits;
use crate::github::ready::Ready;
use crate::github::request::{Call, GRAPHQL_KEY_PREFIX};
use crate::github::rewrite::{rewrite_body, rewrite_link};
use crate::github::scope::{Scope, Scopes};
use crate::github::single_flight::{Role, SingleFlight};
use crate::github::stats::{Mode, ProxyCounters};
use crate::github::stored::{Binding, Decoded};
use crate::p2p::client::NodeClient;
use crate::p2p::protocol::Rejection;

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
    /// Which answers are confirmed with GitHub before they are served.
    pub confirm: ConfirmMode,
}

/// How a request ended: the one value its response and every counter are
/// made from.
pub(super) enum Answer {
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
    /// The status GitHub (or the proxy) answered with, when known.
    pub(super) fn status(&self) -> Option<StatusCode> {
        match self {
            Answer::Body(_, decoded, _) => Some(decoded.status),
            Answer::Passed(response) => Some(response.status()),
            Answer::Failed(_, error) => Some(error.status),
            Answer::Fleet { .. } => Some(StatusCode::OK),
        }
    }

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

/// How a request's answer counts as a cache lookup.
fn lookup_of(mode: Mode) -> Lookup {
    match mode {
        Mode::Hit => Lookup::LocalHit,
        Mode::PeerHit => Lookup::PeerHit,
        Mode::Revalidated | Mode::Confirmed | Mode::Coalesced | Mode::Stale => Lookup::Spared,
        Mode::Miss | Mode::Pass => Lookup::Miss,
    }
}

pub struct GithubProxy {
    pub(super) client: reqwest::Client,
    pub(super) upstream: String,
    pub(super) cache: Arc<Cache>,
    pub(super) peers: Option<NodeClient>,
    pub(super) scopes: Scopes,
    pub(super) default_ttl_secs: u64,
    pub(super) max_body: usize,
    pub freshness: Freshness,
    public_url: Option<String>,
    pub(super) graphql_ttl_secs: u64,
    pub fleet_single_flight: bool,
    fleet_wait: Duration,
    pub confirm: ConfirmMode,
    pub limits: RateLimits,
    pub counters: ProxyCounters,
    pub confirmations: ConfirmCounters,
    /// One fetch per request (any scope) at a time, with sharing; the
    /// waiters learn the leader's scope (another scope's answer is not
    /// theirs to take).
    requests: SingleFlight<Option<(Arc<str>, Shared)>>,
    /// One fetch per key (one scope's request) at a time.
    inflight: SingleFlight<Option<Shared>>,
    ready: Ready,
}

impl GithubProxy {
    pub fn new(config: ProxyConfig, cache: Arc<Cache>, peers: Option<NodeClient>) -> anyhow::Result<GithubProxy> {
        // Redirects are GitHub's answer to the client, not ours to follow: a
        // 302 from upstream is passed on, never fetched (it could point anywhere).
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
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
            confirm: config.confirm,
            limits: RateLimits::default(),
            counters: ProxyCounters::default(),
            confirmations: ConfirmCounters::default(),
            requests: SingleFlight::default(),
            inflight: SingleFlight::default(),
            ready: Ready::default(),
        })
    }

    /// Requests waiting for an identical request's fetch right now.
    pub fn waiting(&self) -> usize {
        self.requests.waiting() + self.inflight.waiting()
    }

    /// Whether this node reads other tokens' answers to confirm them (see `scope`).
    pub fn shares_tokens(&self) -> bool {
        self.confirm.shares() && self.scopes.shares_tokens()
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
                if graphql_wrote(&call, &answer) {
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
                if !self.must_revalidate(call, &entry, &decoded, now) && !self.needs_confirming(&entry) {
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
            return self.forward(call, bytes::Bytes::new()).await;
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

    /// One fetch per request at a time: with sharing, the first of any
    /// scope fetches and the others wait for it — its scope's waiters take
    /// its answer, other scopes' then find its body to confirm, one fetch
    /// per scope at a time again.
    async fn coalesced(&self, call: &Call<'_>) -> Answer {
        if !self.confirm.shares() {
            return self.coalesced_in_scope(call).await;
        }
        match self.requests.join(&call.request.identity()) {
            Role::Leader(leader) => {
                let answer = self.coalesced_in_scope(call).await;
                leader.finish(answer.shared().map(|shared| (call.scope.id.clone(), shared)));
                answer
            }
            Role::Follower(follower) => match follower.wait().await.flatten() {
                Some((scope, Shared::Body(decoded, stored_at))) if scope == call.scope.id => {
                    Answer::Body(Mode::Coalesced, decoded, stored_at)
                }
                _ => self.coalesced_in_scope(call).await,
            },
        }
    }

    /// One fetch per key at a time; the others wait for its answer. When the
    /// fetch fails, its waiters try once more together (one of them fetches).
    async fn coalesced_in_scope(&self, call: &Call<'_>) -> Answer {
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
    /// nothing) what a peer has; then GitHub, offered what the fleet holds.
    async fn fetch(&self, call: &Call<'_>) -> Answer {
        let now = self.cache.now_ms();
        let mut held = match self.cache.get_stale(&call.key) {
            Some(entry) => self.open(&entry, &call.scope).await.map(|decoded| (entry, decoded)),
            None => None,
        };
        if let Some((entry, decoded)) = &held {
            // Stored while this request waited its turn (by gossip, say).
            let servable = !self.must_revalidate(call, entry, decoded, now) && !self.needs_confirming(entry);
            if entry.is_fresh(now) && servable {
                let mode = if matches!(entry.origin, Origin::Peer(_)) { Mode::PeerHit } else { Mode::Hit };
                return Answer::Body(mode, decoded.clone(), Some(entry.stored_at_ms));
            }
        }
        if let (None, Some(peers)) = (&held, &self.peers) {
            if let Some(entry) = self.cache.fetch_from_peers(&call.key, peers).await {
                if let Some(decoded) = self.open(&entry, &call.scope).await {
                    let servable = !self.must_revalidate(call, &entry, &decoded, now) && !self.needs_confirming(&entry);
                    if entry.is_fresh(now) && servable {
                        return Answer::Body(Mode::PeerHit, decoded, Some(entry.stored_at_ms));
                    }
                    held = Some((entry, decoded));
                }
            }
        }
        let mut candidates: Vec<Candidate> = Vec::new();
        if let Some((entry, decoded)) = &held {
            candidates.extend(self.own_candidate(call, entry.clone(), decoded.clone()));
        }
        candidates.extend(self.donors(call));
        // Fleet-wide single flight: nobody here or at a peer has it; one node
        // of the fleet asks GitHub, the others wait for its entry. Another
        // scope's body is then confirmed by one node per scope, the others of
        // that scope waiting for its entry in turn.
        let mut lease = None;
        if let (None, Some(node), true) = (&held, &self.peers, self.fleet_single_flight) {
            if candidates.is_empty() {
                let awaited = Awaited::new(call, self.confirm.shares());
                match fleet::turn(node, &self.cache, &awaited, self.fleet_wait, &self.counters).await {
                    FleetTurn::Fetch { mine } => lease = mine.then_some(awaited),
                    FleetTurn::Arrived(entry, holder) if entry.key == call.key => {
                        if let Some(answer) = self.arrived(call, entry, holder, &mut candidates).await {
                            return answer;
                        }
                    }
                    FleetTurn::Arrived(entry, _) => candidates.extend(self.donor_candidate(call, entry)),
                }
            }
            if lease.is_none() && candidates.iter().any(|c| !c.own) {
                let awaited = Awaited::new(call, false);
                match fleet::turn(node, &self.cache, &awaited, self.fleet_wait, &self.counters).await {
                    FleetTurn::Fetch { mine } => lease = mine.then_some(awaited),
                    FleetTurn::Arrived(entry, holder) => {
                        if let Some(answer) = self.arrived(call, entry, holder, &mut candidates).await {
                            return answer;
                        }
                    }
                }
            }
        }
        let answer = self.ask_github(call, candidates, now).await;
        if let (Some(awaited), Some(node)) = (lease, &self.peers) {
            let stored = self.cache.peek(&call.key).is_some_and(|entry| entry.stored_at_ms >= now);
            node.release(awaited.lease_key(), stored).await;
        }
        answer
    }

    /// The requester's own entry, fetched by the node that held the lease:
    /// served, or (when it must be confirmed first) offered to GitHub.
    async fn arrived(
        &self,
        call: &Call<'_>,
        entry: Arc<Entry>,
        holder: String,
        candidates: &mut Vec<Candidate>,
    ) -> Option<Answer> {
        let decoded = self.open(&entry, &call.scope).await?;
        if !self.needs_confirming(&entry) {
            return Some(Answer::Fleet { decoded, stored_at: entry.stored_at_ms, holder });
        }
        candidates.extend(self.own_candidate(call, entry, decoded));
        None
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
    pub(super) fn rewrite_link_header(&self, call: &Call<'_>, headers: &mut HeaderMap) -> bool {
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
    pub(super) fn decoded(&self, entry: &Entry, scope: &Scope) -> Option<Arc<Decoded>> {
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
    pub(super) async fn stale(&self, call: &Call<'_>) -> Option<(u64, Arc<Decoded>)> {
        let entry = self.cache.get_stale(&call.key).filter(|entry| !self.needs_confirming(entry))?;
        Some((entry.stored_at_ms, self.open(&entry, &call.scope).await?))
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

pub(super) fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// Whether a GraphQL mutation changed anything: GitHub answers one it
/// rejects with 200 and `errors`, and that must not stale every scope's
/// GraphQL answers on every node.
fn graphql_wrote(call: &Call<'_>, answer: &Answer) -> bool {
    let Answer::Body(_, decoded, _) = answer else { return false };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&decoded.body) else { return false };
    decoded.status.is_success()
        && !call.scope.is_anonymous()
        && body.get("data").is_some_and(|data| !data.is_null())
        && body.get("errors").is_none()
}
