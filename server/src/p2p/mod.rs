//! The P2P node: a rust-libp2p swarm that shares cache entries between the
//! machines of a group. Nothing outside this folder touches the swarm: the
//! server holds a `NodeClient` and reads the node's status from a snapshot the
//! event loop keeps current, so a status request never waits on the network.
//!
//! A supervisor runs the event loop: if it ever panics, the panic is logged,
//! the status says so (never a silent "Active"), and a fresh swarm is built on
//! the same identity and port. Entries from peers reach the disk through one
//! writer task fed by a bounded queue.

pub mod behaviour;
pub mod bootstrap;
pub mod client;
pub mod dial_guard;
pub mod event_loop;
pub mod gate;
pub mod identity;
pub mod invalidation;
pub mod key_check;
pub mod lease;
pub mod limits;
pub mod pending;
pub mod piece;
pub mod piece_list;
pub mod protocol;
pub mod rejection;
pub mod rendezvous;
pub mod status;
pub mod trust;
pub mod wire;

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::model::NodeState;
use futures::FutureExt;
use libp2p::gossipsub::IdentTopic;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::pnet::PreSharedKey;
use libp2p::{Multiaddr, PeerId, Swarm, TransportError};
use tokio::sync::mpsc;

use self::behaviour::Behaviour;
use self::bootstrap::{parse_bootstrap_list, Redial};
use self::client::{Command, NodeClient};
use self::dial_guard::DialGuard;
use self::event_loop::{EventLoop, Parts, Refusals};
use self::protocol::{Trust, ANNOUNCE_TOPIC};
use self::status::{disabled, NodeStatusHandle, StatusSender};
use crate::cache::entry::Entry;
use crate::cache::{Cache, CacheError};
use crate::fleet::book::Book;

/// Connections stay open this long without traffic (libp2p's 10 s default
/// would drop quiet peers between pings and announcements).
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);
/// Entries from peers waiting for the disk, at most; more are dropped (counted).
const STORE_QUEUE: usize = 1024;
/// First wait before a panicked event loop is rebuilt, doubling to the max.
const RESTART_BACKOFF: Duration = Duration::from_millis(500);
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(30);

pub struct NodeConfig {
    pub identity: Keypair,
    pub listen_host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// `CACHE_BOOTSTRAP_PEERS`: comma-separated multiaddrs ending in `/p2p/<id>`.
    pub bootstrap: String,
    pub mdns: bool,
    pub swarm_key: Option<PreSharedKey>,
    /// `CACHE_TRUSTED_PEERS`: whose GitHub answers to take (see `protocol::Trust`).
    pub trusted_peers: HashSet<PeerId>,
    /// Take GitHub answers from untrusted publishers too, as bodies to
    /// confirm with GitHub before serving (confirmed sharing is on).
    pub unconfirmed_github: bool,
    /// How long a miss waits for peers.
    pub fetch_timeout: Duration,
    /// Peers a miss asks at most, best-ranked for the key first (0: every
    /// connected peer at once).
    pub fanout: usize,
    /// Largest entry a peer may send (the cache's byte bound).
    pub max_entry_bytes: u64,
    /// libp2p's own metrics (connections, protocols, ping RTT), registered
    /// in the server's Prometheus registry.
    pub metrics: Option<libp2p::metrics::Metrics>,
    /// A node whose summary has not come for this long is gone from the fleet view.
    pub fleet_gone_after: Duration,
    /// The blob store trusted peers fetch release assets' pieces from.
    pub blobs: Option<Arc<crate::blobs::Blobs>>,
}

impl NodeConfig {
    /// A node on 127.0.0.1 with a fresh identity, an OS-chosen port, no mDNS,
    /// no swarm key and nobody trusted: what tests and benchmarks start.
    pub fn loopback(bootstrap: &str) -> NodeConfig {
        NodeConfig {
            identity: Keypair::generate_ed25519(),
            listen_host: std::net::Ipv4Addr::LOCALHOST.into(),
            port: 0,
            bootstrap: bootstrap.to_owned(),
            mdns: false,
            swarm_key: None,
            trusted_peers: HashSet::new(),
            unconfirmed_github: false,
            fetch_timeout: Duration::from_secs(2),
            fanout: 3,
            max_entry_bytes: 256 * 1024 * 1024,
            metrics: None,
            fleet_gone_after: Duration::from_secs(15),
            blobs: None,
        }
    }
}

