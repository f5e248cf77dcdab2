//! The JSON shapes shared by the server (JSON API, server functions) and the
//! browser. One definition of each, so `/api/mcp/...` and the dashboard can
//! never disagree about a field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod assets;
mod doctor;
mod fleet;
mod invalidation;
pub use assets::{AssetsView, PieceSource, Transfer};
pub use doctor::{Check, Diagnosis, Level};
pub use fleet::{FleetNode, FleetState, FleetTotals, FleetView, NodeSummary, ResourceLimit};
pub use invalidation::{Invalidated, Invalidation, Reach};

/// What the P2P node is doing, as one word; the dashboard colours by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// At least one peer is connected.
    Active,
    /// Enabled and running, but no peer is connected (yet).
    Connecting,
    /// Switched off by configuration, or not started.
    Disabled,
    /// Enabled but broken (for example its port is taken).
    Failed,
}

/// `GET /api/mcp/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub enabled: bool,
    /// True only when at least one peer is connected.
    pub active: bool,
    pub state: NodeState,
    pub peer_count: usize,
    pub peer_id: Option<String>,
    pub listen_addrs: Vec<String>,
    pub peers: Vec<PeerInfo>,
    /// Why the node is not active, in words a person can act on.
    pub reason: Option<String>,
    /// Entries of `CACHE_BOOTSTRAP_PEERS` that were ignored, each with why.
    #[serde(default)]
    pub bootstrap_problems: Vec<String>,
    /// The last handshake that failed because the two nodes' swarm keys
    /// differ (or one has none).
    #[serde(default)]
    pub swarm_key_mismatch: Option<Happened>,
    /// Entries and messages from peers that were refused (failed verification,
    /// an untrusted publisher, over a limit), in all.
    pub rejected_from_peers: u64,
    /// The same, by reason (`bad_signature`, `untrusted_publisher`, `cid_mismatch`, ...).
    pub refused_by_reason: BTreeMap<String, u64>,
    /// Whose GitHub answers this node takes, in words.
    pub trust: String,
    /// Set when this node serves no peer's GitHub answer as it is, with why
    /// and what to do: the dashboard and `status` show it as a warning.
    #[serde(default)]
    pub sharing_warning: Option<String>,
    /// Entries from peers that passed verification and were stored.
    pub accepted_from_peers: u64,
    /// Fetch requests from peers this node answered (a miss elsewhere, or an
    /// entry a peer catching up lacked): how much asking the fleet does.
    pub fetches_served: u64,
    /// Catch-up (sync) requests this node answered.
    pub syncs_served: u64,
    /// Fleet-wide single flight: leases this node granted as a key's coordinator.
    pub leases_granted: u64,
    /// Whether announcements can reach the peers (gossipsub's view).
    pub gossip: GossipHealth,
}

/// How well announcements travel: a node whose peers are connected but not
/// subscribed, or not in its mesh, or scored below the gossip threshold, does
/// not get (or pass on) new entries even though it looks active.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GossipHealth {
    /// Connected peers subscribed to the announcement topic (what a publish reaches).
    pub topic_peers: usize,
    /// Peers in this node's gossipsub mesh for the topic (what forwards messages).
    pub mesh_peers: usize,
    /// Peers whose gossip score is below the gossip threshold: they are not
    /// gossiped with (many of them means announcements stall).
    pub low_score_peers: usize,
}

/// Something that went wrong, and when (Unix ms).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Happened {
    pub at_ms: u64,
    /// In words, naming whom it was with.
    pub what: String,
}

/// One connected peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub peer_id: String,
    pub addr: String,
    pub direction: String,
    pub latency_ms: Option<f64>,
    pub agent: Option<String>,
    pub protocols: Vec<String>,
    pub connected_since: String,
    pub entries_received: u64,
    pub entries_sent: u64,
    /// Gossipsub's score of the peer: 0 for a well-behaved peer, negative once
    /// it sent messages we rejected.
    pub gossip_score: Option<f64>,
    /// Whether this node takes GitHub answers this peer published.
    pub trusted: bool,
    /// Entries and messages from this peer that were refused.
    pub refused: u64,
    /// How far the peer's clock is ahead of this node's (negative: behind),
    /// in ms, as measured on connecting (signatures carry times).
    #[serde(default)]
    pub clock_offset_ms: Option<i64>,
}

