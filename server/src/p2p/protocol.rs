//! What peers say to each other, and the checks an entry from a peer passes
//! before it is stored: its body matches its CID, its publisher's signature
//! holds over everything that decides how it is served, a GitHub answer's
//! publisher is trusted, it has not expired, it is not from the future, its
//! TTL is no longer than its key allows, and it is newer than our copy.
//!
//! Announcements ride gossipsub, postcard-encoded after a magic and a version
//! number: a new entry (bodies of at most `INLINE_BODY_MAX` bytes ride along,
//! larger ones are fetched with `/peercache/fetch/1.0.0`, CBOR
//! request-response), or a write to GitHub that makes a repository's cached
//! answers stale (signed, from a trusted publisher, like GitHub answers).

use std::collections::HashSet;

use bytes::Bytes;
use libp2p::identity::{Keypair, PublicKey};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use crate::cache::entry::{content_id, Entry, Origin, Provenance};
use crate::cache::key::{is_github_key, validate_key};

/// The gossipsub topic of cache announcements.
pub const ANNOUNCE_TOPIC: &str = "peercache/announce/1";
/// The request-response protocol that fetches one entry by key.
pub const FETCH_PROTOCOL: &str = "/peercache/fetch/1.0.0";
/// The request-response protocol that says which entries a peer holds since
/// a time: how a node catches up after a partition or a restart.
pub const SYNC_PROTOCOL: &str = "/peercache/sync/1.0.0";
/// Entries one sync answer lists at most (the newest).
pub const SYNC_LIMIT: usize = 2000;
/// The request-response protocol of fleet-wide single flight: a node asks a
/// key's coordinator for the lease to fetch it from GitHub.
pub const LEASE_PROTOCOL: &str = "/peercache/lease/1.0.0";
/// Every announcement starts with these bytes, then its version: what lacks
/// them is garbage, what has them with another version is a newer (or older)
/// node's, to be ignored without parting.
pub const ANNOUNCEMENT_MAGIC: &[u8; 4] = b"PCAN";
/// The version of the announcements this node writes and reads.
pub const WIRE_VERSION: u16 = 2;
/// Largest body sent inside an announcement.
pub const INLINE_BODY_MAX: usize = 32 * 1024;
/// Largest encoded announcement accepted (body plus metadata).
pub const ANNOUNCEMENT_MAX: usize = INLINE_BODY_MAX + 4 * 1024;
/// How far in the future a peer's `stored_at` may be (clock skew).
pub const MAX_CLOCK_SKEW_MS: u64 = 60_000;
/// What a signature is over starts with these, so it means nothing elsewhere.
const SIGNATURE_DOMAIN: &[u8] = b"peercache/entry/v1\0";
const INVALIDATION_DOMAIN: &[u8] = b"peercache/invalidation/v1\0";
/// Prefixes one invalidation may name, at most.
pub const MAX_INVALIDATED_PREFIXES: usize = 8;

/// What travels on the announcement topic.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub enum Announcement {
    Entry(WireEntry),
    Invalidation(WireInvalidation),
}

