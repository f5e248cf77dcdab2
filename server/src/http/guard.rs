//! Requests only from where they should come. A web page the operator visits
//! can make the browser send requests to `127.0.0.1:8899`: forms and
//! `text/plain` posts without a CORS preflight, and — through DNS rebinding —
//! anything, under another `Host`, reading the answers too. So every request
//! to the dashboard, the API, the server functions, `/metrics` and `/mcp`
//! (reads included: the cache's entries name private repositories and
//! searches) names a host this server is known by (the loopback names, the
//! address it listens on, and `PEERCACHE_PUBLIC_NAMES`); `/healthz` alone
//! answers any host. And every changing request (not GET, HEAD or OPTIONS):
//! - comes from no browser page, or from a page of that same origin;
//! - when it is a POST, PUT or PATCH, says it carries JSON (`Content-Type:
//!   application/json`), which a cross-site page cannot send without a
//!   preflight we never answer.
//!
//! `/github/...` is not guarded here: what reaches GitHub carries the
//! caller's own token, and GitHub's answers are never planted by a request.

use std::net::SocketAddr;

use axum::http::header::{CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, Method};

/// The names a request's `Host` may carry, port aside.
#[derive(Clone, Debug)]
pub struct KnownHosts {
    names: Vec<String>,
}

impl KnownHosts {
    /// The loopback names, the listening address (when it is one address),
    /// and `public_names` (comma-separated).
    pub fn new(listen: SocketAddr, public_names: &str) -> KnownHosts {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(str::to_owned).into();
        if !listen.ip().is_unspecified() {
            names.push(match listen {
                SocketAddr::V4(v4) => v4.ip().to_string(),
                SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
            });
        }
        names.extend(public_names.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()));
        KnownHosts { names }
    }

    /// Whether `authority` (`host[:port]`) names this server.
    pub fn knows(&self, authority: &str) -> bool {
        let host = host_of(authority).to_ascii_lowercase();
        self.names.iter().any(|name| *name == host)
    }
}

/// `host` of `host[:port]`, IPv6 brackets kept.
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Why a request is refused, if it is.
/// `authority` is the request line's (HTTP/2 has no `Host` header).
pub fn refusal(known: &KnownHosts, method: &Method, headers: &HeaderMap, authority: Option<&str>) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let named = text(HOST.as_str()).or(authority);
    // A browser always names a host; a read naming none came from no page.
    if read && named.is_none() {
        return None;
    }
    let host = named.unwrap_or("");
    if !known.knows(host) {
        return Some(format!(
            "refusing a request sent to host {host:?}: this server is reached as 127.0.0.1 or localhost \
             (or a name in PEERCACHE_PUBLIC_NAMES); another name is how DNS rebinding looks"
        ));
    }
    if read {
        return None;
    }
    if let Some(origin) = text(ORIGIN.as_str()) {
        let same = origin.split_once("://").is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host));
        if !same {
            return Some(format!(
                "refusing a change from the web page at {origin:?}: only this server's own pages may change it"
            ));
        }
    }
    if text("sec-fetch-site").is_some_and(|site| site == "cross-site") {
        return Some("refusing a change a cross-site web page sent".to_owned());
    }
    let json = text(CONTENT_TYPE.as_str())
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) && !json {
        return Some("a change carries JSON: send Content-Type: application/json".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (axum::http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn changes_come_from_known_hosts_same_origin_pages_and_as_json() {
        let known = KnownHosts::new("127.0.0.1:8899".parse().unwrap(), "cache.internal");
        let post = Method::POST;
        let json = [("content-type", "application/json")];
        let ok = |extra: &[(&'static str, &'static str)]| {
            let mut all = json.to_vec();
            all.extend_from_slice(extra);
            refusal(&known, &post, &headers(&all), None)
        };
        assert_eq!(ok(&[("host", "127.0.0.1:8899")]), None);
        assert_eq!(ok(&[("host", "localhost:8899"), ("origin", "http://localhost:8899")]), None);
        assert_eq!(ok(&[("host", "[::1]:8899")]), None);
        assert_eq!(ok(&[("host", "CACHE.internal:8899")]), None);
        assert!(ok(&[("host", "rebind.example:8899")]).unwrap().contains("DNS rebinding"));
        assert!(ok(&[("host", "127.0.0.1:8899"), ("origin", "https://evil.example")]).is_some());
        assert!(ok(&[("host", "127.0.0.1:8899"), ("origin", "null")]).is_some());
        assert!(ok(&[("host", "127.0.0.1:8899"), ("sec-fetch-site", "cross-site")]).is_some());
        let text = headers(&[("host", "127.0.0.1:8899"), ("content-type", "text/plain")]);
        assert!(refusal(&known, &post, &text, None).unwrap().contains("application/json"));
        let form = headers(&[("host", "127.0.0.1:8899"), ("content-type", "application/x-www-form-urlencoded")]);
        assert!(refusal(&known, &post, &form, None).is_some());
        assert!(refusal(&known, &post, &headers(&[("host", "127.0.0.1:8899")]), None).is_some(), "no type at all");
        // Reads name a known host too (a rebound page would read the entries); they need no type.
        assert!(refusal(&known, &Method::GET, &headers(&[("host", "rebind.example")]), None).is_some());
        assert_eq!(
            refusal(&known, &Method::GET, &headers(&[("host", "127.0.0.1:8899"), ("origin", "https://x")]), None),
            None
        );
        // A DELETE without a body needs no type.
        assert_eq!(refusal(&known, &Method::DELETE, &headers(&[("host", "127.0.0.1:8899")]), None), None);
    }

    #[test]
    fn a_server_on_every_address_knows_only_the_names_it_is_given() {
        let known = KnownHosts::new("0.0.0.0:8899".parse().unwrap(), "");
        assert!(known.knows("127.0.0.1:8899"));
        assert!(!known.knows("0.0.0.0:8899"));
        assert!(!known.knows("10.1.2.3:8899"));
        let named = KnownHosts::new("10.1.2.3:8899".parse().unwrap(), "");
        assert!(named.knows("10.1.2.3:8899"));
    }
}
