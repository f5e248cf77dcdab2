//! The swarm's protocols, composed, and the transport under them: TCP, the
//! optional private-network handshake (pnet), Noise and Yamux.

use std::time::Duration;

use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade::Version;
use libp2p::core::ConnectedPoint;
use libp2p::identity::Keypair;
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    connection_limits, gossipsub, identify, kad, mdns, noise, ping, tcp, yamux, PeerId, StreamProtocol, Transport,
};
use sha2::{Digest, Sha256};

use crate::p2p::dial_guard::DialGuard;
use crate::p2p::gate::Gate;
use crate::p2p::key_check::{pnet_failed, HeaderCheck};
use crate::p2p::pending::PendingPerIp;
use crate::p2p::piece::{PieceRequest, PieceResponse, PIECE_BYTES, PIECE_PROTOCOL};
use crate::p2p::protocol::{
    FetchRequest, FetchResponse, LeaseRequest, LeaseResponse, SyncRequest, SyncResponse, ANNOUNCEMENT_MAX,
    ANNOUNCE_TOPIC, FETCH_PROTOCOL, LEASE_PROTOCOL, SYNC_PROTOCOL,
};
use crate::p2p::wire;
use crate::AGENT;

const IDENTIFY_PROTOCOL: &str = "/peercache/id/1.0.0";
const KAD_PROTOCOL: &str = "/peercache/kad/1.0.0";
/// Each connection is pinged this often: its round trip for the dashboard,
/// and a second watch on the path (two lost in a row drop it). Noticing a
/// cut path is the kernel's job ([`keep_alive`]): a ping every 10 s to each
/// peer was an idle node's most frequent work.
pub const PING_INTERVAL: Duration = Duration::from_secs(60);
/// A ping unanswered this long failed (the event loop drops a connection
/// after two failures in a row: a cut network, not a slow peer).
pub const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// The kernel probes a connection quiet this long, then every
/// [`KEEPALIVE_INTERVAL`] ...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_PROBES: u32 = 3;
/// ... and drops it once the peer has acknowledged nothing for this long,
/// probes or data: a cut path is noticed within about 20 s.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const UNACKNOWLEDGED_LIMIT: Duration = Duration::from_secs(20);
/// A connection that has not finished pnet + Noise + Yamux by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// An incoming connection that has sent nothing by then is dropped: the
/// dialer speaks first (pnet's nonce, multistream-select's proposal), so
/// silence is an idle socket holding a handshake slot.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections at most: in all, coming in, still in their handshake, and to
/// one peer — so no one can exhaust the node's sockets or memory.
const MAX_CONNECTIONS: u32 = 512;
const MAX_INCOMING: u32 = 384;
const MAX_PENDING_INCOMING: u32 = 64;
const MAX_PER_PEER: u32 = 2;

/// The largest gossip message: an announcement in gossipsub's envelope.
const GOSSIP_MESSAGE_MAX: usize = ANNOUNCEMENT_MAX + 1024;
/// How much gossipsub's stream reader (asynchronous-codec) reads at a time.
const GOSSIP_READ_CHUNK: usize = 8 * 1024;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub limits: connection_limits::Behaviour,
    pub gate: Gate,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub gossipsub: gossipsub::Behaviour,
    pub fetch: request_response::Behaviour<wire::Codec<FetchRequest, FetchResponse>>,
    pub sync: request_response::Behaviour<wire::Codec<SyncRequest, SyncResponse>>,
    pub lease: request_response::Behaviour<wire::Codec<LeaseRequest, LeaseResponse>>,
    pub piece: request_response::Behaviour<wire::Codec<PieceRequest, PieceResponse>>,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

