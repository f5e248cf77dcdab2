//! The fleet's part in a download, with the event loop played.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use app::model::PeerInfo;
use libp2p::identity::Keypair;
use tokio::sync::mpsc;

use super::*;
use crate::blobs::{Begun, Blobs};
use crate::fleet::book::Book;
use crate::p2p::client::Command;
use crate::p2p::piece::{answer_when_there, PieceRequest, PieceServer};
use crate::p2p::piece_list::{vouched, PieceList, SignedList};
use crate::p2p::protocol::Trust;
use crate::p2p::status::{disabled, NodeStatusHandle};

/// A node of a private swarm with one trusted peer, whose event loop the
/// test plays: `play` answers each command.
fn with_one_peer(fetch_timeout: Duration, mut play: impl FnMut(Command) + Send + 'static) -> NodeClient {
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
    tokio::spawn(async move {
        let _status = sender;
        while let Some(command) = played.recv().await {
            play(command);
        }
    });
    let trust = Trust::new(local, true, Default::default());
    let book = Arc::new(Mutex::new(Book::new(60_000)));
    NodeClient { commands, status, fetch_timeout, trust, book, local, lists: Default::default() }
}

/// Nobody holds the asset yet, and the lease's coordinator is too busy
/// to answer. Counts the node's asks for the lease.
fn with_a_busy_coordinator(fetch_timeout: Duration) -> (NodeClient, Arc<AtomicUsize>) {
    let asks = Arc::new(AtomicUsize::new(0));
    let counted = asks.clone();
    let mut never_answered = Vec::new();
    let node = with_one_peer(fetch_timeout, move |command| match command {
        Command::Piece { reply, .. } => drop(reply.send(Some(PieceResponse::NotHeld))),
        Command::Lease { reply, .. } => {
            counted.fetch_add(1, Ordering::SeqCst);
            never_answered.push(reply);
        }
        _ => {}
    });
    (node, asks)
}

/// What a holder of `body` whole says it holds: its piece list, signed.
fn whole_copy(body: &[u8]) -> WireHave {
    whole_copy_signed_by(body, &Keypair::generate_ed25519())
}

/// ... signed by `signer`, the node whose bytes they are.
fn whole_copy_signed_by(body: &[u8], signer: &Keypair) -> WireHave {
    whole_copy_named(Digest::of(body), body, signer)
}

/// What `signer` says of a whole copy of the file `digest` names: the
/// piece list of `body` (the file's bytes, or others of its length).
fn whole_copy_named(digest: Digest, body: &[u8], signer: &Keypair) -> WireHave {
    let size = body.len() as u64;
    let pieces: Vec<Digest> =
        body.chunks(PIECE_BYTES as usize).map(|piece| Piece::new(piece.to_vec()).digest()).collect();
    let held = pieces.len() as u32;
    let list = PieceList { key: digest, digest: Some(digest), size: Some(size), complete: true, pieces };
    let list = SignedList::new(list, signer);
    WireHave { key: digest, digest: Some(digest), size: Some(size), readable: size, complete: true, held, list }
}

/// An asset with GitHub's digest and size, and the writer of this node's
/// download of it (nobody downloads it yet), in a store of its own.
fn nobody_has_yet(digest: Digest, size: u64) -> (tempfile::TempDir, Want, Writer) {
    let (dir, _, want, writer) = nobody_has_yet_in(digest, size);
    (dir, want, writer)
}

/// ... and the store.
fn nobody_has_yet_in(digest: Digest, size: u64) -> (tempfile::TempDir, Arc<Blobs>, Want, Writer) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(Blobs::open(dir.path(), 4 << 20, 4 << 20).unwrap());
    let want = Want { name: "asset:o/r/1".into(), digest: Some(digest), size: Some(size) };
    let Ok(Begun::Write(writer)) = blobs.begin(&want) else { panic!("nobody downloads it yet") };
    (dir, blobs, want, writer)
}

