//! The fleet's part in a download: the bytes from the members that hold
//! them — whole, or as far as their own download has gone — and, when
//! nobody holds them, one node of the fleet (the lease's holder) fetching
//! them from GitHub while the others follow its download.
//!
//! Pieces are asked for a few at a time, each of the peer `relay` picks
//! (the holders in turn, or, while there is one source only, the follower
//! whose turn it is to relay that piece), and each is checked against the
//! piece list of a whole copy (else the longest list) as it comes. Every
//! list is signed by the node whose bytes it was made from and passed on
//! unchanged by followers (see `p2p::piece_list`); one whose signature
//! fails, or that does not cover what its holder says it holds, is a
//! forgery: refused, counted, its peer demoted, and no piece is taken
//! against it. A piece that matches is readable by peers at once; one that
//! does not is refused, counted against its peer, and that peer is asked no
//! more for a while; one that does not answer is replaced by the others.
//! Whatever the peers send, the writer checks the whole file against
//! GitHub's digest (or, for a name GitHub gives none for, the digest a whole
//! copy's signed list names), which also checks the list: bytes that do not
//! match never become a blob and are never served whole. When every holder
//! is gone part way, the rest comes from GitHub (see `Download`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};
use libp2p::PeerId;

use crate::assets::relay::{groups_of_eight, Kept, View};
use crate::assets::stats::AssetCounters;
use crate::blobs::{Digest, Piece, Want, Writer};
use crate::p2p::client::{LeaseAnswer, NodeClient};
use crate::p2p::piece::{PieceRequest, PieceResponse, WireHave, PIECE_BYTES};
use crate::p2p::piece_list::{vouched, PassingOn};
use crate::p2p::protocol::Rejection;

/// How often the download's leader is asked again how far it is, in a
/// group of up to 8 holders; past that, this for every 8 holders (each
/// answer carries the piece list, about 2 KiB for 64 MiB: 49 followers
/// asking every 50 ms would take a third of a 50 Mbit/s uplink).
const POLL: Duration = Duration::from_millis(50);
/// A download from peers gives up after this many fleet waits without new
/// bytes (20 s, with the download's 10 s).
const STALL_WAITS: u32 = 2;
/// Pieces asked for at once (each of the peer `relay::View` picks).
const IN_FLIGHT: usize = 4;
/// How often every trusted peer is asked again what it holds of a download
/// being followed (to find whole copies, and followers that came later)...
const REDISCOVER: Duration = Duration::from_secs(1);
/// ...while there are at most this many holders. Past it the holders the
/// first look found are kept, and only the leader is asked again: with 25
/// nodes on 1000 Mbit/s links, where the 2 cores are the limit, every node
/// asking the 24 others each second took the fleet 23.5-26.1 s against
/// 16.9-18.0 s without (at 50 nodes it sent 3 copies from GitHub).
const REDISCOVER_UP_TO: usize = 8;
/// How long a peer that sent a bad piece is not asked.
const DEMOTED_FOR: Duration = Duration::from_secs(600);

