//! peercache for AI agents: an MCP server (rmcp) whose tools keep the names
//! of the original system, so existing prompts work. Served over Streamable
//! HTTP at `/mcp`, and over stdio by `peercache mcp`. Every tool answers with
//! structured JSON and a one-line summary; bad arguments are JSON-RPC
//! "invalid params" errors.

pub mod api;

use std::sync::Arc;

use rmcp::handler::server::common::{schema_for_input, FromContextPart};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolResult, ContentBlock, ErrorData, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use self::api::{ApiFailure, PeercacheApi};
use app::model::{ErrorKind, Invalidation};

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
    api: Arc<dyn PeercacheApi>,
    tool_router: ToolRouter<Self>,
}

/// A successful tool answer: the JSON, and a line a person can read.
fn answer(value: impl Serialize, summary: String) -> Result<CallToolResult, ErrorData> {
    let value = serde_json::to_value(value).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let mut result = CallToolResult::structured(value);
    result.content.insert(0, ContentBlock::text(summary));
    Ok(result)
}

/// The server could not do it: 4xx from bad input are the caller's
/// arguments (invalid params); anything else is a failed tool call.
fn failed(failure: ApiFailure) -> Result<CallToolResult, ErrorData> {
    if failure.is(ErrorKind::Invalid) || failure.is(ErrorKind::TooLarge) {
        return Err(ErrorData::invalid_params(failure.message, None));
    }
    let mut result = CallToolResult::structured_error(json!({"error": failure.message, "status": failure.status}));
    result.content.insert(0, ContentBlock::text(format!("failed: {}", failure.message)));
    Ok(result)
}

/// The answer of a call, or its failure as a tool result.
fn respond<T: Serialize>(
    result: Result<T, ApiFailure>,
    summary: impl FnOnce(&T) -> String,
) -> Result<CallToolResult, ErrorData> {
    match result {
        Ok(value) => {
            let line = summary(&value);
            answer(value, line)
        }
        Err(failure) => failed(failure),
    }
}

/// The calls made and saved, responses per mode and rate limits.
#[derive(Serialize)]
struct GithubStats {
    api_calls_made: u64,
    api_calls_saved: u64,
    hit_rate: f64,
    total_entries: u64,
    proxy: app::model::ProxyStats,
}

#[derive(Serialize)]
struct CallLog {
    calls: Vec<app::model::ApiCall>,
    limit: u32,
}

#[derive(Serialize)]
struct InvalidateAnswer {
    invalidated: usize,
    pattern: String,
    success: bool,
}

