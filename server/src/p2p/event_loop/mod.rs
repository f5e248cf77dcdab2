//! The one task that owns the swarm: a `select!` over swarm events, commands
//! from `NodeClient`s, local cache puts to announce, hedge timers of misses in
//! flight, and a one-second tick. After anything that changes what the node
//! looks like, it publishes a fresh status snapshot. Entries it accepts go to
//! the disk through a bounded queue. This file dispatches; each job is a room
//! of its own: `misses` (fetch-on-miss, hedged, and answering peers'
//! fetches), `catch_up` (sync after a partition or a restart, which gossip
//! alone — a few seconds of history — cannot do), `leasing` (fleet-wide
//! single flight), `announcements` (gossip in and out, and refusals),
//! `redials` (the tick and the peer table), `connections` (dials waited on,
//! and connections refused or failed: why, named and counted) and
//! `snapshot` (the status).

mod announcements;
mod catch_up;
mod connections;
mod leasing;
mod misses;
mod pieces;
mod redials;
mod snapshot;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::model::{GossipHealth, Happened, NodeState, PeerInfo, PeerStatus};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::identity::Keypair;
use libp2p::metrics::Recorder;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, DialError, ListenError, SwarmEvent};
use libp2p::{identify, kad, mdns, ping, Multiaddr, PeerId, Swarm};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::cache::entry::Entry;
use crate::cache::ttl::{longest_github_ttl, max_ttl_for, rfc3339, MAX_TTL_SECS};
use crate::cache::Cache;
use crate::fleet::book::Book;
use crate::fleet::summary::WireSummary;
use crate::p2p::behaviour::{score_thresholds, Behaviour, BehaviourEvent};
use crate::p2p::bootstrap::{parse_peer_addr, Redial, FIRST_BACKOFF};
use crate::p2p::client::{Command, LeaseAnswer};
use crate::p2p::dial_guard::{ip_of, NotOurRange};
use crate::p2p::key_check;
use crate::p2p::lease::{Decision, Leases};
use crate::p2p::limits::PeerLimits;
use crate::p2p::pending::TooManyPending;
use crate::p2p::protocol::{
    verify, Announcement, Cause, Check, FetchRequest, FetchResponse, Held, LeaseRequest, LeaseResponse, Rejection,
    SyncRequest, SyncResponse, Trust, Verdict, WireEntry, WireInvalidation, MAX_CLOCK_SKEW_MS, SYNC_LIMIT,
    UNTRUSTED_MAX_BYTES,
};
use crate::p2p::rendezvous::rank;
use crate::p2p::status::StatusSender;
use crate::p2p::wire::{self, WireError};

/// The DHT is asked who else is in the group this often at first and after
/// the peers change; each refresh that meets no one new waits twice as long,
/// up to [`KAD_REFRESH_MAX`] (a settled group costs almost nothing).
const KAD_REFRESH: Duration = Duration::from_secs(30);
const KAD_REFRESH_MAX: Duration = Duration::from_secs(600);
/// A peer that left is redialled (with backoff up to the max) for this long,
/// then forgotten.
const LOST_PEER_KEPT: Duration = Duration::from_secs(600);
const LOST_PEER_MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Pings lost in a row that drop a connection.
const PINGS_LOST: u32 = 2;
/// Peers redialled at most at once.
const MAX_LOST_PEERS: usize = 1024;
/// Sync fetches in flight at most; the rest wait their turn.
const SYNC_FETCHES: usize = 32;
/// Entries waiting to be fetched by sync, at most.
const SYNC_QUEUE: usize = 20_000;
/// How long a peer that left a miss unanswered is asked last, and a lease
/// holder waited on in vain is not waited on.
const DEMOTED_FOR: Duration = Duration::from_secs(600);

/// A timer that fires with the id of a miss fetch to hedge.
type Hedge = Pin<Box<dyn Future<Output = u64> + Send>>;

/// A peer that left, and when to dial it again.
struct Lost {
    since: Instant,
    next_attempt: Instant,
    backoff: Duration,
}

/// A connected peer as the status shows it.
struct Peer {
    addr: Multiaddr,
    outbound: bool,
    connections: usize,
    latency: Option<Duration>,
    agent: Option<String>,
    protocols: Vec<String>,
    connected_since_ms: u64,
    entries_received: u64,
    entries_sent: u64,
    refused: u64,
    clock_offset_ms: Option<i64>,
}

/// A fetch-on-miss in progress: the peers still to ask (best first), the
/// answers still expected, and whom to tell.
struct Fetch {
    key: String,
    next: VecDeque<PeerId>,
    outstanding: usize,
    reply: Option<oneshot::Sender<Option<Entry>>>,
}

