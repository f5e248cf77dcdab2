//! One proxied request as the proxy sees it: its GitHub path (checked to stay
//! under the upstream's base path), sorted query, token scope, cache key and
//! the base URL the client used; and what is forwarded to GitHub.

use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::cache::key::validate_key;
use crate::github::error::ProxyError;
use crate::github::freshness;
use crate::github::key::RequestKey;
use crate::github::ratelimit::resource_of;
use crate::github::scope::{Scope, Scopes};
use crate::AGENT;

pub const X_GITHUB_API_VERSION: HeaderName = HeaderName::from_static("x-github-api-version");
/// Request headers sent on to GitHub.
const FORWARDED: [HeaderName; 4] = [AUTHORIZATION, ACCEPT, USER_AGENT, X_GITHUB_API_VERSION];

/// One proxied request.
pub struct Call<'a> {
    pub parts: &'a Parts,
    /// The GitHub path (without `/github`), never leaving the base path.
    pub path: String,
    /// The query, parameters sorted.
    pub query: String,
    pub scope: Scope,
    /// What GitHub's answer depends on, apart from who asks.
    pub request: RequestKey,
    /// The cache key of a GET or HEAD: the request's, in its scope.
    pub key: String,
    /// Where the client reaches GitHub through us: GitHub's URLs in answers
    /// are rewritten to start with it.
    pub base: String,
    /// The rate-limit resource the request counts against (`core`, `search`, …).
    pub resource: &'static str,
    /// The `Authorization` header cannot be read as text: the request passes
    /// through uncached (it must not be cached as anonymous).
    pub opaque_credentials: bool,
    /// A GraphQL read: the body to send, its key already made from it.
    pub graphql: Option<bytes::Bytes>,
    /// When the request arrived.
    pub started: std::time::Instant,
}

impl<'a> Call<'a> {
    /// The call for `parts`, whose GitHub path is `path` (already stripped of
    /// any prefix of ours) and whose client sees GitHub at `base`.
    pub fn new(parts: &'a Parts, path: &str, base: String, scopes: &Scopes) -> Result<Call<'a>, ProxyError> {
        let path = safe_path(path)?;
        let authorization = parts.headers.get(AUTHORIZATION);
        let opaque_credentials = authorization.is_some_and(|v| v.to_str().is_err());
        let scope = scopes.scope_of(authorization.and_then(|v| v.to_str().ok()));
        let text = |name: &HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let request = RequestKey::rest(&path, parts.uri.query(), text(&ACCEPT), text(&X_GITHUB_API_VERSION));
        let key = request.scoped(&scope.id);
        let query = request.query.clone();
        let resource = resource_of(&path);
        let started = std::time::Instant::now();
        Ok(Call { parts, path, query, scope, request, key, base, resource, opaque_credentials, graphql: None, started })
    }

    /// This call as the GraphQL read `body`, keyed by `digest` (see `graphql`).
    pub fn graphql_read(mut self, body: bytes::Bytes, digest: &str) -> Call<'a> {
        let accept = self.parts.headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        self.request = RequestKey::graphql(digest, accept);
        self.key = self.request.scoped(&self.scope.id);
        self.graphql = Some(body);
        self
    }

    pub fn head(&self) -> bool {
        self.parts.method == Method::HEAD
    }

    /// A GET or HEAD (or a GraphQL read) the cache can hold.
    pub fn cacheable(&self) -> bool {
        (matches!(self.parts.method, Method::GET | Method::HEAD) || self.graphql.is_some())
            && !self.opaque_credentials
            && validate_key(&self.key).is_ok()
    }

    /// Whether the client said anything about caching (`no-cache`, `max-age`, …).
    pub fn has_directives(&self) -> bool {
        freshness::has_directives(self.parts)
    }

    /// The upstream URL of this call under `upstream`.
    pub fn url(&self, upstream: &str) -> String {
        if self.query.is_empty() {
            format!("{upstream}{}", self.path)
        } else {
            format!("{upstream}{}?{}", self.path, self.query)
        }
    }
}

/// The prefix of every cached GraphQL answer's key, whatever its scope.
pub const GRAPHQL_KEY_PREFIX: &str = "github:POST:/graphql";

/// A path that stays under the base path of `GITHUB_API_URL` (a GitHub
/// Enterprise Server's `/api/v3`): no `.` or `..` segments, raw or
/// percent-encoded, and no encoded slashes or backslashes.
pub fn safe_path(path: &str) -> Result<String, ProxyError> {
    let path = if path.is_empty() { "/" } else { path };
    let encoded_separator = path.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && ((w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f'))
                || (w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c')))
    });
    let refused = encoded_separator || path.contains('\\') || !path.starts_with('/');
    if refused || path.split('/').any(is_dot_segment) {
        return Err(ProxyError::bad_request(format!(
            "peercache refuses the path {path:?}: it would leave the API's base path"
        )));
    }
    Ok(path.to_owned())
}

/// `.` or `..`, each dot raw or percent-encoded (`%2e`, any case).
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'2' && rest[2].eq_ignore_ascii_case(&b'e') {
            rest = &rest[3..];
        } else {
            return false;
        }
        dots += 1;
    }
    dots == 1 || dots == 2
}

/// The headers sent on to GitHub: the client's credentials, media types, API
/// version and agent (ours when it sent none). `Accept` is `*/*` when the
/// client sent none, said here rather than left to the HTTP client, because
/// GitHub's ETag depends on it (see `confirm`).
pub fn forwarded(incoming: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in FORWARDED.iter().chain([&CONTENT_TYPE]) {
        if let Some(value) = incoming.get(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    headers.entry(USER_AGENT).or_insert(HeaderValue::from_static(AGENT));
    headers.entry(ACCEPT).or_insert(HeaderValue::from_static("*/*"));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_the_base_path() {
        assert_eq!(safe_path("/repos/o/r").unwrap(), "/repos/o/r");
        assert_eq!(safe_path("").unwrap(), "/");
        for escape in [
            "/../admin",
            "/repos/../../x",
            "/%2e%2e/x",
            "/%2E%2e/x",
            "/repos%2F..%2Fx",
            "/a/./b",
            "/a\\..\\b",
            "/x%5cy",
        ] {
            assert!(safe_path(escape).is_err(), "{escape}");
        }
        assert!(safe_path("/repos/o/r..x").is_ok(), "dots inside a name are fine");
        assert!(safe_path("/repos/o/...").is_ok(), "three dots are a name");
        assert!(safe_path("/repos/o/%2e").is_err());
        assert!(safe_path("/repos/o/.%2E").is_err());
    }
}
