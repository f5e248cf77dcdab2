//! Talking to a running `peercache serve` over its JSON API: what
//! `peercache status` and `peercache peers` print.

use std::fmt::Write;

use anyhow::{anyhow, Context};
use app::format::{enabled_label, latency, megabytes, node_state_badge, percent, short_id};
use app::model::{CacheStats, PeerStatus};
use axum::http::Method;
use serde::de::DeserializeOwned;

use crate::mcp::json_api::{JsonApi, OverHttp};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8899";

/// A running peercache, as the command line talks to it: the same client
/// `peercache mcp` uses, with typed answers and one-line errors.
pub struct Remote {
    api: OverHttp,
}

impl Remote {
    pub fn new(base: &str, admin_token: Option<String>) -> anyhow::Result<Remote> {
        Ok(Remote { api: OverHttp::new(base, admin_token)? })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<T> {
        self.call(Method::GET, path, query, None).await
    }

    pub async fn put<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)], body: Vec<u8>) -> anyhow::Result<T> {
        self.call(Method::PUT, path, query, Some(body)).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<T> {
        self.call(Method::POST, path, &[], Some(body.to_string().into_bytes())).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<T> {
        let path_and_query = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", serde_urlencoded::to_string(query)?)
        };
        let value = self.api.call(method, &path_and_query, body).await.map_err(|failure| anyhow!("{failure}"))?;
        serde_json::from_value(value).with_context(|| format!("{path} did not answer peercache JSON"))
    }
}

/// `peercache status`: the node and the cache in a few lines.
pub fn status_text(base: &str, peers: &PeerStatus, cache: &CacheStats) -> String {
    let (label, _) = node_state_badge(peers.state);
    let mut out = format!("peercache at {base}\n");
    let _ = write!(out, "P2P:     {label} — {} peer(s), {}", peers.peer_count, enabled_label(peers.enabled));
    if let Some(reason) = &peers.reason {
        let _ = write!(out, " — {reason}");
    }
    out.push('\n');
    if let Some(id) = &peers.peer_id {
        let _ = writeln!(out, "Peer ID: {id}");
    }
    for addr in &peers.listen_addrs {
        let _ = writeln!(out, "Listen:  {addr}");
    }
    let _ = writeln!(
        out,
        "Cache:   {} entries, {}, hit rate {} ({} hits, {} misses), {} GitHub calls saved, {} made",
        cache.total_entries,
        megabytes(cache.total_size_mb),
        percent(cache.hit_rate),
        cache.total_hits,
        cache.misses,
        cache.api_calls_saved,
        cache.api_calls_made,
    );
    out
}

/// `peercache peers`: one line per connected peer.
pub fn peers_text(peers: &PeerStatus) -> String {
    if peers.peers.is_empty() {
        return format!("no peers connected ({})\n", peers.reason.as_deref().unwrap_or("no reason given"));
    }
    let mut out = String::new();
    for peer in &peers.peers {
        let _ = writeln!(
            out,
            "{}  {:<9} {:>9}  {}  {}",
            short_id(&peer.peer_id),
            peer.direction,
            latency(peer.latency_ms),
            peer.agent.as_deref().unwrap_or("—"),
            peer.addr,
        );
    }
    out
}
