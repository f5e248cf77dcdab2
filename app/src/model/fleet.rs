//! `GET /api/fleet`: every node of the fleet as its own signed summary says,
//! and the totals of those that are up and trusted.

use serde::{Deserialize, Serialize};

/// Whether a node was heard from lately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetState {
    Up,
    /// Not heard from for a while: shown, and left out of the totals.
    Gone,
}

/// GitHub's limit for one resource, the tightest over a node's token scopes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLimit {
    pub resource: String,
    pub remaining: u64,
    pub limit: u64,
}

/// What a node says of itself, every few seconds, signed (the server's
/// `fleet::summary` carries it): the figures of the fleet view.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSummary {
    pub version: String,
    /// When it was made (Unix ms, the node's clock).
    pub at_ms: u64,
    pub uptime_secs: u64,
    pub peers: u64,
    pub hits: u64,
    pub misses: u64,
    pub upstream_calls: u64,
    pub calls_saved: u64,
    pub calls_saved_last_hour: u64,
    pub free_confirmations_last_hour: u64,
    pub rate_limits: Vec<ResourceLimit>,
    pub store_entries: u64,
    pub store_bytes: u64,
    /// What is wrong there, in words, if anything.
    pub trouble: Option<String>,
}

/// One node, as its latest summary says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetNode {
    pub peer_id: String,
    pub state: FleetState,
    /// This node (the one answering).
    pub this_node: bool,
    /// Whether this node takes the GitHub answers it publishes: untrusted
    /// nodes are shown apart and never counted in the totals.
    pub trusted: bool,
    #[serde(flatten)]
    pub summary: NodeSummary,
}

/// Sums over the nodes that are up and trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetTotals {
    pub nodes_up: u64,
    pub nodes_gone: u64,
    /// Nodes heard from that this node does not trust (not in the sums).
    pub nodes_untrusted: u64,
    pub hits: u64,
    pub misses: u64,
    pub upstream_calls: u64,
    pub calls_saved: u64,
    pub calls_saved_last_hour: u64,
    pub free_confirmations_last_hour: u64,
    pub store_entries: u64,
    pub store_bytes: u64,
    /// The tightest `core` limit any node up reports: what the fleet kept.
    pub core_remaining_min: Option<u64>,
    /// Versions among the nodes up, when more than one.
    pub versions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetView {
    /// This node first, then the others by peer id.
    pub nodes: Vec<FleetNode>,
    pub totals: FleetTotals,
    pub as_of_ms: u64,
}
