//! `GET /metrics`: Prometheus (OpenMetrics) text. The figures are read at
//! scrape time from the same counters the JSON API shows — nothing is counted
//! twice — plus libp2p's own swarm metrics (connections, ping RTT histogram,
//! gossipsub, identify, Kademlia). Labels stay bounded: a mode, a source, a
//! token scope hash (at most 1024 kept), never a cache key.

use std::sync::Arc;

use app::api::Backend;
use app::model::RateLimitInfo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::http::process_metrics::ProcessCollector;

/// Reads the application's statistics at each scrape.
pub struct StatsCollector {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for StatsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatsCollector")
    }
}

impl StatsCollector {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        StatsCollector { backend }
    }
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// One gauge family over the rate limits, labelled by scope and resource
/// (GitHub's default resource is `core`); scopes without the figure are left out.
fn rate_limit_gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    limits: &[RateLimitInfo],
    figure: impl Fn(&RateLimitInfo) -> Option<u64>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, ConstGauge::new(0i64).metric_type())?;
    for info in limits {
        if let Some(value) = figure(info) {
            let resource = info.resource.as_deref().unwrap_or("core");
            ConstGauge::new(value as i64)
                .encode(family.encode_family(&[("scope", info.scope.as_str()), ("resource", resource)])?)?;
        }
    }
    Ok(())
}

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let cache = self.backend.cache_stats();
        let peers = self.backend.peer_status();
        let e = &mut encoder;

        let hits = ConstCounter::new(0u64);
        let mut family =
            e.encode_descriptor("cache_hits", "Cache hits by where the entry came from", None, hits.metric_type())?;
        for (source, value) in [("local", cache.local_hits), ("peer", cache.peer_hits)] {
            ConstCounter::new(value).encode(family.encode_family(&[("source", source)])?)?;
        }
        counter(e, "cache_misses", "Lookups that found nothing fresh here or at a peer", cache.misses)?;
        counter(e, "cache_expirations", "Lookups that found an expired entry", cache.expirations)?;
        counter(e, "cache_evictions", "Entries dropped by the LRU bounds", cache.evictions)?;
        counter(
            e,
            "cache_api_calls_saved",
            "Upstream calls avoided (hits, revalidations, coalesced)",
            cache.api_calls_saved,
        )?;
        gauge(e, "cache_entries", "Entries in the cache", cache.total_entries as i64)?;
        gauge(e, "cache_bytes", "Bytes (keys + values) in the cache", cache.total_size_bytes as i64)?;
        counter(e, "upstream_calls", "Requests sent to GitHub", cache.proxy.upstream_calls)?;

        let mode = ConstCounter::new(0u64);
        let mut family = e.encode_descriptor(
            "proxy_responses",
            "GitHub proxy responses by X-Peercache mode",
            None,
            mode.metric_type(),
        )?;
        for (name, value) in &cache.proxy.modes {
            ConstCounter::new(*value).encode(family.encode_family(&[("mode", name.as_str())])?)?;
        }
        let limits = &cache.proxy.rate_limits;
        rate_limit_gauge(
            e,
            "github_rate_limit_remaining",
            "GitHub's remaining requests per token scope hash and resource (core, search, graphql, ...)",
            limits,
            |info| info.remaining,
        )?;
        rate_limit_gauge(
            e,
            "github_rate_limit_limit",
            "GitHub's request limit per token scope hash and resource",
            limits,
            |info| info.limit,
        )?;
        rate_limit_gauge(
            e,
            "github_rate_limit_reset_timestamp_seconds",
            "When GitHub's limit per token scope hash and resource resets (Unix seconds)",
            limits,
            |info| info.reset_epoch,
        )?;
        let errors = ConstCounter::new(0u64);
        let mut family = e.encode_descriptor(
            "upstream_errors",
            "Requests to GitHub that failed, by kind",
            None,
            errors.metric_type(),
        )?;
        for (kind, value) in &cache.proxy.upstream_errors {
            ConstCounter::new(*value).encode(family.encode_family(&[("kind", kind.as_str())])?)?;
        }
        let confirmations = ConstCounter::new(0u64);
        let mut family = e.encode_descriptor(
            "confirmations",
            "Bodies the fleet holds offered to GitHub for a requester (If-None-Match), by path family and outcome: \
             confirmed (304, free) or refused (GitHub's own answer)",
            None,
            confirmations.metric_type(),
        )?;
        for (path_family, counts) in &cache.proxy.confirm.by_family {
            for (outcome, value) in [("confirmed", counts.confirmed), ("refused", counts.refused)] {
                let labels = [("family", path_family.as_str()), ("outcome", outcome)];
                ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        gauge(
            e,
            "github_free_confirmations_last_hour",
            "Answers GitHub confirmed with a free 304 (REVALIDATED, CONFIRMED) in the last 60 minutes",
            cache.proxy.free_confirmations_last_hour as i64,
        )?;
        let fleet = &cache.proxy.fleet;
        counter(
            e,
            "fleet_leases_granted",
            "Fleet-wide single flight: leases granted as a key's coordinator",
            fleet.leases_granted,
        )?;
        counter(e, "fleet_waits", "Requests that waited for another node's fetch", fleet.waits)?;
        counter(e, "fleet_wait_timeouts", "Waits for another node's fetch that ran out", fleet.wait_timeouts)?;
        gauge(e, "peers_connected", "Connected P2P peers", peers.peer_count as i64)?;
        counter(e, "gossip_entries_accepted", "Entries from peers verified and stored", peers.accepted_from_peers)?;
        counter(
            e,
            "gossip_entries_rejected",
            "Entries and messages from peers that failed verification",
            peers.rejected_from_peers,
        )?;
        let refusals = ConstCounter::new(0u64);
        let mut family = e.encode_descriptor(
            "peer_refusals",
            "What the node refused from peers, by reason (bad_signature, untrusted_publisher, too_wide, \
             swarm_key_mismatch, handshakes_per_ip, ...)",
            None,
            refusals.metric_type(),
        )?;
        for (reason, value) in &peers.refused_by_reason {
            ConstCounter::new(*value).encode(family.encode_family(&[("reason", reason.as_str())])?)?;
        }
        let trusted = peers.peers.iter().filter(|peer| peer.trusted).count();
        let mut family = e.encode_descriptor(
            "peers_by_trust",
            "Connected peers by whether this node takes the GitHub answers they publish",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (label, value) in [("true", trusted), ("false", peers.peer_count.saturating_sub(trusted))] {
            ConstGauge::new(value as i64).encode(family.encode_family(&[("trusted", label)])?)?;
        }
        gauge(
            e,
            "github_sharing_off",
            "1 while this node serves no peer's GitHub answer as it is (an open swarm, nobody trusted)",
            i64::from(peers.sharing_warning.is_some()),
        )?;
        counter(e, "peer_fetches_served", "Fetch requests from peers this node answered", peers.fetches_served)?;
        counter(e, "peer_syncs_served", "Catch-up requests from peers this node answered", peers.syncs_served)?;
        Ok(())
    }
}

/// Reads the release assets' figures at each scrape (`peercache_asset_*`).
pub struct AssetsCollector {
    assets: Arc<crate::assets::Assets>,
}

impl std::fmt::Debug for AssetsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AssetsCollector")
    }
}

