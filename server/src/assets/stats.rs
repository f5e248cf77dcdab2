//! What downloads did: how each was answered, and the bytes that came from
//! GitHub, from peers (and which peers) and went to clients and to peers —
//! the figures that say what the store saves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use libp2p::PeerId;

use crate::blobs::ByteStream;

/// How a download was answered, as `X-Peercache` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// From the store, whole.
    Hit,
    /// Following a download already under way for another request.
    Coalesced,
    /// Fetched from GitHub now.
    Miss,
    /// Streamed through from an asset host, not stored (`gh` asking a host itself).
    Pass,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hit => "HIT",
            Mode::Coalesced => "COALESCED",
            Mode::Miss => "MISS",
            Mode::Pass => "PASS",
        }
    }

    /// RFC 9211 `Cache-Status`.
    pub fn cache_status(self) -> &'static str {
        match self {
            Mode::Hit => "peercache; hit",
            Mode::Coalesced => "peercache; fwd=miss; collapsed",
            Mode::Miss => "peercache; fwd=miss; stored",
            Mode::Pass => "peercache; fwd=uri-miss",
        }
    }
}

/// The store and its downloads at a glance: `GET /api/assets` (the type
/// the dashboard shows).
pub use app::model::{AssetsView, PieceSource, Transfer};

#[derive(Default)]
pub struct AssetCounters {
    pub hits: AtomicU64,
    pub coalesced: AtomicU64,
    pub misses: AtomicU64,
    pub passed: AtomicU64,
    /// Downloads from GitHub that became blobs, and ones that failed.
    pub downloads: AtomicU64,
    pub failures: AtomicU64,
    /// Downloads that came whole from peers.
    pub from_fleet: AtomicU64,
    pub bytes_from_github: AtomicU64,
    pub bytes_from_peers: AtomicU64,
    pub bytes_served: AtomicU64,
    /// The bytes of pieces each peer sent.
    pieces_from: Mutex<HashMap<PeerId, u64>>,
}

impl AssetCounters {
    pub fn delivered(&self, mode: Mode) {
        let counter = match mode {
            Mode::Hit => &self.hits,
            Mode::Coalesced => &self.coalesced,
            Mode::Miss => &self.misses,
            Mode::Pass => &self.passed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A download that came whole from peers.
    pub fn from_fleet(&self) {
        self.from_fleet.fetch_add(1, Ordering::Relaxed);
    }

    pub fn downloaded(&self) {
        self.downloads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn from_github(&self, bytes: u64) {
        self.bytes_from_github.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A piece's bytes, taken from `peer`.
    pub fn from_peer(&self, peer: PeerId, bytes: u64) {
        self.bytes_from_peers.fetch_add(bytes, Ordering::Relaxed);
        *self.pieces_from.lock().expect("pieces_from lock").entry(peer).or_default() += bytes;
    }

    /// The figures, with what the store holds and what it is fetching.
    pub fn view(&self, blobs: &crate::blobs::Blobs) -> AssetsView {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (blobs_held, bytes_held) = blobs.usage();
        let transfers = blobs
            .transfers()
            .into_iter()
            .map(|(key, bytes, size, peers)| Transfer { key: key.to_string(), bytes, size, peers })
            .collect();
        let mut pieces_from: Vec<PieceSource> = (self.pieces_from.lock().expect("pieces_from lock").iter())
            .map(|(peer, bytes)| PieceSource { peer_id: peer.to_string(), bytes: *bytes })
            .collect();
        pieces_from.sort_by_key(|source| std::cmp::Reverse(source.bytes));
        AssetsView {
            blobs_held,
            bytes_held,
            budget_bytes: blobs.budget(),
            hits: read(&self.hits),
            coalesced: read(&self.coalesced),
            misses: read(&self.misses),
            passed: read(&self.passed),
            downloads_from_github: read(&self.downloads),
            downloads_from_peers: read(&self.from_fleet),
            failures: read(&self.failures),
            bytes_from_github: read(&self.bytes_from_github),
            bytes_from_peers: read(&self.bytes_from_peers),
            bytes_served: read(&self.bytes_served),
            bytes_to_peers: blobs.read_for_peers.load(Ordering::Relaxed),
            pieces_from,
            transfers,
        }
    }

    /// `body`, its bytes counted as served as they go out.
    pub fn counting_served(self: &Arc<Self>, body: ByteStream) -> ByteStream {
        let counters = self.clone();
        Box::pin(body.inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counters.bytes_served.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }))
    }
}
