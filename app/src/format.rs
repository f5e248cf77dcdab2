//! How numbers and states read on the dashboard. Pure functions, so the words
//! and colours the browser tests look for are unit-tested here too.

use crate::model::NodeState;

/// Text and CSS class of the `#peer-status` value.
pub fn node_state_badge(state: NodeState) -> (&'static str, &'static str) {
    match state {
        NodeState::Active => ("✓ Active", "status-ok"),
        NodeState::Connecting => ("⚠ Enabled but not active", "status-warn"),
        NodeState::Disabled => ("✗ Disabled", "status-off"),
        NodeState::Failed => ("✗ Failed", "status-error"),
    }
}

/// What `#peer-status` says when the server could not be asked at all.
pub const ERROR_LOADING: (&str, &str) = ("⚠ Error loading", "status-error");

/// Text of the `#p2p-enabled` value.
pub fn enabled_label(enabled: bool) -> &'static str {
    if enabled {
        "✓ Enabled"
    } else {
        "✗ Disabled"
    }
}

/// Megabytes with two decimals, as `#cache-size` shows them.
pub fn megabytes(mb: f64) -> String {
    format!("{mb:.2} MB")
}

/// A 0..1 fraction as a percentage with one decimal, as `#cache-hit-rate` shows it.
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A long id (peer id, CID) shortened for a table: first 6 and last 6 characters.
pub fn short_id(id: &str) -> String {
    if id.chars().count() <= 16 {
        return id.to_owned();
    }
    let chars: Vec<char> = id.chars().collect();
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 6..].iter().collect();
    format!("{head}…{tail}")
}

/// A ping round trip, or a dash until one was measured.
pub fn latency(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms < 10.0 => format!("{ms:.2} ms"),
        Some(ms) => format!("{ms:.0} ms"),
        None => "—".to_owned(),
    }
}

/// A wait in words: "42 s", "12 min", "2 h 5 min".
pub fn duration_words(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// At most `max` characters of `text`, the cut marked with "…".
pub fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// A size in the largest sensible binary unit: "512 B", "1.5 KiB", "2.0 MiB", "10.0 GiB".
pub fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", n as f64 / 1_048_576.0),
        _ => format!("{:.1} GiB", n as f64 / 1_073_741_824.0),
    }
}

/// Where an entry came from: "local", or the short id of the peer.
pub fn origin(origin: &str) -> String {
    if origin == "local" {
        origin.to_owned()
    } else {
        format!("peer {}", short_id(origin))
    }
}

/// How many entries, in words: "1 entry", "3 entries".
pub fn entries(n: usize) -> String {
    if n == 1 {
        "1 entry".to_owned()
    } else {
        format!("{n} entries")
    }
}

/// What an invalidation dropped, in words: "3 entries", and for a
/// fleet-wide one how many peers were told.
pub fn invalidated(dropped: usize, told_peers: Option<usize>) -> String {
    match told_peers {
        None => entries(dropped),
        Some(peers) => format!("{} here; told {peers} peer(s) to drop theirs", entries(dropped)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_its_own_colour() {
        let classes: Vec<_> = [NodeState::Active, NodeState::Connecting, NodeState::Disabled, NodeState::Failed]
            .into_iter()
            .map(|s| node_state_badge(s).1)
            .collect();
        assert_eq!(classes, ["status-ok", "status-warn", "status-off", "status-error"]);
        assert_eq!(node_state_badge(NodeState::Disabled).0, "✗ Disabled");
    }

    #[test]
    fn waits_read_in_the_largest_sensible_unit() {
        assert_eq!(duration_words(5), "5 s");
        assert_eq!(duration_words(600), "10 min");
        assert_eq!(duration_words(3600 + 300), "1 h 5 min");
    }

    #[test]
    fn peer_ids_and_latencies_read_short() {
        assert_eq!(short_id("12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"), "12D3Ko…x6nXTN");
        assert_eq!(short_id("short"), "short");
        assert_eq!(latency(None), "—");
        assert_eq!(latency(Some(0.4321)), "0.43 ms");
        assert_eq!(latency(Some(123.4)), "123 ms");
    }

    #[test]
    fn sizes_origins_and_counts_read_naturally() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1_048_576), "3.0 MiB");
        assert_eq!(bytes(10 << 30), "10.0 GiB");
        assert_eq!(origin("local"), "local");
        assert_eq!(origin("12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"), "peer 12D3Ko…x6nXTN");
        assert_eq!(entries(1), "1 entry");
        assert_eq!(entries(0), "0 entries");
        assert_eq!(ellipsis("short", 8), "short");
        assert_eq!(ellipsis("a longer text", 8), "a longe…");
    }

    #[test]
    fn numbers_use_the_dashboard_precision() {
        assert_eq!(megabytes(0.0), "0.00 MB");
        assert_eq!(megabytes(1.0051), "1.01 MB");
        assert_eq!(megabytes(12.5), "12.50 MB");
        assert_eq!(percent(0.0), "0.0%");
        assert_eq!(percent(0.8766), "87.7%");
        assert_eq!(percent(1.0), "100.0%");
    }
}
