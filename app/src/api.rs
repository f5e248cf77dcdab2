//! Server functions: the dashboard's only way to the backend. Their bodies run
//! on the server and ask the request context for the [`Backend`], the same
//! object the JSON API uses, so both always report the same numbers.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::model::{CacheStats, NodeInfo, PeerStatus, ProxyStats};

/// What the dashboard needs from the server. Defined here, implemented by the
/// `server` crate over the real cache and P2P node, so `app` never depends on
/// `server`.
#[cfg(feature = "ssr")]
pub trait Backend: Send + Sync + 'static {
    fn peer_status(&self) -> PeerStatus;
    fn cache_stats(&self) -> CacheStats;
    fn proxy_stats(&self) -> ProxyStats;
    fn node_info(&self) -> NodeInfo;
}

#[cfg(feature = "ssr")]
pub type SharedBackend = std::sync::Arc<dyn Backend>;

#[cfg(feature = "ssr")]
fn backend() -> Result<SharedBackend, ServerFnError> {
    use_context::<SharedBackend>()
        .ok_or_else(|| ServerFnError::new("the peercache backend is not in the request context"))
}

/// Status of the P2P node (`GET /sfn/peer_status`).
#[server(prefix = "/sfn", endpoint = "peer_status", input = GetUrl)]
pub async fn get_peer_status() -> Result<PeerStatus, ServerFnError> {
    Ok(backend()?.peer_status())
}

/// Cache statistics (`GET /sfn/cache_stats`).
#[server(prefix = "/sfn", endpoint = "cache_stats", input = GetUrl)]
pub async fn get_cache_stats() -> Result<CacheStats, ServerFnError> {
    Ok(backend()?.cache_stats())
}

/// The GitHub proxy's figures and rate limits (`GET /sfn/proxy_stats`).
#[server(prefix = "/sfn", endpoint = "proxy_stats", input = GetUrl)]
pub async fn get_proxy_stats() -> Result<ProxyStats, ServerFnError> {
    Ok(backend()?.proxy_stats())
}

/// Who this node is (`GET /sfn/node_info`).
#[server(prefix = "/sfn", endpoint = "node_info", input = GetUrl)]
pub async fn get_node_info() -> Result<NodeInfo, ServerFnError> {
    Ok(backend()?.node_info())
}
