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
//! A read's first step is `plan`'s pure decision; each request ends as one
//! [`Answer`]; its response, its mode count and its cache lookup count are
//! all made from that one value. Talking to GitHub is
//! in `upstream`, the fleet's turn-taking in `fleet`, what is offered to
//! GitHub in `candidates`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::HOST;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;

use crate::cache::entry::{Entry, Origin};
use crate::cache::Cache;
use crate::github::answer::{Answer, Shared};
use crate::github::confirm::{Candidate, ConfirmCounters, ConfirmMode};
use crate::github::error::ProxyError;
use crate::github::fleet::{self, Awaited, FleetTurn};
use crate::github::freshness::{self, Freshness};
use crate::github::graphql::{self, Malformed, Operation};
use crate::github::plan::{plan, Facts, Own, Plan};
use crate::github::ratelimit::{hold_key, RateLimits};
use crate::github::ready::Ready;
use crate::github::request::{Call, GRAPHQL_KEY_PREFIX};
use crate::github::scope::Scopes;
use crate::github::single_flight::{Role, SingleFlight};
use crate::github::stats::{Mode, ProxyCounters};
use crate::github::stored::Decoded;
use crate::p2p::client::NodeClient;

const X_PEERCACHE: HeaderName = HeaderName::from_static("x-peercache");
pub(super) const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// Writes one token scope may have told to the fleet per minute, after a burst.
pub const FLEET_INVALIDATIONS_PER_MINUTE: std::num::NonZeroU32 = std::num::NonZeroU32::new(60).expect("not zero");
const FLEET_INVALIDATION_BURST: std::num::NonZeroU32 = std::num::NonZeroU32::new(30).expect("not zero");

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

