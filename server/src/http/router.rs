//! The one place the HTTP surface is assembled: health, JSON API, the
//! dashboard (SSR + server functions) and its bundle.

use std::convert::Infallible;
use std::sync::Arc;

use app::api::SharedBackend;
use app::{shell, App};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower::ServiceExt;
use tower_http::set_header::SetResponseHeaderLayer;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::core::error::CoreError;
use crate::http::errors::ApiError;
use crate::http::state::AppState;
use crate::http::{admin, api, assets, downloads, guard};
use crate::mcp::api::PeercacheApi;
use crate::mcp::PeercacheMcp;

/// The whole surface as one router (for tests that call it directly).
pub fn router(state: AppState) -> Router {
    Router::new().fallback_service(front(state))
}

/// The whole surface as the service `server::serve` runs: `/github/...`
/// told apart by its prefix, everything else routed as the node's own.
pub fn front(
    state: AppState,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync + 'static
{
    let backend: SharedBackend = Arc::new(state.core.clone());
    let options = state.leptos_options.clone();
    let bundle = state.bundle.clone();
    // Changes to this node come only from where they may (see `guard`); the
    // proxy's writes are GitHub's business, and its hits skip the check.
    let own = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/download/{*path}", get(download))
        .nest("/api", api::routes())
        .nest_service("/mcp", mcp_service(&state))
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .route("/pkg/{name}", get(move |name, headers| assets::pkg(bundle.clone(), name, headers)))
        .fallback(|| async { ApiError(CoreError::not_found("no such page or endpoint")) })
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard_requests))
        // A page is rendered afresh every time: its values are live, and it
        // names the bundle of the binary that serves it.
        .layer(SetResponseHeaderLayer::if_not_present(CACHE_CONTROL, |response: &Response| {
            let html = response.headers().get(CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
            html.then_some(HeaderValue::from_static("no-store"))
        }));
    let own = own.with_state(state.clone());
    // `/github/...` is told apart by its prefix before any routing: the
    // proxy reads the path itself, and a HIT skips the router's matching,
    // its wildcard parameters and its matched path (see BENCHMARKS.md).
    // Everything else is routed as the node's own. What `server::serve`
    // checks first (body deadline and budget) holds for both; no router
    // wraps the two (one more boxed service and match on every hit).
    tower::service_fn(move |request: Request| {
        let (state, own) = (state.clone(), own.clone());
        async move {
            let path = request.uri().path();
            if path == "/github" || path.starts_with("/github/") {
                return Ok::<_, Infallible>(github(&state, request).await);
            }
            own.oneshot(request).await
        }
    })
}

/// `/mcp`: the MCP server (Streamable HTTP). Its tools call the core
/// directly. With an admin token the whole endpoint needs it, which also
/// stands in for the Host check against DNS rebinding.
fn mcp_service(state: &AppState) -> Router {
    let api: Arc<dyn PeercacheApi> = Arc::new(state.core.clone());
    let mut config = StreamableHttpServerConfig::default();
    if state.core.admin_required() {
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        move || Ok(PeercacheMcp::new(api.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new().fallback_service(service).layer(axum::middleware::from_fn_with_state(state.clone(), admin::require))
}

/// Refuses (403, JSON) a request from the wrong place (see `guard`);
/// `/healthz` answers any host.
async fn guard_requests(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    let authority = request.uri().authority().map(|a| a.as_str());
    if request.uri().path() == "/healthz" {
        return Ok(next.run(request).await);
    }
    if let Some(why) = guard::refusal(&state.known_hosts, request.method(), request.headers(), authority) {
        tracing::warn!(method = %request.method(), path = request.uri().path(), "{why}");
        return Err(CoreError::forbidden(why).into());
    }
    Ok(next.run(request).await)
}

/// `GET /metrics`: the registry as OpenMetrics text (see `metrics`).
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.metrics)
        .map_err(|e| CoreError::new(app::model::ErrorKind::Internal, format!("encoding metrics: {e}")))?;
    Ok(([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text))
}

/// `/github/...`: the caching GitHub proxy, and downloads.
async fn github(state: &AppState, request: Request<Body>) -> Response {
    let (path, base) = state.core.github.under_github(&request);
    downloads::github(&state.core, request, &path, base).await
}

/// `/download/...`: release files by their `browser_download_url` path.
async fn download(State(state): State<AppState>, request: Request<Body>) -> Response {
    downloads::browser_download(&state.core, request).await
}
