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

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::http::{admin, api, metrics};
use crate::mcp::json_api::InProcess;
use crate::mcp::PeercacheMcp;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(state.clone());
    let options = state.leptos_options.clone();
    let site_root = options.site_root.to_string();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics::metrics))
        .nest("/api", api::routes())
        .nest_service("/mcp", mcp_service(&state))
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

/// `/mcp`: the MCP server (Streamable HTTP). Its tools call the JSON API
/// in-process. Off loopback the whole endpoint needs the admin token, which
/// also stands in for the Host check against DNS rebinding.
fn mcp_service(state: &AppState) -> Router {
    let api = Arc::new(InProcess {
        router: Router::new().nest("/api", api::routes()).with_state(state.clone()),
        admin_token: state.admin_token.as_deref().map(str::to_owned),
    });
    let mut config = StreamableHttpServerConfig::default();
    if state.admin_token.is_some() {
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        move || Ok(PeercacheMcp::new(api.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .fallback_service(service)
        .layer(axum::middleware::from_fn_with_state(state.clone(), admin::require))
}

/// `/github/...`: the caching GitHub proxy.
async fn github(State(state): State<AppState>, request: Request<Body>) -> Response {
    state.github.handle(request).await
}
