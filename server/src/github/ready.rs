//! Answers kept ready to send: a stored entry decoded (opened for its scope)
//! and rewritten for a client base, so a hit on a hot entry neither opens a
//! seal nor rewrites a body again. Looked up by CID without allocating, then
//! matched on key, scope and base (a seal moved to another key has the same
//! CID but must not be served from here). Bounded in the bytes the forms
//! take (bodies, headers, names), least recently used first out: about
//! 3 KiB per small answer, so the default keeps some 5,000 hot answers
//! ready and a node's memory follows what it stores, not what it served.

use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::github::stored::Decoded;

/// Bytes the forms kept ready may take.
pub const BUDGET: usize = 16 * 1024 * 1024;
/// What one header costs besides its name and value (the map's slot).
const HEADER_SLOT: usize = 48;

/// The bytes a form takes: its body and headers, and as much again for
/// the form rewritten for the client's base that a hit through `/github`
/// adds to it (see `Rewrites`), plus the names it is found by.
fn cost(decoded: &Decoded, names: usize) -> usize {
    let headers: usize = decoded.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + HEADER_SLOT).sum();
    2 * (decoded.body.len() + headers) + names
}

struct Form {
    key: String,
    scope: String,
    /// The client base it is rewritten for; empty for the stored form.
    base: String,
    decoded: Arc<Decoded>,
    /// What it was counted as (see [`cost`]).
    cost: usize,
}

struct Forms {
    lru: LruCache<String, Vec<Form>>,
    bytes: usize,
}

pub struct Ready {
    forms: Mutex<Forms>,
}

impl Default for Ready {
    fn default() -> Self {
        Ready { forms: Mutex::new(Forms { lru: LruCache::unbounded(), bytes: 0 }) }
    }
}

impl Ready {
    pub fn get(&self, cid: &str, key: &str, scope: &str, base: &str) -> Option<Arc<Decoded>> {
        let mut forms = self.forms.lock().expect("ready lock");
        let found = forms.lru.get(cid)?;
        found.iter().find(|f| f.key == key && f.scope == scope && f.base == base).map(|f| f.decoded.clone())
    }

    /// How many forms are kept, and the bytes they are counted as.
    pub fn usage(&self) -> (usize, usize) {
        let forms = self.forms.lock().expect("ready lock");
        (forms.lru.iter().map(|(_, list)| list.len()).sum(), forms.bytes)
    }

    pub fn put(&self, cid: &str, key: &str, scope: &str, base: &str, decoded: Arc<Decoded>) {
        let mut forms = self.forms.lock().expect("ready lock");
        let size = cost(&decoded, cid.len() + key.len() + scope.len() + base.len());
        let form = Form { key: key.to_owned(), scope: scope.to_owned(), base: base.to_owned(), decoded, cost: size };
        match forms.lru.get_mut(cid) {
            Some(list) => list.push(form),
            None => {
                forms.lru.put(cid.to_owned(), vec![form]);
            }
        }
        forms.bytes += size;
        while forms.bytes > BUDGET {
            let Some((_, old)) = forms.lru.pop_lru() else { break };
            forms.bytes -= old.iter().map(|f| f.cost).sum::<usize>();
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, StatusCode};
    use bytes::Bytes;

    use super::*;

    #[test]
    fn a_form_is_found_only_for_its_key_scope_and_base() {
        let ready = Ready::default();
        let body = Arc::new(Decoded::new(StatusCode::OK, &HeaderMap::new(), Bytes::from_static(b"{}")));
        ready.put("cid", "k", "s", "", body.clone());
        assert!(ready.get("cid", "k", "s", "").is_some());
        assert!(ready.get("cid", "moved", "s", "").is_none());
        assert!(ready.get("cid", "k", "other", "").is_none());
        assert!(ready.get("cid", "k", "s", "http://x/github").is_none());
    }

    #[test]
    fn the_budget_counts_headers_and_names_and_drops_the_least_recent() {
        let ready = Ready::default();
        let mut headers = HeaderMap::new();
        headers.insert("etag", "W/\"0123456789abcdef\"".parse().unwrap());
        let body = Arc::new(Decoded::new(StatusCode::OK, &headers, Bytes::from(vec![b'x'; 500])));
        ready.put("a", "k", "s", "", body.clone());
        let (forms, bytes) = ready.usage();
        assert_eq!(forms, 1);
        assert!(bytes > 2 * 500 + 48, "headers and names count: {bytes}");
        for i in 0..BUDGET / bytes + 10 {
            ready.put(&format!("cid{i}"), "k", "s", "", body.clone());
        }
        let (forms, bytes) = ready.usage();
        assert!(bytes <= BUDGET && forms < BUDGET / 1000, "{forms} forms, {bytes} bytes");
        assert!(ready.get("a", "k", "s", "").is_none(), "the least recent went first");
    }
}
