//! The HTTP front against slow clients: one that sends half a header and
//! waits is dropped after the header deadline while other clients are served;
//! off loopback a request that takes too long gets a JSON 408 and no more than
//! the connection bound are served at once; idle HTTP/2 connections holding
//! every slot are closed so others are served; request bodies never finished
//! hold no more than the body budget, and one that stops arriving is given
//! up on after its deadline; a connection is served on one front
//! thread.

mod support;

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use server::http::server::{serve, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(app: Router, limits: Limits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(listener, app, limits, std::future::pending()));
    addr
}

fn limits(header_ms: u64) -> Limits {
    Limits {
        header_timeout: Duration::from_millis(header_ms),
        request_timeout: None,
        body_timeout: None,
        max_connections: None,
        idle_timeout: None,
        body_budget: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_half_a_header_is_dropped_and_others_are_served() {
    let app = Router::new().route("/healthz", get(|| async { "ok" }));
    let addr = start(app, limits(300)).await;
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    // Meanwhile, others are answered.
    for _ in 0..5 {
        let body = reqwest::get(format!("http://{addr}/healthz")).await.unwrap().text().await.unwrap();
        assert_eq!(body, "ok");
    }
    // The slow one is cut off: its read ends (EOF or a reset), well before the test's deadline.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(support::WAIT, slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the half-sent request was never dropped");
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
}

/// A connection's requests are answered on one front thread of its own, not
/// on the runtime that accepted it (whose workers woke each other per
/// request; see BENCHMARKS.md, the proxy against nginx).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connections_requests_are_answered_on_one_front_thread() {
    let app =
        Router::new().route("/thread", get(|| async { std::thread::current().name().unwrap_or_default().to_string() }));
    let addr = start(app, limits(10_000)).await;
    let client = reqwest::Client::new();
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..20 {
        names.insert(client.get(format!("http://{addr}/thread")).send().await.unwrap().text().await.unwrap());
    }
    assert_eq!(names.len(), 1, "one connection, one thread: {names:?}");
    assert!(names.iter().all(|name| name.starts_with("http-front-")), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_a_slow_answer_is_a_json_408_and_connections_are_bounded() {
    let (release, gate) = tokio::sync::watch::channel(false);
    let app = Router::new().route("/healthz", get(|| async { "ok" })).route(
        "/stuck",
        get(move || {
            let mut gate = gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                "late"
            }
        }),
    );
    let open = Limits {
        header_timeout: Duration::from_secs(10),
        request_timeout: Some(Duration::from_millis(300)),
        body_timeout: Some(Duration::from_millis(300)),
        max_connections: Some(1),
        idle_timeout: None,
        body_budget: None,
    };
    let addr = start(app, open).await;
    let response = reqwest::get(format!("http://{addr}/stuck")).await.unwrap();
    assert_eq!(response.status(), 408);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("longer than 300 ms"), "{body}");
    // One connection at a time: a second waits until the first closes.
    let mut first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    first.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let mut second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    second.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    // Showing that something does not happen takes a window of time: half a
    // second in which the second connection, queued, gets no answer.
    let early = tokio::time::timeout(Duration::from_millis(500), second.read(&mut buf)).await;
    assert!(early.is_err(), "the second connection was served while the first held the only slot");
    drop(first);
    let n = tokio::time::timeout(support::WAIT, second.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(release);
}

/// A body that stops arriving is given up on after the body deadline: the
/// handler reading it gets an error, and the client an answer, not a wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_given_up_on_after_its_deadline() {
    let app = Router::new().route(
        "/upload",
        axum::routing::post(|body: axum::body::Body| async move {
            match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => format!("got {}", bytes.len()),
                Err(error) => format!("gave up: {error}"),
            }
        }),
    );
    let addr = start(app, Limits { body_timeout: Some(Duration::from_millis(300)), ..loopback(8) }).await;
    let mut connection = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nx";
    connection.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&answer).contains("gave up") {
        let n = tokio::time::timeout(support::WAIT, connection.read(&mut buf)).await.expect("an answer").unwrap();
        assert!(n > 0, "closed without an answer: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

/// The limits a node on loopback serves with, but short enough for a test.
fn loopback(max_connections: usize) -> Limits {
    Limits {
        header_timeout: Duration::from_secs(10),
        request_timeout: None,
        body_timeout: Some(Duration::from_secs(10)),
        max_connections: Some(max_connections),
        idle_timeout: Some(Duration::from_secs(60)),
        body_budget: Some((1024 * 1024, 1024 * 1024)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_holding_every_slot_do_not_wedge_the_node() {
    let app = Router::new().route("/healthz", get(|| async { "ok" }));
    let addr = start(app, loopback(4)).await;
    // Four h2c connections (prior knowledge): the preface, then nothing, forever.
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut connection = tokio::net::TcpStream::connect(&addr).await.unwrap();
        connection.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
        idle.push(connection);
    }
    let answered = tokio::time::timeout(support::WAIT, async {
        reqwest::get(format!("http://{addr}/healthz")).await.unwrap().text().await.unwrap()
    })
    .await;
    assert_eq!(answered.expect("answered while idle connections held every slot"), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_never_finished_hold_no_more_than_the_budget() {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/upload", axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }));
    let addr = start(app, loopback(64)).await;
    // Bodies announced and never sent: the first takes most of the 1 MiB budget.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..4 {
        let mut connection = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 700000\r\n\r\nx";
        connection.write_all(head.as_bytes()).await.unwrap();
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), connection.read(&mut buf)).await {
            let answer = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(answer.contains("too many request bodies"), "{answer}");
            refused += 1;
        }
        held.push(connection);
    }
    assert_eq!(refused, 3, "one body in flight fits the budget, the others are refused at once");
    // Requests without a body are served meanwhile, and a small body fits what is left.
    assert_eq!(reqwest::get(format!("http://{addr}/healthz")).await.unwrap().text().await.unwrap(), "ok");
    let small =
        reqwest::Client::new().post(format!("http://{addr}/upload")).body(vec![b'y'; 1000]).send().await.unwrap();
    assert_eq!(small.text().await.unwrap(), "1000");
}
