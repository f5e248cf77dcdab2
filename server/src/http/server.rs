//! Serving the HTTP front over TCP, with limits that keep slow, idle or
//! greedy clients from holding the server — on loopback too, where any local
//! process (a CI job) connects: a deadline to send the request headers (a
//! client that sends half a header and waits is dropped), one for a request
//! body to arrive, a bound on connections served at once (the rest wait in
//! the kernel's backlog, holding none of the node's file descriptors), an
//! idle deadline for a connection with no request in flight and no bytes
//! moving (HTTP/2 included, which has no header deadline between streams),
//! and a budget for request bodies held in memory at once. Off loopback,
//! where strangers connect, a request also has a deadline to be answered (on
//! loopback a large download may take as long as it takes). Connections are
//! accepted here and served on the front threads (see [`front`](super::front)).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use app::model::ErrorKind;
use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::response::Response;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};
use tower_http::timeout::TimeoutBody;

use crate::config::ServeConfig;
use crate::core::error::CoreError;
use crate::http::errors::ApiError;
use crate::http::front::Fronts;

/// How long open connections get to finish when the server stops.
const DRAIN: Duration = Duration::from_secs(10);
/// A connection with no request in flight and no byte moving for this long is closed.
const IDLE: Duration = Duration::from_secs(60);
/// ... or for this long while every connection slot is taken, so that idle
/// connections cannot keep others waiting.
const IDLE_WHEN_FULL: Duration = Duration::from_secs(1);
/// Request bodies held in memory at once, in all (a body without a length
/// counts as the largest one allowed).
const BODY_BUDGET: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    /// Off loopback: the most a request may take to be answered.
    pub request_timeout: Option<Duration>,
    /// The most a request body may take to arrive.
    pub body_timeout: Option<Duration>,
    /// Connections served at once.
    pub max_connections: Option<usize>,
    /// A connection idle this long is closed.
    pub idle_timeout: Option<Duration>,
    /// Request bodies held at once, in bytes, and the largest one allowed
    /// (what a body of unknown length counts as).
    pub body_budget: Option<(usize, usize)>,
}

impl Limits {
    pub fn of(config: &ServeConfig) -> Limits {
        let open = !config.http_addr.ip().is_loopback();
        let request = Duration::from_millis(config.http_request_timeout_ms);
        let largest = config.max_body.max(config.proxy_max_body);
        Limits {
            header_timeout: Duration::from_millis(config.http_header_timeout_ms),
            request_timeout: open.then_some(request),
            body_timeout: Some(request),
            max_connections: Some(config.http_max_connections),
            idle_timeout: Some(IDLE),
            body_budget: Some((BODY_BUDGET.max(largest), largest)),
        }
    }
}

