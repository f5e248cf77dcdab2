//! One proxied request as the proxy sees it: its GitHub path (checked to stay
//! under the upstream's base path), sorted query, token scope, cache key and
//! the base URL the client used; and what is forwarded to GitHub.

use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::cache::key::validate_key;
use crate::github::error::ProxyError;
use crate::github::freshness;
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
    /// The cache key of a GET or HEAD.
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
        let query = sorted_query(parts.uri.query());
        let authorization = parts.headers.get(AUTHORIZATION);
        let opaque_credentials = authorization.is_some_and(|v| v.to_str().is_err());
        let scope = scopes.scope_of(authorization.and_then(|v| v.to_str().ok()));
        let text = |name: &HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let key = proxy_key(&path, &query, text(&ACCEPT), text(&X_GITHUB_API_VERSION), &scope.id);
        let resource = resource_of(&path);
        let started = std::time::Instant::now();
        Ok(Call { parts, path, query, scope, key, base, resource, opaque_credentials, graphql: None, started })
    }

    /// This call as the GraphQL read `body`, keyed by `digest` (see `graphql`).
    pub fn graphql_read(mut self, body: bytes::Bytes, digest: &str) -> Call<'a> {
        let text = |name: &HeaderName| self.parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        self.key = format!("{GRAPHQL_KEY_PREFIX}?q={digest}:accept={}:scope={}", text(&ACCEPT), self.scope.id);
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
/// version and agent (ours when it sent none).
pub fn forwarded(incoming: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in FORWARDED.iter().chain([&CONTENT_TYPE]) {
        if let Some(value) = incoming.get(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    headers.entry(USER_AGENT).or_insert(HeaderValue::from_static(AGENT));
    headers
}

/// The query with its parameters sorted, so `?a=1&b=2` and `?b=2&a=1` share an entry.
pub fn sorted_query(query: Option<&str>) -> String {
    let query = query.unwrap_or("");
    if !query.contains('&') {
        return query.to_owned();
    }
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    pairs.join("&")
}

/// `github:GET:<path>[?<query>]:accept=<accept>[:api=<version>]:scope=<scope>`
/// — the scope hash, never the token. The path comes first so a repository's
/// entries share a prefix across scopes; what GitHub varies its answers by
/// (`Accept`, `X-GitHub-Api-Version`) is in it.
pub fn proxy_key(path: &str, query: &str, accept: &str, api_version: &str, scope: &str) -> String {
    let query = if query.is_empty() { String::new() } else { format!("?{query}") };
    let api = if api_version.is_empty() { String::new() } else { format!(":api={api_version}") };
    format!("github:GET:{path}{query}:accept={accept}{api}:scope={scope}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_queries_vary_by_api_version_and_never_hold_tokens() {
        assert_eq!(sorted_query(Some("per_page=10&a=1")), "a=1&per_page=10");
        assert_eq!(sorted_query(None), "");
        assert_eq!(sorted_query(Some("&b=2&&a=1")), "a=1&b=2");
        assert_eq!(sorted_query(Some("page=2")), "page=2");
        let key = proxy_key("/repos/o/r/pulls", "state=open", "application/vnd.github+json", "", "0123456789abcdef");
        assert_eq!(
            key,
            "github:GET:/repos/o/r/pulls?state=open:accept=application/vnd.github+json:scope=0123456789abcdef"
        );
        let versioned = proxy_key(
            "/repos/o/r/pulls",
            "state=open",
            "application/vnd.github+json",
            "2022-11-28",
            "0123456789abcdef",
        );
        assert_ne!(key, versioned);
        assert!(versioned.contains(":api=2022-11-28:"));
    }

    #[test]
    fn writes_invalidate_the_whole_repository_but_not_its_namesakes() {
        let prefixes = invalidation_prefixes("/repos/o/r/issues/1/comments");
        let repo_key = proxy_key("/repos/o/r", "", "", "", "anonymous");
        let issue_key = proxy_key("/repos/o/r/issues", "state=open", "", "", "anonymous");
        let other_key = proxy_key("/repos/o/rx", "", "", "", "anonymous");
        assert!(prefixes.iter().any(|p| repo_key.starts_with(p.as_str())));
        assert!(prefixes.iter().any(|p| issue_key.starts_with(p.as_str())));
        assert!(!prefixes.iter().any(|p| other_key.starts_with(p.as_str())));
    }

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
