//! What peers say to each other, and the checks an entry from a peer passes
//! before it is stored: its body matches its CID, it has not expired, it is not
//! from the future, and it is newer than the copy we hold.
//!
//! Announcements ride gossipsub (postcard-encoded); bodies of at most
//! `INLINE_BODY_MAX` bytes ride along, larger ones are fetched with
//! `/peercache/fetch/1.0.0` (CBOR request-response).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::cache::entry::{content_id, Entry, Origin};
use crate::cache::key::validate_key;

/// The gossipsub topic of cache announcements.
pub const ANNOUNCE_TOPIC: &str = "peercache/announce/1";
/// The request-response protocol that fetches one entry by key.
pub const FETCH_PROTOCOL: &str = "/peercache/fetch/1.0.0";
/// Largest body sent inside an announcement.
pub const INLINE_BODY_MAX: usize = 32 * 1024;
/// Largest encoded announcement accepted (body plus metadata).
pub const ANNOUNCEMENT_MAX: usize = INLINE_BODY_MAX + 4 * 1024;
/// How far in the future a peer's `stored_at` may be (clock skew).
pub const MAX_CLOCK_SKEW_MS: u64 = 60_000;

/// One entry as it travels: everything but the origin (the receiver knows who
/// sent it). `body` is absent in announcements of large entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEntry {
    pub key: String,
    pub cid: String,
    pub size: u64,
    pub stored_at_ms: u64,
    pub ttl_secs: u64,
    pub etag: Option<String>,
    pub upstream_status: Option<u16>,
    #[serde(with = "serde_bytes")]
    pub body: Option<Vec<u8>>,
}

impl WireEntry {
    /// The announcement of a local entry: with its body when that is small.
    pub fn announcement(entry: &Entry) -> WireEntry {
        WireEntry::of(entry, entry.value.len() <= INLINE_BODY_MAX)
    }

    /// The full entry, as a fetch response carries it.
    pub fn full(entry: &Entry) -> WireEntry {
        WireEntry::of(entry, true)
    }

