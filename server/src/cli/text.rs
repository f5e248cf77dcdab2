//! What `peercache status` and `peercache peers` print for a person.

use std::fmt::Write;

use app::format::{latency, megabytes, node_state_badge, percent};
use app::model::{CacheStats, FleetState, FleetView, NodeInfo, PeerStatus};

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

/// `peercache assets`: the store, where its bytes came from, and downloads in progress.
pub fn assets_text(assets: &crate::assets::stats::AssetsView) -> String {
    let size = |bytes: u64| bytesize::ByteSize(bytes).display().iec().to_string();
    let mut out = format!(
        "store:     {} files, {} of {}\n\
         bytes:     {} from GitHub, {} from peers, {} served, {} sent to peers\n\
         downloads: {} from GitHub, {} from peers, {} failed\n\
         answers:   {} from the store, {} following a download, {} fetched, {} passed on\n",
        assets.blobs_held,
        size(assets.bytes_held),
        size(assets.budget_bytes),
        size(assets.bytes_from_github),
        size(assets.bytes_from_peers),
        size(assets.bytes_served),
        size(assets.bytes_to_peers),
        assets.downloads_from_github,
        assets.downloads_from_peers,
        assets.failures,
        assets.hits,
        assets.coalesced,
        assets.misses,
        assets.passed,
    );
    for source in &assets.pieces_from {
        let _ = writeln!(out, "pieces:    {} from {}", size(source.bytes), source.peer_id);
    }
    for transfer in &assets.transfers {
        let of = transfer.size.map_or_else(|| "?".to_owned(), size);
        let with = match transfer.peers {
            0 => String::new(),
            peers => format!(", with {peers} peers"),
        };
        let _ = writeln!(out, "receiving: {} {} of {}{with}", transfer.key, size(transfer.bytes), of);
    }
    out
}

/// `peercache fleet`: one line per node, then the totals.
pub fn fleet_text(fleet: &FleetView) -> String {
    let mut out = format!(
        "{:<52}  {:<5} {:<9} {:>6} {:>8} {:>8}  {}\n",
        "PEER ID", "STATE", "VERSION", "PEERS", "CALLS", "SAVED", "TROUBLE"
    );
    for node in &fleet.nodes {
        let state = match (node.state, node.trusted) {
            (_, false) => "apart",
            (FleetState::Up, true) => "up",
            (FleetState::Gone, true) => "gone",
        };
        let id = if node.peer_id.is_empty() { "(this node; P2P off)" } else { &node.peer_id };
        let _ = writeln!(
            out,
            "{:<52}  {:<5} {:<9} {:>6} {:>8} {:>8}  {}",
            id,
            state,
            node.summary.version,
            node.summary.peers,
            node.summary.upstream_calls,
            node.summary.calls_saved,
            node.summary.trouble.as_deref().unwrap_or("—"),
        );
    }
    let t = &fleet.totals;
    let _ = writeln!(
        out,
        "{} up, {} gone, {} apart (untrusted, not counted): {} GitHub calls made, {} saved ({} in the last hour)",
        t.nodes_up, t.nodes_gone, t.nodes_untrusted, t.upstream_calls, t.calls_saved, t.calls_saved_last_hour
    );
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
