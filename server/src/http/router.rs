//! The one place the HTTP surface is assembled: health, JSON API, the
//! dashboard (SSR + server functions) and its static assets.

use std::sync::Arc;

use app::api::SharedBackend;
use app::{shell, App};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::services::ServeDir;

use crate::http::{api, metrics};
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(state.clone());
    let options = state.leptos_options.clone();
    let site_root = options.site_root.to_string();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics::metrics))
        .nest("/api", api::routes())
        .route("/github", any(github))
        .route("/github/{*path}", any(github))
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .fallback_service(ServeDir::new(site_root))
        .with_state(state)
}

/// `/github/...`: the caching GitHub proxy.
async fn github(State(state): State<AppState>, request: Request<Body>) -> Response {
    state.github.handle(request).await
}
