//! Token scopes. A response cached for one token is served to another only
//! once GitHub confirmed it for that token (see `confirm`), yet every peer of
//! a group must compute the same key for the same token. So the key holds
//! `scope = hex(HMAC-SHA256(group secret, token))[..16]` — never the token —
//! and the body of a token-scoped entry is sealed with ChaCha20-Poly1305,
//! bound to the entry's key, time, TTL and ETag.
//!
//! Sealed under what decides who reads it: with confirmed sharing on and a
//! real group secret (`CACHE_SECRET` or the swarm key), under a key derived
//! from the group secret, so every member can read every scope's bodies to
//! compute the ETag GitHub would give another token — strangers cannot; with
//! sharing off, or without a group secret (an open swarm, where the public
//! salt would let anyone open them), under a key derived from the token, so a
//! peer without that token cannot read it even though the entry travels to
//! it. The scopes of recently seen credentials are remembered, so a hit does
//! not compute an HMAC and an HKDF.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use lru::LruCache;
use sha2::{Digest, Sha256};

/// Salt used when no group secret is configured: public, so every peercache
/// computes the same scopes; it hides tokens from the key, not from a guesser.
const PUBLIC_SALT: &[u8] = b"peercache/scope/v1/public-salt";
const BODY_KEY_INFO: &[u8] = b"peercache/body-key/v1";
const GROUP_KEY_INFO: &[u8] = b"peercache/group-body-key/v1";
/// The scope of requests without a token.
pub const ANONYMOUS: &str = "anonymous";
/// Credentials whose scopes are remembered; the least recently used go first.
const REMEMBERED: NonZeroUsize = NonZeroUsize::new(1024).expect("not zero");

/// Computes scopes and body keys for one group.
#[derive(Clone)]
pub struct Scopes {
    secret: Vec<u8>,
    /// The key every member seals and opens token-scoped bodies with, when
    /// they are shared across scopes.
    group: Option<[u8; 32]>,
    /// Credential → its scope.
    known: Arc<Mutex<LruCache<String, Scope>>>,
}

/// The scope of one request.
#[derive(Clone)]
pub struct Scope {
    /// `anonymous` or 16 hex characters; safe to log and to put in keys.
    pub id: Arc<str>,
    /// Key sealing this scope's bodies; `None` for the anonymous scope.
    key: Option<[u8; 32]>,
    /// Another key its bodies may have been sealed with (the token's own,
    /// before sharing was turned on, or the group's, after it was turned off).
    fallback: Option<[u8; 32]>,
}

impl Scopes {
    /// The group secret: `CACHE_SECRET`, else the swarm key, else the public
    /// salt. With `shared`, and a real group secret, bodies are sealed under
    /// the group's key (readable by every member, for confirmed sharing).
    pub fn new(cache_secret: Option<&str>, swarm_key: Option<&str>, shared: bool) -> Scopes {
        let (secret, real) = match (cache_secret.filter(|s| !s.is_empty()), swarm_key) {
            (Some(secret), _) => (Sha256::digest(secret.as_bytes()).to_vec(), true),
            (None, Some(psk)) => (Sha256::digest(psk.as_bytes()).to_vec(), true),
            (None, None) => (PUBLIC_SALT.to_vec(), false),
        };
        let group = (shared && real).then(|| {
            let mut key = [0u8; 32];
            Hkdf::<Sha256>::new(Some(&secret), b"")
                .expand(GROUP_KEY_INFO, &mut key)
                .expect("32 bytes is a valid HKDF output length");
            key
        });
        Scopes { secret, group, known: Arc::new(Mutex::new(LruCache::new(REMEMBERED))) }
    }

    /// Whether members read each other's tokens' bodies (to confirm them for
    /// other tokens); without it only anonymous answers cross scopes.
    pub fn shares_tokens(&self) -> bool {
        self.group.is_some()
    }

    /// A scope that opens the bodies of the scope `id` without its token:
    /// anonymous ones always, token-scoped ones when bodies are sealed under
    /// the group's key.
    pub fn reader(&self, id: &str) -> Scope {
        if id == ANONYMOUS {
            return Scope { id: Arc::from(ANONYMOUS), key: None, fallback: None };
        }
        Scope { id: Arc::from(id), key: self.group, fallback: None }
    }

    /// The scope of a request's `Authorization` header value, or the
    /// anonymous scope without one. `token X` and `Bearer X` are the same
    /// credential to GitHub, so the same scope; other schemes (Basic) count
    /// whole.
    pub fn scope_of(&self, authorization: Option<&str>) -> Scope {
        let Some(token) = authorization.map(credential).filter(|t| !t.is_empty()) else {
            return Scope { id: Arc::from(ANONYMOUS), key: None, fallback: None };
        };
        if let Some(known) = self.known.lock().expect("scopes lock").get(token) {
            return known.clone();
        }
        let scope = self.derive(token);
        self.known.lock().expect("scopes lock").put(token.to_owned(), scope.clone());
        scope
    }

    fn derive(&self, token: &str) -> Scope {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(token.as_bytes());
        let digest = mac.finalize().into_bytes();
        let id: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let id = Arc::from(id);
        let mut own = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.secret), token.as_bytes())
            .expand(BODY_KEY_INFO, &mut own)
            .expect("32 bytes is a valid HKDF output length");
        match self.group {
            Some(group) => Scope { id, key: Some(group), fallback: Some(own) },
            None => Scope { id, key: Some(own), fallback: None },
        }
    }
}

