//! Rendezvous (highest-random-weight) ranking: every node orders the same
//! peers the same way for a key, with no coordination, and when a peer leaves
//! only the keys it ranked first move. A miss asks the key's best-ranked
//! peers first; the fleet-wide single flight asks the best-ranked node to
//! coordinate the key.

use libp2p::PeerId;
use sha2::{Digest, Sha256};

/// A peer's weight for a key.
fn weight(key: &str, peer: &PeerId) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update([0]);
    hasher.update(peer.to_bytes());
    let digest = hasher.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("a sha256 digest has 8 bytes"))
}

/// `peers` ordered for `key`, best first.
pub fn rank(key: &str, peers: impl IntoIterator<Item = PeerId>) -> Vec<PeerId> {
    let mut weighted: Vec<(u64, PeerId)> = peers.into_iter().map(|peer| (weight(key, &peer), peer)).collect();
    weighted.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    weighted.into_iter().map(|(_, peer)| peer).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_ranks_alike_and_a_leaving_peer_moves_only_its_keys() {
        let peers: Vec<PeerId> = (0..10).map(|_| PeerId::random()).collect();
        let mut reversed = peers.clone();
        reversed.reverse();
        assert_eq!(rank("k", peers.clone()), rank("k", reversed), "the order given does not matter");
        let keys: Vec<String> = (0..1000).map(|n| format!("key{n}")).collect();
        let first = |peers: &[PeerId], key: &str| rank(key, peers.iter().copied())[0];
        let gone = peers[3];
        let without: Vec<PeerId> = peers.iter().copied().filter(|p| *p != gone).collect();
        let mut moved = 0;
        for key in &keys {
            let before = first(&peers, key);
            let after = first(&without, key);
            if before != after {
                assert_eq!(before, gone, "only the leaving peer's keys move");
                moved += 1;
            }
        }
        assert!((50..=150).contains(&moved), "about a tenth of the keys were the leaving peer's: {moved}");
    }
}
