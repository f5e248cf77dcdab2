//! peercache for AI agents: an MCP server (rmcp) whose tools keep the names
//! of the original system, so existing prompts work. Served over Streamable
//! HTTP at `/mcp`, and over stdio by `peercache mcp`. Every tool answers with
//! structured JSON and a one-line summary; bad arguments are JSON-RPC
//! "invalid params" errors.

pub mod json_api;

use std::sync::Arc;

use axum::http::Method;
use rmcp::handler::server::common::{schema_for_input, FromContextPart};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolResult, ContentBlock, ErrorData, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use self::json_api::{ApiFailure, JsonApi};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CallLogArgs {
    /// How many of the most recent upstream calls, 1 to 100 (default 50).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct InvalidateArgs {
    /// Drop entries whose key starts with this; absent or empty drops everything.
    pub pattern: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct KeyArgs {
    /// The cache key, e.g. `get_repo:octo/hello`.
    pub key: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PutArgs {
    /// The cache key.
    pub key: String,
    /// Any JSON value to store.
    pub value: Value,
    /// Time to live in seconds; default: the operation family's.
    pub ttl: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ConnectArgs {
    /// A multiaddr ending in /p2p/<peer id>.
    pub multiaddr: String,
}

/// A tool's arguments. Unlike rmcp's `Parameters` (which turns a mismatch
/// into a failed tool call), arguments that do not fit the tool's schema are a
/// JSON-RPC "invalid params" error, as clients of the original expect.
pub struct Args<T>(pub T);

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Args<T> {
    fn from_context_part(context: &mut ToolCallContext<S>) -> Result<Self, ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        serde_json::from_value(Value::Object(arguments))
            .map(Args)
            .map_err(|e| ErrorData::invalid_params(format!("bad arguments for {}: {e}", context.name), None))
    }
}

/// The JSON Schema of a tool's arguments.
fn schema<T: schemars::JsonSchema + 'static>() -> Arc<rmcp::model::JsonObject> {
    schema_for_input::<T>().expect("argument types have object schemas")
}

#[derive(Clone)]
pub struct PeercacheMcp {
    api: Arc<dyn JsonApi>,
    tool_router: ToolRouter<Self>,
}

fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("string pairs always encode")
}

/// A successful tool answer: the JSON, and a line a person can read.
fn answer(value: Value, summary: String) -> CallToolResult {
    let mut result = CallToolResult::structured(value);
    result.content.insert(0, ContentBlock::text(summary));
    result
}

/// The server could not do it: 4xx from bad input are the caller's
/// arguments (invalid params); anything else is a failed tool call.
fn failed(failure: ApiFailure) -> Result<CallToolResult, ErrorData> {
    if failure.status == 400 || failure.status == 413 {
        return Err(ErrorData::invalid_params(failure.message, None));
    }
    let mut result = CallToolResult::structured_error(json!({"error": failure.message, "status": failure.status}));
    result.content.insert(0, ContentBlock::text(format!("failed: {}", failure.message)));
    Ok(result)
}

impl PeercacheMcp {
    pub fn new(api: Arc<dyn JsonApi>) -> Self {
        PeercacheMcp { api, tool_router: Self::tool_router() }
    }

    async fn get(&self, path: &str) -> Result<Value, ApiFailure> {
        self.api.call(Method::GET, path, None).await
    }
}