/// The same, borrowed, for sending (the same variants in the same order).
#[derive(Serialize)]
enum Outgoing<'a> {
    Entry(&'a WireEntry),
    Invalidation(&'a WireInvalidation),
}

/// A write went to GitHub under these prefixes at `at_ms`: answers from
/// before it are stale everywhere.
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
    pub fn new(prefixes: Vec<String>, at_ms: u64, signer: &Keypair) -> WireInvalidation {
        let signature = signer.sign(&Self::signed(&prefixes, at_ms)).expect("ed25519 signing cannot fail");
        WireInvalidation { prefixes, at_ms, publisher_key: signer.public().encode_protobuf(), signature }
    }

    fn signed(prefixes: &[String], at_ms: u64) -> Vec<u8> {
        let mut bytes = INVALIDATION_DOMAIN.to_vec();
        bytes.extend(postcard::to_allocvec(&(prefixes, at_ms)).expect("an invalidation always encodes"));
        bytes
    }

    /// Its publisher, when it may be acted on: narrow GitHub prefixes only
    /// (see [`narrow_prefix`]), signed, from a trusted publisher, not from
    /// the future beyond clock skew (the caller acts on it as of now at the
    /// latest, so a date ahead never bars copies longer).
    pub fn verify(&self, trust: &Trust, now_ms: u64) -> Result<PeerId, Rejection> {
        if self.prefixes.is_empty() || self.prefixes.len() > MAX_INVALIDATED_PREFIXES {
            return Err(Rejection::Malformed(format!("{} prefixes in an invalidation", self.prefixes.len())));
        }
        for prefix in &self.prefixes {
            validate_key(prefix).map_err(|e| Rejection::BadKey(e.to_string()))?;
            if !narrow_prefix(prefix) {
                return Err(Rejection::TooWide(prefix.clone()));
            }
        }
        let key = PublicKey::try_decode_protobuf(&self.publisher_key).map_err(|_| Rejection::BadSignature)?;
        if !key.verify(&Self::signed(&self.prefixes, self.at_ms), &self.signature) {
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

    pub fn encode_announcement(&self) -> Vec<u8> {
        encode(&Outgoing::Invalidation(self))
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

fn encode(message: &Outgoing<'_>) -> Vec<u8> {
    let mut bytes = ANNOUNCEMENT_MAGIC.to_vec();
    postcard::to_io(&(WIRE_VERSION, message), &mut bytes).expect("an announcement always encodes");
    bytes
}

impl Announcement {
    /// Decodes an announcement, refusing oversized ones before parsing and
    /// telling another version from garbage.
    pub fn decode(bytes: &[u8]) -> Result<Announcement, Rejection> {
        if bytes.len() > ANNOUNCEMENT_MAX {
            return Err(Rejection::TooLarge(bytes.len()));
        }
        let framed =
            bytes.strip_prefix(ANNOUNCEMENT_MAGIC).ok_or_else(|| Rejection::Malformed("not an announcement".into()))?;
        let (version, rest) =
            postcard::take_from_bytes::<u16>(framed).map_err(|e| Rejection::Malformed(e.to_string()))?;
        if version != WIRE_VERSION {
            return Err(Rejection::UnknownVersion(version));
        }
        let announcement: Announcement = postcard::from_bytes(rest).map_err(|e| Rejection::Malformed(e.to_string()))?;
        if let Announcement::Entry(wire) = &announcement {
            if wire.body.as_ref().is_some_and(|b| b.len() > INLINE_BODY_MAX) {
                return Err(Rejection::TooLarge(bytes.len()));
            }
        }
        Ok(announcement)
    }
}

/// One entry as it travels: everything but the origin (the receiver knows who
/// sent it), with its publisher and their signature. `body` is absent in
/// announcements of large entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEntry {
    pub key: String,
    pub cid: String,
    pub size: u64,
    pub stored_at_ms: u64,
    pub ttl_secs: u64,
    pub etag: Option<String>,
    pub upstream_status: Option<u16>,
    #[serde(with = "serde_bytes", default)]
    pub publisher_key: Vec<u8>,
    #[serde(with = "serde_bytes", default)]
    pub signature: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub body: Option<Vec<u8>>,
}

/// The bytes a publisher signs: every field that decides how the entry is
/// served. Status and headers of a GitHub answer live in its body, which the
/// CID covers.
pub fn signed_fields(
    key: &str,
    cid: &str,
    stored_at_ms: u64,
    ttl_secs: u64,
    etag: Option<&str>,
    status: Option<u16>,
) -> Vec<u8> {
    let mut bytes = SIGNATURE_DOMAIN.to_vec();
    let fields = (key, cid, stored_at_ms, ttl_secs, etag, status);
    bytes.extend(postcard::to_allocvec(&fields).expect("the signed fields always encode"));
    bytes
}

impl WireEntry {
    /// The announcement of an entry: with its body when that is small.
    pub fn announcement(entry: &Entry, signer: &Keypair) -> WireEntry {
        WireEntry::of(entry, entry.value.len() <= INLINE_BODY_MAX, signer)
    }

    /// The full entry, as a fetch response carries it.
    pub fn full(entry: &Entry, signer: &Keypair) -> WireEntry {
        WireEntry::of(entry, true, signer)
    }

    /// An entry from a peer keeps its publisher's signature; our own is
    /// signed by us, now.
    fn of(entry: &Entry, with_body: bool, signer: &Keypair) -> WireEntry {
        let (publisher_key, signature, ttl_secs) = match &entry.provenance {
            Some(p) => (p.publisher_key.clone(), p.signature.clone(), p.signed_ttl_secs),
            None => {
                let fields = signed_fields(
                    &entry.key,
                    &entry.cid,
                    entry.stored_at_ms,
                    entry.ttl_secs,
                    entry.etag.as_deref(),
                    entry.upstream_status,
                );
                let signature = signer.sign(&fields).expect("ed25519 signing cannot fail");
                (signer.public().encode_protobuf(), signature, entry.ttl_secs)
            }
        };
        WireEntry {
            key: entry.key.clone(),
            cid: entry.cid.clone(),
            size: entry.value.len() as u64,
            stored_at_ms: entry.stored_at_ms,
            ttl_secs,
            etag: entry.etag.clone(),
            upstream_status: entry.upstream_status,
            publisher_key,
            signature,
            body: with_body.then(|| entry.value.to_vec()),
        }
    }

    /// The publisher, when its key is one.
    pub fn publisher(&self) -> Option<PeerId> {
        PublicKey::try_decode_protobuf(&self.publisher_key).ok().map(|key| key.to_peer_id())
    }

    /// Whether the signature is the publisher's over this entry's fields.
    pub fn signature_holds(&self) -> bool {
        let Ok(key) = PublicKey::try_decode_protobuf(&self.publisher_key) else {
            return false;
        };
        let fields = signed_fields(
            &self.key,
            &self.cid,
            self.stored_at_ms,
            self.ttl_secs,
            self.etag.as_deref(),
            self.upstream_status,
        );
        key.verify(&fields, &self.signature)
    }

    /// An announcement of this entry: the magic, the wire version, then it.
    pub fn encode_announcement(&self) -> Vec<u8> {
        encode(&Outgoing::Entry(self))
    }

    /// The announcement frame of `payload` at `version` (tests speak other versions with it).
    pub fn frame(version: u16, payload: &[u8]) -> Vec<u8> {
        let mut bytes = ANNOUNCEMENT_MAGIC.to_vec();
        postcard::to_io(&version, &mut bytes).expect("a number always encodes");
        bytes.extend_from_slice(payload);
        bytes
    }
}

/// A fetch request: the key wanted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    pub key: String,
}

/// A fetch response: the entry, or nothing when the peer has no fresh copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    pub entry: Option<WireEntry>,
}

/// A sync request: which entries stored since `since_ms` do you hold?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub since_ms: u64,
}

