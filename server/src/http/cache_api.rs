//! `/api/cache/...`: browse, read, write and invalidate cache entries. The
//! handlers parse and answer; the core does the work.

use app::model::{EntryPage, EntryView, Invalidated, Invalidation, Reach, Stored};
use axum::body::{to_bytes, Body};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::core::error::CoreError;
use crate::http::admin::Admin;
use crate::http::errors::ApiError;
use crate::http::state::AppState;

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

/// `{"pattern": "prefix"}` or `{"all": true}`, with `"reach": "fleet"` to
/// tell every node; nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidateRequest {
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    reach: Reach,
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| CoreError::invalid(e.body_text()).into())
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    to_bytes(body, limit)
        .await
        .map_err(|_| CoreError::too_large(format!("the body is larger than the {limit} byte limit")).into())
}

async fn list_entries(
    State(state): State<AppState>,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EntryPage>, ApiError> {
    let params = query(params)?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    Ok(Json(state.core.cache.list(&params.prefix, params.offset, limit)))
}

async fn get_entry(
    State(state): State<AppState>,
    params: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Json<EntryView>, ApiError> {
    Ok(Json(state.core.lookup(&query(params)?.key).await?))
}

async fn put_entry(
    _: Admin,
    State(state): State<AppState>,
    params: Result<Query<KeyQuery>, QueryRejection>,
    body: Body,
) -> Result<(StatusCode, Json<Stored>), ApiError> {
    let params = query(params)?;
    let value = read_body(body, state.core.max_body).await?;
    let stored = state.core.put_entry(params.key, value, params.ttl).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

async fn delete_entry(
    _: Admin,
    State(state): State<AppState>,
    params: Result<Query<KeyQuery>, QueryRejection>,
) -> Result<Json<Invalidated>, ApiError> {
    Ok(Json(state.core.invalidate(Invalidation::Key(query(params)?.key), Reach::Node).await?))
}

async fn invalidate(_: Admin, State(state): State<AppState>, body: Body) -> Result<Json<Invalidated>, ApiError> {
    let bytes = read_body(body, state.core.max_body).await?;
    const SHAPE: &str =
        r#"expected {"pattern": "prefix"} or, to drop every entry, {"all": true}; with "reach": "fleet" on every node"#;
    let request: InvalidateRequest =
        serde_json::from_slice(&bytes).map_err(|e| CoreError::invalid(format!("{SHAPE}: {e}")))?;
    let target = match request {
        InvalidateRequest { pattern: Some(pattern), all: false, .. } if !pattern.is_empty() => {
            Invalidation::Prefix(pattern)
        }
        InvalidateRequest { pattern: None, all: true, .. } => Invalidation::All,
        _ => return Err(CoreError::invalid(SHAPE).into()),
    };
    Ok(Json(state.core.invalidate(target, request.reach).await?))
}
