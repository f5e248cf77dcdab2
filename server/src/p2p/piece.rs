//! `/peercache/piece/2.0.0`: the bytes of release assets and archives, by
//! range, between members of the fleet. A request of no length asks what a
//! peer holds of a download (by its key, or by its name when the asker does
//! not know its digest yet), with the piece list it holds them against —
//! signed by the node whose bytes it was made from (see `piece_list`); one
//! with a length asks for those bytes, which the
//! peer sends once it can read them all (a download in progress is read as
//! far as it goes; bytes it has not reached are waited for a little). Only trusted peers are answered: a
//! digest is no authorization (GitHub authorizes each requester before any
//! byte is asked for), so the bytes stay inside the group.

use std::sync::Arc;
use std::time::Duration;

use libp2p::identity::Keypair;
use serde::{Deserialize, Serialize};

pub use crate::blobs::PIECE_BYTES;
use crate::blobs::{Blobs, Digest};
use crate::p2p::piece_list::{PieceLists, SignedList};

pub const PIECE_PROTOCOL: &str = "/peercache/piece/2.0.0";

/// What peers' piece requests are answered from: the blob store, and the
/// piece lists this node answers with.
#[derive(Clone)]
pub struct PieceServer {
    pub blobs: Arc<Blobs>,
    pub lists: Arc<PieceLists>,
}

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
    Have(Box<WireHave>),
    #[serde(with = "serde_bytes")]
    Bytes(Vec<u8>),
    /// Nothing (or not those bytes yet, or not for this asker).
    NotHeld,
}

/// What a peer holds of a download, as it travels: with the piece list it
/// holds it against, signed (see `piece_list`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireHave {
    pub key: Digest,
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    pub readable: u64,
    pub complete: bool,
    /// How many of the list's pieces the peer holds.
    pub held: u32,
    pub list: SignedList,
}

impl WireHave {
    /// The SHA-256 of each piece the peer holds.
    pub fn pieces(&self) -> &[Digest] {
        let pieces = &self.list.list.pieces;
        &pieces[..(self.held as usize).min(pieces.len())]
    }
}

/// How long a request for bytes that a download in progress has not
/// reached yet waits for them (a follower asking the peer whose turn it is
/// to relay a piece gets it the moment that peer has it).
pub const PIECE_WAIT: Duration = Duration::from_millis(500);

/// The answer to `request` from what `blobs` holds, once the bytes asked
/// for are there (waiting at most [`PIECE_WAIT`]).
/// What it holds is answered with the piece list it holds it against, or
/// its own, signed by `signer`.
pub async fn answer_when_there(server: PieceServer, signer: Keypair, request: PieceRequest) -> PieceResponse {
    if let (Some(key), true) = (request.key, request.len > 0) {
        let end = request.offset.saturating_add(request.len);
        server.blobs.until_readable(key, request.offset, end, PIECE_WAIT).await;
    }
    tokio::task::spawn_blocking(move || answer(&server, &signer, &request)).await.unwrap_or(PieceResponse::NotHeld)
}

/// The answer to `request` from what is held now (a blocking read).
fn answer(server: &PieceServer, signer: &Keypair, request: &PieceRequest) -> PieceResponse {
    let blobs = &server.blobs;
    if request.len == 0 {
        return match blobs.have(request.key, request.name.as_deref()) {
            Some(have) => PieceResponse::Have(Box::new(server.lists.answer(have, signer))),
            None => PieceResponse::NotHeld,
        };
    }
    let bytes = request
        .key
        .filter(|_| request.len <= PIECE_BYTES)
        .and_then(|key| blobs.read_now(key, request.offset, request.len));
    bytes.map_or(PieceResponse::NotHeld, PieceResponse::Bytes)
}
