//! `NodeClient`: the cheap, cloneable handle the rest of the server uses. Each
//! method sends a command to the event loop (which alone owns the swarm) and,
//! where there is an answer, awaits it on a oneshot with a bounded wait.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::model::PeerStatus;
use libp2p::Multiaddr;
use tokio::sync::{mpsc, oneshot};

use crate::cache::entry::Entry;
use crate::cache::key::validate_key;
use crate::cache::stats::Lookup;
use crate::cache::Cache;
use crate::fleet::book::Book;
use crate::fleet::summary::Summary;
use crate::p2p::piece::{PieceRequest, PieceResponse};
use crate::p2p::protocol::{Cause, Rejection, Trust};
use crate::p2p::status::NodeStatusHandle;

pub enum Command {
    /// Ask every connected peer for `key`; the first verified answer wins.
    Fetch { key: String, reply: oneshot::Sender<Option<Entry>> },
    /// Dial an address (it must end in `/p2p/<peer id>`); with `wait` the
    /// reply comes once the connection is up or the dial failed, else once
    /// the dial started.
    Dial { addr: Multiaddr, wait: bool, reply: oneshot::Sender<Result<(), String>> },
    /// Ask the key's coordinator for the lease to fetch it from GitHub.
    Lease { key: String, reply: oneshot::Sender<LeaseAnswer> },
    /// Ask `peer` for a piece of a download (or what it holds of one).
    Piece { peer: libp2p::PeerId, request: PieceRequest, reply: oneshot::Sender<Option<PieceResponse>> },
    /// Give the lease of a key back (fetched, or failed).
    Release { key: String, stored: bool },
    /// This node waited on `holder`'s fetch until it gave up: do not wait
    /// on that holder again for a while.
    Stalled { holder: String },
    /// Tell the group that a write went to GitHub under these prefixes at
    /// `at_ms` (signed by this node).
    /// `told` hears how many peers the invalidation went to.
    Invalidate { cause: Cause, prefixes: Vec<String>, at_ms: u64, told: Option<oneshot::Sender<usize>> },
    /// Sign and publish this node's summary of itself.
    Summary(Summary),
    /// Count something a peer sent that turned out wrong later (a sealed
    /// body that does not open where it was stored).
    Report { peer: String, rejection: Rejection },
    /// Publish bytes on the announcement topic exactly as given. Tests use it
    /// to play a misbehaving peer.
    #[cfg(feature = "test-hooks")]
    PublishRaw(Vec<u8>),
    /// Panic the event loop. Tests use it to see the supervisor restart it.
    #[cfg(feature = "test-hooks")]
    Panic,
}

/// What the coordinator said about fetching a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseAnswer {
    /// Fetch it (the lease is this node's, or nobody coordinates it).
    Fetch,
    /// A trusted node is fetching it: wait for its entry at most `remaining`.
    Wait { holder: String, remaining: Duration },
    /// The coordinator did not answer in time (busy, or gone). An API
    /// answer fetches (one extra call at worst); a release asset asks again
    /// while its fleet wait lasts (an extra copy is the whole asset).
    Unanswered,
}

#[derive(Clone)]
pub struct NodeClient {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) status: NodeStatusHandle,
    pub(crate) fetch_timeout: Duration,
    pub(crate) trust: Trust,
    /// The other nodes' summaries, as the event loop heard them.
    pub(crate) book: Arc<Mutex<Book>>,
    /// This node's peer id.
    pub(crate) local: libp2p::PeerId,
    /// The piece lists this node answers peers with (it passes on those of
    /// the downloads it follows).
    pub(crate) lists: Arc<crate::p2p::piece_list::PieceLists>,
}

impl NodeClient {
    /// Signs and publishes this node's summary (dropped when the node is too busy).
    pub fn publish_summary(&self, summary: Summary) {
        let _ = self.commands.try_send(Command::Summary(summary));
    }

    /// The fleet as of `now`: this node (`own`, its summary) and every node
    /// heard from lately.
    pub fn fleet(&self, own: Summary, now_ms: u64) -> app::model::FleetView {
        self.book.lock().expect("fleet book lock").view(&self.local.to_string(), &own, now_ms)
    }

    /// The status as a reader sees it (its routine figures kept fresh while
    /// anyone reads: see `p2p::status`).
    pub fn status(&self) -> PeerStatus {
        self.status.looked_at()
    }

    pub fn status_handle(&self) -> NodeStatusHandle {
        self.status.clone()
    }

    /// Whether the publisher of an entry from a peer is one this node
    /// trusts (an untrusted one's GitHub answer is only a body to confirm).
    pub fn trusts_publisher(&self, entry: &Entry) -> bool {
        self.trust.trusts_publisher(entry)
    }

    /// The connected peers this node trusts (whom it asks for pieces).
    pub fn trusted_peers(&self) -> Vec<libp2p::PeerId> {
        let peers = self.status.current().peers;
        peers.iter().filter_map(|peer| peer.peer_id.parse().ok()).filter(|peer| self.trust.trusts(peer)).collect()
    }

