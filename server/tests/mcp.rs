//! The MCP server driven by a real MCP client (rmcp's): over Streamable HTTP
//! at `/mcp`, and over stdio through `peercache mcp` as a child process.

mod support;

use std::collections::BTreeSet;

use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};

const TOOLS: [&str; 11] = [
    "cache_get",
    "cache_list",
    "cache_put",
    "connect_peer",
    "get_assets",
    "get_cache_stats",
    "get_peer_status",
    "gh_get_api_call_log",
    "gh_get_cache_stats",
    "gh_invalidate_cache",
    "list_peers",
];

type Client = RunningService<RoleClient, ClientConfig>;

async fn call(client: &Client, tool: &str, args: Value) -> Result<CallToolResult, rmcp::ServiceError> {
    let args = args.as_object().cloned().unwrap_or_default();
    client.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args)).await
}

fn structured(result: &CallToolResult) -> &Value {
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert!(!result.content.is_empty(), "a text summary comes with the JSON");
    result.structured_content.as_ref().expect("structured content")
}

/// Every tool, every error case: the same checks over any transport.
async fn exercise(client: &Client) {
    let info = client.peer_info().expect("initialized");
    assert!(info.capabilities.tools.is_some());

    let tools = client.list_all_tools().await.unwrap();
    let names: BTreeSet<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, TOOLS.into_iter().collect());
    for tool in &tools {
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")), "{}", tool.name);
        assert!(tool.description.as_ref().is_some_and(|d| !d.is_empty()), "{}", tool.name);
    }
    let log_tool = tools.iter().find(|t| t.name == "gh_get_api_call_log").unwrap();
    assert_eq!(log_tool.input_schema["properties"]["limit"]["maximum"], json!(100));
    // What each tool may do, as hints a host can act on (ask before a destructive one).
    let hints = |name: &str| {
        let tool = tools.iter().find(|t| t.name == name).unwrap();
        let a = tool.annotations.clone().unwrap_or_else(|| panic!("{name} has annotations"));
        (a.read_only_hint, a.destructive_hint, a.idempotent_hint)
    };
    for name in [
        "get_peer_status",
        "get_assets",
        "get_cache_stats",
        "gh_get_cache_stats",
        "gh_get_api_call_log",
        "cache_get",
        "cache_list",
        "list_peers",
    ] {
        assert_eq!(hints(name).0, Some(true), "{name} only reads");
    }
    assert_eq!(hints("gh_invalidate_cache"), (Some(false), Some(true), Some(true)));
    assert_eq!(hints("cache_put"), (Some(false), Some(true), Some(true)));
    assert_eq!(hints("connect_peer"), (Some(false), Some(false), Some(true)));

    let status = call(client, "get_peer_status", json!({})).await.unwrap();
    assert_eq!(structured(&status)["state"], "disabled");

    let stored = call(client, "cache_put", json!({"key": "mcp:octo/x", "value": {"id": 9}, "ttl": 90})).await.unwrap();
    assert!(structured(&stored)["cid"].as_str().unwrap().starts_with("bafkrei"));
    assert_eq!(structured(&stored)["ttl_secs"], 90);

    // GitHub answers are the proxy's alone: a failed call that says why.
    let planted =
        call(client, "cache_put", json!({"key": "github:GET:/repos/o/r:accept=:scope=anonymous", "value": {}}))
            .await
            .unwrap();
    assert_eq!(planted.is_error, Some(true));
    assert!(planted.structured_content.unwrap()["error"].as_str().unwrap().contains("only the proxy writes them"));

    let got = call(client, "cache_get", json!({"key": "mcp:octo/x"})).await.unwrap();
    assert_eq!(structured(&got)["found"], true);
    assert_eq!(structured(&got)["entry"]["value"]["id"], 9);
    let missing = call(client, "cache_get", json!({"key": "mcp:nothing"})).await.unwrap();
    assert_eq!(structured(&missing)["found"], false);

    for n in 0..3 {
        call(client, "cache_put", json!({"key": format!("mcp:list/{n}"), "value": n})).await.unwrap();
    }
    let page = call(client, "cache_list", json!({"prefix": "mcp:list/", "per_page": 2})).await.unwrap();
    let page = structured(&page);
    assert_eq!((page["total"].as_u64(), page["pages"].as_u64(), page["page"].as_u64()), (Some(3), Some(2), Some(1)));
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let last = call(client, "cache_list", json!({"prefix": "mcp:list/", "per_page": 2, "page": 2})).await.unwrap();
    let keys: Vec<&str> =
        structured(&last)["entries"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("mcp:list/"));
    call(client, "gh_invalidate_cache", json!({"pattern": "mcp:list/"})).await.unwrap();

    let assets = call(client, "get_assets", json!({})).await.unwrap();
    assert_eq!(structured(&assets)["blobs_held"], 0, "nothing downloaded here");
    assert!(structured(&assets)["budget_bytes"].as_u64().unwrap() > 0);

    let stats = call(client, "get_cache_stats", json!({})).await.unwrap();
    assert_eq!(structured(&stats)["total_entries"], 1);
    assert_eq!(structured(&stats)["total_hits"], 1);
    // The one GitHub request the test made (to a closed port) is counted and logged.
    let gh = call(client, "gh_get_cache_stats", json!({})).await.unwrap();
    let gh = structured(&gh);
    assert_eq!(gh["api_calls_made"], 1);
    assert_eq!(gh["proxy"]["upstream_calls"], 1);
    assert_eq!(gh["proxy"]["modes"]["MISS"], 1, "{gh}");
    assert_eq!(gh["proxy"]["modes"]["HIT"], 0, "{gh}");
    let log = call(client, "gh_get_api_call_log", json!({"limit": 5})).await.unwrap();
    assert_eq!(structured(&log)["limit"], 5);
    let calls = structured(&log)["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0]["api_type"].as_str(), calls[0]["operation"].as_str()), (Some("rest"), Some("repos")));
    assert_eq!(calls[0]["status"], "unreachable");
    let peers = call(client, "list_peers", json!({})).await.unwrap();
    assert_eq!(structured(&peers)["peer_count"], 0);

    let cleared = call(client, "gh_invalidate_cache", json!({"pattern": "mcp:"})).await.unwrap();
    assert_eq!(structured(&cleared), &json!({"invalidated": 1, "pattern": "mcp:", "success": true}));
    let cleared = call(client, "gh_invalidate_cache", json!({})).await.unwrap();
    assert_eq!(structured(&cleared)["pattern"], "");
    // For the whole fleet, with P2P off: a failed call that says why, and drops nothing.
    let fleet = call(client, "gh_invalidate_cache", json!({"pattern": "x:", "fleet": true})).await.unwrap();
    assert_eq!(fleet.is_error, Some(true));
    assert!(fleet.structured_content.unwrap()["error"].as_str().unwrap().contains("cannot tell the fleet"));

    // P2P is off here: a valid address is a failed call that says why.
    let valid = "/ip4/127.0.0.1/tcp/9100/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
    let off = call(client, "connect_peer", json!({"multiaddr": valid})).await.unwrap();
    assert_eq!(off.is_error, Some(true));
    assert!(off.structured_content.unwrap()["error"].as_str().unwrap().contains("CACHE_ENABLE_P2P=false"));

    // A JSON-RPC error only for a protocol fault: an unknown tool.
    match call(client, "no_such_tool", json!({})).await {
        Err(rmcp::ServiceError::McpError(error)) => {
            assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{error:?}");
            assert!(error.message.contains("tool not found"), "{error:?}");
        }
        other => panic!("unknown tool: expected a JSON-RPC error, got {other:?}"),
    }
    for (tool, args) in [
        ("gh_get_api_call_log", json!({"limit": 0})),
        ("gh_get_api_call_log", json!({"limit": 101})),
        ("gh_get_api_call_log", json!({"limit": "ten"})),
        ("cache_put", json!({"value": 1})),
        ("cache_put", json!({"key": "", "value": 1})),
        ("cache_get", json!({})),
        ("connect_peer", json!({"multiaddr": "/ip4/1.2.3"})),
        ("cache_list", json!({"per_page": 0})),
        ("cache_list", json!({"page": "two"})),
    ] {
        // Bad arguments are a tool result a model can read and correct.
        let result = call(client, tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e:?}"));
        assert_eq!(result.is_error, Some(true), "{tool} {args}: {result:?}");
        let said = result.structured_content.as_ref().unwrap()["error"].as_str().unwrap().to_owned();
        assert!(!said.is_empty(), "{tool} {args}");
        let text = format!("{:?}", result.content[0]);
        assert!(text.contains("invalid arguments") || text.contains("failed:"), "{tool} {args}: {text}");
    }
}

