//! The application state every handler shares, and its `Backend` face: the one
//! code path behind both the JSON API and the dashboard's server functions.

use std::sync::Arc;

use anyhow::bail;
use app::api::{Backend, Pending};
use app::model::{
    bytes_to_mb, hit_rate, CacheStats, EntryPage, History, Invalidated, NodeInfo, PeerStatus, ProxyStats, Sample,
};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::cache::store::StoreError;
use crate::cache::ttl::SystemClock;
use crate::cache::Cache;
use crate::cache::CacheError;
use crate::config::ServeConfig;
use crate::github::proxy::{GithubProxy, ProxyConfig};
use crate::github::scope::Scopes;
use crate::history::{SampleRing, SAMPLE_PERIOD};
use crate::http::admin;
use crate::http::errors::ApiError;
use crate::http::metrics::{new_registry, StatsCollector};
use crate::p2p::client::NodeClient;
use crate::p2p::identity::{load_or_create_identity, read_swarm_key};
use crate::p2p::bootstrap::parse_peer_addr;
use crate::p2p::status::NodeStatusHandle;
use crate::p2p::{self, NodeConfig};

#[derive(Clone)]
pub struct AppState {
    pub cache: Arc<Cache>,
    pub node: NodeStatusHandle,
    /// The running P2P node, when enabled.
    pub p2p: Option<NodeClient>,
    pub github: Arc<GithubProxy>,
    /// Prometheus registry behind `/metrics`.
    pub metrics: Arc<prometheus_client::registry::Registry>,
    pub leptos_options: LeptosOptions,
    /// Token mutating endpoints require; `None` when the listener is loopback.
    pub admin_token: Option<Arc<str>>,
    pub max_body: usize,
    pub started: std::time::Instant,
    /// The last hour of counter samples, for the charts.
    pub history: Arc<SampleRing>,
}

impl AppState {
    /// Opens the cache and, when enabled, starts the P2P node (so it must be
    /// called inside a tokio runtime).
    pub fn new(config: &ServeConfig) -> anyhow::Result<Self> {
        let admin_token = if config.http_addr.ip().is_loopback() {
            None
        } else {
            match config.admin_token.as_deref() {
                Some(token) if !token.is_empty() => Some(Arc::from(token)),
                _ => bail!(
                    "refusing to listen on {} (not loopback) without PEERCACHE_ADMIN_TOKEN: \
                     anyone who can reach it could change the cache",
                    config.http_addr
                ),
            }
        };
        let site_root = config.site_root();
        let leptos_options = LeptosOptions::builder()
            .output_name("peercache")
            .site_root(site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(config.http_addr)
            .build();
        let cache = Arc::new(open_cache(config)?);
        let mut registry = new_registry();
        let p2p = if config.p2p_enabled() {
            let libp2p_metrics = libp2p::metrics::Metrics::new(registry.sub_registry_with_prefix("libp2p"));
            Some(start_node(config, cache.clone(), libp2p_metrics)?)
        } else {
            None
        };
        let swarm_key_text = config.swarm_key.as_deref().and_then(|path| std::fs::read_to_string(path).ok());
        let github = GithubProxy::new(
            ProxyConfig {
                upstream: config.github_api_url.clone(),
                default_ttl_secs: config.default_ttl,
                max_body: config.proxy_max_body,
                scopes: Scopes::new(config.cache_secret.as_deref(), swarm_key_text.as_deref()),
            },
            cache.clone(),
            p2p.clone(),
        )?;
        let mut state = AppState {
            github: Arc::new(github),
            metrics: Arc::default(),
            cache,
            node: p2p.as_ref().map_or_else(p2p::disabled_by_config, NodeClient::status_handle),
            p2p,
            leptos_options,
            admin_token,
            max_body: config.max_body,
            started: std::time::Instant::now(),
            history: Arc::default(),
        };
        // The collector reads the same figures as the JSON API, at scrape time.
        registry.register_collector(Box::new(StatsCollector::new(Arc::new(state.clone()))));
        state.metrics = Arc::new(registry);
        Ok(state)
    }
}

/// The changes the JSON API and the dashboard make, one code path for both.
impl AppState {
    /// Removes one key (`exact`) or every key starting with `pattern`.
    pub async fn invalidate_entries(&self, pattern: String, exact: bool) -> Result<Invalidated, ApiError> {
        let target = pattern.clone();
        let invalidated = self
            .write_cache(move |cache| {
                if exact {
                    cache.invalidate(&target).map(usize::from)
                } else {
                    cache.invalidate_prefix(&target)
                }
            })
            .await?;
        Ok(Invalidated { invalidated, pattern })
    }

