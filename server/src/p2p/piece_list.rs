//! A download's piece list as it travels: signed by the node whose bytes it
//! was made from (the one that fetched them from GitHub, or one that holds
//! them whole, checked against the whole digest), under a domain of its
//! own, and passed on unchanged by the nodes that follow that download. A
//! follower takes each piece against such a list only: a relay cannot add
//! pieces to the list it passes on, nor change one, without the signature
//! failing, and a list that fails is a forgery (`bad_piece_list`).

use std::collections::HashMap;
use std::sync::Mutex;

use libp2p::identity::{Keypair, PublicKey};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use crate::blobs::{Digest, Have};
use crate::p2p::piece::WireHave;
use crate::p2p::rejection::Rejection;
use crate::p2p::wire::under_domain;

const LIST_DOMAIN: &[u8] = b"peercache/piece-list/v1\0";
/// Own lists kept signed at most (a node answers for the downloads it holds).
const OWN_KEPT: usize = 1024;

/// What a list's signer says of a download's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceList {
    /// What the download's bytes are asked for by.
    pub key: Digest,
    /// The whole file's digest, when known.
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    /// The signer holds the whole file, checked against `digest`.
    pub complete: bool,
    /// The SHA-256 of each piece the signer has.
    pub pieces: Vec<Digest>,
}

/// A piece list with its signer's key and signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedList {
    pub list: PieceList,
    #[serde(with = "serde_bytes")]
    signer_key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    signature: Vec<u8>,
}

fn signed(list: &PieceList) -> Vec<u8> {
    under_domain(LIST_DOMAIN, list)
}

impl SignedList {
    pub fn new(list: PieceList, signer: &Keypair) -> SignedList {
        let signature = signer.sign(&signed(&list)).expect("ed25519 signing cannot fail");
        SignedList { list, signer_key: signer.public().encode_protobuf(), signature }
    }

    /// A list with no signature, for tests of what is made of lists once vetted.
    #[cfg(test)]
    pub fn unsigned(list: PieceList) -> SignedList {
        SignedList { list, signer_key: Vec::new(), signature: Vec::new() }
    }

    /// Who signed it, when the signature holds.
    pub fn signer(&self) -> Result<PeerId, Rejection> {
        let key = PublicKey::try_decode_protobuf(&self.signer_key).map_err(|_| Rejection::BadPieceList)?;
        if !key.verify(&signed(&self.list), &self.signature) {
            return Err(Rejection::BadPieceList);
        }
        Ok(key.to_peer_id())
    }
}

/// The lists this node answers with: its own, signed once for each change
/// of what it holds, and — while it follows another node's download — that
/// node's, passed on as it came.
#[derive(Default)]
pub struct PieceLists {
    passed_on: Mutex<HashMap<Digest, SignedList>>,
    own: Mutex<HashMap<Digest, SignedList>>,
}

impl PieceLists {
    /// While this node follows the download `list` is of, it answers with
    /// `list` (the newest it took pieces against).
    pub fn pass_on(&self, list: &SignedList) {
        self.passed_on.lock().expect("piece lists lock").insert(list.list.key, list.clone());
    }

    /// The download of `key` is no longer followed: own lists from now.
    pub fn stop_passing_on(&self, key: &Digest) {
        self.passed_on.lock().expect("piece lists lock").remove(key);
    }

    /// What this node holds of a download, as it travels: with the list it
    /// passes on while following one that covers what it holds, else its
    /// own, signed by `signer`.
    pub fn answer(&self, have: Have, signer: &Keypair) -> WireHave {
        let passed = (!have.complete)
            .then(|| self.passed_on.lock().expect("piece lists lock").get(&have.key).cloned())
            .flatten()
            .filter(|list| list.list.pieces.starts_with(&have.pieces));
        let list = passed.unwrap_or_else(|| self.own(&have, signer));
        WireHave {
            key: have.key,
            digest: have.digest,
            size: have.size,
            readable: have.readable,
            complete: have.complete,
            held: have.pieces.len() as u32,
            list,
        }
    }

    fn own(&self, have: &Have, signer: &Keypair) -> SignedList {
        let list = PieceList {
            key: have.key,
            digest: have.digest,
            size: have.size,
            complete: have.complete,
            pieces: have.pieces.to_vec(),
        };
        let mut own = self.own.lock().expect("piece lists lock");
        if let Some(kept) = own.get(&have.key).filter(|kept| kept.list == list) {
            return kept.clone();
        }
        if own.len() >= OWN_KEPT {
            own.clear();
        }
        let signed = SignedList::new(list, signer);
        own.insert(have.key, signed.clone());
        signed
    }
}

/// The list a follower passes on while it follows one download: the
/// newest it took pieces against, given up when it stops following; and
/// who signed the lists it took pieces against.
pub struct PassingOn<'a> {
    lists: &'a PieceLists,
    passed: Option<(Digest, usize, bool)>,
    /// The keys of the lists' signers, each once.
    signer_keys: Vec<Vec<u8>>,
}