/// Why an outbound fetch request was sent, and what its answer must be.
struct Asked {
    key: String,
    purpose: Purpose,
}

enum Purpose {
    /// A local miss (the id of the `Fetch`).
    Miss(u64),
    /// An announcement of a large entry whose body did not ride along: the
    /// answer must be that entry.
    Announced { cid: String, author: PeerId },
    /// An entry a peer listed in its sync answer: the answer must be it.
    Sync { cid: String },
}

/// What the node has refused from peers: by reason, and in all. Kept across
/// a restart of the loop.
#[derive(Clone, Default)]
pub struct Refusals {
    pub total: u64,
    pub by_reason: BTreeMap<String, u64>,
    pub accepted: u64,
    /// Fetch requests answered.
    pub served: u64,
    /// Sync requests answered.
    pub syncs_served: u64,
    /// Fleet-wide single flight: leases this node granted as a coordinator.
    pub leases_granted: u64,
}

/// Everything the loop is started with.
pub struct Parts {
    pub swarm: Swarm<Behaviour>,
    pub identity: Keypair,
    pub cache: Arc<Cache>,
    pub status: Arc<StatusSender>,
    pub store: mpsc::Sender<Entry>,
    pub topic: IdentTopic,
    pub redials: Vec<Redial>,
    /// Bootstrap entries that were ignored, with why.
    pub bootstrap_problems: Vec<String>,
    pub listen_error: Option<String>,
    /// Whether this node is in a private swarm (has a swarm key).
    pub swarm_key: bool,
    pub mdns: bool,
    pub metrics: Option<Arc<libp2p::metrics::Metrics>>,
    pub trust: Trust,
    /// Where the other nodes' summaries go.
    pub book: Arc<Mutex<Book>>,
    pub refusals: Refusals,
    /// Peers a miss asks at most (0: all at once).
    pub fanout: usize,
    /// How long a miss waits for a peer before asking the next too.
    pub hedge: Duration,
    /// Release assets and archives, and their piece lists, for peers' piece requests.
    pub pieces: Option<crate::p2p::piece::PieceServer>,
}

pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    identity: Keypair,
    local_puts: broadcast::Receiver<Arc<Entry>>,
    status: Arc<StatusSender>,
    store: mpsc::Sender<Entry>,
    cache: Arc<Cache>,
    topic: IdentTopic,
    redials: Vec<Redial>,
    bootstrap_problems: Vec<String>,
    listen_error: Option<String>,
    swarm_key: bool,
    /// The last handshake that failed on differing swarm keys, in words.
    swarm_key_mismatch: Option<Happened>,
    mdns: bool,
    metrics: Option<Arc<libp2p::metrics::Metrics>>,
    trust: Trust,
    book: Arc<Mutex<Book>>,
    limits: PeerLimits,
    peers: HashMap<PeerId, Peer>,
    listen_addrs: Vec<Multiaddr>,
    requests: HashMap<OutboundRequestId, Asked>,
    fetches: HashMap<u64, Fetch>,
    next_fetch: u64,
    fanout: usize,
    hedge: Duration,
    hedges: FuturesUnordered<Hedge>,
    /// Peers that left, to dial again.
    lost: HashMap<PeerId, Lost>,
    /// When each peer was last connected (ms), to ask what it stored since.
    last_contact: HashMap<PeerId, u64>,
    /// Pings lost in a row, per connection.
    ping_failures: HashMap<ConnectionId, u32>,
    /// The leases this node coordinates, and its own lease requests waiting
    /// for their coordinator's answer.
    leases: Leases,
    lease_replies: HashMap<OutboundRequestId, oneshot::Sender<LeaseAnswer>>,
    /// Holders this node waited on in vain, and when: not waited on again for a while.
    stalled: HashMap<PeerId, Instant>,
    /// Peers that left a miss's question unanswered, and when: asked last for a while.
    unresponsive: HashMap<PeerId, Instant>,
    /// Entries peers listed that are missing here, to fetch.
    sync_wanted: VecDeque<(PeerId, Held)>,
    sync_in_flight: usize,
    /// Dials someone waits on (`connect --wait`), by connection.
    dials_waiting: HashMap<ConnectionId, oneshot::Sender<Result<(), String>>>,
    /// Sync requests sent and when (ms), to measure the peers' clocks by.
    sync_asked: HashMap<OutboundRequestId, u64>,
    /// Kept by the supervisor when the loop restarts.
    pub refusals: Refusals,
    last_kad_refresh: Instant,
    published_at: Instant,
    kad_refresh_every: Duration,
    pieces: Option<crate::p2p::piece::PieceServer>,
    /// This node's piece requests waiting for their answers, and peers'
    /// requests answered off the loop, to send.
    piece_replies: HashMap<OutboundRequestId, oneshot::Sender<Option<crate::p2p::piece::PieceResponse>>>,
    piece_answers: (mpsc::UnboundedSender<pieces::PieceAnswer>, mpsc::UnboundedReceiver<pieces::PieceAnswer>),
}

