//! The core: what peercache does, apart from how it is asked. It owns the
//! cache, the P2P node's client and the GitHub proxy, implements the
//! dashboard's `Backend`, and makes every change the JSON API, the server
//! functions and the MCP tools ask for — one code path for all of them. It
//! answers in its own error type; only `http/` knows status codes.

pub mod auth;
pub mod doctor;
pub mod error;
pub mod fleet;
pub mod history;
pub mod tasks;

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use app::api::{Backend, Failure, Pending};
use app::model::{
    bytes_to_mb, hit_rate, CacheStats, EntryPage, EntryView, ErrorKind, FleetStats, FleetView, History, Invalidated,
    Invalidation, MemoryUse, NodeInfo, PeerStatus, ProxyStats, Reach, Sample, Stored,
};
use bytes::Bytes;
use prometheus_client::registry::Registry;

use self::error::CoreError;
use self::history::SampleRing;
use crate::assets::{Assets, AssetsConfig};
use crate::blobs::Blobs;
use crate::cache::key::{is_github_key, GITHUB_NAMESPACE};
use crate::cache::store::{StoreError, PAGE_CACHE_BYTES};
use crate::cache::ttl::Clock;
use crate::cache::ttl::MAX_TTL_SECS;
use crate::cache::{Cache, PutOptions};
use crate::config::ServeConfig;
use crate::github::proxy::{GithubProxy, ProxyConfig};
use crate::github::scope::Scopes;
use crate::p2p::bootstrap::parse_peer_addr;
use crate::p2p::client::NodeClient;
use crate::p2p::identity::{load_or_create_identity, read_swarm_key};
use crate::p2p::protocol::MAX_CLOCK_SKEW_MS;
use crate::p2p::status::NodeStatusHandle;
use crate::p2p::{self, NodeConfig};

/// The longest a `connect --wait` waits for the connection.
pub const MAX_CONNECT_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Core {
    pub cache: Arc<Cache>,
    /// The P2P node's status, as its event loop last published it.
    pub status: NodeStatusHandle,
    /// The running P2P node, when enabled.
    pub p2p: Option<NodeClient>,
    pub github: Arc<GithubProxy>,
    /// Release assets and archives, and their blob store.
    pub assets: Arc<Assets>,
    /// The token changes need; `None` leaves them open (only allowed on loopback).
    admin_token: Option<Arc<str>>,
    /// Largest request body the API takes.
    pub max_body: usize,
    started_ms: u64,
    /// Counter samples for the charts.
    pub history: Arc<SampleRing>,
    pub sample_period: Duration,
    /// How often this node's summary goes to the fleet.
    pub fleet_summary_period: Duration,
    /// The socket `gh` is served on, once it listens.
    pub gh_socket: Arc<std::sync::OnceLock<String>>,
    /// What `diagnose` looks at.
    pub settings: Arc<doctor::Settings>,
}

