//! The application state every handler shares, and its `Backend` face: the one
//! code path behind both the JSON API and the dashboard's server functions.

use std::sync::Arc;

use app::api::Backend;
use app::model::{bytes_to_mb, hit_rate, CacheStats, PeerStatus};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::cache::Cache;
use crate::config::ServeConfig;
use crate::p2p::status::NodeStatusHandle;

#[derive(Clone)]
pub struct AppState {
    pub cache: Arc<Cache>,
    pub node: NodeStatusHandle,
    pub leptos_options: LeptosOptions,
}

impl AppState {
    pub fn new(config: &ServeConfig) -> Self {
        let site_root = config.site_root();
        let leptos_options = LeptosOptions::builder()
            .output_name("peercache")
            .site_root(site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(config.http_addr)
            .build();
        AppState {
            cache: Arc::new(Cache::new()),
            node: NodeStatusHandle::not_started(),
            leptos_options,
        }
    }
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
        let requests = cache.hits + cache.misses;
        CacheStats {
            available: true,
            total_entries: cache.entries,
            total_size_mb: bytes_to_mb(cache.size_bytes),
            hit_rate: hit_rate(cache.hits, requests),
            total_hits: cache.hits,
            total_misses: cache.misses,
            total_requests: requests,
            p2p_enabled: node.enabled,
            p2p_peers: node.peer_count,
        }
    }
}
