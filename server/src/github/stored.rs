//! How a GitHub response lives in the cache: a JSON envelope (the cache holds
//! JSON) with the status, the headers worth replaying and the body — inline
//! when it is JSON, base64 otherwise — and, for a token's scope, all of that
//! sealed so that only the same token opens it, bound to the entry's key,
//! stored time, TTL and ETag: a seal moved to another key, or replayed with
//! another time, does not open.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::github::scope::Scope;

/// Response headers kept with a cached body and replayed on hits.
pub const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "cache-control",
    "expires",
    "vary",
    "etag",
    "last-modified",
    "link",
    "x-github-media-type",
    "x-github-api-version-selected",
    "x-oauth-scopes",
    "x-accepted-oauth-scopes",
    "x-accepted-github-permissions",
    "x-github-sso",
];

/// Headers about one connection, never passed on.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
];

/// What a sealed envelope is bound to (its AEAD associated data).
pub struct Binding<'a> {
    pub key: &'a str,
    pub stored_at_ms: u64,
    pub ttl_secs: u64,
    pub etag: Option<&'a str>,
}

impl Binding<'_> {
    fn bytes(&self) -> Vec<u8> {
        let mut bytes = b"peercache/seal/v1\0".to_vec();
        let fields = (self.key, self.stored_at_ms, self.ttl_secs, self.etag);
        bytes.extend(postcard::to_allocvec(&fields).expect("the binding always encodes"));
        bytes
    }
}

/// A response ready to send: what a hit serves.
#[derive(Debug)]
pub struct Decoded {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Its forms rewritten for client bases (see `rewrite`), made once each.
    pub rewrites: Rewrites,
}

/// Bases a decoded answer keeps rewritten forms for, at most.
const REWRITES_KEPT: usize = 4;

/// The rewritten forms of one answer, by client base.
#[derive(Debug, Default)]
pub struct Rewrites(Mutex<Vec<(String, Arc<Decoded>)>>);

impl Rewrites {
    /// The form for `base`, made by `make` the first time.
    pub fn get_or_insert(&self, base: &str, make: impl FnOnce() -> Arc<Decoded>) -> Arc<Decoded> {
        if let Some((_, form)) = self.0.lock().expect("rewrites lock").iter().find(|(b, _)| b == base) {
            return form.clone();
        }
        let form = make();
        let mut forms = self.0.lock().expect("rewrites lock");
        if forms.len() >= REWRITES_KEPT {
            forms.remove(0);
        }
        forms.push((base.to_owned(), form.clone()));
        form
    }
}

#[derive(Serialize, Deserialize)]
struct Plain<'a> {
    status: u16,
    headers: Vec<(String, String)>,
    #[serde(borrow, skip_serializing_if = "Option::is_none", default)]
    json: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    body_b64: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    sealed: String,
}

impl Decoded {
    /// An upstream response as it came (hop-by-hop headers aside); what is
    /// stored of it keeps only [`KEPT_HEADERS`].
    pub fn new(status: StatusCode, upstream: &HeaderMap, body: Bytes) -> Decoded {
        let mut headers = upstream.clone();
        for name in HOP_BY_HOP {
            headers.remove(*name);
        }
        Decoded::new_as_is(status, headers, body)
    }

    /// A response of exactly these parts.
    pub fn new_as_is(status: StatusCode, headers: HeaderMap, body: Bytes) -> Decoded {
        Decoded { status, headers, body, rewrites: Rewrites::default() }
    }

    /// The envelope stored under the scope: sealed (bound to `binding`)
    /// unless anonymous.
    pub fn encode(&self, scope: &Scope, binding: &Binding<'_>) -> Vec<u8> {
        // Inline only when the JSON is the body to the byte (no whitespace
        // around it): GitHub's ETag is computed over the exact bytes.
        let text = std::str::from_utf8(&self.body).ok();
        let json =
            text.and_then(|t| serde_json::from_str::<&RawValue>(t).ok().filter(|raw| raw.get().len() == t.len()));
        let plain = Plain {
            status: self.status.as_u16(),
            headers: self
                .headers
                .iter()
                .filter(|(k, _)| KEPT_HEADERS.contains(&k.as_str()))
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            json,
            body_b64: json.is_none().then(|| BASE64.encode(&self.body)),
        };
        let plain = serde_json::to_vec(&plain).expect("an envelope always serializes");
        match scope.seal(&plain, &binding.bytes()) {
            Some(sealed) => serde_json::to_vec(&Sealed { sealed }).expect("a sealed envelope always serializes"),
            None => plain,
        }
    }