/// A server whose GitHub is a closed port, after one request through its
/// proxy (which fails, and is logged).
async fn serve_after_one_github_call(dir: &std::path::Path) -> support::Serve {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let server = support::serve(dir, &["--no-p2p", "--github-api-url", &upstream], &[]);
    let response = reqwest::get(format!("{}/github/repos/octo/x", server.url)).await.unwrap();
    assert_eq!(response.status(), 502);
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_streamable_http() {
    // rmcp's HTTP client is built on reqwest with rustls but no crypto
    // provider of its own (the default one needs aws-lc); ring is in the tree.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server = serve_after_one_github_call(dir.path()).await;
    let transport = StreamableHttpClientTransport::from_config(StreamableHttpClientTransportConfig::with_uri(format!(
        "{}/mcp",
        server.url
    )));
    let client = ClientConfig::default().serve(transport).await.expect("initialize over HTTP");
    exercise(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_stdio_forwards_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_after_one_github_call(dir.path()).await;
    let mut child = tokio::process::Command::new(support::BIN)
        .args(["mcp", "--server", &server.url])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let client = ClientConfig::default().serve((stdout, stdin)).await.expect("initialize over stdio");
    exercise(&client).await;
    client.cancel().await.unwrap();
    let _ = child.kill().await;
}