impl Core {
    /// Opens the cache and, when enabled, starts the P2P node (so it must be
    /// called inside a tokio runtime), registering libp2p's metrics in
    /// `registry`. Time comes from `clock`.
    pub fn new(config: &ServeConfig, clock: Arc<dyn Clock>, registry: &mut Registry) -> anyhow::Result<Core> {
        let admin_token = config.admin_token()?.map(Arc::from);
        if admin_token.is_none() && !config.http_addr.ip().is_loopback() {
            bail!(
                "refusing to listen on {} (not loopback) without PEERCACHE_ADMIN_TOKEN: \
                 anyone who can reach it could change the cache",
                config.http_addr
            );
        }
        let cache = Arc::new(open_cache(config, clock.clone())?);
        let blobs_dir = config.cache_dir().join("blobs");
        let blobs = Blobs::open(&blobs_dir, config.asset_budget, config.asset_max_bytes)
            .map_err(|e| anyhow::anyhow!("opening the blob store in {}: {e}", blobs_dir.display()))?;
        let blobs = Arc::new(blobs);
        let p2p = if config.p2p_enabled() {
            // It names its families `libp2p_…` itself.
            let libp2p_metrics = libp2p::metrics::Metrics::new(registry);
            Some(start_node(config, cache.clone(), libp2p_metrics, blobs.clone())?)
        } else {
            None
        };
        let swarm_key_text = config.swarm_key.as_deref().and_then(|path| std::fs::read_to_string(path).ok());
        let github = GithubProxy::new(
            ProxyConfig {
                upstream: config.github_api_url.clone(),
                default_ttl_secs: config.default_ttl,
                max_body: config.proxy_max_body,
                scopes: Scopes::new(config.cache_secret.as_deref(), swarm_key_text.as_deref(), config.confirm.shares()),
                confirm: config.confirm,
                freshness: config.freshness,
                public_url: config.public_url.clone(),
                graphql_ttl_secs: config.graphql_ttl,
                fleet_single_flight: config.fleet_single_flight,
                fleet_wait: Duration::from_millis(config.fleet_wait_ms),
            },
            cache.clone(),
            p2p.clone(),
        )?;
        registry.register(
            "proxy_answer_seconds",
            "Seconds from a /github request's arrival to its answer, by X-Peercache mode",
            github.counters.latency.clone(),
        );
        let github = Arc::new(github);
        let assets = Assets::new(
            AssetsConfig { upstream: config.github_api_url.clone(), hosts: config.asset_hosts.clone() },
            blobs,
            github.clone(),
            p2p.clone(),
        )?;
        Ok(Core {
            assets: Arc::new(assets),
            github,
            status: p2p.as_ref().map_or_else(p2p::disabled_by_config, NodeClient::status_handle),
            p2p,
            admin_token,
            max_body: config.max_body,
            started_ms: clock.now_ms(),
            cache,
            history: Arc::default(),
            sample_period: config.sample_period(),
            fleet_summary_period: config.fleet_summary_period(),
            gh_socket: Arc::default(),
            settings: Arc::new(doctor::Settings {
                swarm_key: config.swarm_key.clone(),
                bootstrap: config.bootstrap_peers.clone(),
                gh_socket: config.gh_socket_path(),
                cache_dir: config.cache_dir(),
            }),
        })
    }

    /// Whether changes need the admin token.
    pub fn admin_required(&self) -> bool {
        self.admin_token.is_some()
    }

    /// Passes when changes are open, or `presented` is the admin token.
    pub fn authorize(&self, presented: &str) -> Result<(), CoreError> {
        auth::check_token(self.admin_token.as_deref(), presented)
    }
}

/// What the JSON API, the dashboard and the MCP tools read and change: one
/// code path for all of them.
impl Core {
    /// What the node keeps in memory besides its entries, and its bounds.
    pub fn memory_use(&self) -> MemoryUse {
        let (ready_answers, ready_bytes) = self.github.ready_usage();
        MemoryUse {
            page_cache_bytes: PAGE_CACHE_BYTES as u64,
            ready_answers: ready_answers as u64,
            ready_bytes: ready_bytes as u64,
            ready_budget_bytes: crate::github::ready::BUDGET as u64,
        }
    }

    /// The fresh entry under `key`, here or (on a local miss) at a peer: a
    /// lookup, counted as a hit or a miss.
    pub async fn lookup(&self, key: &str) -> Result<EntryView, CoreError> {
        let found = match &self.p2p {
            Some(node) => node.lookup(&self.cache, key).await,
            None => self.cache.get(key),
        };
        let entry = found
            .ok_or_else(|| CoreError::not_found(format!("no fresh cache entry under {key:?} here or at any peer")))?;
        Ok(entry.view(self.cache.now_ms()))
    }