    /// Asks `peer` for a piece (or what it holds): `None` when it did not answer.
    pub async fn piece(&self, peer: libp2p::PeerId, request: PieceRequest) -> Option<PieceResponse> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Piece { peer, request, reply }).await.ok()?;
        tokio::time::timeout(Duration::from_secs(15), answer).await.ok()?.ok()?
    }

    /// Asks the connected peers for `key`, waiting at most the fetch timeout.
    pub async fn fetch(&self, key: &str) -> Option<Entry> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Fetch { key: key.to_owned(), reply }).await.ok()?;
        tokio::time::timeout(self.fetch_timeout, answer).await.ok()?.ok()?
    }

    pub async fn dial(&self, addr: Multiaddr) -> Result<(), String> {
        self.dial_command(addr, false).await
    }

    /// Dials and waits for the result: connected, or why not; "no answer"
    /// when neither came within `wait`.
    pub async fn connect(&self, addr: Multiaddr, wait: Duration) -> Result<(), String> {
        tokio::time::timeout(wait, self.dial_command(addr, true)).await.unwrap_or_else(|_| {
            Err(format!("no answer within {} s (a firewall dropping 9100/tcp looks like this)", wait.as_secs()))
        })
    }

    async fn dial_command(&self, addr: Multiaddr, wait: bool) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        let stopped = |_| "the P2P node has stopped".to_owned();
        self.commands
            .send(Command::Dial { addr, wait, reply })
            .await
            .map_err(|_| "the P2P node has stopped".to_owned())?;
        answer.await.map_err(stopped)?
    }

    /// Asks the key's coordinator whether to fetch it or wait for a peer's
    /// fetch. Without peers (or without an answer) the answer is to fetch.
    pub async fn lease(&self, key: &str) -> LeaseAnswer {
        if self.status.current().peer_count == 0 {
            return LeaseAnswer::Fetch;
        }
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Lease { key: key.to_owned(), reply }).await.is_err() {
            return LeaseAnswer::Fetch;
        }
        match tokio::time::timeout(self.fetch_timeout, answer).await {
            Ok(Ok(answer)) => answer,
            _ => {
                tracing::info!(key, "the lease's coordinator did not answer in time");
                LeaseAnswer::Unanswered
            }
        }
    }

    /// This node waited for `holder`'s entry until its wait ran out: it is
    /// not waited on again for a while (a holder that takes leases and never
    /// publishes, or a coordinator naming one, stalls a miss once).
    pub async fn stalled(&self, holder: &str) {
        let _ = self.commands.send(Command::Stalled { holder: holder.to_owned() }).await;
    }

    /// Gives the lease of `key` back, having `stored` its entry or not.
    pub async fn release(&self, key: &str, stored: bool) {
        let _ = self.commands.send(Command::Release { key: key.to_owned(), stored }).await;
    }

    /// Tells the group that answers under `prefixes` from before `at_ms` are
    /// stale, because of a write (narrow GitHub prefixes).
    pub async fn invalidate(&self, prefixes: Vec<String>, at_ms: u64) {
        let _ = self.commands.send(Command::Invalidate { cause: Cause::Write, prefixes, at_ms, told: None }).await;
    }

    /// Tells the group an operator invalidated `patterns` (keys or prefixes,
    /// `""` alone for everything) at `at_ms`: `invalidate --fleet`. Answers
    /// how many peers it went to; fails when the node has stopped.
    pub async fn invalidate_fleet(&self, patterns: Vec<String>, at_ms: u64) -> Result<usize, String> {
        let (told, peers) = oneshot::channel();
        let stopped = || "the P2P node has stopped".to_owned();
        let command = Command::Invalidate { cause: Cause::Operator, prefixes: patterns, at_ms, told: Some(told) };
        self.commands.send(command).await.map_err(|_| stopped())?;
        peers.await.map_err(|_| stopped())
    }

    /// Counts `rejection` against `peer` (dropped when the node is too busy to hear it).
    pub fn report(&self, peer: String, rejection: Rejection) {
        let _ = self.commands.try_send(Command::Report { peer, rejection });
    }

    #[cfg(feature = "test-hooks")]
    pub async fn publish_raw(&self, bytes: Vec<u8>) {
        let _ = self.commands.send(Command::PublishRaw(bytes)).await;
    }

    /// Panics the event loop, as a bug would (for tests of its supervisor).
    #[cfg(feature = "test-hooks")]
    pub async fn inject_panic(&self) {
        let _ = self.commands.send(Command::Panic).await;
    }
}

/// Fetch-on-miss: what a peer answers enters the cache through its one
/// write path, and only what was stored comes back.
impl NodeClient {
    /// A fresh entry here, else from the peers (stored here first); counted
    /// as one lookup (a hit, a peer hit, or a miss).
    pub async fn lookup(&self, cache: &Arc<Cache>, key: &str) -> Option<Arc<Entry>> {
        let found = match cache.fresh(key) {
            Some(hit) => Some(hit),
            None => self.fetch_stored(cache, key).await,
        };
        cache.count(key, Lookup::of_entry(found.as_deref()));
        found
    }

    /// Asks the peers for `key`; what one has is stored, and only what was
    /// stored is returned: a copy the cache refuses (barred by a write, too
    /// large) or cannot store is never served. Counts nothing: the caller
    /// counts the lookup.
    pub async fn fetch_stored(&self, cache: &Arc<Cache>, key: &str) -> Option<Arc<Entry>> {
        validate_key(key).ok()?;
        let entry = self.fetch(key).await?;
        let from = entry.origin.label();
        let trust = self.trust.clone();
        match cache.write(move |cache| crate::p2p::store_from_peer(cache, &trust, entry)).await {
            Ok(entry) => Some(entry),
            Err(error) => {
                tracing::warn!(%error, key, from, "refused an entry a peer answered a miss with; not served");
                None
            }
        }
    }
}