impl<'a> PassingOn<'a> {
    pub fn new(lists: &'a PieceLists) -> PassingOn<'a> {
        PassingOn { lists, passed: None, signer_keys: Vec::new() }
    }

    /// Pieces are taken against `signed` now (a list already vouched for).
    pub fn list(&mut self, signed: &SignedList) {
        if !self.signer_keys.contains(&signed.signer_key) {
            self.signer_keys.push(signed.signer_key.clone());
        }
        let now = (signed.list.key, signed.list.pieces.len(), signed.list.complete);
        if self.passed == Some(now) {
            return;
        }
        if let Some((key, ..)) = self.passed.filter(|(key, ..)| *key != now.0) {
            self.lists.stop_passing_on(&key);
        }
        self.lists.pass_on(signed);
        self.passed = Some(now);
    }

    /// The nodes that signed the lists pieces were taken against. Their
    /// signatures held when the lists were vouched for, and are not
    /// checked again.
    pub fn signers(&self) -> Vec<PeerId> {
        let keys = self.signer_keys.iter().filter_map(|key| PublicKey::try_decode_protobuf(key).ok());
        keys.map(|key| key.to_peer_id()).collect()
    }
}

impl Drop for PassingOn<'_> {
    fn drop(&mut self) {
        if let Some((key, ..)) = self.passed {
            self.lists.stop_passing_on(&key);
        }
    }
}

/// Whether `have` may be taken pieces from, by `local` trusting whom
/// `trusts` does: its list's signature holds, its signer is trusted, and
/// the list is of that download, covers what `have` says it holds, and —
/// for a whole copy — names the same whole file.
pub fn vouched(have: &WireHave, trusts: impl Fn(&PeerId) -> bool) -> Result<(), Rejection> {
    let signer = have.list.signer()?;
    if !trusts(&signer) {
        return Err(Rejection::Untrusted(signer.to_string()));
    }
    let list = &have.list.list;
    let whole_agrees = !have.complete || (list.complete && list.digest == have.digest && list.size == have.size);
    if list.key != have.key || have.held as usize > list.pieces.len() || !whole_agrees {
        return Err(Rejection::BadPieceList);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn have(pieces: usize, complete: bool) -> Have {
        Have {
            key: Digest::of(b"key"),
            digest: Some(Digest::of(b"file")),
            size: Some(10 << 20),
            readable: (pieces as u64) << 20,
            complete,
            pieces: Arc::new((0..pieces).map(|i| Digest::of(&i.to_be_bytes())).collect()),
        }
    }

    /// A relay passing on the fetching node's list with a piece added, or
    /// one changed, or as its own list, is found out.
    #[test]
    fn a_list_changed_on_the_way_no_longer_holds() {
        let (fetcher, relay) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let lists = PieceLists::default();
        let honest = lists.answer(have(3, false), &fetcher);
        assert_eq!(honest.list.signer(), Ok(fetcher.public().to_peer_id()));
        assert_eq!(vouched(&honest, |_| true), Ok(()));
        let mut longer = honest.clone();
        longer.list.list.pieces.push(Digest::of(b"a piece of the relay's"));
        longer.held += 1;
        assert_eq!(vouched(&longer, |_| true), Err(Rejection::BadPieceList));
        let mut changed = honest.clone();
        changed.list.list.pieces[1] = Digest::of(b"another");
        assert_eq!(vouched(&changed, |_| true), Err(Rejection::BadPieceList));
        let mut claims_more = honest.clone();
        claims_more.held = 4;
        assert_eq!(vouched(&claims_more, |_| true), Err(Rejection::BadPieceList), "holds more than its list");
        let by_stranger = PieceLists::default().answer(have(3, false), &relay);
        let stranger = by_stranger.list.signer().unwrap();
        assert_eq!(vouched(&by_stranger, |peer| *peer != stranger), Err(Rejection::Untrusted(stranger.to_string())));
    }

    /// A follower answers with the list it follows, as it came, while that
    /// list covers what it holds; its own, signed, once whole.
    #[test]
    fn a_follower_passes_on_the_list_it_follows_until_it_holds_the_file_whole() {
        let (fetcher, follower) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let fetchers = lists_of(&fetcher, have(5, false));
        let lists = PieceLists::default();
        lists.pass_on(&fetchers);
        let answer = lists.answer(have(2, false), &follower);
        assert_eq!(answer.list, fetchers, "passed on unchanged");
        assert_eq!((answer.held, vouched(&answer, |_| true)), (2, Ok(())));
        let whole = lists.answer(have(10, true), &follower);
        assert_eq!(whole.list.signer(), Ok(follower.public().to_peer_id()), "whole: its own");
        lists.stop_passing_on(&Digest::of(b"key"));
        assert_eq!(lists.answer(have(2, false), &follower).list.signer(), Ok(follower.public().to_peer_id()));
    }

    fn lists_of(signer: &Keypair, have: Have) -> SignedList {
        PieceLists::default().answer(have, signer).list
    }
}
