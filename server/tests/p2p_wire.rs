//! Rolling upgrades: a peer that speaks a newer wire version, played by a
//! bare libp2p swarm that writes its own bytes on peercache's fetch protocol.
//! A message with fields this node does not know is read (they are skipped);
//! one it cannot read but whose envelope names another version is counted
//! and the connection kept; garbage is counted and the peer dropped.

mod support;

use std::time::Duration;

use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm};
use serde_json::{json, Value};
use server::cache::PutOptions;
use server::p2p::protocol::{FETCH_PROTOCOL, WIRE_VERSION};
use support::node::Node;
use support::wait_for;

/// A codec that sends and receives raw bytes.
#[derive(Clone, Default)]
struct Raw;

impl request_response::Codec for Raw {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        futures::AsyncReadExt::read_to_end(io, &mut bytes).await?;
        Ok(bytes)
    }

    async fn read_response<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        self.read_request(p, io).await
    }

    async fn write_request<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> std::io::Result<()> {
        futures::AsyncWriteExt::write_all(io, &bytes).await
    }

    async fn write_response<T: futures::AsyncWrite + Unpin + Send>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> std::io::Result<()> {
        self.write_request(p, io, bytes).await
    }
}

type RawPeer = Swarm<request_response::Behaviour<Raw>>;

const WIRE_KEY: &str = "github:GET:/repos/octo/wire:accept=:scope=anonymous";

fn raw_peer() -> RawPeer {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                Raw,
                [(StreamProtocol::new(FETCH_PROTOCOL), ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

fn cbor(value: &Value) -> Vec<u8> {
    cbor4ii::serde::to_vec(Vec::new(), value).unwrap()
}

/// What the test reads of a fetch answer (the rest, bytes included, is skipped).
#[derive(serde::Deserialize)]
struct Answer {
    v: u16,
    m: Fetched,
}

#[derive(serde::Deserialize)]
struct Fetched {
    entry: Option<Key>,
}

#[derive(serde::Deserialize)]
struct Key {
    key: String,
}

impl Answer {
    fn key(&self) -> Option<&str> {
        self.m.entry.as_ref().map(|e| e.key.as_str())
    }
}

/// Sends `bytes` as a fetch request to `node`; its answer, or the failure.
async fn ask(peer: &mut RawPeer, node: PeerId, bytes: Vec<u8>) -> Result<Answer, String> {
    let id = peer.behaviour_mut().send_request(&node, bytes);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let event = tokio::time::timeout_at(deadline, peer.select_next_some()).await.expect("an answer in time");
        match event {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { request_id, response },
                ..
            }) if request_id == id => {
                // The stream closed without a word: the node did not answer.
                if response.is_empty() {
                    return Err("closed without an answer".to_owned());
                }
                return Ok(cbor4ii::serde::from_slice(&response).expect("an envelope"));
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { request_id, error, .. })
                if request_id == id =>
            {
                return Err(error.to_string())
            }
            _ => {}
        }
    }
}

/// Polls the raw peer until it is connected to `node`.
async fn connect(peer: &mut RawPeer, node: PeerId, addr: &str) {
    let addr: Multiaddr = addr.parse().unwrap();
    peer.dial(addr).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, peer.select_next_some()).await.expect("connected in time") {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == node => return,
            _ => {}
        }
    }
}

