//! Invalidations told to the group, signed by the node that tells them. A
//! write through a node names the GitHub prefixes whose answers from before
//! `at_ms` are stale: narrow prefixes only. An operator's `invalidate
//! --fleet` names any key or prefix, or everything. Either is acted on only
//! when it verifies: its cause's rules, a trusted publisher, not from the
//! future.

use libp2p::identity::{Keypair, PublicKey};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use crate::cache::key::validate_key;
use crate::p2p::rejection::{Rejection, MAX_CLOCK_SKEW_MS};
use crate::p2p::trust::Trust;
use crate::p2p::wire::under_domain;

const INVALIDATION_DOMAIN: &[u8] = b"peercache/invalidation/v1\0";
const FLUSH_DOMAIN: &[u8] = b"peercache/flush/v1\0";
/// Prefixes one invalidation may name, at most.
pub const MAX_INVALIDATED_PREFIXES: usize = 8;

/// Why answers are stale: a write through a node, or an operator's word.
/// Each signs under its own domain, so one is never taken for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A write went to GitHub: narrow GitHub prefixes (see [`narrow_prefix`]).
    Write,
    /// An operator ran `invalidate --fleet`: any valid key or prefix, or
    /// `""` alone for everything.
    Operator,
}

impl Cause {
    fn domain(self) -> &'static [u8] {
        match self {
            Cause::Write => INVALIDATION_DOMAIN,
            Cause::Operator => FLUSH_DOMAIN,
        }
    }
}

/// Answers under these prefixes from before `at_ms` are stale everywhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireInvalidation {
    pub prefixes: Vec<String>,
    pub at_ms: u64,
    #[serde(with = "serde_bytes")]
    pub publisher_key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl WireInvalidation {
    pub fn new(cause: Cause, prefixes: Vec<String>, at_ms: u64, signer: &Keypair) -> WireInvalidation {
        let signature = signer.sign(&Self::signed(cause, &prefixes, at_ms)).expect("ed25519 signing cannot fail");
        WireInvalidation { prefixes, at_ms, publisher_key: signer.public().encode_protobuf(), signature }
    }

    fn signed(cause: Cause, prefixes: &[String], at_ms: u64) -> Vec<u8> {
        under_domain(cause.domain(), &(prefixes, at_ms))
    }

    /// Its publisher, when it may be acted on: prefixes its cause allows,
    /// signed for that cause, from a trusted publisher, not from the future
    /// beyond clock skew (the caller acts on it as of now at the latest, so a
    /// date ahead never bars copies longer).
    pub fn verify(&self, cause: Cause, trust: &Trust, now_ms: u64) -> Result<PeerId, Rejection> {
        if self.prefixes.is_empty() || self.prefixes.len() > MAX_INVALIDATED_PREFIXES {
            return Err(Rejection::Malformed(format!("{} prefixes in an invalidation", self.prefixes.len())));
        }
        for prefix in &self.prefixes {
            match cause {
                Cause::Operator if prefix.is_empty() && self.prefixes.len() == 1 => continue,
                Cause::Operator => {}
                Cause::Write if !narrow_prefix(prefix) => return Err(Rejection::TooWide(prefix.clone())),
                Cause::Write => {}
            }
            validate_key(prefix).map_err(|e| Rejection::BadKey(e.to_string()))?;
        }
        let key = PublicKey::try_decode_protobuf(&self.publisher_key).map_err(|_| Rejection::BadSignature)?;
        if !key.verify(&Self::signed(cause, &self.prefixes, self.at_ms), &self.signature) {
            return Err(Rejection::BadSignature);
        }
        let publisher = key.to_peer_id();
        if !trust.trusts(&publisher) {
            return Err(Rejection::Untrusted(publisher.to_string()));
        }
        if self.at_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(Rejection::FromTheFuture(self.at_ms - now_ms));
        }
        Ok(publisher)
    }
}

/// Whether a peer may make answers under `prefix` stale: one repository's
/// (`github:GET:/repos/{o}/{r}` then `/`, `?` or `:`), one path's (ending
/// `?` or `:`, no subtree), or the GraphQL answers after a mutation — what a
/// write through a node invalidates, never `github:GET:/` or `/repos/`.
pub fn narrow_prefix(prefix: &str) -> bool {
    if prefix == "github:POST:/graphql" {
        return true;
    }
    let Some(rest) = prefix.strip_prefix("github:GET:/") else { return false };
    let Some(last) = rest.chars().last() else { return false };
    let path = &rest[..rest.len() - last.len_utf8()];
    match last {
        '?' | ':' => !path.is_empty() && !path.contains(['?', ':']),
        '/' => matches!(path.split('/').collect::<Vec<_>>().as_slice(),
            ["repos", owner, repo] if !owner.is_empty() && !repo.is_empty()),
        _ => false,
    }
}
