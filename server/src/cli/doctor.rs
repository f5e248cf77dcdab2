//! `peercache doctor`: the node's own checks (`GET /api/doctor`) and those
//! only the caller's side can make — that the server answers, and that
//! GitHub answers through it with the caller's token (`GITHUB_TOKEN` or
//! `GH_TOKEN`, never printed) — one line each; healthy only when no check
//! is a problem.

use std::fmt::Write;

use app::model::{Check, Diagnosis, Level, NodeInfo};
use axum::http::Method;
use serde_json::Value;

use super::client::Client;
use crate::mcp::api::ApiFailure;

/// Where `doctor` takes the caller's GitHub token from, first found first.
const TOKEN_VARIABLES: [&str; 2] = ["GITHUB_TOKEN", "GH_TOKEN"];

/// Every check, the server's and the caller's.
pub async fn diagnose(client: &Client) -> Result<Diagnosis, ApiFailure> {
    let node: NodeInfo = client.node_info().await?;
    let mut checks =
        vec![Check::new("http", Level::Ok, format!("peercache {} answers at {}", node.version, client.base()))];
    let from_node: Diagnosis = client.get("/api/doctor").await?;
    checks.extend(from_node.checks);
    checks.push(upstream(client, &node).await);
    if let Some(socket) = node.gh_socket.as_deref().filter(|path| std::path::Path::new(path).exists()) {
        checks.push(match tokio::net::UnixStream::connect(socket).await {
            Ok(_) => Check::new("gh-socket", Level::Ok, format!("{socket} takes connections from this user")),
            Err(error) => Check::new("gh-socket", Level::Fail, format!("{socket}: {error}")),
        });
    }
    Ok(Diagnosis::new(checks))
}

/// GitHub's `/rate_limit` through the proxy (free: GitHub does not count it),
/// asked afresh.
async fn upstream(client: &Client, node: &NodeInfo) -> Check {
    let token =
        TOKEN_VARIABLES.iter().find_map(|name| Some((*name, std::env::var(name).ok().filter(|t| !t.is_empty())?)));
    let mut headers = vec![("cache-control", "no-cache".to_owned())];
    if let Some((_, token)) = &token {
        headers.push(("authorization", format!("token {token}")));
    }
    let who = token
        .as_ref()
        .map_or("anonymously (no GITHUB_TOKEN or GH_TOKEN)".to_owned(), |(name, _)| format!("with {name}"));
    let (status, body) = match client.raw(Method::GET, "/github/rate_limit", &headers).await {
        Ok(answer) => answer,
        Err(failure) => return Check::new("upstream", Level::Fail, failure.message),
    };
    let message = body["message"].as_str().unwrap_or("no message");
    let upstream = &node.upstream;
    match status {
        200 => {
            let core = &body["resources"]["core"];
            let (remaining, limit) = (core["remaining"].as_u64(), core["limit"].as_u64());
            match (remaining, limit) {
                (Some(0), Some(limit)) => Check::new(
                    "upstream",
                    Level::Fail,
                    format!("{upstream} answers {who}, but its core limit of {limit} is spent until it resets"),
                ),
                (Some(remaining), Some(limit)) => Check::new(
                    "upstream",
                    Level::Ok,
                    format!("{upstream} answers {who}: {remaining} of {limit} core requests left this hour"),
                ),
                _ => Check::new("upstream", Level::Warn, format!("{upstream} answers {who}, without a rate limit")),
            }
        }
        401 => Check::new("upstream", Level::Fail, format!("{upstream} refused the token {who}: {message}")),
        502..=504 => Check::new("upstream", Level::Fail, format!("{upstream} cannot be reached: {message}")),
        other => Check::new("upstream", Level::Fail, format!("{upstream} answered {other} {who}: {message}")),
    }
}

/// For a person: a line a check, problems marked.
pub fn text(diagnosis: &Diagnosis) -> String {
    let mut out = String::new();
    for check in &diagnosis.checks {
        let mark = match check.level {
            Level::Ok => "✓",
            Level::Warn => "⚠",
            Level::Fail => "✗",
        };
        let _ = writeln!(out, "{mark} {:<10} {}", check.check, check.detail);
    }
    let problems = diagnosis.checks.iter().filter(|c| c.level == Level::Fail).count();
    match problems {
        0 => out.push_str("healthy\n"),
        n => {
            let _ = writeln!(out, "{n} problem(s)");
        }
    }
    out
}

/// Whether `body` has a JSON object: a proxy answer of ours or GitHub's.
pub(super) fn json_or_message(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| serde_json::json!({"message": String::from_utf8_lossy(bytes)}))
}