#[tool_router]
impl PeercacheMcp {
    #[tool(description = "Status of this node's P2P peer system: enabled, active, peer count, peer id, listen addresses, why it is not active, and the connected peers.")]
    async fn get_peer_status(&self) -> Result<CallToolResult, ErrorData> {
        match self.get("/api/mcp/peers").await {
            Ok(status) => {
                let summary = format!(
                    "P2P {}: {} peer(s){}",
                    status["state"].as_str().unwrap_or("?"),
                    status["peer_count"],
                    status["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default()
                );
                Ok(answer(status, summary))
            }
            Err(failure) => failed(failure),
        }
    }

    #[tool(description = "Cache statistics: entries, size, hit rate, local and peer hits, misses, evictions, upstream calls made and saved.")]
    async fn get_cache_stats(&self) -> Result<CallToolResult, ErrorData> {
        match self.get("/api/mcp/cache/stats").await {
            Ok(stats) => {
                let summary = format!(
                    "{} entries, hit rate {:.1}%, {} hits, {} misses",
                    stats["total_entries"],
                    stats["hit_rate"].as_f64().unwrap_or(0.0) * 100.0,
                    stats["total_hits"],
                    stats["misses"]
                );
                Ok(answer(stats, summary))
            }
            Err(failure) => failed(failure),
        }
    }

    #[tool(description = "GitHub API cache statistics: calls made to GitHub and saved, responses per X-Peercache mode, and each token scope's rate limit.")]
    async fn gh_get_cache_stats(&self) -> Result<CallToolResult, ErrorData> {
        match self.get("/api/mcp/cache/stats").await {
            Ok(stats) => {
                let proxy = stats["proxy"].clone();
                let limit = &proxy["rate_limits"][0];
                let mut summary = format!(
                    "{} GitHub calls made, {} saved",
                    stats["api_calls_made"], stats["api_calls_saved"]
                );
                if limit.is_object() {
                    summary.push_str(&format!("; rate limit {} / {} remaining", limit["remaining"], limit["limit"]));
                }
                let value = json!({
                    "api_calls_made": stats["api_calls_made"],
                    "api_calls_saved": stats["api_calls_saved"],
                    "hit_rate": stats["hit_rate"],
                    "total_entries": stats["total_entries"],
                    "proxy": proxy,
                });
                Ok(answer(value, summary))
            }
            Err(failure) => failed(failure),
        }
    }

    #[tool(description = "The most recent calls that went to GitHub (oldest first): timestamp, api_type, operation, status.", input_schema = schema::<CallLogArgs>())]
    async fn gh_get_api_call_log(&self, Args(args): Args<CallLogArgs>) -> Result<CallToolResult, ErrorData> {
        let limit = args.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ErrorData::invalid_params(format!("limit must be 1 to 100, not {limit}"), None));
        }
        match self.get("/api/mcp/cache/stats").await {
            Ok(stats) => {
                let log = stats["api_call_log"].as_array().cloned().unwrap_or_default();
                let recent: Vec<Value> = log[log.len().saturating_sub(limit as usize)..].to_vec();
                let summary = format!("{} of the last upstream calls", recent.len());
                Ok(answer(json!({"calls": recent, "limit": limit}), summary))
            }
            Err(failure) => failed(failure),
        }
    }

    #[tool(description = "Invalidate cached entries whose key starts with `pattern`; without a pattern, everything.", input_schema = schema::<InvalidateArgs>())]
    async fn gh_invalidate_cache(&self, Args(args): Args<InvalidateArgs>) -> Result<CallToolResult, ErrorData> {
        let pattern = args.pattern.unwrap_or_default();
        let body = json!({"pattern": pattern}).to_string().into_bytes();
        match self.api.call(Method::POST, "/api/cache/invalidate", Some(body)).await {
            Ok(done) => {
                let count = done["invalidated"].as_u64().unwrap_or(0);
                let summary = format!("invalidated {count} entries");
                Ok(answer(json!({"invalidated": count, "pattern": pattern, "success": true}), summary))
            }
            Err(failure) => failed(failure),
        }
    }

    #[tool(description = "Read the cached JSON value under a key (asks the peers on a local miss).", input_schema = schema::<KeyArgs>())]
    async fn cache_get(&self, Args(args): Args<KeyArgs>) -> Result<CallToolResult, ErrorData> {
        if args.key.is_empty() {
            return Err(ErrorData::invalid_params("key must not be empty", None));
        }
        match self.get(&format!("/api/cache/entry?{}", query(&[("key", &args.key)]))).await {
            Ok(entry) => {
                let summary = format!("{}: {} bytes from {}", args.key, entry["size"], entry["origin"].as_str().unwrap_or("?"));
                Ok(answer(json!({"found": true, "entry": entry}), summary))
            }
            Err(failure) if failure.status == 404 => {
                Ok(answer(json!({"found": false, "key": args.key}), format!("no fresh entry under {}", args.key)))
            }
            Err(failure) => failed(failure),
        }
    }

    #[tool(description = "Store a JSON value under a key, with an optional TTL in seconds.", input_schema = schema::<PutArgs>())]
    async fn cache_put(&self, Args(args): Args<PutArgs>) -> Result<CallToolResult, ErrorData> {
        let mut pairs = vec![("key", args.key.clone())];
        if let Some(ttl) = args.ttl {
            pairs.push(("ttl", ttl.to_string()));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = format!("/api/cache/entry?{}", query(&pairs));
        match self.api.call(Method::PUT, &path, Some(args.value.to_string().into_bytes())).await {
            Ok(stored) => {
                let summary = format!("stored {} ({} bytes, ttl {} s)", args.key, stored["size"], stored["ttl_secs"]);
                Ok(answer(stored, summary))
            }
            Err(failure) => failed(failure),
        }
    }

    #[tool(description = "Dial a peer by multiaddr (ending in /p2p/<peer id>).", input_schema = schema::<ConnectArgs>())]
    async fn connect_peer(&self, Args(args): Args<ConnectArgs>) -> Result<CallToolResult, ErrorData> {
        let body = json!({"multiaddr": args.multiaddr}).to_string().into_bytes();
        match self.api.call(Method::POST, "/api/mcp/peers/connect", Some(body)).await {
            Ok(dialing) => Ok(answer(dialing, format!("dialing {}", args.multiaddr))),
            Err(failure) => failed(failure),
        }
    }

    #[tool(description = "The connected peers: peer id, address, direction, latency, agent, entries sent and received.")]
    async fn list_peers(&self) -> Result<CallToolResult, ErrorData> {
        match self.get("/api/mcp/peers").await {
            Ok(status) => {
                let peers = status["peers"].clone();
                let count = peers.as_array().map_or(0, Vec::len);
                Ok(answer(json!({"peers": peers, "peer_count": count}), format!("{count} peer(s) connected")))
            }
            Err(failure) => failed(failure),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PeercacheMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("peercache: a GitHub API cache shared between machines over libp2p. Tools read its peer status and statistics, and read, write and invalidate cache entries.")
    }
}