/// A sync answer: the fresh entries stored since then, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub entries: Vec<Held>,
}

/// One entry a peer holds: enough to tell whether to fetch it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub key: String,
    pub cid: String,
    pub stored_at_ms: u64,
}

/// Asks a key's coordinator for the lease to fetch it (or gives it back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    pub key: String,
    /// The asker fetched (or failed): the lease is free again.
    #[serde(default)]
    pub release: bool,
    /// With `release`: the asker stored the entry (askers wait a moment for it).
    #[serde(default)]
    pub stored: bool,
}

/// The coordinator's answer: fetch it yourself (`granted`), or wait for the
/// holder's entry for at most `remaining_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseResponse {
    pub granted: bool,
    #[serde(default)]
    pub holder: Option<String>,
    #[serde(default)]
    pub remaining_ms: u64,
}

/// Why an entry or a message from a peer was not stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("message of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("undecodable message: {0}")]
    Malformed(String),
    #[error("message of wire version {0}; this node speaks {WIRE_VERSION}")]
    UnknownVersion(u16),
    #[error("bad key: {0}")]
    BadKey(String),
    #[error("body does not match its CID {0}")]
    CidMismatch(String),
    #[error("announced size {announced} but body has {actual} bytes")]
    SizeMismatch { announced: u64, actual: u64 },
    #[error("body is not JSON")]
    NotJson,
    #[error("entry already expired")]
    Expired,
    #[error("entry stored in the future ({0} ms ahead)")]
    FromTheFuture(u64),
    #[error("the publisher's signature does not hold")]
    BadSignature,
    #[error("a GitHub answer published by {0}, which this node does not trust")]
    Untrusted(String),
    #[error("asked for {asked:?}, answered {answered:?}")]
    WrongKey { asked: String, answered: String },
    #[error("this peer sends more than its share of messages")]
    RateLimited,
    #[error("this peer added more than its share of the cache this minute")]
    OverBudget,
    #[error("the disk queue is full")]
    QueueFull,
    #[error("a sealed body that does not open under its key, time and TTL")]
    SealMismatch,
    #[error("an invalidation of {0:?}: wider than one repository")]
    TooWide(String),
    #[error("this node's own entry, handed back by another")]
    OwnEntry,
}

