//! `peercache serve`: build the state, bind, serve until Ctrl-C or SIGTERM.

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::ServeConfig;
use crate::http::assets::Bundle;
use crate::http::gh_socket;
use crate::http::router::front;
use crate::http::server::{self, Limits};
use crate::http::state::AppState;

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let state = AppState::new(&config)?;
    if state.bundle.is_none() {
        tracing::warn!("{}", Bundle::missing_reason());
    }
    let _purge = state.core.spawn_purge();
    let _sampler = state.core.spawn_sampler();
    let _summaries = state.core.spawn_fleet_summaries();
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
    // Under systemd (Type=notify): started. Elsewhere NOTIFY_SOCKET is unset
    // and this does nothing.
    if let Err(error) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        tracing::warn!(%error, "could not tell systemd that peercache is ready");
    }
    let stopping = async {
        shutdown_signal().await;
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    };
    server::serve(listener, front(state), Limits::of(&config), stopping).await?;
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