/// The credential of an `Authorization` value: what follows `token ` or
/// `Bearer ` (any case), else the whole value.
fn credential(authorization: &str) -> &str {
    let value = authorization.trim();
    for scheme in ["token ", "bearer "] {
        if value.len() > scheme.len() && value[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return value[scheme.len()..].trim();
        }
    }
    value
}

impl Scope {
    pub fn is_anonymous(&self) -> bool {
        &*self.id == ANONYMOUS
    }

    /// Seals `plaintext` bound to `binding` (associated data: it must be
    /// given again to open); nonce ‖ ciphertext, base64. Anonymous data is
    /// not sealed.
    pub fn seal(&self, plaintext: &[u8], binding: &[u8]) -> Option<String> {
        let key = self.key?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut sealed = nonce.to_vec();
        let payload = Payload { msg: plaintext, aad: binding };
        sealed.extend(cipher.encrypt(&nonce, payload).expect("encrypting in memory cannot fail"));
        Some(BASE64.encode(sealed))
    }

    /// Opens what `seal` made under the same `binding`; `None` for a wrong
    /// key, another binding, or tampered data.
    pub fn open(&self, sealed: &str, binding: &[u8]) -> Option<Vec<u8>> {
        let bytes = BASE64.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        self.key.iter().chain(&self.fallback).find_map(|key| {
            let payload = Payload { msg: ciphertext, aad: binding };
            ChaCha20Poly1305::new(Key::from_slice(key)).decrypt(Nonce::from_slice(nonce), payload).ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_token_same_scope_across_peers_of_a_group() {
        let a = Scopes::new(Some("group"), None, false).scope_of(Some("token ghp_abc"));
        let b = Scopes::new(Some("group"), None, false).scope_of(Some("token ghp_abc"));
        assert_eq!(a.id, b.id);
        assert_eq!(a.id.len(), 16);
        assert!(!a.id.contains("ghp_abc"));
        assert_ne!(a.id, Scopes::new(Some("group"), None, false).scope_of(Some("token ghp_xyz")).id);
        assert_ne!(a.id, Scopes::new(Some("other"), None, false).scope_of(Some("token ghp_abc")).id);
        assert_eq!(Scopes::new(None, None, false).scope_of(None).id, ANONYMOUS.into());
        assert_eq!(Scopes::new(None, None, false).scope_of(Some("  ")).id, ANONYMOUS.into());
        // One credential, one scope, whatever the scheme's spelling.
        let group = Scopes::new(Some("group"), None, false);
        assert_eq!(group.scope_of(Some("Bearer ghp_abc")).id, a.id);
        assert_eq!(group.scope_of(Some("bearer  ghp_abc ")).id, a.id);
        assert_ne!(group.scope_of(Some("Basic Z2hwX2FiYw==")).id, a.id);
    }

    #[test]
    fn a_sealed_body_opens_only_with_the_same_token() {
        let scopes = Scopes::new(None, Some("/key/swarm/psk/1.0.0/\n/base16/\n00"), false);
        let mine = scopes.scope_of(Some("Bearer mine"));
        let sealed = mine.seal(br#"{"private": true}"#, b"key-1").unwrap();
        assert!(!sealed.contains("private"));
        assert_eq!(scopes.scope_of(Some("Bearer mine")).open(&sealed, b"key-1").unwrap(), br#"{"private": true}"#);
        assert!(scopes.scope_of(Some("Bearer yours")).open(&sealed, b"key-1").is_none());
        assert!(scopes.scope_of(None).open(&sealed, b"key-1").is_none());
        assert!(mine.open(&sealed, b"key-2").is_none(), "bound to what it was sealed with");
        let mut tampered = BASE64.decode(&sealed).unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(mine.open(&BASE64.encode(tampered), b"key-1").is_none());
    }

    #[test]
    fn shared_bodies_open_for_members_never_for_strangers() {
        const PSK: &str = "/key/swarm/psk/1.0.0/\n/base16/\n00";
        let member = Scopes::new(None, Some(PSK), true);
        assert!(member.shares_tokens());
        let sealed = member.scope_of(Some("Bearer mine")).seal(b"body", b"k").unwrap();
        // Another member, without the token, reads it to confirm it for another token.
        let other_member = Scopes::new(None, Some(PSK), true);
        let scope_id = member.scope_of(Some("Bearer mine")).id;
        assert_eq!(other_member.reader(&scope_id).open(&sealed, b"k").unwrap(), b"body");
        assert!(other_member.reader(&scope_id).open(&sealed, b"other binding").is_none());
        // A node of another swarm, or with sharing off, cannot.
        assert!(Scopes::new(None, Some("another"), true).reader(&scope_id).open(&sealed, b"k").is_none());
        assert!(Scopes::new(None, Some(PSK), false).reader(&scope_id).open(&sealed, b"k").is_none());
        // No group secret (an open swarm): the public salt would let anyone in, so tokens keep their own keys.
        let open_swarm = Scopes::new(None, None, true);
        assert!(!open_swarm.shares_tokens());
        let own = open_swarm.scope_of(Some("Bearer mine")).seal(b"body", b"k").unwrap();
        assert!(Scopes::new(None, None, true).reader("0123456789abcdef").open(&own, b"k").is_none());
        // Bodies sealed before sharing was turned on still open for their own token.
        let before = Scopes::new(None, Some(PSK), false).scope_of(Some("Bearer mine")).seal(b"old", b"k").unwrap();
        assert_eq!(member.scope_of(Some("Bearer mine")).open(&before, b"k").unwrap(), b"old");
    }
}
