//! `Admin`: an extractor mutating handlers take. On a loopback listener it
//! always passes; otherwise it wants `Authorization: Bearer <admin token>`,
//! compared in constant time.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use crate::http::errors::ApiError;
use crate::state::AppState;

pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        check(state, &parts.headers).map(|()| Admin)
    }
}

/// Passes on a loopback listener, or with the right bearer token.
pub fn check(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    check_token(state, presented).map_err(|_| {
        ApiError::Unauthorized(
            "this endpoint changes the cache: send Authorization: Bearer <PEERCACHE_ADMIN_TOKEN>".into(),
        )
    })
}

/// Passes on a loopback listener, or when `presented` is the admin token (the
/// dashboard sends what its user typed).
pub fn check_token(state: &AppState, presented: &str) -> Result<(), ApiError> {
    let Some(expected) = state.admin_token.as_deref() else {
        return Ok(());
    };
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "changing the cache needs this server's admin token (PEERCACHE_ADMIN_TOKEN)".into(),
        ))
    }
}

/// Middleware form of `check`, for whole services such as `/mcp`.
pub async fn require(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    check(&state, request.headers())?;
    Ok(next.run(request).await)
}
