//! What the core does by itself while serving: drop entries expired beyond
//! the stale grace once a minute, and sample the counters for the charts.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::core::Core;

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