#[derive(Serialize)]
struct Lookup {
    found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry: Option<app::model::EntryView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

#[derive(Serialize)]
struct PeerList {
    peers: Vec<app::model::PeerInfo>,
    peer_count: usize,
}

impl PeercacheMcp {
    pub fn new(api: Arc<dyn PeercacheApi>) -> Self {
        PeercacheMcp { api, tool_router: Self::tool_router() }
    }
}

#[tool_router]
impl PeercacheMcp {
    #[tool(
        description = "Status of this node's P2P peer system: enabled, active, peer count, peer id, listen addresses, why it is not active, and the connected peers."
    )]
    async fn get_peer_status(&self) -> Result<CallToolResult, ErrorData> {
        respond(self.api.peer_status().await, |status| {
            let state =
                serde_json::to_value(status.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let reason = status.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
            format!("P2P {state}: {} peer(s){reason}", status.peer_count)
        })
    }

    #[tool(
        description = "Cache statistics: entries, size, hit rate, local and peer hits, misses, evictions, upstream calls made and saved."
    )]
    async fn get_cache_stats(&self) -> Result<CallToolResult, ErrorData> {
        respond(self.api.cache_stats().await, |stats| {
            format!(
                "{} entries, hit rate {:.1}%, {} hits, {} misses",
                stats.total_entries,
                stats.hit_rate * 100.0,
                stats.total_hits,
                stats.misses
            )
        })
    }

    #[tool(
        description = "GitHub API cache statistics: calls made to GitHub and saved, responses per X-Peercache mode, and each token scope's rate limit."
    )]
    async fn gh_get_cache_stats(&self) -> Result<CallToolResult, ErrorData> {
        let stats = self.api.cache_stats().await.map(|stats| GithubStats {
            api_calls_made: stats.api_calls_made,
            api_calls_saved: stats.api_calls_saved,
            hit_rate: stats.hit_rate,
            total_entries: stats.total_entries,
            proxy: stats.proxy,
        });
        respond(stats, |stats| {
            let mut summary = format!("{} GitHub calls made, {} saved", stats.api_calls_made, stats.api_calls_saved);
            if let Some(limit) = stats.proxy.rate_limits.first() {
                let number = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
                summary.push_str(&format!(
                    "; rate limit {} / {} remaining",
                    number(limit.remaining),
                    number(limit.limit)
                ));
            }
            summary
        })
    }

    #[tool(description = "The most recent calls that went to GitHub (oldest first): timestamp, api_type, operation, status.", input_schema = schema::<CallLogArgs>())]
    async fn gh_get_api_call_log(&self, Args(args): Args<CallLogArgs>) -> Result<CallToolResult, ErrorData> {
        let limit = args.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ErrorData::invalid_params(format!("limit must be 1 to 100, not {limit}"), None));
        }
        let log = self.api.cache_stats().await.map(|stats| {
            let log = stats.api_call_log;
            CallLog { calls: log[log.len().saturating_sub(limit as usize)..].to_vec(), limit }
        });
        respond(log, |log| format!("{} of the last upstream calls", log.calls.len()))
    }

    #[tool(description = "Invalidate cached entries whose key starts with `pattern`; without a pattern, everything.", input_schema = schema::<InvalidateArgs>())]
    async fn gh_invalidate_cache(&self, Args(args): Args<InvalidateArgs>) -> Result<CallToolResult, ErrorData> {
        let target = match args.pattern {
            Some(pattern) if !pattern.is_empty() => Invalidation::Prefix(pattern),
            _ => Invalidation::All,
        };
        let done = self.api.invalidate(target).await.map(|done| InvalidateAnswer {
            invalidated: done.invalidated,
            pattern: done.pattern,
            success: true,
        });
        respond(done, |done| format!("invalidated {} entries", done.invalidated))
    }

    #[tool(description = "Read the cached JSON value under a key (asks the peers on a local miss).", input_schema = schema::<KeyArgs>())]
    async fn cache_get(&self, Args(args): Args<KeyArgs>) -> Result<CallToolResult, ErrorData> {
        if args.key.is_empty() {
            return Err(ErrorData::invalid_params("key must not be empty", None));
        }
        match self.api.entry(&args.key).await {
            Ok(entry) => {
                let summary = format!("{}: {} bytes from {}", args.key, entry.size, entry.origin);
                answer(Lookup { found: true, entry: Some(entry), key: None }, summary)
            }
            Err(failure) if failure.is(ErrorKind::NotFound) => {
                let summary = format!("no fresh entry under {}", args.key);
                answer(Lookup { found: false, entry: None, key: Some(args.key) }, summary)
            }
            Err(failure) => failed(failure),
        }
    }

    #[tool(description = "Store a JSON value under a key, with an optional TTL in seconds.", input_schema = schema::<PutArgs>())]
    async fn cache_put(&self, Args(args): Args<PutArgs>) -> Result<CallToolResult, ErrorData> {
        let stored = self.api.put(&args.key, args.value.to_string().into_bytes(), args.ttl).await;
        respond(stored, |stored| format!("stored {} ({} bytes, ttl {} s)", stored.key, stored.size, stored.ttl_secs))
    }

    #[tool(description = "Dial a peer by multiaddr (ending in /p2p/<peer id>).", input_schema = schema::<ConnectArgs>())]
    async fn connect_peer(&self, Args(args): Args<ConnectArgs>) -> Result<CallToolResult, ErrorData> {
        respond(self.api.connect(&args.multiaddr).await, |dialing| format!("dialing {}", dialing.dialing))
    }

    #[tool(
        description = "The connected peers: peer id, address, direction, latency, agent, entries sent and received."
    )]
    async fn list_peers(&self) -> Result<CallToolResult, ErrorData> {
        let peers =
            self.api.peer_status().await.map(|status| PeerList { peer_count: status.peers.len(), peers: status.peers });
        respond(peers, |list| format!("{} peer(s) connected", list.peer_count))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PeercacheMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("peercache: a GitHub API cache shared between machines over libp2p. Tools read its peer status and statistics, and read, write and invalidate cache entries.")
    }
}
