//! What the MCP tools ask of peercache, typed with the JSON API's own models:
//! one trait, two ways in. Inside `peercache serve` the tools call the core
//! directly (`/mcp` has already checked the admin token); in `peercache mcp`
//! (stdio) they call a running server over HTTP with the command line's
//! client (`cli::client::Client`). Either way the same core code runs.

use app::api::Backend;
use app::model::{
    CacheStats, Dialing, EntryPage, EntryView, ErrorKind, Invalidated, Invalidation, PeerStatus, Reach, Stored,
};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::core::error::CoreError;
use crate::core::Core;

/// A call that did not succeed: the status the server answered (or would
/// have), and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
    /// False when no server answered at all (then `status` is 503).
    pub answered: bool,
}

impl ApiFailure {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiFailure { status, message: message.into(), answered: true }
    }

    pub fn is(&self, kind: ErrorKind) -> bool {
        self.answered && self.status == kind.status()
    }
}

/// The server's words, with the status when there was one: one line.
impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.answered {
            write!(f, "{} ({})", self.message, self.status)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for ApiFailure {}

impl From<CoreError> for ApiFailure {
    fn from(error: CoreError) -> Self {
        ApiFailure::new(error.kind.status(), error.message)
    }
}

#[async_trait]
pub trait PeercacheApi: Send + Sync + 'static {
    async fn peer_status(&self) -> Result<PeerStatus, ApiFailure>;
    async fn cache_stats(&self) -> Result<CacheStats, ApiFailure>;
    /// Release assets and archives: the store, where the bytes came from, transfers.
    async fn assets(&self) -> Result<crate::assets::stats::AssetsView, ApiFailure>;
    /// A lookup of `key` (asks the peers on a local miss); 404 when nobody has it.
    async fn entry(&self, key: &str) -> Result<EntryView, ApiFailure>;
    /// Stores a JSON value (the bytes as given).
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Option<u64>) -> Result<Stored, ApiFailure>;
    /// Drops what `target` names, here or on every node.
    async fn invalidate(&self, target: Invalidation, reach: Reach) -> Result<Invalidated, ApiFailure>;
    /// Dials a peer; with `wait`, answers once it is connected (or fails with why not).
    async fn connect(&self, multiaddr: &str, wait: Option<Duration>) -> Result<Dialing, ApiFailure>;
    /// Entries whose key starts with `prefix`, `limit` from `offset`, newest first.
    async fn entries(&self, prefix: &str, offset: usize, limit: usize) -> Result<EntryPage, ApiFailure>;
}

#[async_trait]
impl PeercacheApi for Core {
    async fn peer_status(&self) -> Result<PeerStatus, ApiFailure> {
        Ok(Backend::peer_status(self))
    }

    async fn cache_stats(&self) -> Result<CacheStats, ApiFailure> {
        Ok(Backend::cache_stats(self))
    }

    async fn assets(&self) -> Result<crate::assets::stats::AssetsView, ApiFailure> {
        Ok(self.assets.view())
    }

    async fn entry(&self, key: &str) -> Result<EntryView, ApiFailure> {
        Ok(self.lookup(key).await?)
    }

    async fn put(&self, key: &str, value: Vec<u8>, ttl: Option<u64>) -> Result<Stored, ApiFailure> {
        Ok(self.put_entry(key.to_owned(), Bytes::from(value), ttl).await?)
    }

    async fn invalidate(&self, target: Invalidation, reach: Reach) -> Result<Invalidated, ApiFailure> {
        Ok(Core::invalidate(self, target, reach).await?)
    }

    async fn connect(&self, multiaddr: &str, wait: Option<Duration>) -> Result<Dialing, ApiFailure> {
        Ok(match wait {
            None => Dialing { dialing: self.dial_peer(multiaddr).await?, connected: None },
            Some(wait) => Dialing { dialing: self.connect_peer(multiaddr, wait).await?, connected: Some(true) },
        })
    }

    async fn entries(&self, prefix: &str, offset: usize, limit: usize) -> Result<EntryPage, ApiFailure> {
        Ok(self.cache.list(prefix, offset, limit))
    }
}
