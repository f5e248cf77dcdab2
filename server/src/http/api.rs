//! The JSON API under `/api`. Each handler asks the `Backend` and returns JSON.

use app::api::Backend;
use app::model::{CacheStats, PeerStatus};
use axum::extract::State;
use axum::extract::OriginalUri;
use axum::routing::get;
use axum::{Json, Router};

use crate::http::cache_api;
use crate::http::errors::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mcp/peers", get(peers))
        .route("/mcp/cache/stats", get(cache_stats))
        .merge(cache_api::routes())
        .fallback(not_found)
}

async fn peers(State(state): State<AppState>) -> Json<PeerStatus> {
    Json(state.peer_status())
}

async fn cache_stats(State(state): State<AppState>) -> Json<CacheStats> {
    Json(state.cache_stats())
}

async fn not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NotFound(format!("no API endpoint at {}", uri.path()))
}
