//! peercache for AI agents: an MCP server (rmcp) whose tools keep the names
//! of the original system, so existing prompts work. Served over Streamable
//! HTTP at `/mcp`, and over stdio by `peercache mcp`. Every tool answers with
//! structured JSON and a one-line summary, and says with annotations whether
//! it only reads, and whether what it changes can be lost. Bad arguments and
//! refusals are tool results with `isError: true` (so a model can read why
//! and try again); JSON-RPC errors are left to protocol faults (an unknown
//! tool).

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
use app::format::invalidated as invalidated_words;
use app::model::{ErrorKind, Invalidation, Reach};

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
    /// Also on every node of the fleet: a signed invalidation each trusted
    /// node honours, barring older copies from coming back.
    #[serde(default)]
    pub fleet: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct KeyArgs {
    /// The cache key, e.g. `get_repo:octo/hello`.
    pub key: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListArgs {
    /// Only keys starting with this (e.g. `github:GET:/repos/octo/`); all without.
    pub prefix: Option<String>,
    /// The page, from 1 (default 1).
    #[schemars(range(min = 1))]
    pub page: Option<u32>,
    /// Entries a page, 1 to 100 (default 25).
    #[schemars(range(min = 1, max = 100))]
    pub per_page: Option<u32>,
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

/// A tool's arguments, or — when they do not fit the tool's schema — the
/// error result that says why (the tool returns it with `?`).
pub struct Args<T>(pub Result<T, CallToolResult>);

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Args<T> {
    fn from_context_part(context: &mut ToolCallContext<S>) -> Result<Self, ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        Ok(Args(
            serde_json::from_value(Value::Object(arguments))
                .map_err(|e| invalid(format!("bad arguments for {}: {e}", context.name))),
        ))
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

/// What a tool answers: a result, or an error result (`isError: true`).
type ToolResult = Result<CallToolResult, CallToolResult>;

/// A successful tool answer: the JSON, and a line a person can read.
fn answer(value: impl Serialize, summary: String) -> ToolResult {
    let value = serde_json::to_value(value).map_err(|e| refused(json!({"error": e.to_string()}), e.to_string()))?;
    let mut result = CallToolResult::structured(value);
    result.content.insert(0, ContentBlock::text(summary));
    Ok(result)
}

/// An error result: `details` as JSON, and the line a model reads.
fn refused(details: Value, line: String) -> CallToolResult {
    let mut result = CallToolResult::structured_error(details);
    result.content.insert(0, ContentBlock::text(line));
    result
}

/// Arguments that do not fit: what is wrong with them.
fn invalid(message: String) -> CallToolResult {
    refused(json!({"error": message, "kind": "invalid_arguments"}), format!("invalid arguments: {message}"))
}

/// The server could not do it: its words and status.
fn failed(failure: ApiFailure) -> CallToolResult {
    let line = format!("failed: {}", failure.message);
    refused(json!({"error": failure.message, "status": failure.status}), line)
}

/// The answer of a call, or its failure.
fn respond<T: Serialize>(result: Result<T, ApiFailure>, summary: impl FnOnce(&T) -> String) -> ToolResult {
    let value = result.map_err(failed)?;
    let line = summary(&value);
    answer(value, line)
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
    #[serde(skip_serializing_if = "Option::is_none")]
    told_peers: Option<usize>,
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
struct Listing {
    total: usize,
    page: u32,
    pages: usize,
    per_page: u32,
    entries: Vec<app::model::EntrySummary>,
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
        description = "Status of this node's P2P peer system: enabled, active, peer count, peer id, listen addresses, why it is not active, and the connected peers.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_peer_status(&self) -> ToolResult {
        respond(self.api.peer_status().await, |status| {
            let state =
                serde_json::to_value(status.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let reason = status.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
            format!("P2P {state}: {} peer(s){reason}", status.peer_count)
        })
    }

    #[tool(
        description = "Release assets and source archives: files in the blob store, bytes from GitHub against bytes from peers, downloads from each, failures, and transfers in progress.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_assets(&self) -> ToolResult {
        respond(self.api.assets().await, |assets| {
            format!(
                "{} files held; {} bytes from GitHub, {} from peers; {} in progress",
                assets.blobs_held,
                assets.bytes_from_github,
                assets.bytes_from_peers,
                assets.transfers.len()
            )
        })
    }

    #[tool(
        description = "Cache statistics: entries, size, hit rate, local and peer hits, misses, evictions, upstream calls made and saved.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_cache_stats(&self) -> ToolResult {
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
        description = "GitHub API cache statistics: calls made to GitHub and saved, responses per X-Peercache mode, upstream errors, and each token scope's rate limit.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn gh_get_cache_stats(&self) -> ToolResult {
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

    #[tool(
        description = "The most recent calls that went to GitHub (oldest first): timestamp, api_type, operation, status.",
        input_schema = schema::<CallLogArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn gh_get_api_call_log(&self, Args(args): Args<CallLogArgs>) -> ToolResult {
        let limit = args?.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(invalid(format!("limit must be 1 to 100, not {limit}")));
        }
        let log = self.api.cache_stats().await.map(|stats| {
            let log = stats.api_call_log;
            CallLog { calls: log[log.len().saturating_sub(limit as usize)..].to_vec(), limit }
        });
        respond(log, |log| format!("{} of the last upstream calls", log.calls.len()))
    }

    #[tool(
        description = "Invalidate cached entries whose key starts with `pattern`; without a pattern, EVERY entry of this node's cache. With `fleet`, on every node of the fleet too (signed; each node bars older copies).",
        input_schema = schema::<InvalidateArgs>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn gh_invalidate_cache(&self, Args(args): Args<InvalidateArgs>) -> ToolResult {
        let args = args?;
        let target = match args.pattern {
            Some(pattern) if !pattern.is_empty() => Invalidation::Prefix(pattern),
            _ => Invalidation::All,
        };
        let reach = if args.fleet { Reach::Fleet } else { Reach::Node };
        let done = self.api.invalidate(target, reach).await.map(|done| InvalidateAnswer {
            invalidated: done.invalidated,
            pattern: done.pattern,
            told_peers: done.told_peers,
            success: true,
        });
        respond(done, |done| format!("invalidated {}", invalidated_words(done.invalidated, done.told_peers)))
    }

    #[tool(
        description = "Read the cached JSON value under a key (asks the peers on a local miss).",
        input_schema = schema::<KeyArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn cache_get(&self, Args(args): Args<KeyArgs>) -> ToolResult {
        let args = args?;
        if args.key.is_empty() {
            return Err(invalid("key must not be empty".to_owned()));
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
            Err(failure) => Err(failed(failure)),
        }
    }

    #[tool(
        description = "List cached entries whose key starts with `prefix` (all without one), newest first, a page at a time: key, size, age, TTL left, origin, CID.",
        input_schema = schema::<ListArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn cache_list(&self, Args(args): Args<ListArgs>) -> ToolResult {
        let args = args?;
        let per_page = args.per_page.unwrap_or(25);
        if !(1..=100).contains(&per_page) {
            return Err(invalid(format!("per_page must be 1 to 100, not {per_page}")));
        }
        let prefix = args.prefix.unwrap_or_default();
        let page = args.page.unwrap_or(1).max(1);
        let offset = (page as usize - 1) * per_page as usize;
        let listed = self.api.entries(&prefix, offset, per_page as usize).await.map(|found| Listing {
            pages: found.total.div_ceil(per_page as usize),
            total: found.total,
            page,
            per_page,
            entries: found.entries,
        });
        respond(listed, |list| {
            format!("{} of {} entries (page {} of {})", list.entries.len(), list.total, list.page, list.pages.max(1))
        })
    }

    #[tool(
        description = "Store a JSON value under a key (replacing what it held), with an optional TTL in seconds.",
        input_schema = schema::<PutArgs>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn cache_put(&self, Args(args): Args<PutArgs>) -> ToolResult {
        let args = args?;
        let stored = self.api.put(&args.key, args.value.to_string().into_bytes(), args.ttl).await;
        respond(stored, |stored| format!("stored {} ({} bytes, ttl {} s)", stored.key, stored.size, stored.ttl_secs))
    }

    #[tool(
        description = "Dial a peer by multiaddr (ending in /p2p/<peer id>).",
        input_schema = schema::<ConnectArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
    )]
    async fn connect_peer(&self, Args(args): Args<ConnectArgs>) -> ToolResult {
        respond(self.api.connect(&args?.multiaddr, None).await, |dialing| format!("dialing {}", dialing.dialing))
    }

    #[tool(
        description = "The connected peers: peer id, address, direction, latency, agent, entries sent and received.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_peers(&self) -> ToolResult {
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
