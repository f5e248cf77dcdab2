//! Talking to GitHub: a read asked conditionally on what the fleet holds
//! (one `If-None-Match` offering the requester's own stored answer and other
//! scopes' bodies), an answer stored for the requester's scope, writes and
//! everything uncacheable forwarded as they are (a real write makes the
//! repository's answers stale on every node), and bodies read up to the
//! size the cache takes (larger ones stream through).

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;

use crate::cache::entry::Entry;
use crate::cache::ttl::{family_ttl_secs, longest_github_ttl, path_family};
use crate::github::answer::Answer;
use crate::github::confirm::{confirmed, if_none_match, Candidate, Outcome};
use crate::github::error::ProxyError;
use crate::github::freshness;
use crate::github::key::invalidation_prefixes;
use crate::github::proxy::{header, GithubProxy};
use crate::github::ratelimit::{hold_key, is_rate_limited};
use crate::github::request::{forwarded, Call};
use crate::github::stats::{Mode, UpstreamError};
use crate::github::stored::{Binding, Decoded, HOP_BY_HOP, KEPT_HEADERS};
use crate::p2p::protocol::MAX_CLOCK_SKEW_MS;

impl GithubProxy {
    /// GitHub, conditionally on the candidates: a 304 serves the one it
    /// names (REVALIDATED for the requester's own answer, CONFIRMED for a
    /// body of the fleet's); anything else is GitHub's own answer, stored
    /// when it may be. A 304 that names none of them is asked again plainly.
    pub(super) async fn ask_github(&self, call: &Call<'_>, mut candidates: Vec<Candidate>, now: u64) -> Answer {
        let family = path_family(&call.path);
        loop {
            let confirming = candidates.iter().any(|c| !c.own);
            let mut request = match &call.graphql {
                Some(body) => self.client.post(call.url(&self.upstream)).body(body.clone()),
                None => self.client.get(call.url(&self.upstream)),
            }
            .headers(forwarded(&call.parts.headers));
            if !candidates.is_empty() {
                request = request.header(IF_NONE_MATCH, if_none_match(&candidates));
            }
            let upstream = match self.send(request, call).await {
                Ok(upstream) => upstream,
                Err(error) => return Answer::Failed(Mode::Miss, error),
            };
            let status = upstream.status();
            let headers = upstream.headers().clone();
            if status == StatusCode::NOT_MODIFIED && !candidates.is_empty() {
                match confirmed(&candidates, header(&headers, &ETAG)) {
                    Some(candidate) => {
                        if !candidate.own {
                            self.confirmations.record(family, Outcome::Confirmed);
                        }
                        return self.refreshed(call, candidate, &headers, now).await;
                    }
                    None => {
                        tracing::warn!(
                            path = call.path,
                            "GitHub's 304 names none of the bodies offered; asking again without them"
                        );
                        if confirming {
                            self.confirmations.record(family, Outcome::Refused);
                        }
                        candidates.clear();
                        continue;
                    }
                }
            }
            if confirming {
                self.confirmations.record(family, Outcome::Refused);
            }
            return self.answered(call, upstream, now).await;
        }
    }

    /// GitHub's own answer to a read: served, and stored when it is a
    /// storable 200; a rate-limit refusal is held for the scope.
    async fn answered(&self, call: &Call<'_>, upstream: reqwest::Response, now: u64) -> Answer {
        let status = upstream.status();
        let headers = upstream.headers().clone();
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
            let until = self.limits.block(&call.scope.id, call.resource, &headers, decoded.clone(), now);
            self.hold_for_the_fleet(call, &decoded, now, until).await;
            return match self.stale(call).await {
                Some((stored_at, stale)) => Answer::Body(Mode::Stale, stale, Some(stored_at)),
                None => Answer::Fetched { decoded, stored: false },
            };
        }
        let mut stored = false;
        if status == StatusCode::OK {
            if let Some(ttl) = self.storable_ttl(call, &decoded, now) {
                // Stored before the answer leaves, so whoever asks next (here or
                // at a peer) finds it. A failure only costs the caching.
                let etag = header(&headers, &ETAG).map(str::to_owned);
                let entry = self.entry(call, &decoded, now, ttl, etag);
                match self.cache.write(move |cache| cache.insert(entry)).await {
                    Ok(_) => stored = true,
                    Err(error) => tracing::warn!(%error, "could not cache a GitHub response"),
                }
            }
        }
        Answer::Fetched { decoded, stored }
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

    /// GitHub's 304 named `candidate`: its body served with the kept headers
    /// refreshed by the 304's and the ETag GitHub gave this requester, stored
    /// for this scope (sealed anew: the seal is bound to the stored time and
    /// TTL); the answer carries the 304's live headers too.
    async fn refreshed(&self, call: &Call<'_>, candidate: &Candidate, fresh: &HeaderMap, now: u64) -> Answer {
        let stored = &candidate.decoded;
        let mut refreshed = Decoded::new_as_is(stored.status, stored.headers.clone(), stored.body.clone());
        for name in KEPT_HEADERS {
            if let Some(value) = fresh.get(*name) {
                refreshed.headers.insert(HeaderName::from_static(name), value.clone());
            }
        }
        let etag = header(fresh, &ETAG).map_or_else(|| candidate.etag.clone(), str::to_owned);
        if let Ok(value) = HeaderValue::from_str(&etag) {
            refreshed.headers.insert(ETAG, value);
        }
        let ttl = self.storable_ttl(call, &refreshed, now);
        if let Some(ttl) = ttl.or(candidate.own.then_some(0)) {
            let entry = self.entry(call, &refreshed, now, ttl, Some(etag));
            if let Err(error) = self.cache.write(move |cache| cache.insert(entry)).await {
                tracing::warn!(%error, "could not store a GitHub answer it confirmed");
            }
        }
        let mut live = refreshed;
        for (name, value) in fresh {
            if !HOP_BY_HOP.contains(&name.as_str()) && name != CONTENT_LENGTH {
                live.headers.insert(name.clone(), value.clone());
            }
        }
        let mode = if candidate.own { Mode::Revalidated } else { Mode::Confirmed };
        Answer::Body(mode, Arc::new(live), None)
    }

