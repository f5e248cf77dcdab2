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
    fn numbers_use_the_dashboard_precision() {
        assert_eq!(megabytes(0.0), "0.00 MB");
        assert_eq!(megabytes(1.0051), "1.01 MB");
        assert_eq!(megabytes(12.5), "12.50 MB");
        assert_eq!(percent(0.0), "0.0%");
        assert_eq!(percent(0.8766), "87.7%");
        assert_eq!(percent(1.0), "100.0%");
    }
}