fn refused(node: &Node, reason: &str) -> u64 {
    node.status().refused_by_reason.get(reason).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_peers_requests_are_read_or_counted_and_the_connection_kept() {
    let node = Node::start("", None);
    // What a stranger may fetch: an anonymous GitHub answer (see `p2p::event_loop::for_strangers`).
    node.cache.put(WIRE_KEY, bytes::Bytes::from_static(br#"{"id": 1}"#), PutOptions::default()).unwrap();
    let addr = node.addr().await;
    let mut peer = raw_peer();
    connect(&mut peer, node.peer_id(), &addr).await;
    node.wait_peers(1).await;

    // Newer: unknown fields in the envelope and the message; read all the same.
    let newer = json!({"v": WIRE_VERSION + 1, "m": {"key": WIRE_KEY, "priority": "high"}, "trace": [1, 2]});
    let answer = ask(&mut peer, node.peer_id(), cbor(&newer)).await.expect("answered");
    assert_eq!((answer.v, answer.key()), (WIRE_VERSION, Some(WIRE_KEY)));

    // Newer and changed beyond reading: counted as another version, not garbage.
    let changed = json!({"v": WIRE_VERSION + 1, "m": {"key": {"path": "/repos/octo/wire"}}});
    assert!(ask(&mut peer, node.peer_id(), cbor(&changed)).await.is_err(), "no answer to what it cannot read");
    wait_for("the other version counted", || (refused(&node, "unknown_version") == 1).then_some(())).await;
    assert_eq!(refused(&node, "malformed"), 0);
    let since = node.status().peers[0].connected_since.clone();
    let again = json!({"v": WIRE_VERSION, "m": {"key": WIRE_KEY}});
    let answer = ask(&mut peer, node.peer_id(), cbor(&again)).await.expect("still answered on the same connection");
    assert_eq!(answer.key(), Some(WIRE_KEY));
    assert_eq!(node.status().peers[0].connected_since, since, "the connection was kept");

    // Garbage: counted, and the peer dropped.
    let _ = ask(&mut peer, node.peer_id(), b"\xff\xfenot cbor".to_vec()).await;
    wait_for("garbage counted", || (refused(&node, "malformed") == 1).then_some(())).await;
    wait_for("the garbage sender dropped", || (node.status().peer_count == 0).then_some(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_asks_trusted_peers_before_a_silent_stranger() {
    use libp2p::identity::Keypair;
    use server::p2p::rendezvous::rank;
    // A member holding the entry, and the node that misses it; they trust each other.
    let node_identity = Keypair::generate_ed25519();
    let node_id = node_identity.public().to_peer_id();
    let member = Node::start_with("", |c| c.trusted_peers = [node_id].into(), |_| {});
    let member_id = member.peer_id();
    let node = Node::start_with(
        &member.addr().await,
        |c| {
            c.identity = node_identity;
            c.trusted_peers = [member_id].into();
        },
        |_| {},
    );
    node.wait_peers(1).await;
    // A stranger that never answers, and a key it ranks first for.
    let mut stranger = raw_peer();
    let stranger_id = *stranger.local_peer_id();
    connect(&mut stranger, node.peer_id(), &node.addr().await).await;
    node.wait_peers(2).await;
    let key = (0..)
        .map(|i| format!("get_repo:octo/silent-{i}"))
        .find(|key| rank(key, [stranger_id, member_id])[0] == stranger_id)
        .unwrap();
    member.cache.put(&key, bytes::Bytes::from_static(br#"{"id": 7}"#), PutOptions::default()).unwrap();
    // (Put after the node joined, it travels by gossip too: drop the node's copy to make it miss.)
    wait_for("the member's entry at the node", || node.cache.peek(&key).map(|_| ())).await;
    node.cache.invalidate(&key).unwrap();
    let found = node.client.lookup(&node.cache, &key).await;
    assert!(found.is_some(), "the member had it");
    // Showing that something does not happen takes a window of time: half a
    // second in which the stranger, driven, receives no question.
    let asked = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { .. },
                ..
            }) = stranger.select_next_some().await
            {
                return;
            }
        }
    })
    .await;
    assert!(asked.is_err(), "the silent stranger was asked before the trusted member");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_word_does_not_choose_whom_the_node_dials() {
    use libp2p::identify;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // A canary where the stranger points the node: another loopback address.
    let canary = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let canary_port = canary.local_addr().unwrap().port();
    let knocks = Arc::new(AtomicUsize::new(0));
    let counted = knocks.clone();
    tokio::spawn(async move {
        while canary.accept().await.is_ok() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let node = Node::start("", None);
    let addr: Multiaddr = node.addr().await.parse().unwrap();
    // A stranger that tells the node, by identify, that it listens at the canary.
    let mut stranger = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|key| {
            identify::Behaviour::new(identify::Config::new("/peercache/id/1.0.0".to_owned(), key.public()))
        })
        .unwrap()
        .build();
    stranger.add_external_address(format!("/ip4/127.0.0.2/tcp/{canary_port}").parse().unwrap());
    stranger.dial(addr).unwrap();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, stranger.select_next_some()).await.expect("identified in time");
        if matches!(event, SwarmEvent::Behaviour(identify::Event::Sent { .. })) {
            break;
        }
    }
    // Keep the stranger talking until the node has its word, then leave: the node redials what it learnt.
    wait_for("the stranger connected", || (node.status().peer_count == 1).then_some(())).await;
    drop(stranger);
    wait_for("the stranger gone", || (node.status().peer_count == 0).then_some(())).await;
    // Showing that something does not happen takes a window of time: the
    // node's first two redials (1 s, then 2 s later) go nowhere near the canary.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(knocks.load(Ordering::SeqCst), 0, "the node dialled the address the stranger chose");
}