    /// A client's request body, at most `max_body` bytes.
    pub(super) async fn request_body(&self, body: Body) -> Result<Bytes, ProxyError> {
        to_bytes(body, self.max_body).await.map_err(|_| {
            ProxyError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {} bytes", self.max_body))
        })
    }

    /// Non-GET methods (and what cannot be cached) go straight through; a
    /// real write makes the repository's answers stale everywhere.
    pub(super) async fn pass(&self, call: &Call<'_>, body: Body) -> Answer {
        let body = match self.request_body(body).await {
            Ok(body) => body,
            Err(error) => return Answer::Failed(Mode::Pass, error),
        };
        let answer = self.forward(call, body).await;
        if is_write(call) && answer.status().is_some_and(|status| status.is_success()) {
            self.written(&call.scope.id, invalidation_prefixes(&call.path)).await;
        }
        answer
    }

    /// A write went through: drop the older answers under `prefixes` here,
    /// bar older copies from peers, and tell the group to do the same — at
    /// most [`FLEET_INVALIDATIONS_PER_MINUTE`] times a minute for one token's
    /// scope (past that, peers keep their copies for the rest of their TTL:
    /// one token writing in a loop cannot keep flushing the fleet).
    pub(super) async fn written(&self, scope: &Arc<str>, prefixes: Vec<String>) {
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
            if self.fleet_invalidations.check_key(scope).is_ok() {
                peers.invalidate(prefixes, at).await;
            } else {
                self.counters.invalidation_held_back();
                tracing::warn!(
                    scope = &**scope,
                    "a token writes faster than the fleet is told; this write is not broadcast"
                );
            }
        }
    }

    /// Sends the call as it is; a JSON answer small enough is read (so its
    /// URLs can be rewritten, and a GraphQL write's `errors` seen), anything
    /// else streams.
    pub(super) async fn forward(&self, call: &Call<'_>, body: Bytes) -> Answer {
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
        if json && !call.head() {
            return match read_limited(upstream, self.max_body).await {
                Ok(body) => Answer::Body(Mode::Pass, Arc::new(Decoded::new(status, &upstream_headers, body)), None),
                Err(Oversized::Stream(mut response)) => {
                    self.rewrite_link_header(call, response.headers_mut());
                    Answer::Passed(response)
                }
                Err(Oversized::Failed(error)) => {
                    self.counters.upstream_error(UpstreamError::BrokenBody);
                    Answer::Failed(Mode::Pass, error)
                }
            };
        }
        let mut response = Response::builder().status(status);
        for (name, value) in &upstream_headers {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                response = response.header(name, value);
            }
        }
        match response.body(Body::from_stream(upstream.bytes_stream())) {
            Ok(mut response) => {
                self.rewrite_link_header(call, response.headers_mut());
                Answer::Passed(response)
            }
            Err(error) => {
                Answer::Failed(Mode::Pass, ProxyError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))
            }
        }
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
        self.entry_under(call.key.clone(), call, decoded, now, ttl_secs, etag)
    }

    /// `decoded` stored under `key` for the call's scope (sealed for it).
    fn entry_under(
        &self,
        key: String,
        call: &Call<'_>,
        decoded: &Decoded,
        now: u64,
        ttl_secs: u64,
        etag: Option<String>,
    ) -> Entry {
        let binding = Binding { key: &key, stored_at_ms: now, ttl_secs, etag: etag.as_deref() };
        let value = Bytes::from(decoded.encode(&call.scope, &binding));
        Entry::new(key, value, now, ttl_secs, etag, Some(decoded.status.as_u16()))
    }

    /// A token scope's rate-limit refusal, stored (and so told to the fleet)
    /// under its hold key until `until_ms`: the other nodes replay it as
    /// HELD instead of spending a call to learn it.
    async fn hold_for_the_fleet(&self, call: &Call<'_>, refusal: &Decoded, now: u64, until_ms: u64) {
        if call.scope.is_anonymous() || self.peers.is_none() {
            return;
        }
        let ttl_secs = until_ms.saturating_sub(now).div_ceil(1000).max(1);
        let entry = self.entry_under(hold_key(&call.scope.id, call.resource), call, refusal, now, ttl_secs, None);
        if let Err(error) = self.cache.write(move |cache| cache.insert(entry)).await {
            tracing::warn!(%error, "could not keep a rate-limit refusal for the fleet");
        }
    }
}

/// Whether `call` may change what GitHub holds: POST, PUT, PATCH or DELETE
/// with a credential. A browser's OPTIONS preflight, a HEAD or an anonymous
/// request changes nothing, whatever GitHub answers.
fn is_write(call: &Call<'_>) -> bool {
    matches!(call.parts.method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
        && !call.scope.is_anonymous()
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