    /// Stores a JSON value under `key` through the generic cache API. GitHub
    /// answers are not written here: only the proxy writes them, from GitHub.
    pub async fn put_entry(&self, key: String, value: Bytes, ttl_secs: Option<u64>) -> Result<Stored, CoreError> {
        if is_github_key(&key) {
            return Err(CoreError::forbidden(format!(
                "keys under {GITHUB_NAMESPACE:?} are GitHub's answers: only the proxy writes them, from GitHub's \
                 response, so nobody can plant an answer the fleet would serve; use another prefix for your own data"
            )));
        }
        if ttl_secs.is_some_and(|ttl| ttl > MAX_TTL_SECS) {
            return Err(CoreError::invalid(format!("ttl must be at most {MAX_TTL_SECS} s (a week)")));
        }
        if value.len() > self.max_body {
            return Err(CoreError::too_large(format!("the body is larger than the {} byte limit", self.max_body)));
        }
        let options = PutOptions { ttl_secs, ..PutOptions::default() };
        let entry = self.cache.write(move |cache| cache.put(&key, value, options)).await?;
        Ok(Stored { key: entry.key.clone(), cid: entry.cid.clone(), size: entry.value.len(), ttl_secs: entry.ttl_secs })
    }

    /// Removes one key, every key with a prefix, or everything — the last
    /// only when asked for by name (an empty key or prefix is refused). With
    /// `Reach::Fleet`, also tells every peer, signed: each drops its copies
    /// and raises the same barrier (a prefix or everything, not one key).
    pub async fn invalidate(&self, target: Invalidation, reach: Reach) -> Result<Invalidated, CoreError> {
        if matches!(&target, Invalidation::Key(p) | Invalidation::Prefix(p) if p.is_empty()) {
            return Err(CoreError::invalid("an empty key or prefix: to drop every entry, ask for all of them"));
        }
        let node = match reach {
            Reach::Node => None,
            Reach::Fleet if matches!(target, Invalidation::Key(_)) => {
                return Err(CoreError::invalid("a fleet-wide invalidation takes a prefix (give the key as one)"))
            }
            Reach::Fleet => Some(self.p2p.as_ref().ok_or_else(|| {
                let why = self.status.current().reason.unwrap_or_else(|| "the P2P node is not running".into());
                CoreError::new(ErrorKind::Unavailable, format!("cannot tell the fleet: {why}; nothing was invalidated"))
            })?),
        };
        let pattern = target.pattern().to_owned();
        // A barrier as for a write: peers may not hand back a copy from
        // before this moment (they would at once: they hold what we dropped).
        let at = self.cache.now_ms();
        let until = at.saturating_add(MAX_TTL_SECS * 1000 + MAX_CLOCK_SKEW_MS);
        let invalidated = self
            .cache
            .write(move |cache| match &target {
                Invalidation::Key(key) => cache.invalidate_barred(key, at, until).map(usize::from),
                Invalidation::Prefix(prefix) => cache.write_barrier(prefix, at, until),
                Invalidation::All => cache.write_barrier("", at, until),
            })
            .await?;
        let told_peers = match node {
            Some(node) => Some(node.invalidate_fleet(vec![pattern.clone()], at).await.map_err(|why| {
                CoreError::new(ErrorKind::Unavailable, format!("{why}: only this node's copies were dropped"))
            })?),
            None => None,
        };
        let warning = self.cache.store_trouble().map(|why| {
            format!("the cache store could not be written ({why}): the entries are gone from memory and reach the disk when it takes writes again")
        });
        Ok(Invalidated { invalidated, pattern, told_peers, warning })
    }

    /// Dials the peer at `multiaddr` (which must end in `/p2p/<peer id>`);
    /// answers the address being dialed.
    pub async fn dial_peer(&self, multiaddr: &str) -> Result<String, CoreError> {
        let (node, addr) = self.dialable(multiaddr)?;
        node.dial(addr.clone()).await.map_err(CoreError::invalid)?;
        Ok(addr.to_string())
    }