/// Serves `app` on `listener` with `limits` until `shutdown` resolves, then
/// lets open connections finish (for a while).
pub async fn serve<App>(
    listener: TcpListener,
    app: App,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    App: Service<Request<Body>, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync + 'static,
{
    let admission = Arc::new(Admission {
        request_timeout: limits.request_timeout,
        body_timeout: limits.body_timeout,
        bodies: limits.body_budget.map(|(budget, largest)| (Arc::new(Semaphore::new(budget)), largest)),
    });
    let slots = limits.max_connections.map(|n| Arc::new(Semaphore::new(n)));
    let graceful = GracefulShutdown::new();
    let fronts = Fronts::per_core()?;
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
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%peer, %error, "could not hand a connection to a front thread");
                continue;
            }
        };
        let (app, admission) = (app.clone(), admission.clone());
        let watcher = graceful.watcher();
        let header_timeout = limits.header_timeout;
        let idle_timeout = limits.idle_timeout;
        let all_slots = slots.clone();
        fronts.serve(async move {
            let stream = match TcpStream::from_std(stream) {
                Ok(stream) => stream,
                Err(error) => return tracing::warn!(%peer, %error, "a front thread could not take a connection"),
            };
            let activity = Activity::new();
            let in_service = activity.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let busy = in_service.busy();
                let (app, admission) = (app.clone(), admission.clone());
                async move {
                    let answer = admission.answer(app, request).await;
                    drop(busy);
                    Ok::<_, Infallible>(answer)
                }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let io = TokioIo::new(Counted { stream, activity: activity.clone() });
            let connection = watcher.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
            tokio::select! {
                ended = connection => if let Err(error) = ended {
                    tracing::debug!(%peer, %error, "connection ended");
                },
                () = activity.idle_for(idle_timeout, all_slots) => tracing::debug!(%peer, "closed an idle connection"),
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

/// What a request must get past before the router sees it: its share of
/// the budget for request bodies held at once, a deadline for its body's
/// bytes, and (off loopback) one for its answer. A plain step rather than
/// router layers: each of those was one more boxed service and future on
/// every hit (about 4,000 instructions of some 31,000; see BENCHMARKS.md).
struct Admission {
    request_timeout: Option<Duration>,
    body_timeout: Option<Duration>,
    /// The bytes left to hold, and what a body of unknown length counts as.
    bodies: Option<(Arc<Semaphore>, usize)>,
}

impl Admission {
    /// A request without a body (a GET, mostly) holds nothing and has no
    /// body to wait for. One with a body is answered when it fits in what
    /// is left of the budget (counted by its length, else as the largest
    /// allowed), else refused at once with a 503; its share is held until
    /// the answer is made.
    async fn answer<App>(&self, app: App, request: Request<Incoming>) -> Response
    where
        App: Service<Request<Body>, Response = Response, Error = Infallible>,
    {
        if request.body().is_end_stream() {
            return self.in_time(app.oneshot(request.map(Body::new))).await;
        }
        let held = match &self.bodies {
            Some((bytes, largest)) => {
                let share =
                    request.body().size_hint().exact().map_or(*largest, |length| (length as usize).min(*largest));
                let permits = u32::try_from(share).unwrap_or(u32::MAX);
                match bytes.clone().try_acquire_many_owned(permits) {
                    Ok(held) => Some(held),
                    Err(_) => {
                        let message = "too many request bodies are being received at once; try again shortly";
                        return ApiError(CoreError::new(ErrorKind::Unavailable, message)).into_response();
                    }
                }
            }
            None => None,
        };
        let request = match self.body_timeout {
            Some(timeout) => request.map(|body| Body::new(TimeoutBody::new(timeout, body))),
            None => request.map(Body::new),
        };
        let answer = self.in_time(app.oneshot(request)).await;
        drop(held);
        answer
    }

    /// The answer, or (past the request deadline) a JSON 408.
    async fn in_time(&self, answer: impl Future<Output = Result<Response, Infallible>>) -> Response {
        let Some(timeout) = self.request_timeout else {
            return answer.await.unwrap_or_else(|never| match never {});
        };
        match tokio::time::timeout(timeout, answer).await {
            Ok(answer) => answer.unwrap_or_else(|never| match never {}),
            Err(_) => {
                let message = format!("the request took longer than {} ms to answer", timeout.as_millis());
                ApiError(CoreError::new(ErrorKind::TimedOut, message)).into_response()
            }
        }
    }
}

/// When a connection last moved a byte, and how many of its requests are
/// being answered.
#[derive(Clone)]
struct Activity(Arc<(AtomicU64, AtomicUsize, Instant)>);

/// A request being answered: the connection is not idle meanwhile.
struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        (self.0).0 .1.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new((AtomicU64::new(0), AtomicUsize::new(0), Instant::now())))
    }

    fn touch(&self) {
        let (last, _, start) = &*self.0;
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn busy(&self) -> Busy {
        self.0 .1.fetch_add(1, Ordering::SeqCst);
        self.touch();
        Busy(self.clone())
    }

    /// Resolves once the connection has been idle for `timeout`, or for
    /// [`IDLE_WHEN_FULL`] while every one of `slots` is taken (never without
    /// a timeout).
    async fn idle_for(&self, timeout: Option<Duration>, slots: Option<Arc<Semaphore>>) {
        let Some(timeout) = timeout else { return std::future::pending().await };
        let tick = (timeout / 4).min(IDLE_WHEN_FULL / 4);
        loop {
            tokio::time::sleep(tick).await;
            let (last, in_flight, start) = &*self.0;
            let idle = start.elapsed().saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
            let full = slots.as_ref().is_some_and(|slots| slots.available_permits() == 0);
            let limit = if full { timeout.min(IDLE_WHEN_FULL) } else { timeout };
            if in_flight.load(Ordering::SeqCst) == 0 && idle >= limit {
                return;
            }
        }
    }
}

/// A connection's stream, noting when it last moved a byte.
struct Counted {
    stream: TcpStream,
    activity: Activity,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, bytes);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    /// Passed on, so that hyper writes a response's head and body with one
    /// `writev` instead of copying the body into its own buffer first.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// hyper copies a body into its own buffer unless the connection says it
    /// takes vectored writes: a 64 KiB hit then cost a 64 KiB copy.
    #[tokio::test]
    async fn a_counted_connection_takes_vectored_writes_and_counts_them_as_activity() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let activity = Activity::new();
        let mut counted = Counted { stream, activity: activity.clone() };
        assert!(counted.is_write_vectored());
        std::thread::sleep(Duration::from_millis(5));
        let written = counted.write_vectored(&[io::IoSlice::new(b"head "), io::IoSlice::new(b"body")]).await.unwrap();
        assert_eq!(written, 9);
        assert!(activity.0 .0.load(Ordering::SeqCst) >= 5, "a vectored write is activity");
        drop(client);
    }
}
