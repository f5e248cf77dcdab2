//! Release assets and archives as the dashboard, `GET /api/assets`, the CLI
//! and the MCP tool show them.

use serde::{Deserialize, Serialize};

/// The blob store and its downloads at a glance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetsView {
    pub blobs_held: usize,
    pub bytes_held: u64,
    pub budget_bytes: u64,
    /// Download requests answered from the store, following a download
    /// under way, fetched now, and streamed through for `gh`.
    pub hits: u64,
    pub coalesced: u64,
    pub misses: u64,
    pub passed: u64,
    /// Downloads that became blobs from GitHub, from peers, and that failed.
    pub downloads_from_github: u64,
    pub downloads_from_peers: u64,
    pub failures: u64,
    pub bytes_from_github: u64,
    pub bytes_from_peers: u64,
    pub bytes_served: u64,
    /// Bytes of pieces this node sent to its peers.
    pub bytes_to_peers: u64,
    /// Who sent this node the pieces it took from peers, most first.
    pub pieces_from: Vec<PieceSource>,
    /// Downloads in progress.
    pub transfers: Vec<Transfer>,
}

/// A peer and the bytes of pieces it sent this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceSource {
    pub peer_id: String,
    pub bytes: u64,
}

/// A download in progress: its digest (or the stand-in of a name whose
/// digest is not known yet), the bytes so far, its size when known, and
/// the peers it takes pieces from or follows with (0: from GitHub).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub key: String,
    pub bytes: u64,
    pub size: Option<u64>,
    pub peers: usize,
}