/// At 50 nodes on 50 Mbit/s links the busy leader's answers to piece
/// requests came late; each follower it was late for dropped it, found
/// no byte in what it had last heard of the others, and took the rest
/// from GitHub (16-20 of 49 each round). Here the one holder misses its
/// first answer: it is looked for again, and the bytes come from it.
#[tokio::test]
async fn a_holder_that_misses_one_answer_is_looked_for_again_before_github() {
    let body = b"the asset's bytes".to_vec();
    let (digest, size) = (Digest::of(&body), body.len() as u64);
    let have = whole_copy(&body);
    let (mut missed, sent) = (false, body.clone());
    let node = with_one_peer(Duration::from_millis(200), move |command| {
        if let Command::Piece { request, reply, .. } = command {
            let answer = match request.len {
                0 => Some(PieceResponse::Have(Box::new(have.clone()))),
                _ if !missed => None,
                _ => Some(PieceResponse::Bytes(sent.clone())),
            };
            missed |= request.len > 0;
            drop(reply.send(answer));
        }
    });
    let (_dir, want, mut writer) = nobody_has_yet(digest, size);
    let counters = AssetCounters::default();
    let outcome =
        from_fleet(&node, &want, &mut writer, &counters, &Demoted::default(), Duration::from_millis(400)).await;
    assert!(matches!(outcome, Ok(FromFleet::Delivered { .. })), "went to GitHub: {:?}", outcome.err());
    assert_eq!(writer.finish().await.unwrap(), (digest, size));
}

/// At 50 nodes on 2 cores, a coordinator's answer sometimes came after
/// the 2 s fetch timeout, and each node it was late for downloaded the
/// whole asset from GitHub again (3 copies in one round): a late answer
/// is asked again while the fleet wait lasts.
#[tokio::test]
async fn a_coordinator_too_busy_to_answer_sends_nobody_to_github_before_the_fleet_wait_ends() {
    let (node, asks) = with_a_busy_coordinator(Duration::from_millis(50));
    let (_dir, want, mut writer) = nobody_has_yet(Digest::of(b"x"), 1);
    let (wait, started) = (Duration::from_millis(400), tokio::time::Instant::now());
    let counters = AssetCounters::default();
    let outcome = from_fleet(&node, &want, &mut writer, &counters, &Demoted::default(), wait).await;
    assert!(matches!(outcome, Ok(FromFleet::Fetch { lease: Some(_) })), "it fetches at last, and gives the lease back");
    assert!(started.elapsed() >= wait, "went to GitHub {:?} after asking", started.elapsed());
    assert!(asks.load(Ordering::SeqCst) >= 2, "asked {} times", asks.load(Ordering::SeqCst));
}

/// A relay passes on the fetching node's signed list of a whole copy with
/// its last piece changed to bytes of its own. Before lists were signed it
/// was taken as the whole copy's list: the relay's piece matched it, was
/// written and offered to every peer, and only the whole file's digest
/// found it out at the end. Now the list is a forgery: refused, counted,
/// its sender demoted, and not one byte taken against it.
#[tokio::test]
async fn a_piece_list_changed_by_the_relay_passing_it_on_is_refused_and_no_piece_taken_against_it() {
    let body: Vec<u8> = (0..PIECE_BYTES as usize + 100).map(|i| i as u8).collect();
    let fake = vec![0u8; 100];
    let (digest, size) = (Digest::of(&body), body.len() as u64);
    // The fetcher's whole copy, as the relay passes it on: its last piece the relay's.
    let mut have = whole_copy(&body);
    assert_eq!(have.held, 2);
    have.list.list.pieces[1] = Piece::new(fake.clone()).digest();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let reported = reports.clone();
    let node = with_one_peer(Duration::from_millis(200), move |command| match command {
        Command::Piece { request, reply, .. } => drop(reply.send(Some(match (request.len, request.offset) {
            (0, _) => PieceResponse::Have(Box::new(have.clone())),
            (_, 0) => PieceResponse::Bytes(body[..PIECE_BYTES as usize].to_vec()),
            _ => PieceResponse::Bytes(fake.clone()),
        }))),
        Command::Lease { reply, .. } => drop(reply.send(LeaseAnswer::Fetch)),
        Command::Report { rejection, .. } => reported.lock().unwrap().push(rejection),
        _ => {}
    });
    let (_dir, want, mut writer) = nobody_has_yet(digest, size);
    let (counters, demoted) = (AssetCounters::default(), Demoted::default());
    let outcome = from_fleet(&node, &want, &mut writer, &counters, &demoted, Duration::from_millis(400)).await;
    assert!(matches!(outcome, Ok(FromFleet::Fetch { .. })), "it fetches from GitHub, trusting no piece of the relay's");
    assert_eq!(writer.taken(), 0, "bytes taken against the forged list");
    assert_eq!(*reports.lock().unwrap(), [Rejection::BadPieceList]);
    let relay = node.trusted_peers()[0];
    assert!(demoted.is(&relay), "the relay is demoted");
}