impl AssetsCollector {
    pub fn new(assets: Arc<crate::assets::Assets>) -> Self {
        AssetsCollector { assets }
    }
}

impl Collector for AssetsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let view = self.assets.view();
        let e = &mut encoder;
        let kind = ConstCounter::new(0u64).metric_type();
        let mut family =
            e.encode_descriptor("asset_bytes", "Bytes of release assets and archives taken, by source", None, kind)?;
        for (source, value) in [("github", view.bytes_from_github), ("peers", view.bytes_from_peers)] {
            ConstCounter::new(value).encode(family.encode_family(&[("source", source)])?)?;
        }
        counter(e, "asset_served_bytes", "Bytes of release assets and archives sent to clients", view.bytes_served)?;
        counter(e, "asset_peer_sent_bytes", "Bytes of release asset and archive pieces sent to peers", view.bytes_to_peers)?;
        let mut family =
            e.encode_descriptor("asset_downloads", "Downloads into the blob store, by outcome", None, kind)?;
        let outcomes =
            [("github", view.downloads_from_github), ("peers", view.downloads_from_peers), ("failed", view.failures)];
        for (outcome, value) in outcomes {
            ConstCounter::new(value).encode(family.encode_family(&[("outcome", outcome)])?)?;
        }
        let mut family =
            e.encode_descriptor("asset_answers", "Download requests answered, by X-Peercache mode", None, kind)?;
        let modes = [("HIT", view.hits), ("COALESCED", view.coalesced), ("MISS", view.misses), ("PASS", view.passed)];
        for (mode, value) in modes {
            ConstCounter::new(value).encode(family.encode_family(&[("mode", mode)])?)?;
        }
        gauge(e, "asset_store_bytes", "Bytes the blob store holds", view.bytes_held as i64)?;
        gauge(e, "asset_store_files", "Files the blob store holds", view.blobs_held as i64)?;
        gauge(e, "asset_transfers", "Downloads in progress", view.transfers.len() as i64)?;
        Ok(())
    }
}

/// The registry every metric lives in: the process's own `process_*`
/// families at its root, everything else under `peercache_` (register it in
/// `sub_registry_with_prefix("peercache")`), the build's version and
/// profile among them (`peercache_build_info`).
pub fn new_registry() -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ProcessCollector));
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    registry.sub_registry_with_prefix("peercache").register(
        "build",
        "The peercache build serving these metrics",
        Info::new([("version", env!("CARGO_PKG_VERSION")), ("profile", profile)]),
    );
    registry
}
