//! The one task that owns the swarm: a `select!` over swarm events, commands
//! from `NodeClient`s, local cache puts to announce, and a one-second tick
//! (bootstrap redials, Kademlia refresh). After anything that changes what the
//! node looks like, it publishes a fresh status snapshot.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::{GossipHealth, NodeState, PeerInfo, PeerStatus};
use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::metrics::Recorder;
use libp2p::{identify, kad, mdns, ping, Multiaddr, PeerId, Swarm};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::cache::entry::Entry;
use crate::cache::ttl::rfc3339;
use crate::cache::Cache;
use crate::p2p::behaviour::{Behaviour, BehaviourEvent};
use crate::p2p::bootstrap::{parse_peer_addr, Redial};
use crate::p2p::client::Command;
use crate::p2p::protocol::{verify, FetchRequest, FetchResponse, Rejection, Verdict, WireEntry};

const KAD_REFRESH: Duration = Duration::from_secs(30);

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
}

/// A fetch-on-miss in progress: answers still expected and whom to tell.
struct Fetch {
    outstanding: usize,
    reply: Option<oneshot::Sender<Option<Entry>>>,
}

/// Why an outbound fetch request was sent.
enum Purpose {
    /// A local miss (the id of the `Fetch`).
    Miss(u64),
    /// An announcement of a large entry whose body did not ride along.
    Announced,
}

pub struct EventLoop {
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) local_puts: broadcast::Receiver<Arc<Entry>>,
    pub(crate) status: watch::Sender<PeerStatus>,
    pub(crate) cache: Arc<Cache>,
    pub(crate) topic: IdentTopic,
    pub(crate) redials: Vec<Redial>,
    pub(crate) listen_error: Option<String>,
    pub(crate) mdns: bool,
    pub(crate) metrics: Option<libp2p::metrics::Metrics>,
    peers: HashMap<PeerId, Peer>,
    listen_addrs: Vec<Multiaddr>,
    requests: HashMap<OutboundRequestId, Purpose>,
    fetches: HashMap<u64, Fetch>,
    next_fetch: u64,
    rejected: u64,
    accepted: u64,
    last_kad_refresh: Instant,
}