/// `GET /api/mcp/cache/stats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheStats {
    pub available: bool,
    /// False when the store could not be opened and the cache runs in memory only.
    pub persistent: bool,
    /// What the store last refused (a full disk), while it does: new entries
    /// are not kept, invalidations happen in memory and reach the disk later.
    pub store_trouble: Option<String>,
    pub cache_dir: String,
    pub total_entries: u64,
    pub total_size_bytes: u64,
    pub total_size_mb: f64,
    pub max_entries: u64,
    pub max_size_bytes: u64,
    /// Hits over lookups, 0..1; 0 when nothing was looked up yet.
    pub hit_rate: f64,
    /// Hits served by entries this node fetched itself.
    pub local_hits: u64,
    /// Hits served by entries that came from a peer.
    pub peer_hits: u64,
    pub total_hits: u64,
    pub misses: u64,
    /// Same as `misses` (the name the original dashboard read).
    pub total_misses: u64,
    pub total_requests: u64,
    pub expirations: u64,
    pub evictions: u64,
    pub api_calls_made: u64,
    pub api_calls_saved: u64,
    pub p2p_enabled: bool,
    pub p2p_peers: usize,
    pub operations: BTreeMap<String, OperationStats>,
    /// The last 100 upstream calls, oldest first.
    pub api_call_log: Vec<ApiCall>,
    /// The GitHub proxy's figures.
    pub proxy: ProxyStats,
    /// Memory the node keeps besides its entries, on purpose.
    #[serde(default)]
    pub memory: MemoryUse,
}

/// What a node keeps in memory besides its entries: bounded, and shown on
/// the cache card.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryUse {
    /// The store's page cache (redb), its bound.
    pub page_cache_bytes: u64,
    /// GitHub answers kept decoded and ready to send.
    pub ready_answers: u64,
    pub ready_bytes: u64,
    pub ready_budget_bytes: u64,
}

/// What the GitHub proxy did (`/github/...`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyStats {
    /// Requests sent to GitHub.
    pub upstream_calls: u64,
    /// Responses by `X-Peercache` mode (HIT, PEER-HIT, MISS, REVALIDATED, COALESCED, STALE, PASS).
    pub modes: BTreeMap<String, u64>,
    /// Requests answered without a full GitHub call in the last 60 minutes.
    pub calls_saved_last_hour: u64,
    /// Last known rate limit of each token scope, most constrained first.
    pub rate_limits: Vec<RateLimitInfo>,
    /// Stored answers sealed for a token that did not open under their own
    /// key, time and TTL (moved or replayed by a peer): dropped, never served.
    pub seal_mismatches: u64,
    /// How stored answers are reused: `ttl` or `revalidate` (always asks GitHub, 304s free).
    pub freshness: String,
    /// Fleet-wide single flight.
    pub fleet: FleetStats,
    /// Requests to GitHub that failed, by kind (`unreachable`, `timed_out`,
    /// `transport`, `server_error`, `rate_limited`, `broken_body`).
    #[serde(default)]
    pub upstream_errors: BTreeMap<String, u64>,
    /// Confirmed sharing: bodies the fleet holds, offered to GitHub for a
    /// requester with `If-None-Match` (a 304 is free).
    #[serde(default)]
    pub confirm: ConfirmStats,
    /// Answers GitHub confirmed for free (304: REVALIDATED and CONFIRMED) in
    /// the last 60 minutes: calls that reached GitHub and were not charged.
    #[serde(default)]
    pub free_confirmations_last_hour: u64,
}

/// Confirmed sharing across token scopes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfirmStats {
    /// `cross-scope`, `always` or `off`.
    pub mode: String,
    /// Whether this node can read other tokens' answers (a group secret is
    /// set); without one only anonymous answers are shared across scopes.
    pub shares_tokens: bool,
    pub tried: u64,
    /// GitHub answered 304: the fleet's body served.
    pub confirmed: u64,
    /// GitHub answered otherwise (its own body, 404, 403): served as it is.
    pub refused: u64,
    /// The same, by path family (`repos`, `users`, …).
    pub by_family: BTreeMap<String, ConfirmCounts>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfirmCounts {
    pub tried: u64,
    pub confirmed: u64,
    pub refused: u64,
}

