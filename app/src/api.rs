//! Server functions: the dashboard's only way to the backend. Their bodies run
//! on the server and ask the request context for the [`Backend`], the same
//! object the JSON API uses, so both always report the same numbers and make
//! the same changes.

use leptos::prelude::*;
use leptos::server_fn::codec::{GetUrl, Json};

#[cfg(feature = "ssr")]
use crate::model::ErrorKind;
use crate::model::{
    AssetsView, CacheStats, EntryPage, FleetView, History, Invalidated, Invalidation, NodeInfo, PeerStatus, ProxyStats,
    Reach,
};

/// Why the backend could not do what was asked: the kind decides the status
/// code, the message is what a person reads.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

/// A change the backend makes on the dashboard's behalf, answered later.
#[cfg(feature = "ssr")]
pub type Pending<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, Failure>> + Send>>;

/// What the dashboard needs from the server. Defined here, implemented by the
/// `server` crate over the real cache and P2P node, so `app` never depends on
/// `server`. Changes take the admin token the user typed (empty for none) and
/// fail with the JSON API's words (and status) when it is needed and wrong.
#[cfg(feature = "ssr")]
pub trait Backend: Send + Sync + 'static {
    fn peer_status(&self) -> PeerStatus;
    fn cache_stats(&self) -> CacheStats;
    fn proxy_stats(&self) -> ProxyStats;
    fn node_info(&self) -> NodeInfo;
    fn history(&self) -> History;
    /// Every node of the fleet as its summary says, and the totals.
    fn fleet(&self) -> FleetView;
    /// Release assets and archives: the blob store and its downloads.
    fn assets(&self) -> AssetsView;
    fn list_entries(&self, prefix: &str, offset: usize, limit: usize) -> EntryPage;
    /// The entry as `GET /api/cache/entry` shows it, pretty-printed; not
    /// found when this node does not hold it. Does not count as a lookup.
    fn entry_json(&self, key: &str) -> Result<String, Failure>;
    /// Removes what `target` names, here or on every node.
    fn invalidate(&self, target: Invalidation, reach: Reach, admin_token: String) -> Pending<Invalidated>;
    /// Dials a peer; answers the address being dialed.
    fn connect_peer(&self, multiaddr: String, admin_token: String) -> Pending<String>;
}

#[cfg(feature = "ssr")]
pub type SharedBackend = std::sync::Arc<dyn Backend>;

#[cfg(feature = "ssr")]
fn backend() -> Result<SharedBackend, ServerFnError> {
    use_context::<SharedBackend>()
        .ok_or_else(|| ServerFnError::new("the peercache backend is not in the request context"))
}

/// A backend failure as the server function's answer: the status of its kind
/// (401, 404, ... as the JSON API answers) and its words.
#[cfg(feature = "ssr")]
fn failed(failure: Failure) -> ServerFnError {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = http::StatusCode::from_u16(failure.kind.status()) {
            response.set_status(status);
        }
    }
    ServerFnError::new(failure.message)
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

/// The fleet's nodes and totals (`GET /sfn/fleet`).
#[server(prefix = "/sfn", endpoint = "fleet", input = GetUrl)]
pub async fn get_fleet() -> Result<FleetView, ServerFnError> {
    Ok(backend()?.fleet())
}

/// The blob store and its downloads (`GET /sfn/assets`).
#[server(prefix = "/sfn", endpoint = "assets", input = GetUrl)]
pub async fn get_assets() -> Result<AssetsView, ServerFnError> {
    Ok(backend()?.assets())
}

/// The last hour of counter samples (`GET /sfn/history`).
#[server(prefix = "/sfn", endpoint = "history", input = GetUrl)]
pub async fn get_history() -> Result<History, ServerFnError> {
    Ok(backend()?.history())
}

/// One page of cache entries whose keys start with `prefix`, sorted by key
/// (at most `MAX_PAGE` of them, however many are asked for).
#[server(prefix = "/sfn", endpoint = "entries", input = GetUrl)]
pub async fn list_entries(prefix: String, offset: usize, limit: usize) -> Result<EntryPage, ServerFnError> {
    Ok(backend()?.list_entries(&prefix, offset, limit))
}

/// One entry, as pretty JSON.
#[server(prefix = "/sfn", endpoint = "entry", input = GetUrl)]
pub async fn get_entry_json(key: String) -> Result<String, ServerFnError> {
    backend()?.entry_json(&key).map_err(failed)
}

/// Invalidates one key, a prefix or everything, here or (with `"reach":
/// "fleet"`) on every node (`POST /sfn/invalidate`). Changes travel as JSON,
/// which a cross-site form cannot send.
#[server(prefix = "/sfn", endpoint = "invalidate", input = Json)]
pub async fn invalidate(
    target: Invalidation,
    #[server(default)] reach: Reach,
    admin_token: String,
) -> Result<Invalidated, ServerFnError> {
    backend()?.invalidate(target, reach, admin_token).await.map_err(failed)
}

/// Dials a peer by multiaddr (`POST /sfn/connect_peer`).
#[server(prefix = "/sfn", endpoint = "connect_peer", input = Json)]
pub async fn connect_peer(multiaddr: String, admin_token: String) -> Result<String, ServerFnError> {
    backend()?.connect_peer(multiaddr, admin_token).await.map_err(failed)
}

/// What went wrong, in the server's own words when it said something.
pub fn failure_words(error: &ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}
