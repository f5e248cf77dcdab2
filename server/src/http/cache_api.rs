//! `/api/cache/...`: browse, read, write and invalidate cache entries. Reads
//! are in memory; writes commit to the store on a blocking thread.

use app::model::{EntryPage, Invalidated};
use axum::body::{to_bytes, Body};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::cache::entry::EntryView;
use crate::cache::PutOptions;
use crate::http::admin::Admin;
use crate::http::errors::ApiError;
use crate::state::AppState;

const DEFAULT_PAGE: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cache/entries", get(list_entries))
        .route("/cache/entry", get(get_entry).put(put_entry).delete(delete_entry))
        .route("/cache/invalidate", post(invalidate))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
    limit: Option<usize>,
    #[serde(default)]
    offset: usize,
}

#[derive(Deserialize)]
struct KeyQuery {
    key: String,
    ttl: Option<u64>,
}

#[derive(Serialize)]
struct Stored {
    key: String,
    cid: String,
    size: usize,
    ttl_secs: u64,
}

#[derive(Deserialize)]
struct InvalidateRequest {
    #[serde(default)]
    pattern: Option<String>,
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| ApiError::BadRequest(e.body_text()))
}

async fn list_entries(
    State(state): State<AppState>,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EntryPage>, ApiError> {
    let params = query(params)?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    Ok(Json(state.cache.list(&params.prefix, params.offset, limit)))
}

async fn get_entry(
    State(state): State<AppState>,
    params: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Json<EntryView>, ApiError> {
    let key = query(params)?.key;
    let peers = state.p2p.as_ref().map(|p| p as &dyn crate::cache::PeerSource);
    let entry = state
        .cache
        .get_or_peer(&key, peers)
        .await
        .ok_or_else(|| ApiError::NotFound(format!("no fresh cache entry under {key:?} here or at any peer")))?;
    Ok(Json(entry.view(state.cache.now_ms())))
}

async fn put_entry(
    _: Admin,
    State(state): State<AppState>,
    params: Result<Query<KeyQuery>, QueryRejection>,
    body: Body,
) -> Result<(StatusCode, Json<Stored>), ApiError> {
    let params = query(params)?;
    let value = to_bytes(body, state.max_body).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!("the body is larger than the {} byte limit", state.max_body))
    })?;
    let options = PutOptions { ttl_secs: params.ttl, ..PutOptions::default() };
    let entry = state.write_cache(move |cache| cache.put(&params.key, value, options)).await?;
    Ok((
        StatusCode::CREATED,
        Json(Stored { key: entry.key.clone(), cid: entry.cid.clone(), size: entry.value.len(), ttl_secs: entry.ttl_secs }),
    ))
}

async fn delete_entry(
    _: Admin,
    State(state): State<AppState>,
    params: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Json<Invalidated>, ApiError> {
    Ok(Json(state.invalidate_entries(query(params)?.key, true).await?))
}

async fn invalidate(_: Admin, State(state): State<AppState>, body: Body) -> Result<Json<Invalidated>, ApiError> {
    let bytes = to_bytes(body, state.max_body)
        .await
        .map_err(|_| ApiError::PayloadTooLarge("the body is too large".into()))?;
    let request: InvalidateRequest = if bytes.is_empty() {
        InvalidateRequest { pattern: None }
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("expected {{\"pattern\": \"prefix\"}}: {e}")))?
    };
    Ok(Json(state.invalidate_entries(request.pattern.unwrap_or_default(), false).await?))
}
