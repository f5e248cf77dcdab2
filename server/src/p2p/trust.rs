//! Whose word this node takes: itself, every member of a private swarm or
//! the peers named in `CACHE_TRUSTED_PEERS` for GitHub answers; with
//! confirmed sharing, others' GitHub answers only as bodies to confirm.

use std::collections::HashSet;

use libp2p::identity::PublicKey;
use libp2p::PeerId;

use crate::cache::entry::Entry;

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

    /// Whether untrusted publishers' GitHub answers are taken, to be confirmed.
    pub fn takes_unconfirmed(&self) -> bool {
        self.unconfirmed
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

    /// Why this node serves no peer's GitHub answer as it is, and what to
    /// do, when that is so: an open swarm with nobody named.
    pub fn sharing_warning(&self) -> Option<String> {
        if self.everyone || !self.listed.is_empty() {
            return None;
        }
        const FIX: &str = "to share, give every node the same swarm key (peercache keygen, CACHE_SWARM_KEY) \
                           or name trusted peers (CACHE_TRUSTED_PEERS)";
        Some(if self.unconfirmed {
            format!(
                "open swarm, CACHE_TRUSTED_PEERS empty: no peer's GitHub answer is served as it is; GitHub must \
                 confirm each one for each requester first (a free 304, still one request to GitHub); {FIX}"
            )
        } else {
            format!(
                "open swarm, CACHE_TRUSTED_PEERS empty and --confirm off: no GitHub answer is taken from peers; {FIX}"
            )
        })
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