/// Parses `CACHE_TRUSTED_PEERS`: comma-separated peer ids.
pub fn parse_trusted_peers(list: &str) -> anyhow::Result<HashSet<PeerId>> {
    list.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| id.parse().map_err(|e| anyhow::anyhow!("CACHE_TRUSTED_PEERS: {id:?} is not a peer id ({e})")))
        .collect()
}

/// The status of a node switched off by configuration.
pub fn disabled_by_config() -> NodeStatusHandle {
    NodeStatusHandle::channel(disabled("P2P disabled by CACHE_ENABLE_P2P=false")).1
}

/// What the supervisor rebuilds the event loop from.
struct Blueprint {
    config: NodeConfig,
    metrics: Option<Arc<libp2p::metrics::Metrics>>,
    cache: Arc<Cache>,
    status: Arc<StatusSender>,
    store: mpsc::Sender<Entry>,
    trust: Trust,
    book: Arc<Mutex<Book>>,
    lists: Arc<piece_list::PieceLists>,
}

/// Starts the node on the current tokio runtime. A port that cannot be bound
/// does not fail the start: the node runs and reports the reason (red state).
pub fn start(mut config: NodeConfig, cache: Arc<Cache>) -> anyhow::Result<NodeClient> {
    let (status_tx, status) = NodeStatusHandle::channel(disabled("P2P node starting"));
    let (commands_tx, commands) = mpsc::channel(256);
    let (store, queued) = mpsc::channel(STORE_QUEUE);
    let fetch_timeout = config.fetch_timeout;
    let trust =
        Trust::new(config.identity.public().to_peer_id(), config.swarm_key.is_some(), config.trusted_peers.clone())
            .taking_unconfirmed(config.unconfirmed_github);
    tokio::spawn(write_entries(cache.clone(), trust.clone(), queued));
    let metrics = config.metrics.take().map(Arc::new);
    let book = Arc::new(Mutex::new(Book::new(config.fleet_gone_after.as_millis() as u64)));
    let blueprint_peer_id = config.identity.public().to_peer_id();
    let lists = Arc::new(piece_list::PieceLists::default());
    let blueprint = Blueprint {
        metrics,
        config,
        cache,
        status: Arc::new(status_tx),
        store,
        trust: trust.clone(),
        book: book.clone(),
        lists: lists.clone(),
    };
    let event_loop = blueprint.build(blueprint.config.port, Refusals::default())?;
    tracing::info!(peer_id = %blueprint.config.identity.public().to_peer_id(), "P2P node started");
    tokio::spawn(supervise(blueprint, event_loop, commands));
    let local = blueprint_peer_id;
    Ok(NodeClient { commands: commands_tx, status, fetch_timeout, trust, book, local, lists })
}

/// Commits entries from peers, one at a time, in the order they came.
async fn write_entries(cache: Arc<Cache>, trust: Trust, mut queued: mpsc::Receiver<Entry>) {
    while let Some(entry) = queued.recv().await {
        let trust = trust.clone();
        if let Err(error) = cache.write(move |cache| store_from_peer(cache, &trust, entry)).await {
            tracing::warn!(%error, "could not store an entry from a peer");
        }
    }
}

/// The share of the cache's bytes that entries of untrusted publishers hold at most.
const APART_SHARE: u64 = 10;

/// Stores a verified entry from a peer: beside the others when its publisher
/// is trusted, else apart, in a small partition of its own that cannot push
/// out what the node trusts (see `Cache::insert_apart`).
pub(crate) fn store_from_peer(cache: &Cache, trust: &Trust, entry: Entry) -> Result<Arc<Entry>, CacheError> {
    if trust.trusts_publisher(&entry) {
        cache.insert(entry)
    } else {
        cache.insert_apart(entry, cache.config().max_bytes / APART_SHARE)
    }
}