/// A holder that says it has the file and never sends a piece: the looks
/// again (above) come at most once a poll, and the download gives up once
/// no byte came for two fleet waits (the rest then from GitHub), rather
/// than asking for ever.
#[tokio::test]
async fn a_holder_that_never_sends_its_bytes_is_given_up_on_after_two_fleet_waits() {
    let have = whole_copy(b"the asset's bytes");
    let (digest, size) = (have.key, have.readable);
    let looks = Arc::new(AtomicUsize::new(0));
    let counted = looks.clone();
    let node = with_one_peer(Duration::from_millis(200), move |command| {
        if let Command::Piece { request, reply, .. } = command {
            counted.fetch_add(usize::from(request.len == 0), Ordering::SeqCst);
            drop(reply.send((request.len == 0).then(|| PieceResponse::Have(Box::new(have.clone())))));
        }
    });
    let (_dir, want, mut writer) = nobody_has_yet(digest, size);
    let (counters, wait, started) = (AssetCounters::default(), Duration::from_millis(300), tokio::time::Instant::now());
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        from_fleet(&node, &want, &mut writer, &counters, &Demoted::default(), wait),
    )
    .await
    .expect("it gives up in the end");
    let Err(Broken(why)) = outcome else { panic!("delivered from a peer that sent nothing") };
    assert!(why.contains("went past byte 0"), "{why}");
    assert!(started.elapsed() >= 2 * wait, "gave up after {:?}", started.elapsed());
    let most = (started.elapsed().as_millis() / POLL.as_millis() + 2) as usize;
    assert!(looks.load(Ordering::SeqCst) <= most, "{} looks in {:?}", looks.load(Ordering::SeqCst), started.elapsed());
}

