//! The fleet's part in a download: the bytes from the members that hold
//! them — whole, or as far as their own download has gone — and, when
//! nobody holds them, one node of the fleet (the lease's holder) fetching
//! them from GitHub while the others follow its download.
//!
//! Pieces are asked for one after another, from the holders in turn; a
//! holder that fails to answer, or answers with the wrong length, is asked
//! no more. Whatever the peers send, the writer checks the whole file
//! against GitHub's digest (or, for a name GitHub gives none for, the
//! digest the holders report): bytes that do not match never become a blob
//! and are never served whole.

use std::time::Duration;

use futures::future::join_all;
use libp2p::PeerId;

use crate::assets::stats::AssetCounters;
use crate::blobs::{Digest, Want, Writer};
use crate::p2p::client::{LeaseAnswer, NodeClient};
use crate::p2p::piece::{PieceRequest, PieceResponse, WireHave, PIECE_BYTES};

/// How often holders are asked again while their download has no new bytes.
const POLL: Duration = Duration::from_millis(50);
/// How long a download from peers waits for new bytes before it gives up.
const STALL: Duration = Duration::from_secs(20);

/// What the fleet did for a download.
pub enum FromFleet {
    /// The bytes came from peers, all of them, into the writer.
    Delivered,
    /// Nobody has them: this node fetches them from GitHub; `lease` is the
    /// fleet lease to give back after, if it took one.
    Fetch { lease: Option<String> },
}

/// Why a download from peers stopped part way (the writer has taken bytes:
/// it cannot start over).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Broken(String);

/// The bytes of `want` from the fleet into `writer`, or who fetches them.
pub async fn from_fleet(
    node: &NodeClient,
    want: &Want,
    writer: &mut Writer,
    counters: &AssetCounters,
    wait: Duration,
) -> Result<FromFleet, Broken> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let holders = probe(node, want).await;
        if !holders.is_empty() {
            from_holders(node, want, holders, writer, counters).await?;
            return Ok(FromFleet::Delivered);
        }
        let key = format!("blob:{}", want.digest.map_or_else(|| want.name.clone(), |d| d.to_string()));
        match node.lease(&key).await {
            LeaseAnswer::Fetch => return Ok(FromFleet::Fetch { lease: Some(key) }),
            LeaseAnswer::Wait { .. } if tokio::time::Instant::now() < deadline => {
                // Another node fetches it: ask again until its download shows.
                tokio::time::sleep(POLL).await;
            }
            LeaseAnswer::Wait { holder, .. } => {
                node.stalled(&holder).await;
                return Ok(FromFleet::Fetch { lease: None });
            }
        }
    }
}

/// The trusted peers that hold some of `want`, with what they hold.
async fn probe(node: &NodeClient, want: &Want) -> Vec<(PeerId, WireHave)> {
    let request = PieceRequest { key: want.digest, name: Some(want.name.clone()), offset: 0, len: 0 };
    let asked = node.trusted_peers().into_iter().map(|peer| {
        let request = request.clone();
        async move { (peer, node.piece(peer, request).await) }
    });
    // A peer whose own download has no byte yet is waiting too: two such
    // would wait on each other.
    let mut holders: Vec<(PeerId, WireHave)> = join_all(asked)
        .await
        .into_iter()
        .filter_map(|(peer, answer)| match answer {
            Some(PieceResponse::Have(have)) if agrees(want, &have) && (have.complete || have.readable > 0) => {
                Some((peer, have))
            }
            _ => None,
        })
        .collect();
    // Whole copies first, then the furthest along.
    holders.sort_by_key(|(_, have)| (!have.complete, std::cmp::Reverse(have.readable)));
    holders
}

/// A holder's copy is of the same bytes: GitHub's digest, when it gave one.
fn agrees(want: &Want, have: &WireHave) -> bool {
    match (want.digest, have.digest) {
        (Some(want), Some(have)) => want == have,
        (Some(want), None) => want == have.key,
        (None, _) => true,
    }
}

async fn from_holders(
    node: &NodeClient,
    want: &Want,
    mut holders: Vec<(PeerId, WireHave)>,
    writer: &mut Writer,
    counters: &AssetCounters,
) -> Result<(), Broken> {
    let mut offset = 0u64;
    let mut turn = 0usize;
    let mut stalled_since = tokio::time::Instant::now();
    loop {
        if let Some(digest) = holders.iter().find_map(|(_, have)| have.digest.filter(|_| have.complete)) {
            expect(writer, want, digest);
        }
        let size = want.size.or_else(|| holders.iter().find_map(|(_, have)| have.size.filter(|_| have.complete)));
        let whole = holders.iter().any(|(_, have)| have.complete && have.readable == offset);
        if size == Some(offset) || (size.is_none() && whole) {
            return Ok(());
        }
        let ready: Vec<usize> = (0..holders.len()).filter(|i| holders[*i].1.readable > offset).collect();
        if ready.is_empty() {
            if holders.is_empty() {
                return Err(Broken("every peer holding the download stopped answering".into()));
            }
            if stalled_since.elapsed() > STALL {
                return Err(Broken(format!("no peer's download went past byte {offset} for {} s", STALL.as_secs())));
            }
            tokio::time::sleep(POLL).await;
            holders = reprobe(node, want, holders).await;
            continue;
        }
        let index = ready[turn % ready.len()];
        turn += 1;
        let (peer, have) = holders[index].clone();
        let len = (have.readable - offset).min(PIECE_BYTES);
        let request = PieceRequest { key: Some(have.key), name: None, offset, len };
        match node.piece(peer, request).await {
            Some(PieceResponse::Bytes(bytes)) if bytes.len() as u64 == len => {
                writer.write(&bytes).await.map_err(|e| Broken(e.to_string()))?;
                counters.from_peers(len);
                offset += len;
                stalled_since = tokio::time::Instant::now();
            }
            Some(PieceResponse::NotHeld) => {
                // Its download finished (and took its digest as key), or stopped.
                holders = reprobe(node, want, holders).await;
            }
            _ => {
                tracing::info!(%peer, offset, "a peer did not answer a piece request; asking others");
                holders.remove(index);
            }
        }
    }
}

/// The writer checks the whole file against the holders' digest when
/// GitHub gave none.
fn expect(writer: &mut Writer, want: &Want, digest: Digest) {
    if want.digest.is_none() {
        writer.expect(digest);
    }
}

/// What the same holders hold now (those that still answer).
async fn reprobe(node: &NodeClient, want: &Want, holders: Vec<(PeerId, WireHave)>) -> Vec<(PeerId, WireHave)> {
    let request = PieceRequest { key: want.digest, name: Some(want.name.clone()), offset: 0, len: 0 };
    let asked = holders.into_iter().map(|(peer, _)| {
        let request = request.clone();
        async move { (peer, node.piece(peer, request).await) }
    });
    join_all(asked)
        .await
        .into_iter()
        .filter_map(|(peer, answer)| match answer {
            Some(PieceResponse::Have(have)) if agrees(want, &have) => Some((peer, have)),
            _ => None,
        })
        .collect()
}