/// Peers that sent a piece that did not match its list, or signed a list
/// whose pieces made a file that is not the one named, and when: not asked
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
    /// The bytes came from peers, all of them, into the writer, taken
    /// against the piece lists of `vouched_by` (the nodes that signed
    /// them): to blame should the whole file not match.
    Delivered { vouched_by: Vec<PeerId> },
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
        // A peer whose own download has no byte yet is waiting too: two such
        // would wait on each other.
        if holds_bytes(&holders) {
            let vouched_by = from_holders(node, want, holders, writer, counters, demoted, wait * STALL_WAITS).await?;
            return Ok(FromFleet::Delivered { vouched_by });
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

/// The trusted peers that hold some of `want`, with what they hold: those
/// whose own download of it has no byte yet too (they follow it as well).
async fn probe(node: &NodeClient, want: &Want, demoted: &Demoted) -> Vec<(PeerId, WireHave)> {
    let request = what_is_held(want);
    let asked = node.trusted_peers().into_iter().filter(|peer| !demoted.is(peer)).map(|peer| {
        let request = request.clone();
        async move { (peer, node.piece(peer, request).await) }
    });
    let mut holders: Vec<(PeerId, WireHave)> = join_all(asked)
        .await
        .into_iter()
        .filter_map(|(peer, answer)| match answer {
            Some(PieceResponse::Have(have)) if agrees(want, &have) => vetted(node, demoted, peer, *have),
            _ => None,
        })
        .collect();
    // Whole copies first, then the furthest along.
    holders.sort_by_key(|(_, have)| (!have.complete, std::cmp::Reverse(have.readable)));
    holders
}

/// `have`, when its piece list is vouched for (see `piece_list`); else the
/// refusal is counted against its peer, demoted when the list is forged.
fn vetted(node: &NodeClient, demoted: &Demoted, peer: PeerId, have: WireHave) -> Option<(PeerId, WireHave)> {
    match vouched(&have, |signer| node.trust.trusts(signer)) {
        Ok(()) => Some((peer, have)),
        Err(why) => {
            tracing::warn!(%peer, "a peer's piece list was refused: {why}");
            if why.is_forgery() {
                demoted.demote(peer);
            }
            node.report(peer.to_string(), why);
            None
        }
    }
}

/// Some holder has bytes to give: a whole copy, or part of its own download.
fn holds_bytes(holders: &[(PeerId, WireHave)]) -> bool {
    holders.iter().any(|(_, have)| have.complete || have.readable > 0)
}

/// The request that asks a peer what it holds of `want`.
fn what_is_held(want: &Want) -> PieceRequest {
    PieceRequest { key: want.digest, name: Some(want.name.clone()), offset: 0, len: 0 }
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
    stall: Duration,
) -> Result<Vec<PeerId>, Broken> {
    let mut turn = 0usize;
    let mut stalled_since = tokio::time::Instant::now();
    let (mut refreshed, mut discovered) = (tokio::time::Instant::now(), tokio::time::Instant::now());
    // Pieces that came ahead of the next one to write, and who sent them.
    let mut ahead: BTreeMap<usize, (PeerId, Arc<Piece>)> = BTreeMap::new();
    let mut in_flight = FuturesUnordered::new();
    let mut relaying = 0usize;
    let mut asked: HashSet<usize> = HashSet::new();
    // Pieces whose relay did not have them yet: since when, and those not
    // to ask again before the next look at the leader.
    let mut missed: HashMap<usize, tokio::time::Instant> = HashMap::new();
    let mut waiting: HashSet<usize> = HashSet::new();
    // Its peers are answered with the list its pieces were taken against,
    // whose signers are blamed should the whole file not match.
    let mut passing = PassingOn::new(&node.lists);
    loop {
        while let Some((peer, piece)) = ahead.remove(&((writer.taken() / PIECE_BYTES) as usize)) {
            writer.write_piece(&piece).await.map_err(|e| Broken(e.to_string()))?;
            counters.from_peer(peer, piece.bytes().len() as u64);
            stalled_since = tokio::time::Instant::now();
        }
        let offset = writer.taken();
        let next = (offset / PIECE_BYTES) as usize;
        writer.growing().peers.store(holders.len(), std::sync::atomic::Ordering::Relaxed);
        {
            let view = View::of(node.local, want, &holders);
            if let Some(signed) = view.signed {
                passing.list(signed);
            }
            if let Some(digest) = view.whole_digest() {
                expect(writer, want, digest);
            }
            if view.done(offset) {
                return Ok(passing.signers().into_iter().filter(|signer| *signer != node.local).collect());
            }
            // The next pieces not yet here or asked for, each from the peer
            // the view picks; those this node relays first, and apart: the
            // others wait for them.
            let span = 2 * IN_FLIGHT;
            for piece in next..next + 2 * span {
                if view.beyond(piece) {
                    break;
                }
                if ahead.contains_key(&piece) || asked.contains(&piece) || waiting.contains(&piece) {
                    continue;
                }
                let kept =
                    Kept::after(missed.get(&piece).map_or(Duration::ZERO, |since| since.elapsed()), holders.len());
                let duty = kept != Kept::TooLong && view.relays(piece);
                let room = if duty {
                    relaying < IN_FLIGHT
                } else {
                    piece < next + span && in_flight.len() - relaying < IN_FLIGHT
                };
                if !room {
                    continue;
                }
                let Some((peer, request)) = view.choose(piece, kept, turn) else { continue };
                relaying += usize::from(duty);
                turn += 1;
                asked.insert(piece);
                let digest = view.list[piece];
                in_flight
                    .push(async move { (piece, peer, request.len, digest, duty, node.piece(peer, request).await) });
            }
        }
        if in_flight.is_empty() {
            // First: the looks below must not go on for ever (a holder that
            // says it has bytes and never sends them).
            if stalled_since.elapsed() > stall {
                return Err(Broken(format!("no peer's download went past byte {offset} for {stall:?}")));
            }
            if !holds_bytes(&holders) {
                // The holders with bytes did not answer in time — at 50 nodes
                // on 50 Mbit/s links a busy leader's answers came late, and
                // the followers left (as this node last heard them) had
                // none: 16-20 of 49 took the rest from GitHub. A look at
                // everyone first: the leader may answer now, and the others'
                // downloads have gone on. At most once a poll.
                tokio::time::sleep_until(discovered + POLL).await;
                holders = probe(node, want, demoted).await;
                discovered = tokio::time::Instant::now();
                if !holds_bytes(&holders) {
                    return Err(Broken("every peer holding the download stopped answering".into()));
                }
                continue;
            }
        }
        tokio::select! {
            Some((piece, peer, len, digest, duty, answer)) = in_flight.next() => {
                asked.remove(&piece);
                relaying -= usize::from(duty);
                let refused = match answer {
                    Some(PieceResponse::Bytes(bytes)) if bytes.len() as u64 == len => {
                        let got = Arc::new(Piece::new(bytes));
                        let matches = got.digest() == digest;
                        if matches {
                            // Peers may take it from here already (it may be theirs to relay on).
                            writer.offer(piece as u64 * PIECE_BYTES, got.clone());
                            ahead.insert(piece, (peer, got));
                        }
                        !matches
                    }
                    Some(PieceResponse::Bytes(_)) => true,
                    // A relay that has not got it yet, or a download that
                    // finished (and took its digest as key) or stopped.
                    Some(PieceResponse::NotHeld) => {
                        missed.entry(piece).or_insert_with(tokio::time::Instant::now);
                        waiting.insert(piece);
                        false
                    }
                    _ => {
                        tracing::info!(%peer, piece, "a peer did not answer a piece request; asking others");
                        holders.retain(|(holder, _)| *holder != peer);
                        false
                    }
                };
                if refused {
                    tracing::warn!(%peer, piece, "a peer sent a piece that does not match its list; asked no more");
                    node.report(peer.to_string(), Rejection::BadPiece);
                    demoted.demote(peer);
                    holders.retain(|(holder, _)| *holder != peer);
                }
            }
            _ = tokio::time::sleep_until(refreshed + POLL) => {}
        }
        if refreshed.elapsed() >= POLL * groups_of_eight(holders.len()) {
            // Every trusted peer now and then (whole copies, followers that
            // came later) in a small fleet, else the leader only: what they
            // hold now.
            let small = holders.len() <= REDISCOVER_UP_TO;
            holders = if small && discovered.elapsed() >= REDISCOVER {
                discovered = tokio::time::Instant::now();
                probe(node, want, demoted).await
            } else {
                refresh(node, want, demoted, holders).await
            };
            refreshed = tokio::time::Instant::now();
            waiting.clear();
            missed.retain(|piece, _| *piece >= next);
        }
    }
}

/// A download from peers whose whole file does not match: each node whose
/// piece list its pieces were taken against is demoted and reported, since
/// one of them signed a list of bytes that are not the file it names (the
/// lists are checked against each other as they come, the pieces against
/// the lists, and only the whole against the digest).
pub fn blame(node: &NodeClient, demoted: &Demoted, vouched_by: &[PeerId]) {
    for signer in vouched_by {
        demoted.demote(*signer);
        node.report(signer.to_string(), Rejection::BadPieceList);
    }
}

/// The writer checks the whole file against the holders' digest when
/// GitHub gave none.
fn expect(writer: &mut Writer, want: &Want, digest: Digest) {
    if want.digest.is_none() {
        writer.expect(digest);
    }
}

/// The holders with what the leader of the download (the furthest along)
/// holds now, while no holder has it whole: the others hold at least what
/// they said. A leader that no longer answers goes.
async fn refresh(
    node: &NodeClient,
    want: &Want,
    demoted: &Demoted,
    mut holders: Vec<(PeerId, WireHave)>,
) -> Vec<(PeerId, WireHave)> {
    if holders.iter().any(|(_, have)| have.complete) {
        return holders;
    }
    let Some(at) = holders.iter().enumerate().max_by_key(|(_, (_, have))| have.readable).map(|(at, _)| at) else {
        return holders;
    };
    let peer = holders[at].0;
    match node.piece(peer, what_is_held(want)).await {
        Some(PieceResponse::Have(have)) if agrees(want, &have) => match vetted(node, demoted, peer, *have) {
            Some((_, have)) => holders[at].1 = have,
            None => drop(holders.remove(at)),
        },
        _ => drop(holders.remove(at)),
    }
    holders
}

#[cfg(test)]
mod tests;
