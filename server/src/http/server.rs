//! Serving the HTTP front over TCP, with limits that keep slow or greedy
//! clients from holding the server: a deadline to send the request headers
//! (always; a client that sends half a header and waits is dropped), and off
//! loopback — where strangers may connect — a deadline for the whole request
//! to be answered, one for its body to arrive, and a bound on connections
//! served at once (the rest wait in the kernel's backlog).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

use app::model::ErrorKind;
use axum::middleware::Next;
use axum::response::IntoResponse;

use crate::core::error::CoreError;
use crate::http::errors::ApiError;

use crate::config::ServeConfig;

/// How long open connections get to finish when the server stops.
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    /// Off loopback: the most a request may take to be answered.
    pub request_timeout: Option<Duration>,
    /// Off loopback: the most a request body may take to arrive.
    pub body_timeout: Option<Duration>,
    /// Off loopback: connections served at once.
    pub max_connections: Option<usize>,
}

impl Limits {
    pub fn of(config: &ServeConfig) -> Limits {
        let open = !config.http_addr.ip().is_loopback();
        let request = Duration::from_millis(config.http_request_timeout_ms);
        Limits {
            header_timeout: Duration::from_millis(config.http_header_timeout_ms),
            request_timeout: open.then_some(request),
            body_timeout: open.then_some(request),
            max_connections: open.then_some(config.http_max_connections),
        }
    }
}

/// Serves `app` on `listener` with `limits` until `shutdown` resolves, then
/// lets open connections finish (for a while).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut app = app;
    if let Some(timeout) = limits.request_timeout {
        app = app.layer(axum::middleware::from_fn(move |request: Request, next: Next| async move {
            match tokio::time::timeout(timeout, next.run(request)).await {
                Ok(response) => response,
                Err(_) => {
                    let message = format!("the request took longer than {} ms to answer", timeout.as_millis());
                    ApiError(CoreError::new(ErrorKind::TimedOut, message)).into_response()
                }
            }
        }));
    }
    if let Some(timeout) = limits.body_timeout {
        app = app.layer(RequestBodyTimeoutLayer::new(timeout));
    }
    let slots = limits.max_connections.map(|n| Arc::new(Semaphore::new(n)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = match &slots {
            Some(slots) => Some(slots.clone().acquire_owned().await.expect("the semaphore is never closed")),
            None => None,
        };
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: say so, go on.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| app.clone().oneshot(request));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}