    /// Dials the peer at `multiaddr` (which must end in `/p2p/<peer id>`);
    /// answers the address being dialed.
    pub async fn dial_peer(&self, multiaddr: &str) -> Result<String, ApiError> {
        let peer = parse_peer_addr(multiaddr)
            .map_err(|why| ApiError::BadRequest(format!("invalid multiaddr {multiaddr:?}: {why}")))?;
        let node = self.p2p.as_ref().ok_or_else(|| {
            ApiError::Unavailable(self.node.current().reason.unwrap_or_else(|| "the P2P node is not running".into()))
        })?;
        node.dial(peer.addr.clone()).await.map_err(ApiError::BadRequest)?;
        Ok(peer.addr.to_string())
    }

    /// Runs a cache write (it commits to disk) off the async workers.
    pub async fn write_cache<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Cache) -> Result<T, CacheError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || write(&cache))
            .await
            .map_err(|e| ApiError::Internal(format!("cache write task failed: {e}")))?
            .map_err(ApiError::from)
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
            peers: self.node.current().peer_count,
        }
    }

    /// Takes a sample now and then every `period` ([`SAMPLE_PERIOD`] when
    /// serving), for as long as the runtime lives.
    pub fn spawn_sampler(&self, period: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                state.history.push(state.sample());
            }
        })
    }
}

/// The persistent cache; in memory only (with an error in the log) when the
/// store cannot be had, so the server keeps serving. A store another process
/// holds is a configuration mistake and stops the start.
fn open_cache(config: &ServeConfig) -> anyhow::Result<Cache> {
    let cache_config = config.cache();
    match Cache::open(cache_config.clone(), Arc::new(SystemClock)) {
        Ok(cache) => Ok(cache),
        Err(error @ StoreError::InUse { .. }) => {
            bail!("{error}; give each peercache its own CACHE_DIR")
        }
        Err(error) => {
            tracing::error!(%error, "cache store unavailable: caching in memory only until restart");
            Ok(Cache::in_memory(cache_config, Arc::new(SystemClock)))
        }
    }
}

fn start_node(config: &ServeConfig, cache: Arc<Cache>, metrics: libp2p::metrics::Metrics) -> anyhow::Result<NodeClient> {
    let swarm_key = config.swarm_key.as_deref().map(read_swarm_key).transpose()?;
    p2p::start(
        NodeConfig {
            identity: load_or_create_identity(&config.cache_dir())?,
            listen_host: config.p2p_host,
            port: config.p2p_port,
            bootstrap: config.bootstrap_peers.clone(),
            mdns: config.mdns,
            swarm_key,
            fetch_timeout: std::time::Duration::from_millis(config.peer_timeout_ms),
            max_entry_bytes: config.max_bytes,
            metrics: Some(metrics),
        },
        cache,
    )
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl Backend for AppState {
    fn peer_status(&self) -> PeerStatus {
        self.node.current()
    }

    fn cache_stats(&self) -> CacheStats {
        let cache = self.cache.stats();
        let node = self.node.current();
        let counters = cache.counters;
        CacheStats {
            available: true,
            persistent: cache.persistent,
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
        }
    }

    fn node_info(&self) -> NodeInfo {
        NodeInfo {
            name: host_name(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            peer_id: self.node.current().peer_id,
            uptime_secs: self.started.elapsed().as_secs(),
            admin_required: self.admin_token.is_some(),
        }
    }

    fn history(&self) -> History {
        let mut samples = self.history.snapshot();
        samples.push(self.sample());
        History { period_secs: SAMPLE_PERIOD.as_secs(), samples }
    }

    fn list_entries(&self, prefix: &str, offset: usize, limit: usize) -> EntryPage {
        self.cache.list(prefix, offset, limit)
    }

    fn entry_json(&self, key: &str) -> Option<String> {
        let entry = self.cache.peek(key)?;
        serde_json::to_string_pretty(&entry.view(self.cache.now_ms())).ok()
    }

    fn invalidate(&self, pattern: String, exact: bool, admin_token: String) -> Pending<Invalidated> {
        let state = self.clone();
        Box::pin(async move {
            admin::check_token(&state, &admin_token).map_err(|e| e.to_string())?;
            state.invalidate_entries(pattern, exact).await.map_err(|e| e.to_string())
        })
    }

    fn connect_peer(&self, multiaddr: String, admin_token: String) -> Pending<String> {
        let state = self.clone();
        Box::pin(async move {
            admin::check_token(&state, &admin_token).map_err(|e| e.to_string())?;
            state.dial_peer(&multiaddr).await.map_err(|e| e.to_string())
        })
    }

    fn proxy_stats(&self) -> ProxyStats {
        let now = self.cache.now_ms();
        ProxyStats {
            upstream_calls: self.github.counters.upstream_calls.load(std::sync::atomic::Ordering::Relaxed),
            modes: self.github.counters.modes(),
            calls_saved_last_hour: self.github.counters.saved_last_hour(now),
            rate_limits: self.github.limits.snapshot(now),
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
