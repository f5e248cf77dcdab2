//! The command line's client of a running `peercache serve`: its JSON API,
//! typed with the API's own models, one-line errors. `peercache mcp` (stdio)
//! uses the same client for its tools.

use app::model::{
    CacheStats, Dialing, EntryPage, EntryView, Invalidated, Invalidation, NodeInfo, PeerStatus, Reach, Stored,
};
use async_trait::async_trait;
use axum::http::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::mcp::api::{ApiFailure, PeercacheApi};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8899";

pub struct Client {
    base: String,
    admin_token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, admin_token: Option<String>) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(45)).build()?;
        Ok(Client { base: base.trim_end_matches('/').to_owned(), admin_token, http })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Who the server is (`GET /api/node`).
    pub async fn node_info(&self) -> Result<NodeInfo, ApiFailure> {
        self.call(Method::GET, "/api/node", &[], None).await
    }

    /// A GET of `path` answered with peercache JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiFailure> {
        self.call(Method::GET, path, &[], None).await
    }

    /// Any answer to `method path` with `headers`: its status and its body as
    /// JSON (a body that is not JSON becomes `{"message": …}`); fails only
    /// when the server cannot be reached.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<(u16, Value), ApiFailure> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(|error| self.unreachable(&error))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| ApiFailure::new(502, e.to_string()))?;
        Ok((status, super::doctor::json_or_message(&bytes)))
    }

    fn unreachable(&self, error: &reqwest::Error) -> ApiFailure {
        ApiFailure {
            status: 503,
            message: format!("cannot reach peercache at {}: is `peercache serve` running there? ({error})", self.base),
            answered: false,
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<T, ApiFailure> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).query(query);
        if let Some(token) = &self.admin_token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.map_err(|error| self.unreachable(&error))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| ApiFailure::new(502, e.to_string()))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ApiFailure::new(status.as_u16(), message));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiFailure::new(502, format!("{path} did not answer peercache JSON: {e}")))
    }
}

#[async_trait]
impl PeercacheApi for Client {
    async fn peer_status(&self) -> Result<PeerStatus, ApiFailure> {
        self.call(Method::GET, "/api/mcp/peers", &[], None).await
    }

    async fn cache_stats(&self) -> Result<CacheStats, ApiFailure> {
        self.call(Method::GET, "/api/mcp/cache/stats", &[], None).await
    }

    async fn assets(&self) -> Result<crate::assets::stats::AssetsView, ApiFailure> {
        self.call(Method::GET, "/api/assets", &[], None).await
    }

    async fn entry(&self, key: &str) -> Result<EntryView, ApiFailure> {
        self.call(Method::GET, "/api/cache/entry", &[("key", key)], None).await
    }

    async fn put(&self, key: &str, value: Vec<u8>, ttl: Option<u64>) -> Result<Stored, ApiFailure> {
        let ttl = ttl.map(|t| t.to_string());
        let mut query = vec![("key", key)];
        if let Some(ttl) = &ttl {
            query.push(("ttl", ttl));
        }
        self.call(Method::PUT, "/api/cache/entry", &query, Some(value)).await
    }

    async fn invalidate(&self, target: Invalidation, reach: Reach) -> Result<Invalidated, ApiFailure> {
        let body = match target {
            Invalidation::Key(key) if reach == Reach::Node => {
                return self.call(Method::DELETE, "/api/cache/entry", &[("key", &key)], None).await
            }
            // The fleet's barriers are prefixes: a key goes to the fleet as one.
            Invalidation::Key(key) | Invalidation::Prefix(key) => serde_json::json!({"pattern": key, "reach": reach}),
            Invalidation::All => serde_json::json!({"all": true, "reach": reach}),
        };
        self.call(Method::POST, "/api/cache/invalidate", &[], Some(body.to_string().into_bytes())).await
    }

    async fn connect(&self, multiaddr: &str, wait: Option<std::time::Duration>) -> Result<Dialing, ApiFailure> {
        let wait_ms = wait.map(|wait| wait.as_millis() as u64);
        let body = serde_json::json!({"multiaddr": multiaddr, "wait_ms": wait_ms}).to_string().into_bytes();
        self.call(Method::POST, "/api/mcp/peers/connect", &[], Some(body)).await
    }

    async fn entries(&self, prefix: &str, offset: usize, limit: usize) -> Result<EntryPage, ApiFailure> {
        let (offset, limit) = (offset.to_string(), limit.to_string());
        let query = [("prefix", prefix), ("offset", offset.as_str()), ("limit", limit.as_str())];
        self.call(Method::GET, "/api/cache/entries", &query, None).await
    }
}