    /// Dials the peer and waits, at most `wait`, until it is connected;
    /// fails with why not (`connect --wait`).
    pub async fn connect_peer(&self, multiaddr: &str, wait: Duration) -> Result<String, CoreError> {
        let (node, addr) = self.dialable(multiaddr)?;
        node.connect(addr.clone(), wait.min(MAX_CONNECT_WAIT))
            .await
            .map_err(|why| CoreError::new(ErrorKind::Unavailable, format!("could not connect to {addr}: {why}")))?;
        Ok(addr.to_string())
    }

    fn dialable(&self, multiaddr: &str) -> Result<(&NodeClient, libp2p::Multiaddr), CoreError> {
        let peer = parse_peer_addr(multiaddr)
            .map_err(|why| CoreError::invalid(format!("invalid multiaddr {multiaddr:?}: {why}")))?;
        let node = self.p2p.as_ref().ok_or_else(|| {
            let reason = self.status.current().reason.unwrap_or_else(|| "the P2P node is not running".into());
            CoreError::new(ErrorKind::Unavailable, reason)
        })?;
        Ok((node, peer.addr))
    }

    /// The counters as they are now, as one chart sample.
    pub fn sample(&self) -> Sample {
        let counters = self.cache.stats().counters;
        Sample {
            at_ms: self.cache.now_ms(),
            requests: counters.total_requests(),
            hits: counters.total_hits(),
            upstream_calls: counters.api_calls_made,
            calls_saved: counters.api_calls_saved,
            peers: self.status.current().peer_count,
        }
    }
}