/// Runs the event loop until every client is gone; a panic is logged, shown
/// in the status, and answered with a fresh loop.
async fn supervise(blueprint: Blueprint, mut event_loop: EventLoop, mut commands: mpsc::Receiver<Command>) {
    let mut backoff = RESTART_BACKOFF;
    loop {
        let ran = AssertUnwindSafe(event_loop.run(&mut commands)).catch_unwind().await;
        let Err(panic) = ran else { return };
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        tracing::error!(panic = %why, "the P2P event loop panicked; restarting it");
        let port = event_loop.listen_port().unwrap_or(blueprint.config.port);
        let refusals = event_loop.refusals.clone();
        drop(event_loop);
        blueprint.status.send_modify(|status| {
            status.active = false;
            status.state = NodeState::Failed;
            status.peer_count = 0;
            status.peers.clear();
            status.reason = Some(format!("the P2P node is restarting after an internal error: {why}"));
        });
        event_loop = loop {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
            match blueprint.build(port, refusals.clone()) {
                Ok(event_loop) => break event_loop,
                Err(error) => {
                    tracing::error!(%error, "cannot rebuild the P2P node; trying again");
                    blueprint.status.send_modify(|status| {
                        status.reason = Some(format!("the P2P node cannot restart: {error:#}"));
                    });
                }
            }
        };
        tracing::info!(port, "P2P event loop restarted");
    }
}

impl Blueprint {
    /// A swarm listening on `port`, and its event loop.
    fn build(&self, port: u16, refusals: Refusals) -> anyhow::Result<EventLoop> {
        let config = &self.config;
        let peer_id = config.identity.public().to_peer_id();
        let (bootstrap_peers, problems) = parse_bootstrap_list(&config.bootstrap);
        let bootstrap_addrs: Vec<Multiaddr> = bootstrap_peers.iter().map(|peer| peer.addr.clone()).collect();
        let mut dial_guard = DialGuard::new(config.listen_host, &bootstrap_addrs);
        for peer in &bootstrap_peers {
            dial_guard.name(peer.peer_id);
        }
        let behaviour = Behaviour::new(&config.identity, config.max_entry_bytes, config.mdns, dial_guard)?;
        let transport = behaviour::transport(&config.identity, config.swarm_key)?;
        let mut swarm = Swarm::new(
            transport,
            behaviour,
            peer_id,
            libp2p::swarm::Config::with_tokio_executor().with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT),
        );
        let topic = IdentTopic::new(ANNOUNCE_TOPIC);
        swarm.behaviour_mut().gossipsub.subscribe(&topic)?;

        let listen: Multiaddr = Multiaddr::from(config.listen_host).with(Protocol::Tcp(port));
        // libp2p-tcp listens with SO_REUSEPORT, so a second node on a taken port
        // would bind "successfully" and silently share it. A plain bind first
        // finds out whether the port is really ours.
        let probe = match port {
            0 => Ok(()),
            port => std::net::TcpListener::bind((config.listen_host, port)).map(drop),
        };
        let listened = match probe {
            Ok(()) => swarm.listen_on(listen).map(drop),
            Err(error) => Err(TransportError::Other(error)),
        };
        let listen_error = listened.err().map(|error| {
            let reason = format!("cannot listen on port {port}: {}", describe_listen_error(&error));
            tracing::error!("{reason}");
            reason
        });

        let peers = bootstrap_peers;
        for problem in &problems {
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
        let mut event_loop = EventLoop::new(Parts {
            swarm,
            identity: config.identity.clone(),
            cache: self.cache.clone(),
            status: self.status.clone(),
            store: self.store.clone(),
            topic,
            redials,
            bootstrap_problems: problems,
            listen_error,
            swarm_key: config.swarm_key.is_some(),
            mdns: config.mdns,
            metrics: self.metrics.clone(),
            trust: self.trust.clone(),
            book: self.book.clone(),
            refusals,
            fanout: config.fanout,
            // Hedged so that the asked peers together fit in the miss's wait.
            hedge: config.fetch_timeout / (config.fanout.max(1) as u32 + 1),
            pieces: config.blobs.clone().map(|blobs| piece::PieceServer { blobs, lists: self.lists.clone() }),
        });
        // Readers see the real state from the first moment, not a placeholder.
        event_loop.publish_status();
        Ok(event_loop)
    }
}

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
    if words.is_empty() {
        "unknown error".to_owned()
    } else {
        words.join(": ")
    }
}
