//! Talking to a running `peercache serve` over its JSON API: what
//! `peercache status` and `peercache peers` print.

use std::fmt::Write;

use anyhow::{anyhow, Context};
use app::format::{enabled_label, latency, megabytes, node_state_badge, percent, short_peer_id};
use app::model::{CacheStats, PeerStatus};
use serde::de::DeserializeOwned;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8899";

/// A running peercache, as the command line talks to it.
pub struct Remote {
    base: String,
    admin_token: Option<String>,
    client: reqwest::Client,
}

impl Remote {
    pub fn new(base: &str, admin_token: Option<String>) -> anyhow::Result<Remote> {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        Ok(Remote { base: base.trim_end_matches('/').to_owned(), admin_token, client })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<T> {
        self.send(self.client.get(self.url(path)).query(query)).await
    }

    pub async fn put<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)], body: Vec<u8>) -> anyhow::Result<T> {
        self.send(self.client.put(self.url(path)).query(query).body(body)).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<T> {
        self.send(self.client.post(self.url(path)).body(body.to_string())).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send<T: DeserializeOwned>(&self, mut request: reqwest::RequestBuilder) -> anyhow::Result<T> {
        if let Some(token) = &self.admin_token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|error| {
            anyhow!("cannot reach peercache at {}: is `peercache serve` running there? ({error})", self.base)
        })?;
        let status = response.status();
        let url = response.url().clone();
        let body = response.text().await.with_context(|| format!("reading {url}"))?;
        if !status.is_success() {
            // The server's own words: every API error is {"error": "..."}.
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or(body);
            return Err(anyhow!("{message} ({status})"));
        }
        serde_json::from_str(&body).with_context(|| format!("{url} did not answer peercache JSON"))
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
            short_peer_id(&peer.peer_id),
            peer.direction,
            latency(peer.latency_ms),
            peer.agent.as_deref().unwrap_or("—"),
            peer.addr,
        );
    }
    out
}