    /// Reads an envelope back; `None` when it is not one, or is sealed for
    /// another scope or bound to something else. Only [`KEPT_HEADERS`] are
    /// replayed, whatever the envelope holds.
    pub fn decode(stored: &[u8], scope: &Scope, binding: &Binding<'_>) -> Option<Decoded> {
        let opened;
        let plain_bytes = if scope.is_anonymous() {
            stored
        } else {
            let sealed: Sealed = serde_json::from_slice(stored).ok()?;
            opened = scope.open(&sealed.sealed, &binding.bytes())?;
            &opened[..]
        };
        let plain: Plain<'_> = serde_json::from_slice(plain_bytes).ok()?;
        let mut headers = HeaderMap::new();
        for (name, value) in plain.headers {
            let name = HeaderName::try_from(name).ok()?;
            if KEPT_HEADERS.contains(&name.as_str()) {
                headers.insert(name, HeaderValue::try_from(value).ok()?);
            }
        }
        let body = match (plain.json, plain.body_b64) {
            (Some(json), _) => Bytes::copy_from_slice(json.get().as_bytes()),
            (None, Some(b64)) => Bytes::from(BASE64.decode(b64).ok()?),
            (None, None) => Bytes::new(),
        };
        Some(Decoded::new_as_is(StatusCode::from_u16(plain.status).ok()?, headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::scope::Scopes;

    fn upstream_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
        headers.insert("etag", HeaderValue::from_static("W/\"abc\""));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
        headers
    }

    const BINDING: Binding<'static> =
        Binding { key: "github:GET:/repos/o/r", stored_at_ms: 1, ttl_secs: 60, etag: Some("W/\"abc\"") };

    #[test]
    fn anonymous_json_is_stored_readably_and_round_trips() {
        let scope = Scopes::new(None, None, false).scope_of(None);
        let decoded = Decoded::new(StatusCode::OK, &upstream_headers(), Bytes::from_static(br#"{"id":1,"name":"x"}"#));
        assert_eq!(decoded.headers["x-ratelimit-remaining"], "4999", "a live answer keeps every header");
        let stored = decoded.encode(&scope, &BINDING);
        let text = String::from_utf8(stored.clone()).unwrap();
        assert!(text.contains(r#""json":{"id":1,"name":"x"}"#), "{text}");
        assert!(!text.contains("x-ratelimit"), "volatile headers are not kept");
        let back = Decoded::decode(&stored, &scope, &BINDING).unwrap();
        assert_eq!(back.body, decoded.body);
        assert_eq!(back.headers.get("etag").unwrap(), "W/\"abc\"");
    }

    #[test]
    fn scoped_bodies_are_sealed_and_other_scopes_cannot_read_them() {
        let scopes = Scopes::new(Some("g"), None, false);
        let mine = scopes.scope_of(Some("token a"));
        let decoded = Decoded::new(
            StatusCode::OK,
            &upstream_headers(),
            Bytes::from_static(br#"{"secret":"correct horse battery"}"#),
        );
        let stored = decoded.encode(&mine, &BINDING);
        assert!(!String::from_utf8_lossy(&stored).contains("correct horse"), "sealed, not readable");
        serde_json::from_slice::<serde_json::Value>(&stored).expect("still JSON for the cache");
        assert_eq!(Decoded::decode(&stored, &mine, &BINDING).unwrap().body, decoded.body);
        assert!(Decoded::decode(&stored, &scopes.scope_of(Some("token b")), &BINDING).is_none());
        assert!(Decoded::decode(&stored, &scopes.scope_of(None), &BINDING).is_none());
        // Moved to another key, or replayed with a new time or TTL: it does not open.
        let moved = Binding { key: "github:GET:/repos/o/other", ..BINDING };
        let replayed = Binding { stored_at_ms: 2, ..BINDING };
        let longer = Binding { ttl_secs: 3600, ..BINDING };
        for binding in [moved, replayed, longer] {
            assert!(Decoded::decode(&stored, &mine, &binding).is_none());
        }
    }

    #[test]
    fn only_the_kept_headers_are_replayed_whatever_the_envelope_says() {
        let scope = Scopes::new(None, None, false).scope_of(None);
        let planted = br#"{"status":200,"headers":[["content-type","text/html"],["set-cookie","sid=x"]],"json":{}}"#;
        let back = Decoded::decode(planted, &scope, &BINDING).unwrap();
        assert_eq!(back.headers.len(), 1);
        assert!(back.headers.get("set-cookie").is_none());
    }

    #[test]
    fn bodies_come_back_to_the_byte() {
        let scope = Scopes::new(None, None, false).scope_of(None);
        for body in [&b"{\"a\": 1}\n"[..], b"  [1, 2]", b"{\"a\":1}"] {
            let decoded = Decoded::new(StatusCode::OK, &HeaderMap::new(), Bytes::copy_from_slice(body));
            let back = Decoded::decode(&decoded.encode(&scope, &BINDING), &scope, &BINDING).unwrap();
            assert_eq!(back.body, body, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn non_json_bodies_travel_as_base64() {
        let scope = Scopes::new(None, None, false).scope_of(None);
        let decoded = Decoded::new(StatusCode::OK, &HeaderMap::new(), Bytes::from_static(b"raw file\n\xff"));
        let back = Decoded::decode(&decoded.encode(&scope, &BINDING), &scope, &BINDING).unwrap();
        assert_eq!(back.body, decoded.body);
    }
}