    fn of(entry: &Entry, with_body: bool) -> WireEntry {
        WireEntry {
            key: entry.key.clone(),
            cid: entry.cid.clone(),
            size: entry.value.len() as u64,
            stored_at_ms: entry.stored_at_ms,
            ttl_secs: entry.ttl_secs,
            etag: entry.etag.clone(),
            upstream_status: entry.upstream_status,
            body: with_body.then(|| entry.value.to_vec()),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("a wire entry always encodes")
    }

    /// Decodes an announcement, refusing oversized ones before parsing.
    pub fn decode_announcement(bytes: &[u8]) -> Result<WireEntry, Rejection> {
        if bytes.len() > ANNOUNCEMENT_MAX {
            return Err(Rejection::TooLarge(bytes.len()));
        }
        let wire: WireEntry = postcard::from_bytes(bytes).map_err(|e| Rejection::Malformed(e.to_string()))?;
        if wire.body.as_ref().is_some_and(|b| b.len() > INLINE_BODY_MAX) {
            return Err(Rejection::TooLarge(bytes.len()));
        }
        Ok(wire)
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

/// Why an entry from a peer was not stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("message of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("undecodable message: {0}")]
    Malformed(String),
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
}

/// What to do with a verified entry, given the copy we hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Store(Entry),
    /// Valid, but we already hold this or a newer copy: not a fault.
    AlreadyHave,
}

/// Checks a wire entry that carries its body and turns it into an entry from
/// `peer`. Honest peers never fail this; a failure is the peer's fault.
pub fn verify(wire: WireEntry, peer: &str, now_ms: u64, ours: Option<&Entry>) -> Result<Verdict, Rejection> {
    validate_key(&wire.key).map_err(|e| Rejection::BadKey(e.to_string()))?;
    let body = wire.body.ok_or_else(|| Rejection::Malformed("entry without body".into()))?;
    if body.len() as u64 != wire.size {
        return Err(Rejection::SizeMismatch { announced: wire.size, actual: body.len() as u64 });
    }
    if content_id(&body) != wire.cid {
        return Err(Rejection::CidMismatch(wire.cid));
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
        return Err(Rejection::NotJson);
    }
    if wire.stored_at_ms > now_ms + MAX_CLOCK_SKEW_MS {
        return Err(Rejection::FromTheFuture(wire.stored_at_ms - now_ms));
    }
    let entry = Entry {
        key: wire.key,
        value: Bytes::from(body),
        stored_at_ms: wire.stored_at_ms,
        ttl_secs: wire.ttl_secs,
        cid: wire.cid,
        etag: wire.etag,
        upstream_status: wire.upstream_status,
        origin: Origin::Peer(peer.to_owned()),
    };
    if !entry.is_fresh(now_ms) {
        return Err(Rejection::Expired);
    }
    match ours {
        Some(ours) if ours.cid == entry.cid || ours.stored_at_ms >= entry.stored_at_ms => Ok(Verdict::AlreadyHave),
        _ => Ok(Verdict::Store(entry)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn local(key: &str, body: &str, stored_at_ms: u64) -> Entry {
        Entry {
            key: key.into(),
            value: Bytes::from(body.to_owned()),
            stored_at_ms,
            ttl_secs: 60,
            cid: content_id(body.as_bytes()),
            etag: Some("\"e\"".into()),
            upstream_status: Some(200),
            origin: Origin::Local,
        }
    }

    #[test]
    fn a_true_entry_is_stored_as_coming_from_the_peer() {
        let wire = WireEntry::announcement(&local("k", r#"{"a":1}"#, NOW - 1000));
        let decoded = WireEntry::decode_announcement(&wire.encode()).unwrap();
        match verify(decoded, "12D3KooWsender", NOW, None).unwrap() {
            Verdict::Store(entry) => {
                assert_eq!(entry.origin, Origin::Peer("12D3KooWsender".into()));
                assert_eq!(entry.etag.as_deref(), Some("\"e\""));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_forged_body_is_rejected() {
        let mut wire = WireEntry::full(&local("k", r#"{"a":1}"#, NOW));
        wire.body = Some(br#"{"a":2}"#.to_vec());
        assert!(matches!(verify(wire, "p", NOW, None), Err(Rejection::CidMismatch(_))));
    }

    #[test]
    fn expired_future_oversized_and_garbage_are_rejected() {
        let old = WireEntry::full(&local("k", "{}", NOW - 61_000));
        assert_eq!(verify(old, "p", NOW, None), Err(Rejection::Expired));
        let future = WireEntry::full(&local("k", "{}", NOW + 120_000));
        assert!(matches!(verify(future, "p", NOW, None), Err(Rejection::FromTheFuture(_))));
        assert!(matches!(WireEntry::decode_announcement(&[0xff; 10]), Err(Rejection::Malformed(_))));
        assert!(matches!(
            WireEntry::decode_announcement(&vec![0; ANNOUNCEMENT_MAX + 1]),
            Err(Rejection::TooLarge(_))
        ));
        let mut lying = WireEntry::full(&local("k", "{}", NOW));
        lying.size = 99;
        assert!(matches!(verify(lying, "p", NOW, None), Err(Rejection::SizeMismatch { .. })));
    }

    #[test]
    fn large_bodies_are_announced_without_body() {
        let big = format!("\"{}\"", "x".repeat(INLINE_BODY_MAX));
        let wire = WireEntry::announcement(&local("k", &big, NOW));
        assert!(wire.body.is_none());
        assert_eq!(wire.size as usize, big.len());
        assert!(wire.encode().len() < 1024);
    }

    #[test]
    fn an_older_or_identical_copy_is_not_stored_again() {
        let ours = local("k", r#"{"v":2}"#, NOW - 1000);
        let older = WireEntry::full(&local("k", r#"{"v":1}"#, NOW - 2000));
        assert_eq!(verify(older, "p", NOW, Some(&ours)), Ok(Verdict::AlreadyHave));
        let same = WireEntry::full(&ours);
        assert_eq!(verify(same, "p", NOW, Some(&ours)), Ok(Verdict::AlreadyHave));
        let newer = WireEntry::full(&local("k", r#"{"v":3}"#, NOW - 10));
        assert!(matches!(verify(newer, "p", NOW, Some(&ours)), Ok(Verdict::Store(_))));
    }
}
