//! `/peercache/piece/1.0.0`: the bytes of release assets and archives, by
//! range, between members of the fleet. A request of no length asks what a
//! peer holds of a download (by its key, or by its name when the asker does
//! not know its digest yet), with the SHA-256 of each of its pieces — made
//! by the node from bytes it checked against the whole digest, or as its
//! own download goes; one with a length asks for those bytes, which the
//! peer sends only when it can read them all now (a download in progress is
//! read as far as it goes). Only trusted peers are answered: a
//! digest is no authorization (GitHub authorizes each requester before any
//! byte is asked for), so the bytes stay inside the group.

use serde::{Deserialize, Serialize};

pub use crate::blobs::PIECE_BYTES;
use crate::blobs::{Digest, Have};

pub const PIECE_PROTOCOL: &str = "/peercache/piece/1.0.0";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceRequest {
    /// The download's key (a digest, or a name's stand-in).
    pub key: Option<Digest>,
    /// Its name, when the key is not known.
    pub name: Option<String>,
    pub offset: u64,
    /// 0 asks what the peer holds.
    pub len: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PieceResponse {
    /// What the peer holds of it.
    Have(WireHave),
    #[serde(with = "serde_bytes")]
    Bytes(Vec<u8>),
    /// Nothing (or not those bytes yet, or not for this asker).
    NotHeld,
}

/// [`Have`] as it travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireHave {
    pub key: Digest,
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    pub readable: u64,
    pub complete: bool,
    /// The SHA-256 of each whole piece so far (see `blobs::Have::pieces`).
    pub pieces: Vec<Digest>,
}

impl From<Have> for WireHave {
    fn from(have: Have) -> WireHave {
        WireHave {
            key: have.key,
            digest: have.digest,
            size: have.size,
            readable: have.readable,
            complete: have.complete,
            pieces: have.pieces.to_vec(),
        }
    }
}

/// The answer to `request` from what `blobs` holds (a blocking read).
pub fn answer(blobs: &crate::blobs::Blobs, request: &PieceRequest) -> PieceResponse {
    if request.len == 0 {
        return match blobs.have(request.key, request.name.as_deref()) {
            Some(have) => PieceResponse::Have(have.into()),
            None => PieceResponse::NotHeld,
        };
    }
    let bytes = request
        .key
        .filter(|_| request.len <= PIECE_BYTES)
        .and_then(|key| blobs.read_now(key, request.offset, request.len));
    bytes.map_or(PieceResponse::NotHeld, PieceResponse::Bytes)
}
