//! This node's summary of itself, made from the same figures the JSON API
//! shows, and the fleet view around it (see `crate::fleet`).

use std::collections::BTreeMap;

use app::api::Backend;
use app::model::{FleetView, NodeState, ResourceLimit};

use super::Core;
use crate::fleet::book::Book;
use crate::fleet::summary::Summary;

impl Core {
    /// What this node says of itself now.
    pub fn summary(&self) -> Summary {
        let stats = self.cache_stats();
        let node = self.node_info();
        let status = self.status.current();
        // The tightest limit of each resource over this node's token scopes.
        let mut limits: BTreeMap<String, ResourceLimit> = BTreeMap::new();
        for info in &stats.proxy.rate_limits {
            let (Some(remaining), Some(limit)) = (info.remaining, info.limit) else { continue };
            let resource = info.resource.clone().unwrap_or_else(|| "core".to_owned());
            let tightest = limits.entry(resource.clone()).or_insert(ResourceLimit { resource, remaining, limit });
            if remaining < tightest.remaining {
                *tightest = ResourceLimit { resource: tightest.resource.clone(), remaining, limit };
            }
        }
        let mut trouble = Vec::new();
        if status.state == NodeState::Failed {
            trouble.extend(status.reason.clone());
        }
        trouble.extend(stats.store_trouble.clone().map(|why| format!("store: {why}")));
        let held: Vec<String> = stats
            .proxy
            .rate_limits
            .iter()
            .filter(|info| info.blocked_until.is_some())
            .map(|info| info.resource.clone().unwrap_or_else(|| "core".to_owned()))
            .collect();
        if !held.is_empty() {
            trouble.push(format!("rate-limited by GitHub ({})", held.join(", ")));
        }
        Summary {
            version: node.version,
            at_ms: self.cache.now_ms(),
            uptime_secs: node.uptime_secs,
            peers: status.peer_count as u64,
            hits: stats.total_hits,
            misses: stats.misses,
            upstream_calls: stats.proxy.upstream_calls,
            calls_saved: stats.api_calls_saved,
            calls_saved_last_hour: stats.proxy.calls_saved_last_hour,
            free_confirmations_last_hour: stats.proxy.free_confirmations_last_hour,
            rate_limits: limits.into_values().collect(),
            store_entries: stats.total_entries,
            store_bytes: stats.total_size_bytes,
            trouble: (!trouble.is_empty()).then(|| trouble.join("; ")),
        }
    }

    /// Every node heard from lately, this one first, and their totals.
    pub fn fleet(&self) -> FleetView {
        let now = self.cache.now_ms();
        match &self.p2p {
            Some(node) => node.fleet(self.summary(), now),
            // Without a P2P node this node has no peer id, and no fleet.
            None => Book::new(0).view("", &self.summary(), now),
        }
    }
}