impl EventLoop {
    pub fn new(parts: Parts) -> Self {
        EventLoop {
            local_puts: parts.cache.subscribe_local_puts(),
            limits: PeerLimits::new(parts.cache.config().max_entries, parts.cache.config().max_bytes),
            swarm: parts.swarm,
            identity: parts.identity,
            status: parts.status,
            store: parts.store,
            cache: parts.cache,
            topic: parts.topic,
            redials: parts.redials,
            bootstrap_problems: parts.bootstrap_problems,
            listen_error: parts.listen_error,
            swarm_key: parts.swarm_key,
            swarm_key_mismatch: None,
            mdns: parts.mdns,
            metrics: parts.metrics,
            trust: parts.trust,
            book: parts.book,
            refusals: parts.refusals,
            peers: HashMap::new(),
            listen_addrs: Vec::new(),
            requests: HashMap::new(),
            fetches: HashMap::new(),
            next_fetch: 0,
            fanout: parts.fanout,
            hedge: parts.hedge,
            hedges: FuturesUnordered::new(),
            lost: HashMap::new(),
            last_contact: HashMap::new(),
            ping_failures: HashMap::new(),
            leases: Leases::default(),
            lease_replies: HashMap::new(),
            stalled: HashMap::new(),
            unresponsive: HashMap::new(),
            sync_wanted: VecDeque::new(),
            sync_in_flight: 0,
            sync_asked: HashMap::new(),
            dials_waiting: HashMap::new(),
            last_kad_refresh: Instant::now(),
            published_at: Instant::now(),
            kad_refresh_every: KAD_REFRESH,
            pieces: parts.pieces,
            piece_replies: HashMap::new(),
            piece_answers: mpsc::unbounded_channel(),
        }
    }

