//! `peercache serve`: build the state, bind, serve until Ctrl-C or SIGTERM.

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::ServeConfig;
use crate::http::gh_socket;
use crate::http::router::router;
use crate::http::server::{self, Limits};
use crate::http::state::AppState;

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let site_root = config.site_root();
    if !site_root.join("pkg").join("peercache.js").exists() {
        tracing::warn!(
            site_root = %site_root.display(),
            "no built dashboard assets here: the page renders but will not update live; run `make build` or set PEERCACHE_SITE_ROOT"
        );
    }
    let state = AppState::new(&config)?;
    let _purge = state.core.spawn_purge();
    let _sampler = state.core.spawn_sampler();
    // Removed again when this function returns (the server stops).
    let _gh_socket = match config.gh_socket_path() {
        Some(path) => {
            let (listener, socket) = gh_socket::bind(&path)?;
            let _ = state.core.gh_socket.set(path.display().to_string());
            let app = gh_socket::router(state.clone());
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, app).await {
                    tracing::error!(%error, "the gh socket stopped serving");
                }
            });
            tracing::info!(socket = %path.display(), "gh socket ready: gh config set http_unix_socket {}", path.display());
            Some(socket)
        }
        None => None,
    };
    let listener =
        TcpListener::bind(config.http_addr).await.with_context(|| format!("cannot listen on {}", config.http_addr))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to learn the port when asked for port 0.
    println!("peercache listening on http://{addr}");
    tracing::info!(%addr, "dashboard and API ready");
    server::serve(listener, router(state), Limits::of(&config), shutdown_signal()).await?;
    Ok(())
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