/// Fleet-wide single flight: one node of the fleet fetches a key at a time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetStats {
    pub enabled: bool,
    /// Leases this node granted as a key's coordinator.
    pub leases_granted: u64,
    /// Requests that waited for another node's fetch.
    pub waits: u64,
    /// Waits that ran out (the request then fetched itself).
    pub wait_timeouts: u64,
}

/// GitHub's rate limit for one token scope and resource, as its last response said.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimitInfo {
    /// The scope hash (never the token).
    pub scope: String,
    pub remaining: Option<u64>,
    pub limit: Option<u64>,
    /// When the limit resets (RFC 3339).
    pub reset: Option<String>,
    /// Seconds from the moment of this answer until the reset.
    pub reset_in_secs: Option<u64>,
    /// The reset as Unix seconds.
    #[serde(default)]
    pub reset_epoch: Option<u64>,
    pub resource: Option<String>,
    /// While set, GitHub refused this scope and peercache does not ask it again.
    pub blocked_until: Option<String>,
}

/// Lookups of one operation family.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationStats {
    pub hits: u64,
    pub misses: u64,
}

/// One call that went upstream (to GitHub) because the cache could not answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiCall {
    /// RFC 3339.
    pub timestamp: String,
    pub api_type: String,
    pub operation: String,
    pub status: String,
}

/// One row of the cache browser (`GET /api/cache/entries`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntrySummary {
    pub key: String,
    pub size: u64,
    pub age_secs: u64,
    /// Seconds until the entry expires; 0 once it has.
    pub ttl_left_secs: u64,
    pub expired: bool,
    pub cid: String,
    /// `"local"` or the id of the peer it came from.
    pub origin: String,
}

/// The most entries one page of the cache browser can ask for.
pub const MAX_PAGE: usize = 1000;

/// A page of the cache browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryPage {
    /// How many entries match the prefix in all.
    pub total: usize,
    pub entries: Vec<EntrySummary>,
}

/// `GET /api/node`: who this node is, for the dashboard's header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The machine's host name.
    pub name: String,
    pub version: String,
    pub peer_id: Option<String>,
    pub uptime_secs: u64,
    /// True when changing the cache needs `PEERCACHE_ADMIN_TOKEN` (the server
    /// listens off loopback); the dashboard then asks for the token.
    pub admin_required: bool,
    /// The Unix socket `gh` can be pointed at, when it listens.
    pub gh_socket: Option<String>,
    /// The GitHub API this node asks (`--github-api-url`).
    #[serde(default)]
    pub upstream: String,
}

/// One reading of the counters, taken every [`History::period_ms`] for the
/// charts. Counters only grow; the charts draw the differences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// Cache lookups so far (hits and misses).
    pub requests: u64,
    pub hits: u64,
    /// Calls that went upstream so far.
    pub upstream_calls: u64,
    /// Upstream calls the cache avoided so far.
    pub calls_saved: u64,
    /// Peers connected at that moment.
    pub peers: usize,
}

/// `GET /api/history`: the last hour of samples, oldest first. The last one is
/// read at the moment of the answer, so a chart always reaches "now".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// How often the server takes a sample (10 s unless configured).
    pub period_ms: u64,
    pub samples: Vec<Sample>,
}

/// Hits over requests as a fraction in 0..1, defined as 0 for no requests.
pub fn hit_rate(hits: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        hits as f64 / requests as f64
    }
}

/// Bytes as mebibytes, the unit the dashboard and `total_size_mb` use.
pub fn bytes_to_mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// One entry as `GET /api/cache/entry` and the dashboard show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryView {
    pub key: String,
    /// The body as JSON (`null` when it is not JSON).
    pub value: serde_json::Value,
    pub cid: String,
    pub size: usize,
    /// RFC 3339.
    pub stored_at: String,
    pub ttl_secs: u64,
    pub ttl_left_secs: u64,
    /// `"local"` or the id of the peer it came from.
    pub origin: String,
    pub etag: Option<String>,
    pub upstream_status: Option<u16>,
}

