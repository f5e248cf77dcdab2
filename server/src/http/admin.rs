//! `Admin`: an extractor changing handlers take. It passes the request's
//! `Authorization: Bearer …` to the core's token check.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use crate::http::errors::ApiError;
use crate::http::state::AppState;

pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        check(state, &parts.headers).map(|()| Admin)
    }
}

/// The bearer token a request presents ("" for none).
pub fn bearer(headers: &HeaderMap) -> &str {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("")
}

fn check(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    Ok(state.core.authorize(bearer(headers))?)
}

/// Middleware form of the check, for whole services such as `/mcp`.
pub async fn require(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    check(&state, request.headers())?;
    Ok(next.run(request).await)
}
