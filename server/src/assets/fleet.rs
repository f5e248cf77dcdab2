//! The fleet's part in a download: the bytes from the members that hold
//! them — whole, or as far as their own download has gone — and, when
//! nobody holds them, one node of the fleet (the lease's holder) fetching
//! them from GitHub while the others follow its download.
//!
//! Pieces are asked for a few at a time, from the holders in turn, and
//! each is checked against the piece list of a whole copy (else the longest
//! list): a piece that does not match is refused, counted against its peer,
//! and that peer is asked no more for a while; one that does not answer is
//! replaced by the others. Whatever the peers send, the writer checks the
//! whole file against GitHub's digest (or, for a name GitHub gives none for,
//! the digest the holders report), which also checks the list: bytes that
//! do not match never become a blob and are never served whole. When every
//! holder is gone part way, the rest comes from GitHub (see `Download`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::join_all;
use libp2p::PeerId;

use crate::assets::stats::AssetCounters;
use crate::blobs::{Digest, Want, Writer};
use crate::p2p::client::{LeaseAnswer, NodeClient};
use crate::p2p::piece::{PieceRequest, PieceResponse, WireHave, PIECE_BYTES};
use crate::p2p::protocol::Rejection;

/// How often holders are asked again while their download has no new bytes.
const POLL: Duration = Duration::from_millis(50);
/// How long a download from peers waits for new bytes before it gives up.
const STALL: Duration = Duration::from_secs(20);
/// Pieces asked for at once (from the holders in turn).
const IN_FLIGHT: usize = 4;
/// How long a peer that sent a bad piece is not asked.
const DEMOTED_FOR: Duration = Duration::from_secs(600);

/// Peers that sent a piece that did not match its list, and when: not asked
/// for a while.
#[derive(Default)]
pub struct Demoted(Mutex<HashMap<PeerId, Instant>>);

impl Demoted {
    pub fn demote(&self, peer: PeerId) {
        self.0.lock().expect("demoted lock").insert(peer, Instant::now());
    }

    pub fn is(&self, peer: &PeerId) -> bool {
        let mut demoted = self.0.lock().expect("demoted lock");
        demoted.retain(|_, at| at.elapsed() < DEMOTED_FOR);
        demoted.contains_key(peer)
    }
}

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
    demoted: &Demoted,
    wait: Duration,
) -> Result<FromFleet, Broken> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let holders = probe(node, want, demoted).await;
        if !holders.is_empty() {
            from_holders(node, want, holders, writer, counters, demoted).await?;
            return Ok(FromFleet::Delivered);
        }
        let key = format!("blob:{}", want.digest.map_or_else(|| want.name.clone(), |d| d.to_string()));
        let answer = node.lease(&key).await;
        let waiting = tokio::time::Instant::now() < deadline;
        match answer {
            LeaseAnswer::Fetch => return Ok(FromFleet::Fetch { lease: Some(key) }),
            // Another node fetches it, or a busy coordinator's answer is late
            // (it may have gone to this node): ask again until a download shows.
            LeaseAnswer::Wait { .. } | LeaseAnswer::Unanswered if waiting => tokio::time::sleep(POLL).await,
            // Given to this node late, perhaps: given back after.
            LeaseAnswer::Unanswered => {
                tracing::info!(name = %want.name, "the lease's coordinator did not answer within the fleet wait; fetching");
                return Ok(FromFleet::Fetch { lease: Some(key) });
            }
            LeaseAnswer::Wait { holder, .. } => {
                tracing::info!(%holder, name = %want.name, "no bytes from the lease's holder within the fleet wait; fetching");
                node.stalled(&holder).await;
                return Ok(FromFleet::Fetch { lease: None });
            }
        }
    }
}

