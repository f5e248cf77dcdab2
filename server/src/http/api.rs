//! The JSON API under `/api`. Each handler asks the `Backend` and returns JSON.

use app::api::Backend;
use app::model::{CacheStats, History, NodeInfo, PeerStatus};
use axum::extract::State;
use axum::extract::OriginalUri;
use axum::body::{to_bytes, Body};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use axum::{Json, Router};

use crate::http::admin::Admin;
use crate::http::cache_api;
use crate::http::errors::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/node", get(node))
        .route("/history", get(history))
        .route("/mcp/peers", get(peers))
        .route("/mcp/peers/connect", post(connect_peer))
        .route("/mcp/cache/stats", get(cache_stats))
        .merge(cache_api::routes())
        .fallback(not_found)
}

async fn node(State(state): State<AppState>) -> Json<NodeInfo> {
    Json(state.node_info())
}

async fn history(State(state): State<AppState>) -> Json<History> {
    Json(state.history())
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
    Ok(Json(Dialing { dialing: state.dial_peer(&request.multiaddr).await? }))
}

async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NotFound(format!("no API endpoint at {}", uri.path()))
}