/// A follower holding the first piece of a fetcher's download answers a
/// third node with the fetcher's list, signed by the fetcher and covering
/// what the follower holds (a relay signs no list for bytes it has not
/// checked whole); once it holds the file whole and checked, with its own.
#[tokio::test]
async fn a_follower_answers_with_the_fetchers_signed_list_until_it_holds_the_file_whole() {
    let body: Vec<u8> = (0..PIECE_BYTES as usize + 100).map(|i| (i * 7) as u8).collect();
    let (digest, size) = (Digest::of(&body), body.len() as u64);
    let fetcher = Keypair::generate_ed25519();
    let have = whole_copy_signed_by(&body, &fetcher);
    let (first, rest) = (body[..PIECE_BYTES as usize].to_vec(), body[PIECE_BYTES as usize..].to_vec());
    // The fetcher's answers, the second piece's held back until the test lets it go.
    let (held_back, mut second_piece) = mpsc::unbounded_channel();
    let node = with_one_peer(Duration::from_secs(5), move |command| {
        if let Command::Piece { request, reply, .. } = command {
            match (request.len, request.offset) {
                (0, _) => drop(reply.send(Some(PieceResponse::Have(Box::new(have.clone()))))),
                (_, 0) => drop(reply.send(Some(PieceResponse::Bytes(first.clone())))),
                _ => drop(held_back.send(reply)),
            }
        }
    });
    let (_dir, blobs, want, mut writer) = nobody_has_yet_in(digest, size);
    let server = PieceServer { blobs, lists: node.lists.clone() };
    let follower = Keypair::generate_ed25519();
    let ask = PieceRequest { key: Some(digest), name: None, offset: 0, len: 0 };
    let asked_by_a_third = || answer_when_there(server.clone(), follower.clone(), ask.clone());
    let midway = async {
        let reply = second_piece.recv().await.expect("the second piece is asked for");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let passed = loop {
            if let PieceResponse::Have(have) = asked_by_a_third().await {
                if have.held == 1 {
                    break have;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "the first piece was never held");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(passed.list.signer().unwrap(), PeerId::from(fetcher.public()), "the fetcher's list, passed on");
        assert!(!passed.complete && passed.list.list.complete, "a whole copy's list, held in part");
        assert_eq!(vouched(&passed, |_| true), Ok(()));
        drop(reply.send(Some(PieceResponse::Bytes(rest))));
    };
    let (counters, demoted) = (AssetCounters::default(), Demoted::default());
    let (outcome, ()) =
        tokio::join!(from_fleet(&node, &want, &mut writer, &counters, &demoted, Duration::from_secs(5)), midway);
    assert!(matches!(outcome, Ok(FromFleet::Delivered { .. })), "went to GitHub: {:?}", outcome.err());
    assert_eq!(writer.finish().await.unwrap(), (digest, size));
    let PieceResponse::Have(whole) = asked_by_a_third().await else { panic!("the whole file is not held") };
    assert!(whole.complete);
    assert_eq!(whole.list.signer().unwrap(), PeerId::from(follower.public()), "its own list, once whole");
    assert_eq!(vouched(&whole, |_| true), Ok(()));
}

/// A trusted node signs a list of a whole copy that names the asset's
/// digest, of bytes that are not the asset, and sends those bytes: each
/// piece matches the list, and only the whole file's digest finds it out.
/// The download (as a request runs it) fails, nothing is stored, and the
/// signer is blamed: demoted and reported, not asked again.
#[tokio::test]
async fn the_signer_of_a_list_whose_pieces_do_not_make_the_file_is_blamed() {
    let body = b"the asset's bytes".to_vec();
    let other = b"other bytes here!".to_vec();
    assert_eq!(other.len(), body.len());
    let (digest, size) = (Digest::of(&body), body.len() as u64);
    let signer = Keypair::generate_ed25519();
    let have = whole_copy_named(digest, &other, &signer);
    let reports = Arc::new(Mutex::new(Vec::new()));
    let reported = reports.clone();
    let node = with_one_peer(Duration::from_millis(200), move |command| match command {
        Command::Piece { request, reply, .. } => drop(reply.send(Some(match request.len {
            0 => PieceResponse::Have(Box::new(have.clone())),
            _ => PieceResponse::Bytes(other.clone()),
        }))),
        Command::Report { peer, rejection } => reported.lock().unwrap().push((peer, rejection)),
        _ => {}
    });
    let (_dir, blobs, want, writer) = nobody_has_yet_in(digest, size);
    let (counters, demoted) = (Arc::new(AssetCounters::default()), Arc::new(Demoted::default()));
    let download = crate::assets::download::Download {
        peers: Some(node),
        want,
        demoted: demoted.clone(),
        client: reqwest::Client::new(),
        // Never asked: the bytes come from the peer.
        url: "http://127.0.0.1:9/never-asked".into(),
        authorization: None,
        hosts: "127.0.0.1:9".parse().expect("hosts"),
        counters: counters.clone(),
    };
    tokio::time::timeout(Duration::from_secs(10), download.run(writer)).await.expect("the download ends");
    assert_eq!(counters.failures.load(Ordering::Relaxed), 1, "the download failed");
    assert_eq!(counters.from_fleet.load(Ordering::Relaxed), 0, "and is not counted as delivered");
    assert_eq!(blobs.usage().0, 0, "nothing that does not match is stored");
    let signer = PeerId::from(signer.public());
    assert!(demoted.is(&signer), "the signer is not asked again for a while");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while reports.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the signer was never reported");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(*reports.lock().unwrap(), [(signer.to_string(), Rejection::BadPieceList)]);
}
