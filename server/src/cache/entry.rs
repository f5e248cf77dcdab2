//! One cached entry and its content id. The id is a CIDv1 (raw codec,
//! sha2-256), the same id IPFS would give the bytes, so any peer can check a
//! body it receives against the id it was announced with.

use app::model::EntryView;
use bytes::Bytes;
use cid::Cid;
use multihash::Multihash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::ttl::rfc3339;

const RAW_CODEC: u64 = 0x55;
const SHA2_256: u64 = 0x12;

/// Where an entry's bytes came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    Local,
    Peer(String),
}

impl Origin {
    /// `"local"` or the peer id, as the API shows it.
    pub fn label(&self) -> String {
        match self {
            Origin::Local => "local".to_owned(),
            Origin::Peer(peer) => peer.clone(),
        }
    }
}

/// Who published an entry that came from a peer, and their word for it: the
/// publisher's signature over everything that decides how the entry is served
/// (see `p2p::protocol::signed_fields`), kept so the entry can be passed on
/// with it. Entries this node made itself have none: it signs them as it
/// sends them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The publisher's public key (libp2p's protobuf encoding); its peer id names the publisher.
    #[serde(with = "serde_bytes")]
    pub publisher_key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
    /// The TTL the publisher signed; this node may keep the entry for less.
    pub signed_ttl_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    /// JSON bytes.
    pub value: Bytes,
    pub stored_at_ms: u64,
    pub ttl_secs: u64,
    pub cid: String,
    pub etag: Option<String>,
    pub upstream_status: Option<u16>,
    pub origin: Origin,
    /// Set on entries from peers.
    pub provenance: Option<Provenance>,
}

impl Entry {
    /// A local entry of `value` (its CID computed here).
    pub fn new(
        key: String,
        value: Bytes,
        stored_at_ms: u64,
        ttl_secs: u64,
        etag: Option<String>,
        upstream_status: Option<u16>,
    ) -> Entry {
        Entry {
            key,
            cid: content_id(&value),
            value,
            stored_at_ms,
            ttl_secs,
            etag,
            upstream_status,
            origin: Origin::Local,
            provenance: None,
        }
    }

    /// The TTL its publisher gave it (what its signature and a sealed body's
    /// binding speak of), which may be longer than what this node keeps.
    pub fn signed_ttl_secs(&self) -> u64 {
        self.provenance.as_ref().map_or(self.ttl_secs, |p| p.signed_ttl_secs)
    }

    pub fn expires_at_ms(&self) -> u64 {
        self.stored_at_ms.saturating_add(self.ttl_secs.saturating_mul(1000))
    }

    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.expires_at_ms()
    }

    /// Bytes this entry counts against the cache's size bound.
    pub fn size(&self) -> u64 {
        (self.key.len() + self.value.len()) as u64
    }
}

/// The CIDv1 (raw, sha2-256) of some bytes, as its base32 string.
pub fn content_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hash = Multihash::<64>::wrap(SHA2_256, &digest).expect("a sha2-256 digest fits a 64-byte multihash");
    Cid::new_v1(RAW_CODEC, hash).to_string()
}

impl Entry {
    /// What readers see of this entry at `now_ms`.
    pub fn view(&self, now_ms: u64) -> EntryView {
        EntryView {
            key: self.key.clone(),
            value: serde_json::from_slice(&self.value).unwrap_or(serde_json::Value::Null),
            cid: self.cid.clone(),
            size: self.value.len(),
            stored_at: rfc3339(self.stored_at_ms),
            ttl_secs: self.ttl_secs,
            ttl_left_secs: self.expires_at_ms().saturating_sub(now_ms).div_ceil(1000),
            origin: self.origin.label(),
            etag: self.etag.clone(),
            upstream_status: self.upstream_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_id_is_the_ipfs_raw_cid() {
        // The CID IPFS gives "hello world" as a raw CIDv1 block.
        assert_eq!(content_id(b"hello world"), "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
        assert!(content_id(b"").starts_with("bafkrei"));
        assert_ne!(content_id(b"a"), content_id(b"b"));
    }

    #[test]
    fn freshness_ends_exactly_at_the_ttl() {
        let entry = Entry::new("k".into(), Bytes::from_static(b"{}"), 1_000, 2, None, None);
        assert!(entry.is_fresh(2_999));
        assert!(!entry.is_fresh(3_000));
        assert_eq!(entry.size(), 3);
    }
}
