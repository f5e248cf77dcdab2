//! What a peer hands over is served only once it is stored here: the one
//! door for peer data refuses a copy from before a write (the write's
//! barrier), and nothing it refuses reaches a client.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use support::inproc::fleet;
use support::{standin, wait_for};

const KEY: &str = "/key/swarm/psk/1.0.0/\n/base16/\n2121212121212121212121212121212121212121212121212121212121212121\n";

async fn get(url: &str) -> (StatusCode, String, String) {
    let response = reqwest::Client::new().get(url).header("authorization", "token A").send().await.unwrap();
    let status = response.status();
    let mode = response.headers().get("x-peercache").unwrap().to_str().unwrap().to_owned();
    (status, response.text().await.unwrap(), mode)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_pre_write_copy_answering_a_miss_is_refused_and_never_served() {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("swarm.key");
    std::fs::write(&key, KEY).unwrap();
    let nodes = fleet(2, &gh.base, &key.display().to_string()).await;
    let (stubborn, victim) = (&nodes[0], &nodes[1]);
    let repo = |node: &support::inproc::Peercache| format!("{}/github/repos/octo/demo", node.url);

    let (_, before, mode) = get(&repo(stubborn)).await;
    assert_eq!(mode, "MISS");
    assert!(before.contains("\"version\":1"));
    let held = stubborn.state.core.cache.list("github:GET:/repos/octo/demo:", 0, 1).entries[0].key.clone();
    let pre_write = stubborn.state.core.cache.peek(&held).unwrap();

    // Token A writes through the victim: every node drops the repository's answers.
    let written = reqwest::Client::new()
        .post(format!("{}/github/repos/octo/demo/issues", victim.url))
        .header("authorization", "token A")
        .body(r#"{"title":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), StatusCode::CREATED);
    wait_for("the stubborn node to drop it", || stubborn.state.core.cache.peek(&held).is_none().then_some(())).await;
    // The stubborn node keeps its pre-write copy after all, and answers misses with it.
    stubborn.state.core.cache.insert(Arc::unwrap_or_clone(pre_write)).unwrap();
    assert!(victim.state.core.cache.peek(&held).is_none(), "the barrier refused it by gossip");

    let (status, after, mode) = get(&repo(victim)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(after.contains("\"version\":2"), "{mode}: {after}");
    assert_eq!(mode, "MISS", "GitHub's answer after the write");
    assert!(victim
        .state
        .core
        .cache
        .peek(&held)
        .is_some_and(|e| e.value != stubborn.state.core.cache.peek(&held).unwrap().value));
}