/// The persistent cache; in memory only (with an error in the log) when the
/// store cannot be had, so the server keeps serving. A store another process
/// holds is a configuration mistake and stops the start.
fn open_cache(config: &ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Cache> {
    let cache_config = config.cache();
    match Cache::open(cache_config.clone(), clock.clone()) {
        Ok(cache) => Ok(cache),
        Err(error @ StoreError::InUse { .. }) => {
            bail!("{error}; give each peercache its own CACHE_DIR")
        }
        Err(error) => {
            tracing::error!(%error, "cache store unavailable: caching in memory only until restart");
            Ok(Cache::in_memory(cache_config, clock))
        }
    }
}

fn start_node(
    config: &ServeConfig,
    cache: Arc<Cache>,
    metrics: libp2p::metrics::Metrics,
    blobs: Arc<Blobs>,
) -> anyhow::Result<NodeClient> {
    let swarm_key = config.swarm_key.as_deref().map(read_swarm_key).transpose()?;
    p2p::start(
        NodeConfig {
            trusted_peers: p2p::parse_trusted_peers(&config.trusted_peers)?,
            unconfirmed_github: config.confirm.shares(),
            identity: load_or_create_identity(&config.cache_dir())?,
            listen_host: config.p2p_host,
            port: config.p2p_port,
            bootstrap: config.bootstrap_peers.clone(),
            mdns: config.mdns,
            swarm_key,
            fetch_timeout: Duration::from_millis(config.peer_timeout_ms),
            fleet_gone_after: crate::fleet::summary::gone_after(config.fleet_summary_period()),
            fanout: config.peer_fanout,
            max_entry_bytes: config.max_bytes,
            metrics: Some(metrics),
            blobs: Some(blobs),
        },
        cache,
    )
}

impl Backend for Core {
    fn peer_status(&self) -> PeerStatus {
        self.status.looked_at()
    }

    fn assets(&self) -> app::model::AssetsView {
        self.assets.view()
    }

    fn cache_stats(&self) -> CacheStats {
        let cache = self.cache.stats();
        let node = self.status.current();
        let counters = cache.counters;
        CacheStats {
            available: true,
            persistent: cache.persistent,
            store_trouble: cache.store_trouble,
            cache_dir: cache.dir.map(|d| d.display().to_string()).unwrap_or_default(),
            total_entries: cache.entries,
            total_size_bytes: cache.size_bytes,
            total_size_mb: bytes_to_mb(cache.size_bytes),
            max_entries: cache.max_entries,
            max_size_bytes: cache.max_bytes,
            hit_rate: hit_rate(counters.total_hits(), counters.total_requests()),
            local_hits: counters.local_hits,
            peer_hits: counters.peer_hits,
            total_hits: counters.total_hits(),
            misses: counters.misses,
            total_misses: counters.misses,
            total_requests: counters.total_requests(),
            expirations: counters.expirations,
            evictions: counters.evictions,
            api_calls_made: counters.api_calls_made,
            api_calls_saved: counters.api_calls_saved,
            p2p_enabled: node.enabled,
            p2p_peers: node.peer_count,
            operations: counters.operations,
            api_call_log: counters.api_call_log,
            proxy: self.proxy_stats(),
            memory: self.memory_use(),
        }
    }

    fn node_info(&self) -> NodeInfo {
        NodeInfo {
            name: host_name(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            peer_id: self.status.current().peer_id,
            uptime_secs: self.cache.now_ms().saturating_sub(self.started_ms) / 1000,
            admin_required: self.admin_required(),
            gh_socket: self.gh_socket.get().cloned(),
            upstream: self.github.upstream().to_owned(),
        }
    }

    fn fleet(&self) -> FleetView {
        Core::fleet(self)
    }

    fn history(&self) -> History {
        let mut samples = self.history.snapshot();
        samples.push(self.sample());
        History { period_ms: self.sample_period.as_millis() as u64, samples }
    }

    fn list_entries(&self, prefix: &str, offset: usize, limit: usize) -> EntryPage {
        self.cache.list(prefix, offset, limit)
    }

    fn entry_json(&self, key: &str) -> Result<String, Failure> {
        let entry = self.cache.peek(key).ok_or_else(|| {
            CoreError::not_found(format!("no entry under {key:?} on this node (expired or invalidated?)"))
        })?;
        serde_json::to_string_pretty(&entry.view(self.cache.now_ms()))
            .map_err(|e| CoreError::new(ErrorKind::Internal, e.to_string()).into())
    }

    fn invalidate(&self, target: Invalidation, reach: Reach, admin_token: String) -> Pending<Invalidated> {
        let core = self.clone();
        Box::pin(async move {
            core.authorize(&admin_token)?;
            Ok(core.invalidate(target, reach).await?)
        })
    }

    fn connect_peer(&self, multiaddr: String, admin_token: String) -> Pending<String> {
        let core = self.clone();
        Box::pin(async move {
            core.authorize(&admin_token)?;
            Ok(core.dial_peer(&multiaddr).await?)
        })
    }

    fn proxy_stats(&self) -> ProxyStats {
        let now = self.cache.now_ms();
        ProxyStats {
            upstream_calls: self.cache.stats().counters.api_calls_made,
            modes: self.github.counters.modes(),
            calls_saved_last_hour: self.github.counters.saved_last_hour(now),
            rate_limits: self.github.limits.snapshot(now),
            seal_mismatches: self.github.counters.seal_mismatches.load(std::sync::atomic::Ordering::Relaxed),
            freshness: self.github.freshness.as_str().to_owned(),
            fleet: FleetStats {
                enabled: self.github.fleet_single_flight && self.p2p.is_some(),
                leases_granted: self.status.current().leases_granted,
                waits: self.github.counters.fleet_waits.load(std::sync::atomic::Ordering::Relaxed),
                wait_timeouts: self.github.counters.fleet_wait_timeouts.load(std::sync::atomic::Ordering::Relaxed),
            },
            upstream_errors: self.github.counters.upstream_errors(),
            confirm: self.github.confirmations.snapshot(self.github.confirm, self.github.shares_tokens()),
            free_confirmations_last_hour: self.github.counters.free_last_hour(now),
        }
    }
}

/// The machine's host name, as the kernel knows it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "peercache".to_owned())
}