impl Rejection {
    /// A short name, for counting rejections by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::TooLarge(_) | Rejection::SizeMismatch { .. } => "too_large",
            Rejection::Malformed(_) | Rejection::BadKey(_) | Rejection::NotJson => "malformed",
            Rejection::UnknownVersion(_) => "unknown_version",
            Rejection::CidMismatch(_) => "cid_mismatch",
            Rejection::Expired | Rejection::FromTheFuture(_) => "bad_time",
            Rejection::BadSignature => "bad_signature",
            Rejection::Untrusted(_) => "untrusted_publisher",
            Rejection::WrongKey { .. } => "wrong_key",
            Rejection::RateLimited => "rate_limited",
            Rejection::OverBudget => "over_budget",
            Rejection::QueueFull => "queue_full",
            Rejection::SealMismatch => "seal_mismatch",
            Rejection::TooWide(_) => "too_wide",
            Rejection::OwnEntry => "own_entry",
        }
    }

    /// Whether the message itself is a lie or garbage, so its sender's
    /// gossip score should fall. Another version, an untrusted publisher (an
    /// honest node may trust whom we do not) and our own limits are not.
    pub fn is_forgery(&self) -> bool {
        !matches!(
            self,
            Rejection::UnknownVersion(_)
                | Rejection::Untrusted(_)
                | Rejection::RateLimited
                | Rejection::OverBudget
                | Rejection::QueueFull
                | Rejection::Expired
                | Rejection::OwnEntry
        )
    }
}

/// Whose GitHub answers this node takes: itself, and either every member of
/// a private swarm or the peers named in `CACHE_TRUSTED_PEERS`.
#[derive(Clone, Debug)]
pub struct Trust {
    local: PeerId,
    everyone: bool,
    listed: HashSet<PeerId>,
    /// GitHub answers from publishers it does not trust are still taken —
    /// never served before GitHub confirms them (confirmed sharing), never
    /// over what the node holds, and small.
    unconfirmed: bool,
}

/// The largest entry taken from a publisher this node does not trust (a
/// GitHub answer to confirm, or a user's entry in an open swarm).
pub const UNTRUSTED_MAX_BYTES: u64 = 1024 * 1024;

impl Trust {
    /// With `listed` peers, only they; without, every member of a private
    /// swarm, and nobody in an open one.
    pub fn new(local: PeerId, private_swarm: bool, listed: HashSet<PeerId>) -> Trust {
        Trust { local, everyone: private_swarm && listed.is_empty(), listed, unconfirmed: false }
    }

    /// The same, taking untrusted publishers' GitHub answers to be confirmed
    /// (see the field).
    pub fn taking_unconfirmed(mut self, takes: bool) -> Trust {
        self.unconfirmed = takes;
        self
    }

    /// Whether the publisher of `entry` (its signed provenance) is trusted;
    /// an entry without provenance is this node's own.
    pub fn trusts_publisher(&self, entry: &Entry) -> bool {
        match &entry.provenance {
            None => true,
            Some(provenance) => PublicKey::try_decode_protobuf(&provenance.publisher_key)
                .is_ok_and(|key| self.trusts(&key.to_peer_id())),
        }
    }

