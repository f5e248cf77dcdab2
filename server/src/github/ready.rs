//! Answers kept ready to send: a stored entry decoded (opened for its scope)
//! and rewritten for a client base, so a hit on a hot entry neither opens a
//! seal nor rewrites a body again. Looked up by CID without allocating, then
//! matched on key, scope and base (a seal moved to another key has the same
//! CID but must not be served from here). Bounded in bytes, least recently
//! used first out.

use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::github::stored::Decoded;

/// Bytes of bodies kept ready.
const BUDGET: usize = 64 * 1024 * 1024;

struct Form {
    key: String,
    scope: String,
    /// The client base it is rewritten for; empty for the stored form.
    base: String,
    decoded: Arc<Decoded>,
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

    pub fn put(&self, cid: &str, key: &str, scope: &str, base: &str, decoded: Arc<Decoded>) {
        let mut forms = self.forms.lock().expect("ready lock");
        let size = decoded.body.len();
        let form = Form { key: key.to_owned(), scope: scope.to_owned(), base: base.to_owned(), decoded };
        match forms.lru.get_mut(cid) {
            Some(list) => list.push(form),
            None => {
                forms.lru.put(cid.to_owned(), vec![form]);
            }
        }
        forms.bytes += size;
        while forms.bytes > BUDGET {
            let Some((_, old)) = forms.lru.pop_lru() else { break };
            forms.bytes -= old.iter().map(|f| f.decoded.body.len()).sum::<usize>();
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
}