/// `PUT /api/cache/entry`: what was stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub key: String,
    pub cid: String,
    pub size: usize,
    pub ttl_secs: u64,
}

/// `POST /api/mcp/peers/connect`: the address being dialed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dialing {
    pub dialing: String,
    /// Set when the caller waited for the connection: it is up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
}

/// What kind of failure a request met; the HTTP layers (JSON API and server
/// functions) turn it into a status code with [`ErrorKind::status`], the one
/// place that mapping is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself is wrong (bad key, bad JSON, bad multiaddr).
    Invalid,
    /// It needs the admin token, and did not bring the right one.
    Unauthorized,
    /// Never allowed from here, whatever the token (e.g. writing GitHub answers).
    Forbidden,
    NotFound,
    TooLarge,
    /// A part it needs is not running (P2P off).
    Unavailable,
    /// It took longer than the server allows.
    TimedOut,
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::TimedOut => 408,
            ErrorKind::TooLarge => 413,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
        }
    }
}

/// Body of every JSON error: `{"error": "..."}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_is_zero_without_requests_and_a_fraction_otherwise() {
        assert_eq!(hit_rate(0, 0), 0.0);
        assert_eq!(hit_rate(1, 4), 0.25);
        assert_eq!(hit_rate(4, 4), 1.0);
    }

    #[test]
    fn node_state_serializes_as_snake_case_word() {
        assert_eq!(serde_json::to_string(&NodeState::Connecting).unwrap(), "\"connecting\"");
        let back: NodeState = serde_json::from_str("\"failed\"").unwrap();
        assert_eq!(back, NodeState::Failed);
    }

    #[test]
    fn peer_status_has_the_documented_field_names() {
        let status = PeerStatus {
            enabled: false,
            active: false,
            state: NodeState::Disabled,
            peer_count: 0,
            peer_id: None,
            listen_addrs: vec![],
            peers: vec![],
            reason: Some("P2P node not started".into()),
            bootstrap_problems: vec![],
            swarm_key_mismatch: None,
            rejected_from_peers: 0,
            accepted_from_peers: 0,
            fetches_served: 0,
            syncs_served: 0,
            leases_granted: 0,
            refused_by_reason: BTreeMap::new(),
            trust: String::new(),
            sharing_warning: None,
            gossip: GossipHealth::default(),
        };
        let json = serde_json::to_value(&status).unwrap();
        for field in ["enabled", "active", "peer_count", "peers", "reason"] {
            assert!(json.get(field).is_some(), "missing {field} in {json}");
        }
        assert_eq!(json["reason"], "P2P node not started");
    }

    #[test]
    fn cache_stats_round_trips_through_json() {
        let stats = CacheStats {
            available: true,
            persistent: true,
            store_trouble: None,
            cache_dir: "/tmp/c".into(),
            total_entries: 3,
            total_size_bytes: 3 * 1024 * 1024,
            total_size_mb: bytes_to_mb(3 * 1024 * 1024),
            max_entries: 10,
            max_size_bytes: 100,
            hit_rate: hit_rate(1, 2),
            local_hits: 1,
            peer_hits: 0,
            total_hits: 1,
            misses: 1,
            total_misses: 1,
            total_requests: 2,
            expirations: 0,
            evictions: 0,
            api_calls_made: 0,
            api_calls_saved: 1,
            p2p_enabled: false,
            p2p_peers: 0,
            operations: BTreeMap::from([("get_repo".into(), OperationStats { hits: 1, misses: 1 })]),
            api_call_log: vec![],
            proxy: ProxyStats::default(),
            memory: MemoryUse::default(),
        };
        let json = serde_json::to_string(&stats).unwrap();
        assert!(json.contains("\"total_size_mb\":3.0"), "{json}");
        assert_eq!(serde_json::from_str::<CacheStats>(&json).unwrap(), stats);
    }
}