    pub fn trusts(&self, peer: &PeerId) -> bool {
        *peer == self.local || self.everyone || self.listed.contains(peer)
    }

    /// Whether `peer` is this node.
    pub fn is_local(&self, peer: &PeerId) -> bool {
        *peer == self.local
    }

    /// In words, for the status: who is trusted.
    pub fn describe(&self) -> String {
        if self.everyone {
            "every member of the private swarm".to_owned()
        } else if self.listed.is_empty() {
            "nobody but this node (open swarm, CACHE_TRUSTED_PEERS empty)".to_owned()
        } else {
            format!("{} peer(s) named in CACHE_TRUSTED_PEERS", self.listed.len())
        }
    }
}

/// What `verify` needs to know besides the entry.
pub struct Check<'a> {
    /// The peer that sent it (the entry's origin here).
    pub from: &'a str,
    pub now_ms: u64,
    /// Our copy of the key, when the entry must be newer than it.
    pub ours: Option<&'a Entry>,
    /// Whether this node holds the key at all (fresh or not).
    pub holds: bool,
    pub trust: &'a Trust,
    /// The longest TTL the key may have (`cache::ttl::max_ttl_for`).
    pub ttl_cap: u64,
}

/// What to do with a verified entry, given the copy we hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Store(Entry),
    /// Valid, but we already hold this or a newer copy: not a fault.
    AlreadyHave,
}

/// Checks a wire entry that carries its body and turns it into an entry from
/// `check.from`. Honest peers never fail the forgery checks.
pub fn verify(wire: WireEntry, check: &Check<'_>) -> Result<Verdict, Rejection> {
    validate_key(&wire.key).map_err(|e| Rejection::BadKey(e.to_string()))?;
    let body = wire.body.as_ref().ok_or_else(|| Rejection::Malformed("entry without body".into()))?;
    if body.len() as u64 != wire.size {
        return Err(Rejection::SizeMismatch { announced: wire.size, actual: body.len() as u64 });
    }
    if content_id(body) != wire.cid {
        return Err(Rejection::CidMismatch(wire.cid));
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        return Err(Rejection::NotJson);
    }
    if !wire.signature_holds() {
        return Err(Rejection::BadSignature);
    }
    let publisher = wire.publisher().ok_or(Rejection::BadSignature)?;
    if check.trust.is_local(&publisher) {
        // What this node published and since dropped (invalidated, say) is
        // not taken back from whoever relays it.
        return Err(Rejection::OwnEntry);
    }
    let trusted = check.trust.trusts(&publisher);
    if is_github_key(&wire.key) && !trusted && !(check.trust.unconfirmed && !check.holds) {
        return Err(Rejection::Untrusted(publisher.to_string()));
    }
    if !trusted && wire.size > UNTRUSTED_MAX_BYTES {
        // A GitHub answer only as a body to confirm, never over what we hold;
        // anything a stranger sends, small: it is kept apart (see `Cache::insert_apart`).
        return Err(Rejection::TooLarge(wire.size as usize));
    }
    if wire.stored_at_ms > check.now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(Rejection::FromTheFuture(wire.stored_at_ms - check.now_ms));
    }
    let WireEntry { key, cid, stored_at_ms, ttl_secs, etag, upstream_status, publisher_key, signature, body, .. } =
        wire;
    let entry = Entry {
        key,
        value: Bytes::from(body.unwrap_or_default()),
        stored_at_ms,
        ttl_secs: ttl_secs.min(check.ttl_cap),
        cid,
        etag,
        upstream_status,
        origin: Origin::Peer(check.from.to_owned()),
        provenance: Some(Provenance { publisher_key, signature, signed_ttl_secs: ttl_secs }),
    };
    if !entry.is_fresh(check.now_ms) {
        return Err(Rejection::Expired);
    }
    match check.ours {
        Some(ours) if ours.cid == entry.cid || ours.stored_at_ms >= entry.stored_at_ms => Ok(Verdict::AlreadyHave),
        _ => Ok(Verdict::Store(entry)),
    }
}

#[cfg(test)]
mod tests;
