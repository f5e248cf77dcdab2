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

use bytes::Bytes;
use libp2p::identity::{Keypair, PublicKey};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use crate::cache::entry::{content_id, Entry, Origin, Provenance};
use crate::cache::key::{is_github_key, validate_key};
use crate::fleet::summary::WireSummary;
use crate::p2p::wire::under_domain;
pub use crate::p2p::invalidation::{narrow_prefix, Cause, WireInvalidation, MAX_INVALIDATED_PREFIXES};
pub use crate::p2p::rejection::{Rejection, MAX_CLOCK_SKEW_MS};
pub use crate::p2p::trust::{Trust, UNTRUSTED_MAX_BYTES};
pub use crate::p2p::wire::WIRE_VERSION;

/// The gossipsub topic of cache announcements.
pub const ANNOUNCE_TOPIC: &str = "peercache/announce/1";
/// Largest body sent inside an announcement.
pub const INLINE_BODY_MAX: usize = 32 * 1024;
/// Largest encoded announcement accepted (body plus metadata).
pub const ANNOUNCEMENT_MAX: usize = INLINE_BODY_MAX + 4 * 1024;
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
/// What a signature is over starts with these, so it means nothing elsewhere.
const SIGNATURE_DOMAIN: &[u8] = b"peercache/entry/v1\0";

/// What travels on the announcement topic.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub enum Announcement {
    Entry(WireEntry),
    Invalidation(WireInvalidation),
    /// An operator's fleet-wide invalidation ([`Cause::Operator`]).
    Flush(WireInvalidation),
    /// A node's summary of itself, for the fleet view.
    Summary(WireSummary),
}

/// `Summary`'s place among [`Announcement`]'s variants.
const SUMMARY_VARIANT: u32 = 3;

/// The same, borrowed, for sending (the same variants in the same order).
#[derive(Serialize)]
enum Outgoing<'a> {
    Entry(&'a WireEntry),
    Invalidation(&'a WireInvalidation),
    Flush(&'a WireInvalidation),
    Summary(&'a WireSummary),
}

impl WireSummary {
    pub fn encode_announcement(&self) -> Vec<u8> {
        encode(&Outgoing::Summary(self))
    }
}

impl WireInvalidation {
    /// The announcement of this invalidation for `cause` (the one it was signed for).
    pub fn encode_announcement(&self, cause: Cause) -> Vec<u8> {
        encode(&match cause {
            Cause::Write => Outgoing::Invalidation(self),
            Cause::Operator => Outgoing::Flush(self),
        })
    }
}

fn encode(message: &Outgoing<'_>) -> Vec<u8> {
    let mut bytes = ANNOUNCEMENT_MAGIC.to_vec();
    postcard::to_io(&(WIRE_VERSION, message), &mut bytes).expect("an announcement always encodes");
    bytes
}

impl Announcement {
    /// Whether `bytes` frame a node's summary, read from the framing alone
    /// (whether it holds one that verifies is [`Announcement::decode`]'s and
    /// the summary's to say).
    pub fn is_summary(bytes: &[u8]) -> bool {
        let Some(framed) = bytes.strip_prefix(ANNOUNCEMENT_MAGIC) else { return false };
        let Ok((version, rest)) = postcard::take_from_bytes::<u16>(framed) else { return false };
        // Postcard writes an enum's variant as its index, a varint.
        version == WIRE_VERSION
            && postcard::take_from_bytes::<u32>(rest).is_ok_and(|(variant, _)| variant == SUMMARY_VARIANT)
    }

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
        let announcement: Announcement = postcard::from_bytes(rest).map_err(|e| match e {
            // A kind of announcement a newer node added: not garbage.
            postcard::Error::DeserializeBadEnum => Rejection::UnknownVersion(version),
            other => Rejection::Malformed(other.to_string()),
        })?;
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
    under_domain(SIGNATURE_DOMAIN, &(key, cid, stored_at_ms, ttl_secs, etag, status))
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
    /// The answering node's clock when it answered (ms): the asker's
    /// measure of how far apart their clocks are. Older nodes leave it out.
    #[serde(default)]
    pub now_ms: Option<u64>,
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
    if is_github_key(&wire.key) && !trusted && !(check.trust.takes_unconfirmed() && !check.holds) {
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