impl EventLoop {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        cache: Arc<Cache>,
        status: watch::Sender<PeerStatus>,
        topic: IdentTopic,
        redials: Vec<Redial>,
        listen_error: Option<String>,
        mdns: bool,
    ) -> Self {
        EventLoop {
            swarm,
            commands,
            local_puts: cache.subscribe_local_puts(),
            status,
            cache,
            topic,
            redials,
            listen_error,
            mdns,
            metrics: None,
            peers: HashMap::new(),
            listen_addrs: Vec::new(),
            requests: HashMap::new(),
            fetches: HashMap::new(),
            next_fetch: 0,
            rejected: 0,
            accepted: 0,
            last_kad_refresh: Instant::now(),
        }
    }

    /// Runs until every `NodeClient` is dropped.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        self.publish_status();
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
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
                _ = tick.tick() => self.on_tick(),
            }
            self.publish_status();
        }
        tracing::info!("P2P node stopped");
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
        if now.duration_since(self.last_kad_refresh) >= KAD_REFRESH && !self.peers.is_empty() {
            self.last_kad_refresh = now;
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Fetch { key, reply } => self.start_fetch(key, reply),
            Command::Dial { addr, reply } => {
                let result = match parse_peer_addr(&addr.to_string()) {
                    Ok(peer) => {
                        self.swarm.behaviour_mut().kad.add_address(&peer.peer_id, peer.addr.clone());
                        self.swarm.dial(peer.addr).map_err(|e| e.to_string())
                    }
                    Err(why) => Err(why),
                };
                let _ = reply.send(result);
            }
            Command::PublishRaw(bytes) => {
                let _ = self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), bytes);
            }
        }
    }

    fn announce(&mut self, entry: &Entry) {
        let bytes = WireEntry::announcement(entry).encode();
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

    fn start_fetch(&mut self, key: String, reply: oneshot::Sender<Option<Entry>>) {
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        if peers.is_empty() {
            let _ = reply.send(None);
            return;
        }
        let id = self.next_fetch;
        self.next_fetch += 1;
        for peer in &peers {
            let request = self.swarm.behaviour_mut().fetch.send_request(peer, FetchRequest { key: key.clone() });
            self.requests.insert(request, Purpose::Miss(id));
        }
        self.fetches.insert(id, Fetch { outstanding: peers.len(), reply: Some(reply) });
    }

    /// One answer to a miss fetch: `entry` when it was verified.
    fn fetch_answered(&mut self, id: u64, entry: Option<Entry>) {
        let Some(fetch) = self.fetches.get_mut(&id) else { return };
        fetch.outstanding -= 1;
        if let Some(entry) = entry {
            if let Some(reply) = fetch.reply.take() {
                let _ = reply.send(Some(entry));
            }
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
                    let now = Instant::now();
                    for redial in self.redials.iter_mut().filter(|r| r.peer.peer_id == peer_id) {
                        redial.disconnected(now);
                    }
                } else if let Some(peer) = self.peers.get_mut(&peer_id) {
                    peer.connections = num_established as usize;
                }
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
            BehaviourEvent::Ping(ping::Event { peer, result: Ok(rtt), .. }) => {
                if let Some(peer) = self.peers.get_mut(&peer) {
                    peer.latency = Some(rtt);
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                for addr in &info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                }
                if let Some(peer) = self.peers.get_mut(&peer_id) {
                    peer.agent = Some(info.agent_version);
                    peer.protocols = info.protocols.iter().map(ToString::to_string).collect();
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message { propagation_source, message_id, message }) => {
                let author = message.source.unwrap_or(propagation_source);
                let acceptance = self.on_announcement(author, &message.data);
                let _ = self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
            }
            BehaviourEvent::Fetch(event) => self.on_fetch_event(event),
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer_id, addr) in found {
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

    /// Checks an announcement from `author`; stores it, or fetches its body.
    fn on_announcement(&mut self, author: PeerId, data: &[u8]) -> MessageAcceptance {
        let wire = match WireEntry::decode_announcement(data) {
            Ok(wire) => wire,
            Err(rejection) => {
                self.reject(author, &rejection);
                // Garbage is not a disagreement: the sender is broken or hostile.
                let _ = self.swarm.disconnect_peer_id(author);
                return MessageAcceptance::Reject;
            }
        };
        if wire.body.is_none() {
            let now = self.cache.now_ms();
            let fresh = wire.stored_at_ms.saturating_add(wire.ttl_secs * 1000) > now;
            let ours = self.cache.peek(&wire.key);
            if !fresh {
                self.reject(author, &Rejection::Expired);
                return MessageAcceptance::Reject;
            }
            if ours.is_some_and(|ours| ours.cid == wire.cid || ours.stored_at_ms >= wire.stored_at_ms) {
                return MessageAcceptance::Ignore;
            }
            let request = self.swarm.behaviour_mut().fetch.send_request(&author, FetchRequest { key: wire.key });
            self.requests.insert(request, Purpose::Announced);
            return MessageAcceptance::Accept;
        }
        match self.check(author, wire, true) {
            Ok(Some(entry)) => {
                self.store(entry);
                MessageAcceptance::Accept
            }
            Ok(None) => MessageAcceptance::Ignore,
            Err(()) => MessageAcceptance::Reject,
        }
    }

    /// Verifies a complete wire entry from `peer`: `Some` to store, `None`
    /// when we already have it (or a newer copy), `Err` when it was rejected
    /// (and counted). A miss wants the entry whatever we hold, so it passes
    /// `compare_with_ours = false`.
    fn check(&mut self, peer: PeerId, wire: WireEntry, compare_with_ours: bool) -> Result<Option<Entry>, ()> {
        let ours = if compare_with_ours { self.cache.peek(&wire.key) } else { None };
        match verify(wire, &peer.to_string(), self.cache.now_ms(), ours.as_deref()) {
            Ok(Verdict::Store(entry)) => {
                self.accepted += 1;
                if let Some(peer) = self.peers.get_mut(&peer) {
                    peer.entries_received += 1;
                }
                Ok(Some(entry))
            }
            Ok(Verdict::AlreadyHave) => Ok(None),
            Err(rejection) => {
                self.reject(peer, &rejection);
                Err(())
            }
        }
    }

    fn reject(&mut self, peer: PeerId, rejection: &Rejection) {
        self.rejected += 1;
        tracing::warn!(peer = %peer, reason = %rejection, "rejected an entry from a peer");
    }

    /// Stores a verified entry from a peer, off the event loop (it commits to disk).
    fn store(&self, entry: Entry) {
        let cache = self.cache.clone();
        tokio::spawn(async move {
            if let Err(error) = cache.write(move |cache| cache.insert(entry)).await {
                tracing::warn!(%error, "could not store an entry from a peer");
            }
        });
    }

    fn on_fetch_event(&mut self, event: request_response::Event<FetchRequest, FetchResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let now = self.cache.now_ms();
                    let entry = self.cache.peek(&request.key).filter(|e| e.is_fresh(now));
                    if entry.is_some() {
                        if let Some(peer) = self.peers.get_mut(&peer) {
                            peer.entries_sent += 1;
                        }
                    }
                    let response = FetchResponse { entry: entry.map(|e| WireEntry::full(&e)) };
                    let _ = self.swarm.behaviour_mut().fetch.send_response(channel, response);
                }
                request_response::Message::Response { request_id, response } => {
                    let purpose = self.requests.remove(&request_id);
                    let for_a_miss = matches!(purpose, Some(Purpose::Miss(_)));
                    let verified = match response.entry {
                        Some(wire) => self.check(peer, wire, !for_a_miss).ok().flatten(),
                        None => None,
                    };
                    match purpose {
                        Some(Purpose::Miss(id)) => self.fetch_answered(id, verified),
                        Some(Purpose::Announced) => {
                            if let Some(entry) = verified {
                                self.store(entry);
                            }
                        }
                        None => {}
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                if let request_response::OutboundFailure::Io(io) = &error {
                    // A response that does not decode (or is over the limit).
                    tracing::warn!(peer = %peer, error = %io, "bad fetch response; disconnecting");
                    self.rejected += 1;
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                if let Some(Purpose::Miss(id)) = self.requests.remove(&request_id) {
                    self.fetch_answered(id, None);
                }
            }
            request_response::Event::InboundFailure { peer, error: request_response::InboundFailure::Io(io), .. } => {
                tracing::warn!(peer = %peer, error = %io, "bad fetch request; disconnecting");
                self.rejected += 1;
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            _ => {}
        }
    }

    fn with_peer_id(&self, addr: &Multiaddr) -> Multiaddr {
        addr.clone().with(Protocol::P2p(*self.swarm.local_peer_id()))
    }

    pub(crate) fn publish_status(&self) {
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
            rejected_from_peers: self.rejected,
            accepted_from_peers: self.accepted,
            gossip: self.gossip_health(),
        }
    }

    fn gossip_health(&self) -> GossipHealth {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let topic = self.topic.hash();
        let threshold = crate::p2p::behaviour::score_thresholds().gossip_threshold;
        GossipHealth {
            topic_peers: gossipsub.all_peers().filter(|(_, topics)| topics.contains(&&topic)).count(),
            mesh_peers: gossipsub.mesh_peers(&topic).count(),
            low_score_peers: self.peers.keys().filter(|p| gossipsub.peer_score(p).is_some_and(|s| s < threshold)).count(),
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