impl Behaviour {
    pub fn new(
        key: &Keypair,
        max_entry_bytes: u64,
        with_mdns: bool,
        dial_guard: DialGuard,
    ) -> anyhow::Result<Behaviour> {
        let peer_id = key.public().to_peer_id();
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                .with_agent_version(AGENT.to_owned())
                // No cache of what peers say they listen on: identify would dial
                // those addresses itself. The event loop keeps the ones at the
                // IP the peer was seen at (see `dial_guard`).
                .with_cache_size(0),
        );
        let ping = ping::Behaviour::new(ping::Config::new().with_interval(PING_INTERVAL).with_timeout(PING_TIMEOUT));
        let gossip_config = gossipsub::ConfigBuilder::default()
            .heartbeat_interval(Duration::from_secs(1))
            .validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            // Each message on our topic: an announcement and gossip's envelope.
            .max_transmit_size_for_topic(GOSSIP_MESSAGE_MAX, gossipsub::IdentTopic::new(ANNOUNCE_TOPIC).hash())
            // Each read of the stream: gossipsub 0.50.1 checks the size of its
            // whole read buffer, which holds a message and up to one more read
            // (8 KiB) of the next. Held to one message, back-to-back large
            // announcements broke the stream and were lost.
            .max_transmit_size(GOSSIP_MESSAGE_MAX + GOSSIP_READ_CHUNK)
            // The same announcement from two peers is one message.
            .message_id_fn(|message| gossipsub::MessageId::from(Sha256::digest(&message.data).to_vec()))
            .build()
            .map_err(|e| anyhow::anyhow!("gossipsub config: {e}"))?;
        let mut gossipsub =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), gossip_config)
                .map_err(|e| anyhow::anyhow!("gossipsub: {e}"))?;
        gossipsub
            .with_peer_score(score_params(), score_thresholds())
            .map_err(|e| anyhow::anyhow!("gossipsub scoring: {e}"))?;
        let codec = wire::Codec::new(4 * 1024, max_entry_bytes + 64 * 1024);
        let fetch = request_response::Behaviour::with_codec(
            codec,
            [(StreamProtocol::new(FETCH_PROTOCOL), ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
        );
        let sync_codec = wire::Codec::new(1024, 4 * 1024 * 1024);
        let sync = request_response::Behaviour::with_codec(
            sync_codec,
            [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
        );
        let lease_codec = wire::Codec::new(4 * 1024, 4 * 1024);
        let lease = request_response::Behaviour::with_codec(
            lease_codec,
            [(StreamProtocol::new(LEASE_PROTOCOL), ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(2)),
        );
        let piece_codec = wire::Codec::new(4 * 1024, PIECE_BYTES + 64 * 1024);
        let piece = request_response::Behaviour::with_codec(
            piece_codec,
            [(StreamProtocol::new(PIECE_PROTOCOL), ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
        );
        let mut kad = kad::Behaviour::with_config(
            peer_id,
            kad::store::MemoryStore::new(peer_id),
            kad::Config::new(StreamProtocol::new(KAD_PROTOCOL)),
        );
        // Private groups have no public DHT to learn the mode from.
        kad.set_mode(Some(kad::Mode::Server));
        let mdns = if with_mdns { Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)?) } else { None };
        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established(Some(MAX_CONNECTIONS))
                .with_max_established_incoming(Some(MAX_INCOMING))
                .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
                .with_max_established_per_peer(Some(MAX_PER_PEER)),
        );
        Ok(Behaviour {
            limits,
            gate: Gate { pending: PendingPerIp::default(), dials: dial_guard },
            identify,
            ping,
            gossipsub,
            fetch,
            sync,
            lease,
            piece,
            kad,
            mdns: Toggle::from(mdns),
        })
    }
}

/// Peer scoring that punishes what we reject and nothing else: our topic is
/// quiet (a message per cache write), so delivery-rate penalties would punish
/// honest peers. Each rejected message costs its sender; a few put it below
/// the gossip and publish thresholds.
///
/// IP colocation is not punished. Gossipsub's default charges every peer that
/// shares its IP with more than 10 others `-5 × (peers on the IP - 10)²`: a
/// Sybil defence for open networks of strangers. A peercache fleet is the
/// opposite — runners behind one NAT, or many nodes on one host as in tests —
/// and at 24 nodes on one address every peer scored -980, far below the
/// graylist threshold (-80), so announcements from them were dropped and the
/// push that keeps the fleet warm silently stopped at about 11 nodes. What
/// keeps strangers out here is the swarm key, signatures, trust and the
/// per-peer limits, not addresses.
fn score_params() -> gossipsub::PeerScoreParams {
    let topic = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.99,
        ..gossipsub::TopicScoreParams::default()
    };
    let mut params = gossipsub::PeerScoreParams { ip_colocation_factor_weight: 0.0, ..Default::default() };
    params.topics.insert(gossipsub::IdentTopic::new(ANNOUNCE_TOPIC).hash(), topic);
    params
}

/// Below which scores a peer is not gossiped with, published to, or
/// listened to (gossipsub's defaults).
pub fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds::default()
}

