//! `peercache serve`: build the state, bind, serve until Ctrl-C or SIGTERM.

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::ServeConfig;
use crate::http::router::router;
use crate::state::AppState;

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let site_root = config.site_root();
    if !site_root.join("pkg").join("peercache.js").exists() {
        tracing::warn!(
            site_root = %site_root.display(),
            "no built dashboard assets here: the page renders but will not update live; run `make build` or set PEERCACHE_SITE_ROOT"
        );
    }
    let state = AppState::new(&config)?;
    spawn_purge(state.cache.clone());
    let _sampler = state.spawn_sampler(crate::history::SAMPLE_PERIOD);
    let listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.http_addr))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to learn the port when asked for port 0.
    println!("peercache listening on http://{addr}");
    tracing::info!(%addr, "dashboard and API ready");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// Drops entries expired beyond the stale grace, once a minute.
fn spawn_purge(cache: std::sync::Arc<crate::cache::Cache>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        every.tick().await;
        loop {
            every.tick().await;
            let cache = cache.clone();
            match tokio::task::spawn_blocking(move || cache.purge_expired()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(purged)) => tracing::debug!(purged, "purged expired cache entries"),
                Ok(Err(error)) => tracing::warn!(%error, "purging expired cache entries failed"),
                Err(error) => tracing::warn!(%error, "purge task failed"),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
