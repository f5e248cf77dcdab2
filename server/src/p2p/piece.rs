//! `/peercache/piece/1.0.0`: the bytes of release assets and archives, by
//! range, between members of the fleet. A request of no length asks what a
//! peer holds of a download (by its key, or by its name when the asker does
//! not know its digest yet), with the SHA-256 of each of its pieces — made
//! by the node from bytes it checked against the whole digest, or as its
//! own download goes; one with a length asks for those bytes, which the
//! peer sends once it can read them all (a download in progress is read as
//! far as it goes; bytes it has not reached are waited for a little). Only trusted peers are answered: a
//! digest is no authorization (GitHub authorizes each requester before any
//! byte is asked for), so the bytes stay inside the group.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::blobs::PIECE_BYTES;
use crate::blobs::{Blobs, Digest, Have};

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

/// How long a request for bytes that a download in progress has not
/// reached yet waits for them (a follower asking the peer whose turn it is
/// to relay a piece gets it the moment that peer has it).
pub const PIECE_WAIT: Duration = Duration::from_millis(500);

/// The answer to `request` from what `blobs` holds, once the bytes asked
/// for are there (waiting at most [`PIECE_WAIT`]).
pub async fn answer_when_there(blobs: Arc<Blobs>, request: PieceRequest) -> PieceResponse {
    if let (Some(key), true) = (request.key, request.len > 0) {
        blobs.until_readable(key, request.offset, request.offset.saturating_add(request.len), PIECE_WAIT).await;
    }
    tokio::task::spawn_blocking(move || answer(&blobs, &request)).await.unwrap_or(PieceResponse::NotHeld)
}

/// The answer to `request` from what `blobs` holds now (a blocking read).
fn answer(blobs: &Blobs, request: &PieceRequest) -> PieceResponse {
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
