//! What the core does by itself while serving: drop entries expired beyond
//! the stale grace once a minute, sample the counters for the charts, and
//! tell the fleet this node's summary.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::core::Core;
use crate::fleet::summary::Herald;

/// How often expired entries are purged.
const PURGE_PERIOD: Duration = Duration::from_secs(60);

impl Core {
    /// Drops entries expired beyond the stale grace, every minute.
    pub fn spawn_purge(&self) -> JoinHandle<()> {
        let cache = self.cache.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PURGE_PERIOD);
            every.tick().await;
            loop {
                every.tick().await;
                match cache.write(|cache| cache.purge_expired()).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::debug!(purged, "purged expired cache entries"),
                    Err(error) => tracing::warn!(%error, "purging expired cache entries failed"),
                }
            }
        })
    }

    /// Tells the fleet this node's summary now, then every summary period
    /// in which its figures moved, and every few periods when they did not
    /// (an idle fleet sends almost nothing), while the P2P node runs.
    pub fn spawn_fleet_summaries(&self) -> Option<JoinHandle<()>> {
        let node = self.p2p.clone()?;
        let core = self.clone();
        Some(tokio::spawn(async move {
            let mut every = tokio::time::interval(core.fleet_summary_period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut herald = Herald::default();
            loop {
                every.tick().await;
                if let Some(summary) = herald.period(core.summary()) {
                    node.publish_summary(summary);
                }
            }
        }))
    }

    /// Takes a sample now and then every sample period, for as long as the
    /// runtime lives.
    pub fn spawn_sampler(&self) -> JoinHandle<()> {
        let core = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(core.sample_period);
            loop {
                every.tick().await;
                core.history.push(core.sample());
            }
        })
    }
}