/// The trusted peers that hold some of `want`, with what they hold.
async fn probe(node: &NodeClient, want: &Want, demoted: &Demoted) -> Vec<(PeerId, WireHave)> {
    let request = PieceRequest { key: want.digest, name: Some(want.name.clone()), offset: 0, len: 0 };
    let asked = node.trusted_peers().into_iter().filter(|peer| !demoted.is(peer)).map(|peer| {
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
    demoted: &Demoted,
) -> Result<(), Broken> {
    let mut turn = 0usize;
    let mut stalled_since = tokio::time::Instant::now();
    // Pieces that came ahead of the next one to write.
    let mut ahead: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    loop {
        while let Some(bytes) = ahead.remove(&((writer.taken() / PIECE_BYTES) as usize)) {
            writer.write(&bytes).await.map_err(|e| Broken(e.to_string()))?;
            counters.from_peers(bytes.len() as u64);
            stalled_since = tokio::time::Instant::now();
        }
        let offset = writer.taken();
        let next = (offset / PIECE_BYTES) as usize;
        let whole = holders.iter().find(|(_, have)| have.complete).map(|(_, have)| have.clone());
        if let Some(digest) = whole.as_ref().and_then(|have| have.digest) {
            expect(writer, want, digest);
        }
        // The list pieces are checked by: a whole copy's, else the longest.
        let list = whole
            .as_ref()
            .map(|have| have.pieces.clone())
            .or_else(|| holders.iter().map(|(_, have)| have.pieces.clone()).max_by_key(Vec::len))
            .unwrap_or_default();
        let size = want.size.or_else(|| whole.as_ref().and_then(|have| have.size));
        if whole.is_some() && size == Some(offset) {
            return Ok(());
        }
        let end = |piece: usize, have: &WireHave| match (have.complete, size) {
            (true, Some(size)) => ((piece as u64 + 1) * PIECE_BYTES).min(size),
            _ => (piece as u64 + 1) * PIECE_BYTES,
        };
        // The next pieces not yet here, each from a holder that has it, in turn.
        let mut asks = Vec::new();
        for piece in next..next + IN_FLIGHT {
            let start = piece as u64 * PIECE_BYTES;
            if ahead.contains_key(&piece) {
                continue;
            }
            if size.is_some_and(|size| start >= size) {
                break;
            }
            let ready: Vec<&(PeerId, WireHave)> = holders
                .iter()
                .filter(|(_, have)| {
                    list.len() > piece && have.pieces.get(piece) == list.get(piece) && have.readable >= end(piece, have)
                })
                .collect();
            let Some((peer, have)) = ready.get(turn % ready.len().max(1)).copied() else { break };
            turn += 1;
            let request =
                PieceRequest { key: Some(have.key), name: None, offset: start, len: end(piece, have) - start };
            asks.push((piece, *peer, request));
        }
        if asks.is_empty() {
            if holders.is_empty() {
                return Err(Broken("every peer holding the download stopped answering".into()));
            }
            if stalled_since.elapsed() > STALL {
                return Err(Broken(format!("no peer's download went past byte {offset} for {} s", STALL.as_secs())));
            }
            tokio::time::sleep(POLL).await;
            holders = reprobe(node, want, holders, demoted).await;
            continue;
        }
        let answers = join_all(asks.iter().map(|(_, peer, request)| node.piece(*peer, request.clone()))).await;
        let mut changed = false;
        for ((piece, peer, request), answer) in asks.into_iter().zip(answers) {
            match answer {
                Some(PieceResponse::Bytes(bytes))
                    if bytes.len() as u64 == request.len && Digest::of(&bytes) == list[piece] =>
                {
                    ahead.insert(piece, bytes);
                }
                Some(PieceResponse::Bytes(_)) => {
                    tracing::warn!(%peer, piece, "a peer sent a piece that does not match its list; asked no more");
                    node.report(peer.to_string(), Rejection::BadPiece);
                    demoted.demote(peer);
                    holders.retain(|(holder, _)| *holder != peer);
                }
                // Its download finished (and took its digest as key), or stopped.
                Some(PieceResponse::NotHeld) => changed = true,
                _ => {
                    tracing::info!(%peer, piece, "a peer did not answer a piece request; asking others");
                    holders.retain(|(holder, _)| *holder != peer);
                }
            }
        }
        if changed {
            holders = reprobe(node, want, holders, demoted).await;
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
async fn reprobe(
    node: &NodeClient,
    want: &Want,
    holders: Vec<(PeerId, WireHave)>,
    demoted: &Demoted,
) -> Vec<(PeerId, WireHave)> {
    let request = PieceRequest { key: want.digest, name: Some(want.name.clone()), offset: 0, len: 0 };
    let asked = holders.into_iter().filter(|(peer, _)| !demoted.is(peer)).map(|(peer, _)| {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use app::model::PeerInfo;
    use tokio::sync::mpsc;

    use super::*;
    use crate::blobs::{Begun, Blobs};
    use crate::fleet::book::Book;
    use crate::p2p::client::Command;
    use crate::p2p::protocol::Trust;
    use crate::p2p::status::{disabled, NodeStatusHandle};

    /// A node of a private swarm with one peer, whose event loop the test
    /// plays: nobody holds the asset yet, and the lease's coordinator is too
    /// busy to answer. Counts the node's asks for the lease.
    fn with_a_busy_coordinator(fetch_timeout: Duration) -> (NodeClient, Arc<AtomicUsize>) {
        let (local, peer) = (PeerId::random(), PeerId::random());
        let mut status = disabled("");
        status.peer_count = 1;
        status.peers = vec![PeerInfo {
            peer_id: peer.to_string(),
            addr: String::new(),
            direction: "outbound".into(),
            latency_ms: None,
            agent: None,
            protocols: Vec::new(),
            connected_since: String::new(),
            entries_received: 0,
            entries_sent: 0,
            gossip_score: None,
            trusted: true,
            refused: 0,
            clock_offset_ms: None,
        }];
        let (sender, status) = NodeStatusHandle::channel(status);
        let (commands, mut played) = mpsc::channel(64);
        let asks = Arc::new(AtomicUsize::new(0));
        let counted = asks.clone();
        tokio::spawn(async move {
            let _status = sender;
            let mut never_answered = Vec::new();
            while let Some(command) = played.recv().await {
                match command {
                    Command::Piece { reply, .. } => drop(reply.send(Some(PieceResponse::NotHeld))),
                    Command::Lease { reply, .. } => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        never_answered.push(reply);
                    }
                    _ => {}
                }
            }
        });
        let trust = Trust::new(local, true, Default::default());
        let book = Arc::new(Mutex::new(Book::new(60_000)));
        (NodeClient { commands, status, fetch_timeout, trust, book, local }, asks)
    }

    /// At 50 nodes on 2 cores, a coordinator's answer sometimes came after
    /// the 2 s fetch timeout, and each node it was late for downloaded the
    /// whole asset from GitHub again (3 copies in one round): a late answer
    /// is asked again while the fleet wait lasts.
    #[tokio::test]
    async fn a_coordinator_too_busy_to_answer_sends_nobody_to_github_before_the_fleet_wait_ends() {
        let (node, asks) = with_a_busy_coordinator(Duration::from_millis(50));
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(Blobs::open(dir.path(), 1 << 20, 1 << 20).unwrap());
        let want = Want { name: "asset:o/r/1".into(), digest: Some(Digest::of(b"x")), size: Some(1) };
        let Ok(Begun::Write(mut writer)) = blobs.begin(&want) else { panic!("nobody downloads it yet") };
        let (wait, started) = (Duration::from_millis(400), tokio::time::Instant::now());
        let counters = AssetCounters::default();
        let outcome = from_fleet(&node, &want, &mut writer, &counters, &Demoted::default(), wait).await;
        assert!(
            matches!(outcome, Ok(FromFleet::Fetch { lease: Some(_) })),
            "it fetches at last, and gives the lease back"
        );
        assert!(started.elapsed() >= wait, "went to GitHub {:?} after asking", started.elapsed());
        assert!(asks.load(Ordering::SeqCst) >= 2, "asked {} times", asks.load(Ordering::SeqCst));
    }
}