impl GithubProxy {
    /// The GitHub API this proxy asks.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Answers kept ready to send, and the bytes they are counted as.
    pub fn ready_usage(&self) -> (usize, usize) {
        self.ready.usage()
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
    /// Writes told to the fleet, per token scope.
    pub(super) fleet_invalidations: governor::DefaultKeyedRateLimiter<Arc<str>>,
    pub counters: ProxyCounters,
    pub confirmations: ConfirmCounters,
    /// One fetch per request (any scope) at a time, with sharing; the
    /// waiters learn the leader's scope (another scope's answer is not
    /// theirs to take).
    requests: SingleFlight<Option<(Arc<str>, Shared)>>,
    /// One fetch per key (one scope's request) at a time.
    inflight: SingleFlight<Option<Shared>>,
    pub(super) ready: Ready,
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
            fleet_invalidations: governor::RateLimiter::keyed(
                governor::Quota::per_minute(FLEET_INVALIDATIONS_PER_MINUTE).allow_burst(FLEET_INVALIDATION_BURST),
            ),
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

    /// The GitHub path of a request under `/github`, and the base its client
    /// sees GitHub at: `http://<Host>/github`, or the configured public URL.
    pub fn under_github(&self, request: &Request<Body>) -> (String, String) {
        let base = match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let host = request.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
                let mut base = String::with_capacity(host.len() + 14);
                base.push_str("http://");
                base.push_str(host);
                base.push_str("/github");
                base
            }
        };
        (request.uri().path().strip_prefix("/github").unwrap_or("/").to_owned(), base)
    }

    /// A request for GitHub path `path`, from a client that sees GitHub at `base`.
    pub async fn serve(&self, request: Request<Body>, path: &str, base: String) -> Response {
        let (parts, body) = request.into_parts();
        let call = match Call::new(&parts, path, base, &self.scopes) {
            Ok(call) => call,
            Err(error) => return stamp(error.to_response(), Mode::Pass),
        };
        if parts.method == Method::POST && call.path == "/graphql" {
            return Box::pin(self.graphql(call, body)).await;
        }
        let answer = if call.cacheable() { self.cached(&call).await } else { Box::pin(self.pass(&call, body)).await };
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
                    self.written(&call.scope.id, vec![GRAPHQL_KEY_PREFIX.to_owned()]).await;
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

    /// A cacheable read, carried out as `plan` decides from what is known of it.
    async fn cached(&self, call: &Call<'_>) -> Answer {
        let now = self.cache.now_ms();
        let mut own = None;
        if let Some(entry) = self.cache.fresh(&call.key) {
            if let Some(decoded) = self.open(&entry, &call.scope).await {
                own = Some((self.own_facts(call, &entry, &decoded, now), entry, decoded));
            }
        }
        let served = own.as_ref().is_some_and(|(facts, ..)| facts.served().is_some());
        let refusal = if served { None } else { self.refusal(call, now).await };
        let facts =
            Facts { own: own.as_ref().map(|(facts, ..)| *facts), refused: refusal.is_some(), head: call.head() };
        match plan(&facts) {
            Plan::Serve(mode) => {
                let (_, entry, decoded) = own.expect("a served plan has a stored answer");
                Answer::Body(mode, decoded, Some(entry.stored_at_ms))
            }
            Plan::Refused => match self.stale(call).await {
                Some((stored_at, stale)) => Answer::Body(Mode::Stale, stale, Some(stored_at)),
                None => Answer::Body(Mode::Held, refusal.expect("a refused plan has a refusal"), None),
            },
            // Boxed: the futures that ask the fleet and GitHub are large, and
            // a hit's future (moved through every layer of the router) stays small.
            Plan::Forward => Box::pin(self.forward(call, bytes::Bytes::new())).await,
            Plan::Fetch => Box::pin(self.coalesced(call)).await,
        }
    }

    /// GitHub's refusal of this scope for the resource, while it holds: this
    /// node's own, or a fleet hold.
    async fn refusal(&self, call: &Call<'_>, now: u64) -> Option<Arc<Decoded>> {
        match self.limits.blocked(&call.scope.id, call.resource, now) {
            Some(refusal) => Some(refusal),
            None => self.held_by_the_fleet(call).await,
        }
    }

    /// A refusal another node of the fleet got for this scope and resource,
    /// while it holds: from this node or a publisher it trusts only (a hold
    /// is served without asking GitHub).
    async fn held_by_the_fleet(&self, call: &Call<'_>) -> Option<Arc<Decoded>> {
        if call.scope.is_anonymous() {
            return None;
        }
        // Peeked, not looked up: a hold is no answer of the cache's, and one
        // that ran out is no expiration of one.
        let entry = self.cache.peek(&hold_key(&call.scope.id, call.resource))?;
        if !entry.is_fresh(self.cache.now_ms()) || self.needs_confirming(&entry) {
            return None;
        }
        self.open(&entry, &call.scope).await
    }

    /// What the plan is told of the requester's own stored answer.
    fn own_facts(&self, call: &Call<'_>, entry: &Entry, decoded: &Decoded, now: u64) -> Own {
        let fresh = entry.is_fresh(now);
        Own {
            fresh,
            revalidate: fresh && self.must_revalidate(call, entry, decoded, now),
            confirm: self.needs_confirming(entry),
            from_peer: matches!(entry.origin, Origin::Peer(_)),
        }
    }

    /// The requester's own stored answer, served as it is when the plan's
    /// rule allows (fresh, and nothing asks GitHub first): one stored while
    /// a request waited its turn, or a peer's.
    fn as_it_is(&self, call: &Call<'_>, entry: &Entry, decoded: &Arc<Decoded>, now: u64) -> Option<Answer> {
        let mode = self.own_facts(call, entry, decoded, now).served()?;
        Some(Answer::Body(mode, decoded.clone(), Some(entry.stored_at_ms)))
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
        if let Some(answer) = held.as_ref().and_then(|(entry, decoded)| self.as_it_is(call, entry, decoded, now)) {
            // Stored while this request waited its turn (by gossip, say).
            return answer;
        }
        if let (None, Some(peers)) = (&held, &self.peers) {
            if let Some(entry) = peers.fetch_stored(&self.cache, &call.key).await {
                if let Some(decoded) = self.open(&entry, &call.scope).await {
                    if let Some(answer) = self.as_it_is(call, &entry, &decoded, now) {
                        return answer;
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

/// Says what the proxy did, in `X-Peercache` and RFC 9211 `Cache-Status`.
pub(super) fn stamp(mut response: Response, mode: Mode) -> Response {
    response.headers_mut().insert(X_PEERCACHE, HeaderValue::from_static(mode.as_str()));
    response.headers_mut().insert(CACHE_STATUS, HeaderValue::from_static(mode.cache_status()));
    response
}
