//! The JSON API under `/api`. Each handler asks the `Backend` and returns JSON.

use app::api::Backend;
use app::model::{CacheStats, NodeInfo, PeerStatus};
use axum::extract::State;
use axum::extract::OriginalUri;
use axum::body::{to_bytes, Body};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use axum::{Json, Router};

use crate::http::admin::Admin;
use crate::http::cache_api;
use crate::p2p::bootstrap::parse_peer_addr;
use crate::http::errors::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/node", get(node))
        .route("/mcp/peers", get(peers))
        .route("/mcp/peers/connect", post(connect_peer))
        .route("/mcp/cache/stats", get(cache_stats))
        .merge(cache_api::routes())
        .fallback(not_found)
}

async fn node(State(state): State<AppState>) -> Json<NodeInfo> {
    Json(state.node_info())
}

async fn peers(State(state): State<AppState>) -> Json<PeerStatus> {
    Json(state.peer_status())
}

async fn cache_stats(State(state): State<AppState>) -> Json<CacheStats> {
    Json(state.cache_stats())
}

#[derive(Deserialize)]
struct ConnectRequest {
    multiaddr: String,
}

#[derive(Serialize)]
struct Dialing {
    dialing: String,
}

/// Dials a peer: `{"multiaddr": "/ip4/.../tcp/9100/p2p/<id>"}`.
async fn connect_peer(_: Admin, State(state): State<AppState>, body: Body) -> Result<Json<Dialing>, ApiError> {
    let bytes = to_bytes(body, 64 * 1024).await.map_err(|_| ApiError::PayloadTooLarge("body over 64 KiB".into()))?;
    let request: ConnectRequest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("expected {{\"multiaddr\": \"...\"}}: {e}")))?;
    let peer = parse_peer_addr(&request.multiaddr)
        .map_err(|why| ApiError::BadRequest(format!("invalid multiaddr {:?}: {why}", request.multiaddr)))?;
    let node = state.p2p.as_ref().ok_or_else(|| {
        ApiError::Unavailable(state.node.current().reason.unwrap_or_else(|| "the P2P node is not running".into()))
    })?;
    node.dial(peer.addr.clone()).await.map_err(ApiError::BadRequest)?;
    Ok(Json(Dialing { dialing: peer.addr.to_string() }))
}

async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NotFound(format!("no API endpoint at {}", uri.path()))
}
