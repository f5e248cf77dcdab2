//! What this node heard from the others: each node's latest summary, when
//! it came and whether its publisher is trusted. Time comes in as `now`, so
//! "up", "gone" and "forgotten" are testable without a clock. The view sums
//! the nodes that are up and trusted; a node not heard from for
//! [`Book::gone_after_ms`] is gone (shown, not summed), and forgotten after
//! [`FORGET_AFTER_MS`].

use std::collections::{BTreeSet, HashMap};

use app::model::{FleetNode, FleetState, FleetTotals, FleetView};
use libp2p::PeerId;

use super::summary::Summary;

/// Nodes remembered at most; the longest unheard go first.
const MAX_NODES: usize = 4096;
/// A node not heard from this long is dropped from the view.
pub const FORGET_AFTER_MS: u64 = 10 * 60 * 1000;

struct Heard {
    summary: Summary,
    heard_at_ms: u64,
    trusted: bool,
    /// Its last connection to this node closed since it was heard.
    left: bool,
}

pub struct Book {
    nodes: HashMap<PeerId, Heard>,
    gone_after_ms: u64,
}

impl Book {
    /// A node is gone once `gone_after_ms` pass without its summary.
    pub fn new(gone_after_ms: u64) -> Book {
        Book { nodes: HashMap::new(), gone_after_ms }
    }

    pub fn gone_after_ms(&self) -> u64 {
        self.gone_after_ms
    }

    /// `peer`'s summary arrived at `now`.
    pub fn heard(&mut self, peer: PeerId, summary: Summary, trusted: bool, now: u64) {
        if !self.nodes.contains_key(&peer) && self.nodes.len() >= MAX_NODES {
            if let Some(oldest) = self.nodes.iter().min_by_key(|(_, h)| h.heard_at_ms).map(|(p, _)| *p) {
                self.nodes.remove(&oldest);
            }
        }
        self.nodes.insert(peer, Heard { summary, heard_at_ms: now, trusted, left: false });
    }

    /// `peer`'s last connection to this node closed: gone until heard again
    /// (a node killed shows as gone at once where it was a direct peer).
    pub fn left(&mut self, peer: &PeerId) {
        if let Some(heard) = self.nodes.get_mut(peer) {
            heard.left = true;
        }
    }

    /// The fleet as of `now`: this node (`own_id`, and its summary, live)
    /// first, then every node heard from lately.
    pub fn view(&mut self, own_id: &str, own: &Summary, now: u64) -> FleetView {
        self.nodes.retain(|_, heard| now.saturating_sub(heard.heard_at_ms) < FORGET_AFTER_MS);
        let mut others: Vec<FleetNode> = self
            .nodes
            .iter()
            .map(|(peer, heard)| {
                let up = !heard.left && now.saturating_sub(heard.heard_at_ms) < self.gone_after_ms;
                let state = if up { FleetState::Up } else { FleetState::Gone };
                node(&peer.to_string(), &heard.summary, state, heard.trusted, false)
            })
            .collect();
        others.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        let mut nodes = vec![node(own_id, own, FleetState::Up, true, true)];
        nodes.extend(others);
        FleetView { totals: totals(&nodes), nodes, as_of_ms: now }
    }
}

fn node(peer_id: &str, summary: &Summary, state: FleetState, trusted: bool, this_node: bool) -> FleetNode {
    FleetNode { peer_id: peer_id.to_owned(), state, this_node, trusted, summary: summary.clone() }
}

fn totals(nodes: &[FleetNode]) -> FleetTotals {
    let mut totals = FleetTotals::default();
    let mut versions = BTreeSet::new();
    for node in nodes {
        let s = &node.summary;
        match (node.state, node.trusted) {
            (_, false) => totals.nodes_untrusted += 1,
            (FleetState::Gone, true) => totals.nodes_gone += 1,
            (FleetState::Up, true) => {
                totals.nodes_up += 1;
                totals.hits += s.hits;
                totals.misses += s.misses;
                totals.upstream_calls += s.upstream_calls;
                totals.calls_saved += s.calls_saved;
                totals.calls_saved_last_hour += s.calls_saved_last_hour;
                totals.free_confirmations_last_hour += s.free_confirmations_last_hour;
                totals.store_entries += s.store_entries;
                totals.store_bytes += s.store_bytes;
                let core = s.rate_limits.iter().find(|l| l.resource == "core").map(|l| l.remaining);
                totals.core_remaining_min = match (totals.core_remaining_min, core) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                versions.insert(s.version.clone());
            }
        }
    }
    if versions.len() > 1 {
        totals.versions = versions.into_iter().collect();
    }
    totals
}

#[cfg(test)]
mod tests {
    use app::model::ResourceLimit;

    use super::*;

    fn summary(calls_saved: u64, version: &str) -> Summary {
        Summary {
            version: version.into(),
            calls_saved,
            upstream_calls: 1,
            rate_limits: vec![ResourceLimit { resource: "core".into(), remaining: 4000 + calls_saved, limit: 5000 }],
            ..Summary::default()
        }
    }

    #[test]
    fn the_view_sums_the_trusted_nodes_that_are_up_and_ages_the_rest_out() {
        let (me, a, b, stranger) = (PeerId::random(), PeerId::random(), PeerId::random(), PeerId::random());
        let mut book = Book::new(15_000);
        book.heard(a, summary(10, "0.1.0"), true, 0);
        book.heard(b, summary(20, "0.2.0"), true, 0);
        book.heard(stranger, summary(1_000, "0.1.0"), false, 0);
        let view = book.view(&me.to_string(), &summary(5, "0.1.0"), 1_000);
        assert!(view.nodes[0].this_node && view.nodes[0].peer_id == me.to_string());
        assert_eq!(view.nodes.len(), 4);
        let t = &view.totals;
        assert_eq!((t.nodes_up, t.nodes_gone, t.nodes_untrusted), (3, 0, 1));
        assert_eq!((t.calls_saved, t.upstream_calls), (35, 3), "the stranger's figures are not summed");
        assert_eq!(t.core_remaining_min, Some(4005));
        assert_eq!(t.versions, ["0.1.0", "0.2.0"]);
        // b keeps talking, a falls silent: gone, then forgotten.
        book.heard(b, summary(21, "0.2.0"), true, 14_000);
        let view = book.view(&me.to_string(), &summary(5, "0.1.0"), 16_000);
        let a_row = view.nodes.iter().find(|n| n.peer_id == a.to_string()).unwrap();
        assert_eq!(a_row.state, FleetState::Gone);
        assert_eq!((view.totals.nodes_up, view.totals.nodes_gone, view.totals.calls_saved), (2, 1, 26));
        let view = book.view(&me.to_string(), &summary(5, "0.1.0"), FORGET_AFTER_MS + 1);
        assert!(view.nodes.iter().all(|n| n.peer_id != a.to_string()));
    }

    #[test]
    fn a_node_whose_connection_closed_is_gone_until_heard_again() {
        let (me, a) = (PeerId::random(), PeerId::random());
        let mut book = Book::new(15_000);
        book.heard(a, summary(10, "0.1.0"), true, 0);
        book.left(&a);
        let view = book.view(&me.to_string(), &summary(5, "0.1.0"), 1_000);
        assert_eq!((view.totals.nodes_up, view.totals.nodes_gone, view.totals.calls_saved), (1, 1, 5));
        book.heard(a, summary(11, "0.1.0"), true, 2_000);
        let view = book.view(&me.to_string(), &summary(5, "0.1.0"), 3_000);
        assert_eq!((view.totals.nodes_up, view.totals.calls_saved), (2, 16));
    }
}
