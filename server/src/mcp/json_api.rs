//! The JSON API as the MCP tools see it: one trait, two ways in. Inside
//! `peercache serve` the tools call the router in-process (no socket); in
//! `peercache mcp` (stdio) they call a running server over HTTP. Either way the
//! tools run the same handlers as every other client.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// An API answer that was not a success: its status and `{"error"}` text.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
    /// False when no server answered at all (then `status` is 503).
    pub answered: bool,
}

impl ApiFailure {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiFailure { status, message: message.into(), answered: true }
    }
}

/// The server's words, with the status when there was one: one line.
impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.answered {
            write!(f, "{} ({})", self.message, self.status)
        } else {
            f.write_str(&self.message)
        }
    }
}

#[async_trait]
pub trait JsonApi: Send + Sync + 'static {
    /// `path_and_query` is e.g. `/api/cache/entry?key=...` (already encoded).
    async fn call(&self, method: Method, path_and_query: &str, body: Option<Vec<u8>>) -> Result<Value, ApiFailure>;
}

fn failure(status: u16, body: &[u8]) -> ApiFailure {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    ApiFailure::new(status, message)
}

/// The server's own router, called without a socket.
pub struct InProcess {
    pub router: Router,
    /// Sent as the bearer token so mutating tools pass the admin check the
    /// `/mcp` endpoint itself already enforced.
    pub admin_token: Option<String>,
}

#[async_trait]
impl JsonApi for InProcess {
    async fn call(&self, method: Method, path_and_query: &str, body: Option<Vec<u8>>) -> Result<Value, ApiFailure> {
        let mut request = Request::builder().method(method).uri(path_and_query);
        if let Some(token) = &self.admin_token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .map_err(|e| ApiFailure::new(400, e.to_string()))?;
        let response = self.router.clone().oneshot(request).await.expect("the router never fails");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ApiFailure::new(500, e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            return Err(failure(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiFailure::new(500, e.to_string()))
    }
}

/// A running peercache over HTTP (`peercache mcp` and the command line).
pub struct OverHttp {
    pub base: String,
    pub admin_token: Option<String>,
    pub client: reqwest::Client,
}

impl OverHttp {
    pub fn new(base: &str, admin_token: Option<String>) -> anyhow::Result<OverHttp> {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        Ok(OverHttp { base: base.trim_end_matches('/').to_owned(), admin_token, client })
    }
}

#[async_trait]
impl JsonApi for OverHttp {
    async fn call(&self, method: Method, path_and_query: &str, body: Option<Vec<u8>>) -> Result<Value, ApiFailure> {
        let url = format!("{}{path_and_query}", self.base.trim_end_matches('/'));
        let mut request = self.client.request(method, &url);
        if let Some(token) = &self.admin_token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(|error| ApiFailure {
            status: 503,
            message: format!("cannot reach peercache at {}: is `peercache serve` running there? ({error})", self.base),
            answered: false,
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| ApiFailure::new(502, e.to_string()))?;
        if !status.is_success() {
            return Err(failure(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiFailure::new(502, e.to_string()))
    }
}