/// Asks the kernel to watch `socket`'s path: probe it when quiet, drop it
/// when the peer stops acknowledging. This costs the node no wakeups, where
/// a ping per peer costs both ends a timer, a Noise frame and a round of
/// their tasks.
fn keep_alive(socket: &tokio::net::TcpStream) -> std::io::Result<()> {
    let socket = socket2::SockRef::from(socket);
    let probes = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    socket.set_tcp_keepalive(&probes)?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(UNACKNOWLEDGED_LIMIT))?;
    Ok(())
}

/// `socket`, watched by the kernel ([`keep_alive`]), once an incoming one
/// has sent its first byte (within the deadline).
async fn first_byte(socket: tcp::tokio::TcpStream, point: ConnectedPoint) -> std::io::Result<tcp::tokio::TcpStream> {
    keep_alive(&socket.0)?;
    if point.is_listener() {
        let mut first = [0u8; 1];
        match tokio::time::timeout(FIRST_BYTE_TIMEOUT, socket.0.peek(&mut first)).await {
            Ok(peeked) => {
                peeked?;
            }
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "nothing sent within the first-byte deadline",
                ))
            }
        }
    }
    Ok(socket)
}

/// TCP (+ pnet when a swarm key is given) + Noise + Yamux; an incoming
/// socket that says nothing is dropped after [`FIRST_BYTE_TIMEOUT`], and a
/// peer with another swarm key (or none) is named as such ([`HeaderCheck`]).
pub fn transport(key: &Keypair, psk: Option<PreSharedKey>) -> anyhow::Result<Boxed<(PeerId, StreamMuxerBox)>> {
    let noise = noise::Config::new(key)?;
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)).and_then(first_byte);
    let transport = match psk {
        Some(psk) => tcp
            .and_then(move |socket, _| async move {
                PnetConfig::new(psk).handshake(socket).await.map(HeaderCheck::new).map_err(pnet_failed)
            })
            .upgrade(Version::V1Lazy)
            .authenticate(noise)
            .multiplex(yamux::Config::default())
            .timeout(HANDSHAKE_TIMEOUT)
            .boxed(),
        None => tcp
            .map(|socket, _| HeaderCheck::new(socket))
            .upgrade(Version::V1Lazy)
            .authenticate(noise)
            .multiplex(yamux::Config::default())
            .timeout(HANDSHAKE_TIMEOUT)
            .boxed(),
    };
    Ok(transport)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_kernel_watches_every_peer_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dialed = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let untouched = socket2::SockRef::from(&dialed);
        assert!(!untouched.keepalive().unwrap(), "a socket is not probed unless asked");

        keep_alive(&dialed).unwrap();
        let socket = socket2::SockRef::from(&dialed);
        assert!(socket.keepalive().unwrap());
        assert_eq!(socket.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(socket.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), KEEPALIVE_PROBES);
        #[cfg(target_os = "linux")]
        assert_eq!(socket.tcp_user_timeout().unwrap(), Some(UNACKNOWLEDGED_LIMIT));
        // Noticing a cut within the limit beats the ping's own watch.
        assert!(UNACKNOWLEDGED_LIMIT < PING_INTERVAL);
    }

    #[tokio::test]
    async fn both_ends_of_a_connection_are_watched() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let dialer = tokio::spawn(async move {
            let socket = tokio::net::TcpStream::connect(address).await.unwrap();
            let socket = tcp::tokio::TcpStream(socket);
            let point = ConnectedPoint::Dialer {
                address: libp2p::Multiaddr::empty(),
                role_override: libp2p::core::Endpoint::Dialer,
                port_use: libp2p::core::transport::PortUse::New,
            };
            first_byte(socket, point).await.unwrap()
        });
        let (accepted, remote) = listener.accept().await.unwrap();
        let mut dialed = dialer.await.unwrap();
        assert!(socket2::SockRef::from(&dialed.0).keepalive().unwrap(), "the dialer's end");
        tokio::io::AsyncWriteExt::write_all(&mut dialed.0, b"/").await.unwrap();
        let point = ConnectedPoint::Listener {
            local_addr: libp2p::Multiaddr::empty(),
            send_back_addr: libp2p::Multiaddr::from(remote.ip()),
        };
        let accepted = first_byte(tcp::tokio::TcpStream(accepted), point).await.unwrap();
        assert!(socket2::SockRef::from(&accepted.0).keepalive().unwrap(), "the listener's end");
    }
}
