//! The P2P node: a rust-libp2p swarm that shares cache entries between the
//! machines of a group. Nothing outside this folder touches the swarm: the
//! server holds a `NodeClient` and reads the node's status from a snapshot the
//! event loop keeps current, so a status request never waits on the network.

pub mod behaviour;
pub mod bootstrap;
pub mod client;
pub mod event_loop;
pub mod identity;
pub mod protocol;
pub mod status;

use std::io::ErrorKind;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::gossipsub::IdentTopic;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::pnet::PreSharedKey;
use libp2p::{Multiaddr, Swarm, TransportError};

/// "address in use" and the like, found in the error's source chain (libp2p
/// wraps the socket error in transport errors with empty messages).
fn describe_listen_error(error: &TransportError<std::io::Error>) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = match error {
        TransportError::Other(io) => Some(io),
        TransportError::MultiaddrNotSupported(addr) => return format!("{addr} is not a TCP address"),
    };
    let mut words = Vec::new();
    while let Some(current) = cause {
        let in_use = current.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == ErrorKind::AddrInUse);
        let text = current.to_string();
        // Some layers only keep the OS's words ("Address already in use").
        if in_use || text.contains("already in use") {
            return "address in use".to_owned();
        }
        if !text.is_empty() && !words.contains(&text) {
            words.push(text);
        }
        cause = current.source();
    }
    if words.is_empty() { "unknown error".to_owned() } else { words.join(": ") }
}
use tokio::sync::mpsc;

use crate::cache::Cache;
use self::behaviour::Behaviour;
use self::bootstrap::{parse_bootstrap_list, Redial};
use self::client::NodeClient;
use self::event_loop::EventLoop;
use self::protocol::ANNOUNCE_TOPIC;
use self::status::{disabled, NodeStatusHandle};

/// Connections stay open this long without traffic (libp2p's 10 s default
/// would drop quiet peers between pings and announcements).
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);

pub struct NodeConfig {
    pub identity: Keypair,
    pub listen_host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// `CACHE_BOOTSTRAP_PEERS`: comma-separated multiaddrs ending in `/p2p/<id>`.
    pub bootstrap: String,
    pub mdns: bool,
    pub swarm_key: Option<PreSharedKey>,
    /// How long a miss waits for peers.
    pub fetch_timeout: Duration,
    /// Largest entry a peer may send (the cache's byte bound).
    pub max_entry_bytes: u64,
    /// libp2p's own metrics (connections, protocols, ping RTT), registered
    /// in the server's Prometheus registry.
    pub metrics: Option<libp2p::metrics::Metrics>,
}

impl NodeConfig {
    /// A node on 127.0.0.1 with a fresh identity, an OS-chosen port, no mDNS
    /// and no swarm key: what tests and benchmarks start.
    pub fn loopback(bootstrap: &str) -> NodeConfig {
        NodeConfig {
            identity: Keypair::generate_ed25519(),
            listen_host: std::net::Ipv4Addr::LOCALHOST.into(),
            port: 0,
            bootstrap: bootstrap.to_owned(),
            mdns: false,
            swarm_key: None,
            fetch_timeout: Duration::from_secs(2),
            max_entry_bytes: 256 * 1024 * 1024,
            metrics: None,
        }
    }
}

/// The status of a node switched off by configuration.
pub fn disabled_by_config() -> NodeStatusHandle {
    NodeStatusHandle::channel(disabled("P2P disabled by CACHE_ENABLE_P2P=false")).1
}

/// Starts the node on the current tokio runtime. A port that cannot be bound
/// does not fail the start: the node runs and reports the reason (red state).
pub fn start(config: NodeConfig, cache: Arc<Cache>) -> anyhow::Result<NodeClient> {
    let peer_id = config.identity.public().to_peer_id();
    let behaviour = Behaviour::new(&config.identity, config.max_entry_bytes, config.mdns)?;
    let transport = behaviour::transport(&config.identity, config.swarm_key)?;
    let mut swarm = Swarm::new(
        transport,
        behaviour,
        peer_id,
        libp2p::swarm::Config::with_tokio_executor().with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT),
    );
    let topic = IdentTopic::new(ANNOUNCE_TOPIC);
    swarm.behaviour_mut().gossipsub.subscribe(&topic)?;

    let listen: Multiaddr = Multiaddr::from(config.listen_host).with(Protocol::Tcp(config.port));
    // libp2p-tcp listens with SO_REUSEPORT, so a second node on a taken port
    // would bind "successfully" and silently share it. A plain bind first
    // finds out whether the port is really ours.
    let probe = match config.port {
        0 => Ok(()),
        port => std::net::TcpListener::bind((config.listen_host, port)).map(drop),
    };
    let listened = match probe {
        Ok(()) => swarm.listen_on(listen).map(drop),
        Err(error) => Err(TransportError::Other(error)),
    };
    let listen_error = listened.err().map(|error| {
        let reason = format!("cannot listen on port {}: {}", config.port, describe_listen_error(&error));
        tracing::error!("{reason}");
        reason
    });

    let (peers, problems) = parse_bootstrap_list(&config.bootstrap);
    for problem in problems {
        tracing::warn!("{problem}");
    }
    let now = Instant::now();
    let redials: Vec<Redial> = peers
        .into_iter()
        .filter(|p| p.peer_id != peer_id)
        .map(|peer| {
            swarm.behaviour_mut().kad.add_address(&peer.peer_id, peer.addr.clone());
            Redial::new(peer, now)
        })
        .collect();

    let (status_tx, status) = NodeStatusHandle::channel(disabled("P2P node starting"));
    let (commands_tx, commands) = mpsc::channel(256);
    let mut event_loop = EventLoop::new(swarm, commands, cache, status_tx, topic, redials, listen_error, config.mdns);
    event_loop.metrics = config.metrics;
    // Readers see the real state from the first moment, not a placeholder.
    event_loop.publish_status();
    tokio::spawn(event_loop.run());
    tracing::info!(%peer_id, "P2P node started");
    Ok(NodeClient { commands: commands_tx, status, fetch_timeout: config.fetch_timeout })
}
