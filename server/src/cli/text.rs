//! What `peercache status` and `peercache peers` print for a person.

use std::fmt::Write;

use app::format::{latency, megabytes, node_state_badge, percent};
use app::model::{CacheStats, NodeInfo, PeerStatus};

/// `peercache status`: the node and the cache in a few lines.
pub fn status_text(base: &str, peers: &PeerStatus, cache: &CacheStats, node: &NodeInfo) -> String {
    let (label, _) = node_state_badge(peers.state);
    let mut out = format!("peercache at {base}\n");
    let _ = write!(out, "P2P:     {label} — {} peer(s)", peers.peer_count);
    if let Some(reason) = &peers.reason {
        let _ = write!(out, " — {reason}");
    }
    out.push('\n');
    for problem in &peers.bootstrap_problems {
        let _ = writeln!(out, "Bootstrap: {problem}");
    }
    if let Some(warning) = &peers.sharing_warning {
        let _ = writeln!(out, "Sharing: ⚠ {warning}");
    }
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
    let _ = writeln!(out, "GitHub:  {}", node.upstream);
    match &node.gh_socket {
        Some(socket) => {
            let _ = writeln!(out, "gh:      gh config set http_unix_socket {socket}");
        }
        None => out.push_str("gh:      socket off (--gh-socket \"\")\n"),
    }
    out
}

/// `peercache peers`: one line per connected peer.
pub fn peers_text(peers: &PeerStatus) -> String {
    if peers.peers.is_empty() {
        return format!("no peers connected ({})\n", peers.reason.as_deref().unwrap_or("no reason given"));
    }
    // Full ids: what `CACHE_TRUSTED_PEERS` and `connect` take.
    let mut out = format!("{:<52}  {:<9} {:>9}  {}  {}\n", "PEER ID", "DIRECTION", "LATENCY", "AGENT", "ADDRESS");
    for peer in &peers.peers {
        let _ = writeln!(
            out,
            "{:<52}  {:<9} {:>9}  {}  {}",
            peer.peer_id,
            peer.direction,
            latency(peer.latency_ms),
            peer.agent.as_deref().unwrap_or("—"),
            peer.addr,
        );
    }
    out
}