    /// The TCP port this node listens on, once it does.
    pub fn listen_port(&self) -> Option<u16> {
        self.listen_addrs.iter().flat_map(|a| a.iter()).find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        })
    }

    /// Runs until every `NodeClient` is dropped (the commands close).
    pub async fn run(&mut self, commands: &mut mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        self.publish_status();
        loop {
            // A snapshot of every peer: after anything but a settled node's
            // routine, which a tick shows when a refresh is due (see `snapshot`).
            let mut routine = false;
            tokio::select! {
                event = self.swarm.select_next_some() => {
                    routine = snapshot::routine(&event);
                    self.on_swarm_event(event);
                }
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                put = self.local_puts.recv() => match put {
                    Ok(entry) => self.announce(&entry),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "announcements fell behind; some local entries were not announced");
                    }
                    Err(broadcast::error::RecvError::Closed) => {}
                },
                Some(id) = self.hedges.next(), if !self.hedges.is_empty() => self.ask_next(id),
                Some(answer) = self.piece_answers.1.recv() => self.send_piece(answer),
                _ = tick.tick() => {
                    self.on_tick();
                    routine = !self.refresh_due();
                }
            }
            if !routine {
                self.publish_status();
            }
        }
        tracing::info!("P2P node stopped");
    }

    fn minute(&self) -> u64 {
        self.cache.now_ms() / 60_000
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Fetch { key, reply } => self.start_fetch(key, reply),
            Command::Dial { addr, wait, reply } => self.dial(addr, wait, reply),
            Command::Lease { key, reply } => self.ask_lease(key, reply),
            Command::Piece { peer, request, reply } => self.ask_piece(peer, request, reply),
            Command::Release { key, stored } => {
                let me = *self.swarm.local_peer_id();
                match self.coordinator(&key) {
                    coordinator if coordinator == me => self.leases.release(&key, me, stored, Instant::now()),
                    coordinator => {
                        let release = LeaseRequest { key, release: true, stored };
                        self.swarm.behaviour_mut().lease.send_request(&coordinator, wire::Request::Read(release));
                    }
                }
            }
            Command::Stalled { holder } => {
                if let Ok(holder) = holder.parse() {
                    self.stalled.insert(holder, Instant::now());
                }
            }
            Command::Invalidate { cause, prefixes, at_ms, told } => {
                let message = WireInvalidation::new(cause, prefixes, at_ms, &self.identity).encode_announcement(cause);
                let peers = match self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), message) {
                    Ok(_) => self.topic_peers().len(),
                    Err(error) => {
                        tracing::debug!(%error, "invalidation not published");
                        0
                    }
                };
                if let Some(told) = told {
                    let _ = told.send(peers);
                }
            }
            Command::Summary(summary) => {
                let message = WireSummary::new(summary, &self.identity).encode_announcement();
                if let Err(error) = self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), message) {
                    tracing::trace!(%error, "summary not published");
                }
            }
            Command::Report { peer, rejection } => {
                if let Ok(peer) = peer.parse() {
                    self.refuse(peer, &rejection);
                }
            }
            #[cfg(feature = "test-hooks")]
            Command::PublishRaw(bytes) => {
                let _ = self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), bytes);
            }
            #[cfg(feature = "test-hooks")]
            Command::Panic => panic!("panic injected by a test"),
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        if let Some(metrics) = &self.metrics {
            metrics.record(&event);
            if let SwarmEvent::Behaviour(behaviour) = &event {
                match behaviour {
                    BehaviourEvent::Ping(e) => metrics.record(e),
                    BehaviourEvent::Identify(e) => metrics.record(e),
                    BehaviourEvent::Gossipsub(e) => metrics.record(e),
                    BehaviourEvent::Kad(e) => metrics.record(e),
                    _ => {}
                }
            }
        }
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(addr = %self.with_peer_id(&address), "P2P listening");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => self.listen_addrs.retain(|a| a != &address),
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, connection_id, .. } => {
                self.dial_answered(connection_id, Ok(()));
                self.connected(peer_id, &endpoint);
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, .. } => self.closed(peer_id, num_established),
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                self.incoming_failed(&send_back_addr, &error)
            }
            SwarmEvent::OutgoingConnectionError { connection_id, peer_id, error } => {
                self.outgoing_failed(connection_id, peer_id, &error)
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Ping(ping::Event { peer, result: Ok(rtt), connection }) => {
                self.ping_failures.remove(&connection);
                if let Some(peer) = self.peers.get_mut(&peer) {
                    peer.latency = Some(rtt);
                }
            }
            BehaviourEvent::Ping(ping::Event { peer, result: Err(error), connection }) => {
                // TCP keeps a cut connection "open" for many minutes; two pings
                // lost in a row mean the path is gone: drop it, redial, catch up.
                let failures = self.ping_failures.entry(connection).or_default();
                *failures += 1;
                if *failures >= PINGS_LOST {
                    tracing::info!(peer = %peer, %error, "pings unanswered; dropping the connection to redial");
                    self.ping_failures.remove(&connection);
                    self.swarm.close_connection(connection);
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                // Only where the peer was seen: its word cannot send us elsewhere.
                let seen = self.peers.get(&peer_id).and_then(|peer| ip_of(&peer.addr));
                for addr in info.listen_addrs.iter().filter(|addr| seen.is_some() && ip_of(addr) == seen) {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                }
                if let Some(peer) = self.peers.get_mut(&peer_id) {
                    peer.agent = Some(info.agent_version);
                    peer.protocols = info.protocols.iter().map(ToString::to_string).collect();
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                let author = message.source.unwrap_or(propagation_source);
                let acceptance = self.on_announcement(author, propagation_source, &message.data);
                let _ = self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
            }
            BehaviourEvent::Fetch(event) => self.on_fetch_event(event),
            BehaviourEvent::Sync(event) => self.on_sync_event(event),
            BehaviourEvent::Lease(event) => self.on_lease_event(event),
            BehaviourEvent::Piece(event) => self.on_piece_event(event),
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer_id, addr) in found {
                    self.swarm.behaviour_mut().gate.dials.name(peer_id);
                    if !self.peers.contains_key(&peer_id) {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                        let _ = self.swarm.dial(addr.with(Protocol::P2p(peer_id)));
                    }
                }
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated { peer, .. }) => {
                // Meet the group: a peer the DHT tells us about becomes a peer.
                if !self.peers.contains_key(&peer) && &peer != self.swarm.local_peer_id() {
                    let _ = self.swarm.dial(peer);
                }
            }
            _ => {}
        }
    }

    fn with_peer_id(&self, addr: &Multiaddr) -> Multiaddr {
        addr.clone().with(Protocol::P2p(*self.swarm.local_peer_id()))
    }
}

/// What a peer this node does not trust may fetch or learn of by sync:
/// anonymous GitHub answers, never a token scope's key (its path names what
/// the token reads) nor users' own entries.
fn for_strangers(key: &str) -> bool {
    crate::cache::key::is_anonymous_github_key(key)
}
