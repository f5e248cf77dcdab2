//! The one task that owns the swarm: a `select!` over swarm events, commands
//! from `NodeClient`s, local cache puts to announce, hedge timers of misses in
//! flight, and a one-second tick (bootstrap and lost-peer redials, Kademlia
//! refresh, forgetting idle peers' limits). After anything that changes what
//! the node looks like, it publishes a fresh status snapshot. Entries it
//! accepts go to the disk through a bounded queue.
//!
//! A miss asks a few peers chosen by the key (rendezvous ranking), one at a
//! time: the next when the last said "no", or when it has not answered within
//! the hedge delay. A peer that connects (or comes back) is asked which
//! entries it stored since it was last seen, and those missing here are
//! fetched: how a node catches up after a partition or a restart, which
//! gossip alone (a few seconds of history) cannot do.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::{GossipHealth, NodeState, PeerInfo, PeerStatus};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::identity::Keypair;
use libp2p::metrics::Recorder;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::{ConnectionId, DialError, ListenError, SwarmEvent};
use libp2p::{identify, kad, mdns, ping, Multiaddr, PeerId, Swarm};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::cache::entry::Entry;
use crate::cache::ttl::{longest_github_ttl, max_ttl_for, rfc3339};
use crate::cache::Cache;
use crate::p2p::behaviour::{score_thresholds, Behaviour, BehaviourEvent};
use crate::p2p::bootstrap::{parse_peer_addr, Redial, FIRST_BACKOFF};
use crate::p2p::client::{Command, LeaseAnswer};
use crate::p2p::dial_guard::{ip_of, NotOurRange};
use crate::p2p::lease::{Decision, Leases};
use crate::p2p::limits::PeerLimits;
use crate::p2p::pending::TooManyPending;
use crate::p2p::protocol::{
    verify, Announcement, Check, FetchRequest, FetchResponse, Held, LeaseRequest, LeaseResponse, Rejection,
    SyncRequest, SyncResponse, Trust, Verdict, WireEntry, WireInvalidation, MAX_CLOCK_SKEW_MS, SYNC_LIMIT,
    UNTRUSTED_MAX_BYTES,
};
use crate::p2p::rendezvous::rank;
use crate::p2p::wire::{self, WireError};

const KAD_REFRESH: Duration = Duration::from_secs(30);
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
    pub status: Arc<watch::Sender<PeerStatus>>,
    pub store: mpsc::Sender<Entry>,
    pub topic: IdentTopic,
    pub redials: Vec<Redial>,
    pub listen_error: Option<String>,
    pub mdns: bool,
    pub metrics: Option<Arc<libp2p::metrics::Metrics>>,
    pub trust: Trust,
    pub refusals: Refusals,
    /// Peers a miss asks at most (0: all at once).
    pub fanout: usize,
    /// How long a miss waits for a peer before asking the next too.
    pub hedge: Duration,
}

pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    identity: Keypair,
    local_puts: broadcast::Receiver<Arc<Entry>>,
    status: Arc<watch::Sender<PeerStatus>>,
    store: mpsc::Sender<Entry>,
    cache: Arc<Cache>,
    topic: IdentTopic,
    redials: Vec<Redial>,
    listen_error: Option<String>,
    mdns: bool,
    metrics: Option<Arc<libp2p::metrics::Metrics>>,
    trust: Trust,
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
    /// Kept by the supervisor when the loop restarts.
    pub refusals: Refusals,
    last_kad_refresh: Instant,
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
            listen_error: parts.listen_error,
            mdns: parts.mdns,
            metrics: parts.metrics,
            trust: parts.trust,
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
            last_kad_refresh: Instant::now(),
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
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
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
                _ = tick.tick() => self.on_tick(),
            }
            self.publish_status();
        }
        tracing::info!("P2P node stopped");
    }

    fn minute(&self) -> u64 {
        self.cache.now_ms() / 60_000
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let connected: HashSet<PeerId> = self.peers.keys().copied().collect();
        for redial in &mut self.redials {
            if !connected.contains(&redial.peer.peer_id) && redial.due(now) {
                redial.in_flight = true;
                if let Err(error) = self.swarm.dial(redial.peer.addr.clone()) {
                    redial.failed(error.to_string(), now);
                }
            }
        }
        self.lost.retain(|_, lost| now.duration_since(lost.since) < LOST_PEER_KEPT);
        let due: Vec<PeerId> = self.lost.iter().filter(|(_, l)| now >= l.next_attempt).map(|(p, _)| *p).collect();
        for peer in due {
            if let Some(lost) = self.lost.get_mut(&peer) {
                lost.next_attempt = now + lost.backoff;
                lost.backoff = (lost.backoff * 2).min(LOST_PEER_MAX_BACKOFF);
            }
            let _ = self.swarm.dial(peer);
        }
        if now.duration_since(self.last_kad_refresh) >= KAD_REFRESH && !self.peers.is_empty() {
            self.last_kad_refresh = now;
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
        let minute = self.minute();
        self.limits.forget_idle(minute);
        self.leases.tick(Instant::now());
        self.stalled.retain(|_, at| at.elapsed() < DEMOTED_FOR);
        self.unresponsive.retain(|_, at| at.elapsed() < DEMOTED_FOR);
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Fetch { key, reply } => self.start_fetch(key, reply),
            Command::Dial { addr, reply } => {
                let result = match parse_peer_addr(&addr.to_string()) {
                    Ok(peer) => {
                        self.swarm.behaviour_mut().gate.dials.name(peer.peer_id);
                        self.swarm.behaviour_mut().kad.add_address(&peer.peer_id, peer.addr.clone());
                        self.swarm.dial(peer.addr).map_err(|e| e.to_string())
                    }
                    Err(why) => Err(why),
                };
                let _ = reply.send(result);
            }
            Command::Lease { key, reply } => self.ask_lease(key, reply),
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
            Command::Invalidate { prefixes, at_ms } => {
                let message = WireInvalidation::new(prefixes, at_ms, &self.identity).encode_announcement();
                if let Err(error) = self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), message) {
                    tracing::debug!(%error, "invalidation not published");
                }
            }
            Command::Report { peer, rejection } => {
                if let Ok(peer) = peer.parse() {
                    self.refuse(peer, &rejection);
                }
            }
            Command::PublishRaw(bytes) => {
                let _ = self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), bytes);
            }
            Command::Panic => panic!("panic injected by a test"),
        }
    }

    fn announce(&mut self, entry: &Entry) {
        let bytes = WireEntry::announcement(entry, &self.identity).encode_announcement();
        match self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), bytes) {
            Ok(_) => {
                let topic = self.topic.hash();
                let receivers: Vec<PeerId> = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&topic))
                    .map(|(peer, _)| *peer)
                    .collect();
                for peer in receivers {
                    if let Some(peer) = self.peers.get_mut(&peer) {
                        peer.entries_sent += 1;
                    }
                }
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(error) => tracing::debug!(%error, key = entry.key, "announcement not published"),
        }
    }

    /// A local miss: asks the key's best-ranked peers, one at a time (all
    /// at once with a fan-out of 0).
    fn start_fetch(&mut self, key: String, reply: oneshot::Sender<Option<Entry>>) {
        // Trusted peers first, then strangers; those that left a question
        // unanswered lately last; the key's ranking within each.
        let mut ranked = rank(&key, self.peers.keys().copied());
        let now = Instant::now();
        ranked.sort_by_key(|peer| {
            let silent = self.unresponsive.get(peer).is_some_and(|at| now.duration_since(*at) < DEMOTED_FOR);
            (silent, !self.trust.trusts(peer))
        });
        let mut ranked: VecDeque<PeerId> = ranked.into();
        if ranked.is_empty() {
            let _ = reply.send(None);
            return;
        }
        let at_once = if self.fanout == 0 { ranked.len() } else { 1 };
        if self.fanout > 0 {
            ranked.truncate(self.fanout);
        }
        let id = self.next_fetch;
        self.next_fetch += 1;
        self.fetches.insert(id, Fetch { key, next: ranked, outstanding: 0, reply: Some(reply) });
        for _ in 0..at_once {
            self.ask_next(id);
        }
    }

    /// Asks the next peer for a miss (a hedge timer fired, or the last peer
    /// had nothing), and arms the next hedge.
    fn ask_next(&mut self, id: u64) {
        let Some(fetch) = self.fetches.get_mut(&id) else { return };
        if fetch.reply.is_none() {
            return;
        }
        let Some(peer) = fetch.next.pop_front() else { return };
        fetch.outstanding += 1;
        let key = fetch.key.clone();
        let more = !fetch.next.is_empty();
        let request = self
            .swarm
            .behaviour_mut()
            .fetch
            .send_request(&peer, wire::Request::Read(FetchRequest { key: key.clone() }));
        self.requests.insert(request, Asked { key, purpose: Purpose::Miss(id) });
        if more && self.fanout > 0 {
            let hedge = self.hedge;
            self.hedges.push(Box::pin(async move {
                tokio::time::sleep(hedge).await;
                id
            }));
        }
    }

    /// A key's coordinator: the first of this node and the connected peers it
    /// trusts, in the key's rendezvous ranking.
    fn coordinator(&self, key: &str) -> PeerId {
        let me = *self.swarm.local_peer_id();
        let trusted = self.peers.keys().copied().filter(|p| self.trust.trusts(p));
        rank(key, trusted.chain(std::iter::once(me)))[0]
    }

    /// This node wants to fetch `key`: asks its coordinator (itself, without
    /// a round trip, when it is first in the ranking).
    fn ask_lease(&mut self, key: String, reply: oneshot::Sender<LeaseAnswer>) {
        let me = *self.swarm.local_peer_id();
        let coordinator = self.coordinator(&key);
        if coordinator == me {
            let answer = self.decide_lease(&key, me);
            let _ = reply.send(self.lease_answer(answer));
            return;
        }
        let request = self
            .swarm
            .behaviour_mut()
            .lease
            .send_request(&coordinator, wire::Request::Read(LeaseRequest { key, release: false, stored: false }));
        self.lease_replies.insert(request, reply);
    }

    /// As coordinator: `asker` wants to fetch `key`.
    fn decide_lease(&mut self, key: &str, asker: PeerId) -> Decision {
        let decision = self.leases.ask(key, asker, Instant::now());
        if decision == Decision::Granted {
            self.refusals.leases_granted += 1;
        }
        decision
    }

    /// What this node does with a coordinator's decision: it waits only for
    /// a holder it trusts (whose entry it would take).
    fn lease_answer(&self, decision: Decision) -> LeaseAnswer {
        let stalled = |holder: &PeerId| self.stalled.get(holder).is_some_and(|at| at.elapsed() < DEMOTED_FOR);
        match decision {
            Decision::Wait { holder, remaining }
                if self.trust.trusts(&holder) && holder != *self.swarm.local_peer_id() && !stalled(&holder) =>
            {
                LeaseAnswer::Wait { holder: holder.to_string(), remaining }
            }
            _ => LeaseAnswer::Fetch,
        }
    }

    fn on_lease_event(&mut self, event: request_response::Event<wire::Request<LeaseRequest>, LeaseResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let Some(request) = self.readable(peer, request, "lease request") else { return };
                    let response = if request.release {
                        self.leases.release(&request.key, peer, request.stored, Instant::now());
                        LeaseResponse { granted: true, holder: None, remaining_ms: 0 }
                    } else if !self.trust.trusts(&peer) || !self.limits.allow_fetch(&peer) {
                        // Nobody waits on an untrusted holder: not recorded.
                        LeaseResponse { granted: true, holder: None, remaining_ms: 0 }
                    } else {
                        match self.decide_lease(&request.key, peer) {
                            Decision::Granted => LeaseResponse { granted: true, holder: None, remaining_ms: 0 },
                            Decision::Wait { holder, remaining } => LeaseResponse {
                                granted: false,
                                holder: Some(holder.to_string()),
                                remaining_ms: remaining.as_millis() as u64,
                            },
                        }
                    };
                    let _ = self.swarm.behaviour_mut().lease.send_response(channel, response);
                }
                request_response::Message::Response { request_id, response } => {
                    let Some(reply) = self.lease_replies.remove(&request_id) else { return };
                    let decision = match (response.granted, response.holder.and_then(|h| h.parse().ok())) {
                        (false, Some(holder)) => Decision::Wait {
                            holder,
                            remaining: Duration::from_millis(response.remaining_ms.min(60_000)),
                        },
                        _ => Decision::Granted,
                    };
                    let _ = reply.send(self.lease_answer(decision));
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if let request_response::OutboundFailure::Io(io) = &error {
                    self.unreadable(peer, io, "lease response");
                }
                // The coordinator did not answer: fetch (an extra call at worst).
                if let Some(reply) = self.lease_replies.remove(&request_id) {
                    let _ = reply.send(LeaseAnswer::Fetch);
                }
            }
            request_response::Event::InboundFailure {
                peer, error: request_response::InboundFailure::Io(io), ..
            } => self.unreadable(peer, &io, "lease request"),
            _ => {}
        }
    }

    /// One answer to a miss fetch: `entry` when it was verified. Without one,
    /// the next peer is asked at once; when nobody is left, the miss is told.
    fn fetch_answered(&mut self, id: u64, entry: Option<Entry>) {
        let Some(fetch) = self.fetches.get_mut(&id) else { return };
        fetch.outstanding -= 1;
        if let Some(entry) = entry {
            if let Some(reply) = fetch.reply.take() {
                let _ = reply.send(Some(entry));
            }
        }
        if fetch.reply.is_some() && fetch.outstanding == 0 && !fetch.next.is_empty() {
            self.ask_next(id);
            return;
        }
        if fetch.outstanding == 0 {
            if let Some(reply) = fetch.reply.take() {
                let _ = reply.send(None);
            }
            self.fetches.remove(&id);
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
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => self.connected(peer_id, &endpoint),
            SwarmEvent::ConnectionClosed { peer_id, num_established, .. } => {
                if num_established == 0 {
                    self.peers.remove(&peer_id);
                    tracing::info!(peer = %peer_id, "peer disconnected");
                    self.last_contact.insert(peer_id, self.cache.now_ms());
                    self.leases.drop_holder(peer_id);
                    if self.lost.len() < MAX_LOST_PEERS {
                        let now = Instant::now();
                        self.lost.insert(
                            peer_id,
                            Lost { since: now, next_attempt: now + FIRST_BACKOFF, backoff: FIRST_BACKOFF },
                        );
                    }
                    let now = Instant::now();
                    for redial in self.redials.iter_mut().filter(|r| r.peer.peer_id == peer_id) {
                        redial.disconnected(now);
                    }
                } else if let Some(peer) = self.peers.get_mut(&peer_id) {
                    peer.connections = num_established as usize;
                }
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error: ListenError::Denied { cause }, .. }
                if cause.downcast_ref::<TooManyPending>().is_some() =>
            {
                tracing::warn!(from = %send_back_addr, "{cause}: connection refused");
                self.count_refusal("handshakes_per_ip");
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error: ListenError::Transport(error), .. }
                if format!("{error:?}").contains("first-byte deadline") =>
            {
                tracing::debug!(from = %send_back_addr, "a connection sent nothing: dropped");
                self.count_refusal("silent_connection");
            }
            SwarmEvent::OutgoingConnectionError { error: DialError::Denied { cause }, .. }
                if cause.downcast_ref::<NotOurRange>().is_some() =>
            {
                tracing::warn!("{cause}");
                self.count_refusal("dial_out_of_range");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                let now = Instant::now();
                let message = error.to_string();
                for redial in self.redials.iter_mut().filter(|r| Some(r.peer.peer_id) == peer_id) {
                    if redial.failed(message.clone(), now) {
                        tracing::warn!(peer = %redial.peer.addr, error = %message, "cannot reach bootstrap peer; retrying with backoff");
                    } else {
                        tracing::debug!(peer = %redial.peer.addr, error = %message, "bootstrap peer still unreachable");
                    }
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn connected(&mut self, peer_id: PeerId, endpoint: &ConnectedPoint) {
        let addr = endpoint.get_remote_address().clone();
        self.lost.remove(&peer_id);
        if !self.peers.contains_key(&peer_id) {
            // What did it store while we were apart (everything fresh, if we never met)?
            let since = self.last_contact.get(&peer_id).map_or(0, |at| at.saturating_sub(MAX_CLOCK_SKEW_MS));
            self.swarm
                .behaviour_mut()
                .sync
                .send_request(&peer_id, wire::Request::Read(SyncRequest { since_ms: since }));
        }
        let peer = self.peers.entry(peer_id).or_insert_with(|| {
            tracing::info!(peer = %peer_id, %addr, "peer connected");
            Peer {
                addr: addr.clone(),
                outbound: endpoint.is_dialer(),
                connections: 0,
                latency: None,
                agent: None,
                protocols: Vec::new(),
                connected_since_ms: self.cache.now_ms(),
                entries_received: 0,
                entries_sent: 0,
                refused: 0,
            }
        });
        peer.connections += 1;
        for redial in self.redials.iter_mut().filter(|r| r.peer.peer_id == peer_id) {
            redial.connected();
        }
        if endpoint.is_dialer() {
            self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
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

    /// Checks an announcement from `author`, passed on by `via`; stores it,
    /// or fetches its body.
    fn on_announcement(&mut self, author: PeerId, via: PeerId, data: &[u8]) -> MessageAcceptance {
        if !self.limits.allow_message(&via) {
            self.refuse(via, &Rejection::RateLimited);
            return MessageAcceptance::Ignore;
        }
        let wire = match Announcement::decode(data) {
            Ok(Announcement::Entry(wire)) => wire,
            Ok(Announcement::Invalidation(invalidation)) => return self.on_invalidation(author, invalidation),
            Err(rejection @ Rejection::UnknownVersion(_)) => {
                // A newer (or older) node: not garbage, and no reason to part.
                self.refuse(author, &rejection);
                return MessageAcceptance::Ignore;
            }
            Err(rejection) => {
                self.refuse(author, &rejection);
                // Garbage is not a disagreement: the sender is broken or hostile.
                let _ = self.swarm.disconnect_peer_id(author);
                return MessageAcceptance::Reject;
            }
        };
        if wire.body.is_none() {
            return self.fetch_announced(author, wire);
        }
        match self.check(author, wire, true) {
            Ok(Some(entry)) => self.admit(author, entry),
            Ok(None) => MessageAcceptance::Ignore,
            Err(rejection) if rejection.is_forgery() => MessageAcceptance::Reject,
            Err(_) => MessageAcceptance::Ignore,
        }
    }

    /// A write to GitHub at a trusted peer: drop what is older, and bar older
    /// copies for as long as they could live.
    fn on_invalidation(&mut self, author: PeerId, invalidation: WireInvalidation) -> MessageAcceptance {
        let now = self.cache.now_ms();
        let publisher = match invalidation.verify(&self.trust, now) {
            Ok(publisher) => publisher,
            Err(rejection) => {
                self.refuse(author, &rejection);
                return if rejection.is_forgery() { MessageAcceptance::Reject } else { MessageAcceptance::Ignore };
            }
        };
        if !self.limits.allow_invalidation(&publisher) {
            self.refuse(author, &Rejection::RateLimited);
            return MessageAcceptance::Ignore;
        }
        // Never later than now: a date ahead would bar fresh copies for longer.
        let at = invalidation.at_ms.min(now);
        let lasts_ms =
            (longest_github_ttl(self.cache.config().default_ttl_secs) * 1000).saturating_add(MAX_CLOCK_SKEW_MS);
        let until = at.saturating_add(lasts_ms);
        let cache = self.cache.clone();
        tokio::spawn(async move {
            let prefixes = invalidation.prefixes;
            let dropped = cache
                .write(move |cache| prefixes.iter().try_fold(0, |sum, p| Ok(sum + cache.write_barrier(p, at, until)?)))
                .await;
            match dropped {
                Ok(dropped) => tracing::debug!(dropped, "a peer's write made cached answers stale"),
                Err(error) => tracing::warn!(%error, "could not drop answers a peer's write made stale"),
            }
        });
        MessageAcceptance::Accept
    }

    /// A large entry was announced without its body: check what can be
    /// checked now, then ask its author for it.
    fn fetch_announced(&mut self, author: PeerId, wire: WireEntry) -> MessageAcceptance {
        let now = self.cache.now_ms();
        let refused = if !wire.signature_holds() {
            Some(Rejection::BadSignature)
        } else if wire.stored_at_ms.saturating_add(wire.ttl_secs.saturating_mul(1000)) <= now {
            Some(Rejection::Expired)
        } else if wire.size > self.cache.config().max_bytes {
            Some(Rejection::TooLarge(wire.size as usize))
        } else if wire.size > UNTRUSTED_MAX_BYTES && !wire.publisher().is_some_and(|p| self.trust.trusts(&p)) {
            // Not worth fetching: refused whatever the body (see `verify`).
            Some(Rejection::TooLarge(wire.size as usize))
        } else {
            None
        };
        if let Some(rejection) = refused {
            self.refuse(author, &rejection);
            return if rejection.is_forgery() { MessageAcceptance::Reject } else { MessageAcceptance::Ignore };
        }
        let ours = self.cache.peek(&wire.key);
        if ours.is_some_and(|ours| ours.cid == wire.cid || ours.stored_at_ms >= wire.stored_at_ms) {
            return MessageAcceptance::Ignore;
        }
        let request = self
            .swarm
            .behaviour_mut()
            .fetch
            .send_request(&author, wire::Request::Read(FetchRequest { key: wire.key.clone() }));
        self.requests.insert(request, Asked { key: wire.key, purpose: Purpose::Announced { cid: wire.cid, author } });
        MessageAcceptance::Accept
    }

    /// Verifies a complete wire entry sent by `peer`: `Some` to store, `None`
    /// when we already have it (or a newer copy), `Err` when it was refused
    /// (and counted). A miss wants the entry whatever we hold, so it passes
    /// `compare_with_ours = false`.
    fn check(&mut self, peer: PeerId, wire: WireEntry, compare_with_ours: bool) -> Result<Option<Entry>, Rejection> {
        let held = self.cache.peek(&wire.key);
        let ours = if compare_with_ours { held.clone() } else { None };
        let from = peer.to_string();
        let check = Check {
            from: &from,
            now_ms: self.cache.now_ms(),
            ours: ours.as_deref(),
            holds: held.is_some(),
            trust: &self.trust,
            ttl_cap: max_ttl_for(&wire.key, self.cache.config().default_ttl_secs),
        };
        match verify(wire, &check) {
            Ok(Verdict::Store(entry)) => Ok(Some(entry)),
            Ok(Verdict::AlreadyHave) => Ok(None),
            Err(rejection) => {
                self.refuse(peer, &rejection);
                Err(rejection)
            }
        }
    }

    /// Stores a verified announced entry, within its publisher's share of
    /// the cache and the room in the disk queue.
    fn admit(&mut self, author: PeerId, entry: Entry) -> MessageAcceptance {
        let minute = self.minute();
        if !self.limits.allow_entry(&author, minute, entry.size()) {
            self.refuse(author, &Rejection::OverBudget);
            return MessageAcceptance::Ignore;
        }
        self.store(author, entry);
        MessageAcceptance::Accept
    }

    /// Counts a refusal of something no peer stands behind (a connection).
    fn count_refusal(&mut self, reason: &str) {
        self.refusals.total += 1;
        *self.refusals.by_reason.entry(reason.to_owned()).or_default() += 1;
        self.publish_status();
    }

    /// Counts and logs what `peer` sent that was not stored.
    fn refuse(&mut self, peer: PeerId, rejection: &Rejection) {
        self.refusals.total += 1;
        *self.refusals.by_reason.entry(rejection.reason().to_owned()).or_default() += 1;
        if let Some(peer) = self.peers.get_mut(&peer) {
            peer.refused += 1;
        }
        tracing::warn!(peer = %peer, reason = %rejection, "refused an entry or message from a peer");
    }

    /// Queues a verified entry from a peer for the disk (the writer task
    /// commits it); a full queue drops it, counted.
    fn store(&mut self, from: PeerId, entry: Entry) {
        match self.store.try_send(entry) {
            Ok(()) => self.accepted(from),
            Err(mpsc::error::TrySendError::Full(_)) => self.refuse(from, &Rejection::QueueFull),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Counts an entry from `peer` that was taken.
    fn accepted(&mut self, peer: PeerId) {
        self.refusals.accepted += 1;
        if let Some(peer) = self.peers.get_mut(&peer) {
            peer.entries_received += 1;
        }
    }

    fn on_fetch_event(&mut self, event: request_response::Event<wire::Request<FetchRequest>, FetchResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let Some(request) = self.readable(peer, request, "fetch request") else { return };
                    self.refusals.served += 1;
                    let entry = if self.limits.allow_fetch(&peer) {
                        let now = self.cache.now_ms();
                        let trusted = self.trust.trusts(&peer);
                        self.cache.peek(&request.key).filter(|e| e.is_fresh(now) && (trusted || for_strangers(&e.key)))
                    } else {
                        self.refuse(peer, &Rejection::RateLimited);
                        None
                    };
                    if entry.is_some() {
                        if let Some(peer) = self.peers.get_mut(&peer) {
                            peer.entries_sent += 1;
                        }
                    }
                    let response = FetchResponse { entry: entry.map(|e| WireEntry::full(&e, &self.identity)) };
                    let _ = self.swarm.behaviour_mut().fetch.send_response(channel, response);
                }
                request_response::Message::Response { request_id, response } => {
                    let Some(asked) = self.requests.remove(&request_id) else { return };
                    self.unresponsive.remove(&peer);
                    let verified = match response.entry {
                        Some(wire) => self.answered(peer, &asked, wire),
                        None => None,
                    };
                    match asked.purpose {
                        Purpose::Miss(id) => {
                            if verified.is_some() {
                                self.accepted(peer);
                            }
                            self.fetch_answered(id, verified)
                        }
                        Purpose::Announced { author, .. } => {
                            if let Some(entry) = verified {
                                self.admit(author, entry);
                            }
                        }
                        Purpose::Sync { .. } => {
                            self.sync_in_flight -= 1;
                            if let Some(entry) = verified {
                                self.admit(peer, entry);
                            }
                            self.fetch_synced();
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if let request_response::OutboundFailure::Io(io) = &error {
                    self.unreadable(peer, io, "fetch response");
                }
                match self.requests.remove(&request_id) {
                    Some(Asked { purpose: Purpose::Miss(id), .. }) => {
                        self.unresponsive.insert(peer, Instant::now());
                        self.fetch_answered(id, None)
                    }
                    Some(Asked { purpose: Purpose::Sync { .. }, .. }) => {
                        self.sync_in_flight -= 1;
                        self.fetch_synced();
                    }
                    _ => {}
                }
            }
            request_response::Event::InboundFailure {
                peer, error: request_response::InboundFailure::Io(io), ..
            } => self.unreadable(peer, &io, "fetch request"),
            _ => {}
        }
    }

    /// A fetch answer must be the entry that was asked for (and, for an
    /// announcement, the one announced); then it is verified like any other.
    fn answered(&mut self, peer: PeerId, asked: &Asked, wire: WireEntry) -> Option<Entry> {
        if wire.key != asked.key {
            let rejection = Rejection::WrongKey { asked: asked.key.clone(), answered: wire.key };
            self.refuse(peer, &rejection);
            return None;
        }
        if let Purpose::Announced { cid, .. } | Purpose::Sync { cid } = &asked.purpose {
            if wire.cid != *cid {
                self.refuse(peer, &Rejection::CidMismatch(wire.cid));
                return None;
            }
        }
        let for_a_miss = matches!(asked.purpose, Purpose::Miss(_));
        self.check(peer, wire, !for_a_miss).ok().flatten()
    }

    fn on_sync_event(&mut self, event: request_response::Event<wire::Request<SyncRequest>, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let Some(request) = self.readable(peer, request, "sync request") else { return };
                    self.refusals.syncs_served += 1;
                    let entries = if self.limits.allow_fetch(&peer) {
                        let trusted = self.trust.trusts(&peer);
                        self.cache
                            .held_since(request.since_ms, SYNC_LIMIT)
                            .into_iter()
                            .filter(|(key, ..)| trusted || for_strangers(key))
                            .map(|(key, cid, stored_at_ms)| Held { key, cid, stored_at_ms })
                            .collect()
                    } else {
                        self.refuse(peer, &Rejection::RateLimited);
                        Vec::new()
                    };
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, SyncResponse { entries });
                }
                request_response::Message::Response { response, .. } => {
                    let listed = response.entries.len();
                    for held in response.entries.into_iter().take(SYNC_LIMIT) {
                        let ours = self.cache.peek(&held.key);
                        let missing =
                            ours.is_none_or(|ours| ours.cid != held.cid && ours.stored_at_ms < held.stored_at_ms);
                        if missing && self.sync_wanted.len() < SYNC_QUEUE {
                            self.sync_wanted.push_back((peer, held));
                        }
                    }
                    tracing::debug!(peer = %peer, listed, wanted = self.sync_wanted.len(), "sync answer");
                    self.fetch_synced();
                }
            },
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(peer = %peer, %error, "sync request failed");
                if let request_response::OutboundFailure::Io(io) = &error {
                    self.unreadable(peer, io, "sync response");
                }
            }
            request_response::Event::InboundFailure {
                peer, error: request_response::InboundFailure::Io(io), ..
            } => self.unreadable(peer, &io, "sync request"),
            _ => {}
        }
    }

    /// A request or response from `peer` that could not be read. Another
    /// wire version is counted and the connection kept (a rolling upgrade
    /// must not split the fleet); what is not a message of ours at all (or
    /// is over its size bound) is counted and the peer dropped.
    fn unreadable(&mut self, peer: PeerId, error: &std::io::Error, what: &str) {
        match WireError::of(error) {
            Some(error) => self.refuse_unreadable(peer, error, what),
            // The stream broke (reset, closed early): nothing was said.
            None => tracing::debug!(peer = %peer, %error, "a {what} broke off"),
        }
    }

    /// The request, or `None` when it could not be read (counted; see
    /// [`Self::unreadable`]).
    fn readable<T>(&mut self, peer: PeerId, request: wire::Request<T>, what: &str) -> Option<T> {
        match request {
            wire::Request::Read(request) => Some(request),
            wire::Request::Unreadable(error) => {
                self.refuse_unreadable(peer, &error, what);
                None
            }
        }
    }

    /// See [`Self::unreadable`].
    fn refuse_unreadable(&mut self, peer: PeerId, error: &WireError, what: &str) {
        match error {
            WireError::Version(version) => {
                tracing::debug!(peer = %peer, version, "a {what} of another wire version; ignored");
                self.refuse(peer, &Rejection::UnknownVersion(*version));
            }
            WireError::Malformed(why) => {
                tracing::warn!(peer = %peer, %why, "a {what} that is not a peercache message; disconnecting");
                self.refuse(peer, &Rejection::Malformed(why.clone()));
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
    }

    /// Fetches what sync answers listed, a few at a time.
    fn fetch_synced(&mut self) {
        while self.sync_in_flight < SYNC_FETCHES {
            let Some((peer, held)) = self.sync_wanted.pop_front() else { break };
            if !self.peers.contains_key(&peer) {
                continue;
            }
            if self
                .cache
                .peek(&held.key)
                .is_some_and(|ours| ours.cid == held.cid || ours.stored_at_ms >= held.stored_at_ms)
            {
                continue;
            }
            let request = self
                .swarm
                .behaviour_mut()
                .fetch
                .send_request(&peer, wire::Request::Read(FetchRequest { key: held.key.clone() }));
            self.requests.insert(request, Asked { key: held.key, purpose: Purpose::Sync { cid: held.cid } });
            self.sync_in_flight += 1;
        }
    }

    fn with_peer_id(&self, addr: &Multiaddr) -> Multiaddr {
        addr.clone().with(Protocol::P2p(*self.swarm.local_peer_id()))
    }

    pub fn publish_status(&self) {
        let status = self.snapshot();
        self.status.send_if_modified(|current| {
            if *current == status {
                false
            } else {
                *current = status;
                true
            }
        });
    }

    fn snapshot(&self) -> PeerStatus {
        let mut peers: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(id, peer)| PeerInfo {
                peer_id: id.to_string(),
                addr: peer.addr.to_string(),
                direction: if peer.outbound { "outbound" } else { "inbound" }.to_owned(),
                latency_ms: peer.latency.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
                agent: peer.agent.clone(),
                protocols: peer.protocols.clone(),
                connected_since: rfc3339(peer.connected_since_ms),
                entries_received: peer.entries_received,
                entries_sent: peer.entries_sent,
                gossip_score: self.swarm.behaviour().gossipsub.peer_score(id),
                trusted: self.trust.trusts(id),
                refused: peer.refused,
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        let active = !peers.is_empty();
        let (state, reason) = if let Some(error) = &self.listen_error {
            (NodeState::Failed, Some(error.clone()))
        } else if active {
            (NodeState::Active, None)
        } else {
            (NodeState::Connecting, Some(self.idle_reason()))
        };
        PeerStatus {
            enabled: true,
            active,
            state,
            peer_count: peers.len(),
            peer_id: Some(self.swarm.local_peer_id().to_string()),
            listen_addrs: self.listen_addrs.iter().map(|a| self.with_peer_id(a).to_string()).collect(),
            peers,
            reason,
            rejected_from_peers: self.refusals.total,
            accepted_from_peers: self.refusals.accepted,
            fetches_served: self.refusals.served,
            syncs_served: self.refusals.syncs_served,
            leases_granted: self.refusals.leases_granted,
            refused_by_reason: self.refusals.by_reason.clone(),
            trust: self.trust.describe(),
            gossip: self.gossip_health(),
        }
    }

    fn gossip_health(&self) -> GossipHealth {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let topic = self.topic.hash();
        let threshold = score_thresholds().gossip_threshold;
        GossipHealth {
            topic_peers: gossipsub.all_peers().filter(|(_, topics)| topics.contains(&&topic)).count(),
            mesh_peers: gossipsub.mesh_peers(&topic).count(),
            low_score_peers: self
                .peers
                .keys()
                .filter(|p| gossipsub.peer_score(p).is_some_and(|s| s < threshold))
                .count(),
        }
    }

    fn idle_reason(&self) -> String {
        if !self.redials.is_empty() {
            let mut reason = format!("dialing {} bootstrap peers", self.redials.len());
            if let Some(error) = self.redials.iter().rev().find_map(|r| r.last_error.as_deref()) {
                reason.push_str("; last error: ");
                reason.push_str(error);
            }
            reason
        } else if self.mdns {
            "no peers found by mDNS yet".to_owned()
        } else {
            "no bootstrap peers configured and mDNS off".to_owned()
        }
    }
}

/// What a peer this node does not trust may fetch or learn of by sync:
/// anonymous GitHub answers, never a token scope's key (its path names what
/// the token reads) nor users' own entries.
fn for_strangers(key: &str) -> bool {
    crate::cache::key::is_anonymous_github_key(key)
}
