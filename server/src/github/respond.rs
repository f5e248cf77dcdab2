//! An answer as the client sees it: GitHub's URLs rewritten to the client's
//! base, a 304 when the client already has the body, `Age` and `Warning`,
//! and what happened said in `X-Peercache` and `Cache-Status` — counted once,
//! by its mode, as a request and as a cache lookup.

use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{AGE, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LINK};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use crate::cache::stats::Lookup;
use crate::github::answer::Answer;
use crate::github::proxy::{header, stamp, GithubProxy, CACHE_STATUS};
use crate::github::request::Call;
use crate::github::rewrite::{rewrite_body, rewrite_link};
use crate::github::stats::Mode;
use crate::github::stored::Decoded;

impl GithubProxy {
    /// Counts the answer (once, by its mode) and makes it a response.
    pub(super) fn respond(&self, call: &Call<'_>, answer: Answer) -> Response {
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
            Answer::Fetched { decoded, stored } => {
                let rewritten = self.rewritten(call, &decoded);
                let mut response = reply(Mode::Miss, &rewritten, &call.parts.headers, call.head(), None);
                if stored {
                    // RFC 9211's `stored` only when it was.
                    response
                        .headers_mut()
                        .insert(CACHE_STATUS, HeaderValue::from_static("peercache; fwd=uri-miss; stored"));
                }
                response
            }
            Answer::Passed(response) => response,
            Answer::Failed(_, error) => error.to_response(),
        };
        let stored_miss = response.headers().get(CACHE_STATUS).cloned();
        let mut response = stamp(response, mode);
        if let Some(status) = stored_miss {
            response.headers_mut().insert(CACHE_STATUS, status);
        }
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
}

/// How a request's answer counts as a cache lookup.
pub(super) fn lookup_of(mode: Mode) -> Lookup {
    match mode {
        Mode::Hit => Lookup::LocalHit,
        Mode::PeerHit => Lookup::PeerHit,
        Mode::Revalidated | Mode::Confirmed | Mode::Coalesced | Mode::Stale => Lookup::Spared,
        Mode::Held => Lookup::Miss,
        Mode::Miss | Mode::Pass => Lookup::Miss,
    }
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
