//! Confirmed sharing: GitHub decides who may read, the fleet delivers.
//!
//! GitHub's ETag for an answer is, as observed on github.com (undocumented;
//! reverse-engineered and published by bored-engineer's
//! github-conditional-http-transport, February 2025), `W/"` + hex(SHA-256 of
//! the request's `Accept`, `Authorization` and `Cookie` values, each followed
//! by `:` and only when present, then the body) + `"`. So a node holding a
//! body any token fetched can compute the ETag GitHub would give *this*
//! requester for *those* bytes, and ask GitHub with the requester's own
//! credentials and `If-None-Match`. A `304 Not Modified` costs no rate limit
//! and says GitHub would send this requester exactly these bytes now (another
//! body cannot hash the same); anything else is GitHub's own answer, served
//! as it is. Where the rule does not hold (GitHub changes it, a GitHub
//! Enterprise Server computes ETags otherwise), the conditional request comes
//! back 200 and costs what the plain request would have: never worse than not
//! sharing. The counters per path family show an operator when it stops
//! working.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use app::model::{ConfirmCounts, ConfirmStats};
use axum::http::header::{ACCEPT, AUTHORIZATION, COOKIE};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::entry::Entry;
use crate::github::stored::Decoded;

/// Which answers a node confirms with GitHub before serving them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ConfirmMode {
    /// Answers of another scope, or from an untrusted peer, are confirmed
    /// for the requester; the requester's own scope from trusted members is
    /// served as it is.
    #[default]
    CrossScope,
    /// Every answer this node did not itself get from GitHub for the
    /// requester's scope is confirmed, trusted members' too.
    Always,
    /// Nothing is shared between scopes, and each token's answers are sealed
    /// under that token's own key.
    Off,
}

impl ConfirmMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmMode::CrossScope => "cross-scope",
            ConfirmMode::Always => "always",
            ConfirmMode::Off => "off",
        }
    }

    /// Whether bodies of other scopes are offered to GitHub for confirmation.
    pub fn shares(self) -> bool {
        self != ConfirmMode::Off
    }
}

/// The ETag GitHub gives the request with `headers` for `body`.
pub fn github_etag(headers: &HeaderMap, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    for name in [ACCEPT, AUTHORIZATION, COOKIE] {
        for value in headers.get_all(name) {
            hash.update(value.as_bytes());
            hash.update(b":");
        }
    }
    hash.update(body);
    format!("W/\"{}\"", hex(&hash.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two entity tags name the same thing (RFC 9110's weak comparison,
/// the one `If-None-Match` uses).
pub fn same_etag(a: &str, b: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    opaque(a) == opaque(b)
}

/// A body the fleet holds for a request, offered to GitHub for one requester.
pub struct Candidate {
    pub entry: Arc<Entry>,
    pub decoded: Arc<Decoded>,
    /// What is sent in `If-None-Match` for it: GitHub's own ETag for this
    /// scope when this node had it from GitHub, else the one computed.
    pub etag: String,
    /// The requester's own answer, stored by this node from GitHub (a plain
    /// revalidation), not another scope's or a peer's.
    pub own: bool,
}

/// The `If-None-Match` value that offers every candidate at once.
pub fn if_none_match(candidates: &[Candidate]) -> String {
    let mut tags: Vec<&str> = Vec::new();
    for candidate in candidates {
        if !tags.iter().any(|tag| same_etag(tag, &candidate.etag)) {
            tags.push(&candidate.etag);
        }
    }
    tags.join(", ")
}

/// Which candidate GitHub's 304 confirmed: the one whose tag is the 304's
/// `ETag`; without one, the only candidate (or several with one body). `None`
/// when the 304 cannot be tied to one body.
pub fn confirmed<'a>(candidates: &'a [Candidate], etag: Option<&str>) -> Option<&'a Candidate> {
    match etag {
        Some(etag) => candidates.iter().find(|c| same_etag(&c.etag, etag)),
        None => {
            let first = candidates.first()?;
            candidates.iter().all(|c| c.decoded.body == first.decoded.body).then_some(first)
        }
    }
}

/// How one confirmation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// GitHub answered 304 for a body of the fleet's.
    Confirmed,
    /// GitHub answered anything else (200 with its own body, 404, 403, …).
    Refused,
}

/// Confirmations by path family: tried, confirmed, refused.
#[derive(Default)]
pub struct ConfirmCounters {
    by_family: Mutex<BTreeMap<&'static str, [u64; 2]>>,
    tried: AtomicU64,
}

impl ConfirmCounters {
    pub fn record(&self, family: &'static str, outcome: Outcome) {
        self.tried.fetch_add(1, Ordering::Relaxed);
        let mut by_family = self.by_family.lock().expect("confirm counters lock");
        let counts = by_family.entry(family).or_default();
        counts[(outcome == Outcome::Refused) as usize] += 1;
    }

    pub fn snapshot(&self, mode: ConfirmMode, shares_tokens: bool) -> ConfirmStats {
        let by_family = self.by_family.lock().expect("confirm counters lock");
        let by_family: BTreeMap<String, ConfirmCounts> = by_family
            .iter()
            .map(|(family, [confirmed, refused])| {
                let counts = ConfirmCounts { tried: confirmed + refused, confirmed: *confirmed, refused: *refused };
                ((*family).to_owned(), counts)
            })
            .collect();
        ConfirmStats {
            mode: mode.as_str().to_owned(),
            shares_tokens,
            tried: self.tried.load(Ordering::Relaxed),
            confirmed: by_family.values().map(|c| c.confirmed).sum(),
            refused: by_family.values().map(|c| c.refused).sum(),
            by_family,
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_etag_hashes_accept_authorization_and_the_body() {
        // sha256("") and sha256("*/*:Bearer t:{}"), computed with sha256sum.
        assert_eq!(
            github_etag(&HeaderMap::new(), b""),
            "W/\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\""
        );
        let both = github_etag(&headers(&[("accept", "*/*"), ("authorization", "Bearer t")]), b"{}");
        assert_eq!(both, "W/\"23294cca6f699898b0231923e7156f077eff4d8d6ac9bd02533ce1a4c05bd275\"");
        let other_token = github_etag(&headers(&[("accept", "*/*"), ("authorization", "Bearer u")]), b"{}");
        assert_ne!(both, other_token, "another token, another tag");
        let other_body = github_etag(&headers(&[("accept", "*/*"), ("authorization", "Bearer t")]), b"{ }");
        assert_ne!(both, other_body, "another body, another tag");
        let unrelated =
            github_etag(&headers(&[("accept", "*/*"), ("authorization", "Bearer t"), ("user-agent", "x")]), b"{}");
        assert_eq!(both, unrelated, "other headers do not count");
    }

    #[test]
    fn etags_compare_weakly() {
        assert!(same_etag("W/\"a\"", "\"a\""));
        assert!(same_etag(" \"a\"", "W/\"a\""));
        assert!(!same_etag("\"a\"", "\"b\""));
    }
}
