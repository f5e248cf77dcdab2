//! The JSON API under `/api`. Each handler asks the core and returns JSON.

use app::api::Backend;
use app::model::{CacheStats, Diagnosis, Dialing, FleetView, History, NodeInfo, PeerStatus};
use axum::body::{to_bytes, Body};
use axum::extract::{OriginalUri, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::core::error::CoreError;
use crate::http::admin::Admin;
use crate::http::cache_api;
use crate::http::errors::ApiError;
use crate::http::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/node", get(node))
        .route("/history", get(history))
        .route("/mcp/peers", get(peers))
        .route("/mcp/peers/connect", post(connect_peer))
        .route("/doctor", get(doctor))
        .route("/fleet", get(fleet))
        .route("/assets", get(assets))
        .route("/mcp/cache/stats", get(cache_stats))
        .merge(cache_api::routes())
        .fallback(not_found)
}

async fn node(State(state): State<AppState>) -> Json<NodeInfo> {
    Json(state.core.node_info())
}

async fn history(State(state): State<AppState>) -> Json<History> {
    Json(state.core.history())
}

async fn peers(State(state): State<AppState>) -> Json<PeerStatus> {
    Json(state.core.peer_status())
}

async fn assets(State(state): State<AppState>) -> Json<crate::assets::stats::AssetsView> {
    Json(state.core.assets.view())
}

async fn cache_stats(State(state): State<AppState>) -> Json<CacheStats> {
    Json(state.core.cache_stats())
}

#[derive(Deserialize)]
struct ConnectRequest {
    multiaddr: String,
    /// Wait this long (at most 30 s) for the connection, and answer
    /// whether it came up.
    #[serde(default)]
    wait_ms: Option<u64>,
}

/// Dials a peer: `{"multiaddr": "/ip4/.../tcp/9100/p2p/<id>"}`, with
/// `"wait_ms"` answering once it is connected (or failing with why not).
async fn connect_peer(_: Admin, State(state): State<AppState>, body: Body) -> Result<Json<Dialing>, ApiError> {
    let bytes = to_bytes(body, 64 * 1024).await.map_err(|_| CoreError::too_large("body over 64 KiB"))?;
    let request: ConnectRequest = serde_json::from_slice(&bytes)
        .map_err(|e| CoreError::invalid(format!("expected {{\"multiaddr\": \"...\"}}: {e}")))?;
    let dialing = match request.wait_ms {
        None => Dialing { dialing: state.core.dial_peer(&request.multiaddr).await?, connected: None },
        Some(ms) => {
            let wait = std::time::Duration::from_millis(ms);
            Dialing { dialing: state.core.connect_peer(&request.multiaddr, wait).await?, connected: Some(true) }
        }
    };
    Ok(Json(dialing))
}

/// Every node of the fleet, as its signed summary says, and their totals.
async fn fleet(State(state): State<AppState>) -> Json<FleetView> {
    Json(state.core.fleet())
}

/// `peercache doctor`'s view from the node (see `core::doctor`).
async fn doctor(State(state): State<AppState>) -> Json<Diagnosis> {
    Json(state.core.diagnose().await)
}

async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    CoreError::not_found(format!("no API endpoint at {}", uri.path())).into()
}
