//! Real libp2p nodes in one process, on 127.0.0.1 with OS-chosen ports: they
//! connect through bootstrap addresses, share entries by gossip and by fetch,
//! reject forgeries, keep strangers out of a keyed swarm, and report truthfully.

mod support;

use std::sync::Arc;

use app::model::NodeState;
use bytes::Bytes;
use libp2p::identity::Keypair;
use libp2p::pnet::PreSharedKey;
use server::cache::entry::{Entry, Origin};
use server::cache::ttl::SystemClock;
use server::cache::{Cache, CacheConfig, PutOptions};
use server::p2p::protocol::WireEntry;
use server::p2p::{start, NodeConfig};
use support::node::Node;
use support::wait_for;

/// A private swarm: members trust each other, and only trusted peers may
/// fetch or sync what a node holds beyond anonymous GitHub answers.
fn members() -> PreSharedKey {
    PreSharedKey::new([5u8; 32])
}

fn json(text: &str) -> Bytes {
    Bytes::from(text.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_connect_and_report_each_other() {
    let a = Node::start("", None);
    let status = a.status();
    assert!(status.enabled && !status.active);
    assert_eq!(status.reason.as_deref(), Some("no bootstrap peers configured and mDNS off"));

    let b = Node::start(&a.addr().await, None);
    a.wait_peers(1).await;
    b.wait_peers(1).await;
    let (sa, sb) = (a.status(), b.status());
    assert!(sa.active && sb.active);
    assert_eq!((sa.state, sa.reason.clone()), (NodeState::Active, None));
    assert_eq!(sb.peers[0].peer_id, sa.peer_id.clone().unwrap());
    assert_eq!(sb.peers[0].direction, "outbound");
    assert_eq!(sa.peers[0].direction, "inbound");
    let measured = wait_for("ping latency and identify", || {
        let peer = b.status().peers.into_iter().next()?;
        (peer.latency_ms.is_some() && peer.agent.is_some()).then_some(peer)
    })
    .await;
    assert!(measured.agent.unwrap().starts_with("peercache/"));
    assert!(measured.protocols.iter().any(|p| p == "/peercache/fetch/1.0.0"), "{:?}", measured.protocols);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_on_one_node_is_readable_on_all_five() {
    let a = Node::start("", Some(members()));
    let addr = a.addr().await;
    let others: Vec<Node> = (0..4).map(|_| Node::start(&addr, Some(members()))).collect();
    a.wait_peers(4).await;
    for node in &others {
        node.wait_peers(1).await;
    }
    a.wait_all_subscribed().await;
    let small = a.cache.put("get_repo:octo/small", json(r#"{"id": 1}"#), PutOptions::default()).unwrap();
    let big_body = format!("{{\"pad\":\"{}\"}}", "x".repeat(100 * 1024));
    let big = a.cache.put("get_repo:octo/big", Bytes::from(big_body), PutOptions::default()).unwrap();
    for node in &others {
        for entry in [&small, &big] {
            let got = wait_for(&format!("{} on a peer", entry.key), || node.cache.peek(&entry.key)).await;
            assert_eq!(got.cid, entry.cid);
            assert_eq!(got.origin, Origin::Peer(a.status().peer_id.unwrap()));
        }
    }
    let sent: u64 = a.status().peers.iter().map(|p| p.entries_sent).sum();
    assert!(sent >= 8, "A announced 2 entries to 4 peers (and served the big bodies): {sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_is_filled_from_a_peer_and_counted_as_a_peer_hit() {
    let a = Node::start("", Some(members()));
    let b = Node::start(&a.addr().await, Some(members()));
    b.wait_peers(1).await;
    // An entry A holds but never announced (it came from elsewhere), stored
    // after B caught up with A on connecting.
    wait_for("A to answer B's catch-up", || (a.status().syncs_served >= 1).then_some(())).await;
    let mut entry =
        Entry::new("list_runners:octo".into(), json(r#"{"total_count": 3}"#), a.cache.now_ms(), 300, None, None);
    entry.origin = Origin::Peer("12D3KooWelsewhere".into());
    a.cache.insert(entry).unwrap();
    assert!(b.cache.peek("list_runners:octo").is_none());

    let got = b.client.lookup(&b.cache, "list_runners:octo").await.expect("fetched from A");
    assert_eq!(got.value, json(r#"{"total_count": 3}"#));
    assert!(b.cache.peek("list_runners:octo").is_some(), "stored locally");
    assert!(b.client.lookup(&b.cache, "nobody:has-this").await.is_none());
    let stats = b.cache.stats().counters;
    assert_eq!((stats.peer_hits, stats.local_hits, stats.misses), (1, 0, 1));
    // The next lookup is local, and still a peer hit (the data came from a peer).
    assert!(b.cache.get("list_runners:octo").is_some());
    assert_eq!(b.cache.stats().counters.peer_hits, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_announcement_is_rejected_and_not_stored() {
    let a = Node::start("", None);
    let b = Node::start(&a.addr().await, None);
    a.wait_peers(1).await;
    b.wait_peers(1).await;
    a.wait_all_subscribed().await;
    let honest = Entry::new(
        "get_repo:octo/forged".into(),
        json(r#"{"private": false}"#),
        a.cache.now_ms(),
        300,
        None,
        Some(200),
    );
    let mut forged = WireEntry::full(&honest, &a.identity);
    forged.body = Some(br#"{"private": true}"#.to_vec()); // same length, other bytes
    a.client.publish_raw(forged.encode_announcement()).await;
    wait_for("the rejection to be counted", || (b.status().rejected_from_peers == 1).then_some(())).await;
    assert!(b.cache.peek("get_repo:octo/forged").is_none());
    let a_id = a.status().peer_id.unwrap();
    let score = wait_for("A's gossip score on B to fall", || {
        b.status().peers.iter().find(|p| p.peer_id == a_id)?.gossip_score.filter(|s| *s < 0.0)
    })
    .await;
    assert!(score < 0.0, "{score}");
    // An honest announcement right after still goes through.
    a.cache.put("get_repo:octo/honest", json("{}"), PutOptions::default()).unwrap();
    wait_for("the honest entry", || b.cache.peek("get_repo:octo/honest")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_swarm_key_cannot_join() {
    let key = PreSharedKey::new([7u8; 32]);
    let a = Node::start("", Some(key));
    let addr = a.addr().await;
    let member = Node::start(&addr, Some(key));
    member.wait_peers(1).await;
    let stranger = Node::start(&addr, None);
    let other_key = Node::start(&addr, Some(PreSharedKey::new([8u8; 32])));
    let reason =
        wait_for("the stranger's dial to fail", || stranger.status().reason.filter(|r| r.contains("last error"))).await;
    assert!(reason.starts_with("dialing 1 bootstrap peers"), "{reason}");
    // Named for what it is, not "Maximum frame length exceeded" or a timeout (a firewall's look).
    assert!(reason.contains("swarm key mismatch") && reason.contains("this node has no swarm key"), "{reason}");
    let reason =
        wait_for("the wrong key's dial to fail", || other_key.status().reason.filter(|r| r.contains("last error")))
            .await;
    assert!(reason.contains("swarm key mismatch") && reason.contains("differs from this node's"), "{reason}");
    assert_eq!(stranger.status().peer_count, 0);
    assert_eq!(other_key.status().peer_count, 0);
    assert_eq!(a.status().peer_count, 1, "only the member got in");
    // The accepting side names it too (and counts it), where it used to say nothing.
    let seen = wait_for("a's record of the mismatch", || a.status().swarm_key_mismatch).await;
    assert!(seen.what.contains("swarm key mismatch") && seen.what.contains("a connection from"), "{seen:?}");
    assert!(a.status().refused_by_reason.get("swarm_key_mismatch").copied().unwrap_or(0) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_node_drops_it_from_the_others() {
    let a = Node::start("", None);
    let addr = a.addr().await;
    let b = Node::start(&addr, None);
    let c = Node::start(&addr, None);
    a.wait_peers(2).await;
    drop(b);
    a.wait_peers(1).await;
    assert!(a.status().active);
    drop(c);
    a.wait_peers(0).await;
    let status = a.status();
    assert!(!status.active);
    assert_eq!(status.state, NodeState::Connecting);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bootstrap_addresses_are_skipped_and_good_ones_used() {
    let a = Node::start("", None);
    let list = format!("not-a-multiaddr, /ip4/127.0.0.1/tcp/1 ,{}", a.addr().await);
    let b = Node::start(&list, None);
    b.wait_peers(1).await;
    assert!(b.status().reason.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_bootstrap_peer_is_reported_with_its_error() {
    // A peer id nobody has, at a port nobody listens on: a privileged port
    // (a port freed by the test could be taken by another test's node).
    let ghost = Keypair::generate_ed25519().public().to_peer_id();
    let b = Node::start(&format!("/ip4/127.0.0.1/tcp/1/p2p/{ghost}"), None);
    let reason = wait_for("a dial error", || b.status().reason.filter(|r| r.contains("last error"))).await;
    assert!(reason.starts_with("dialing 1 bootstrap peers; last error:"), "{reason}");
    assert!(reason.to_lowercase().contains("refused"), "{reason}");
    assert_eq!(b.status().state, NodeState::Connecting);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_failed_state_with_the_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(Cache::in_memory(CacheConfig::default(), Arc::new(SystemClock)));
    let client = start(NodeConfig { port, ..NodeConfig::loopback("") }, cache).unwrap();
    let status = wait_for("the failed state", || Some(client.status()).filter(|s| s.state == NodeState::Failed)).await;
    assert_eq!(status.reason, Some(format!("cannot listen on port {port}: address in use")));
    assert!(status.enabled && !status.active);
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_another_node_listens_on_is_not_silently_shared() {
    let a = Node::start("", None);
    let port: u16 = a.addr().await.split('/').nth(4).unwrap().parse().unwrap();
    let cache = Arc::new(Cache::in_memory(CacheConfig::default(), Arc::new(SystemClock)));
    let b = start(NodeConfig { port, ..NodeConfig::loopback("") }, cache).unwrap();
    assert_eq!(b.status().state, NodeState::Failed);
    assert_eq!(b.status().reason, Some(format!("cannot listen on port {port}: address in use")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_garbage_is_disconnected_and_the_node_keeps_serving() {
    let b = Node::start("", None);
    // A dials B, so B will not dial A back after dropping it.
    let a = Node::start(&b.addr().await, None);
    b.wait_peers(1).await;
    a.wait_all_subscribed().await;
    let a_id = a.status().peer_id.unwrap();
    let first_connection = b.status().peers[0].connected_since.clone();
    a.client.publish_raw(b"this is not an announcement".to_vec()).await;
    wait_for("B to count the garbage", || (b.status().rejected_from_peers == 1).then_some(())).await;
    // B dropped A; A (whose bootstrap peer B is) may already have dialled back,
    // so look for the old connection being gone rather than for zero peers.
    wait_for("B to drop A's connection", || {
        let peers = b.status().peers;
        match peers.iter().find(|p| p.peer_id == a_id) {
            Some(peer) if peer.connected_since == first_connection => None,
            _ => Some(()),
        }
    })
    .await;
    // B still works: a new peer connects and gets entries.
    let c = Node::start(&b.addr().await, None);
    c.wait_peers(1).await;
    b.wait_all_subscribed().await;
    b.cache.put("get_repo:octo/after", json("{}"), PutOptions::default()).unwrap();
    wait_for("the entry on C", || c.cache.peek("get_repo:octo/after")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_asks_a_few_peers_ranked_by_the_key_not_everyone() {
    let hub = Node::start("", Some(members()));
    let addr = hub.addr().await;
    let asker = Node::start_with(
        &addr,
        |c| {
            c.fanout = 2;
            c.swarm_key = Some(members());
        },
        |_| {},
    );
    let others: Vec<Node> = (0..4).map(|_| Node::start(&addr, Some(members()))).collect();
    wait_for("the asker to meet everyone", || (asker.status().peer_count == 5).then_some(())).await;
    let served = |nodes: &[&Node]| nodes.iter().map(|n| n.status().fetches_served).sum::<u64>();
    let everyone: Vec<&Node> = std::iter::once(&hub).chain(others.iter()).collect();
    let before = served(&everyone);
    assert!(asker.client.lookup(&asker.cache, "nobody:has-this").await.is_none());
    let asked = served(&everyone) - before;
    assert_eq!(asked, 2, "a fan-out of 2 asks two of five peers");
    // Who has it answers, when it ranks among the asked.
    for node in &everyone {
        node.cache.put("get_repo:octo/ranked", json(r#"{"n": 1}"#), PutOptions::default()).unwrap();
    }
    assert!(asker.client.lookup(&asker.cache, "get_repo:octo/ranked").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_late_catches_up_on_what_was_stored_before_it() {
    let a = Node::start("", Some(members()));
    for n in 0..20 {
        a.cache.put(&format!("get_repo:octo/early{n}"), json(r#"{"early": true}"#), PutOptions::default()).unwrap();
    }
    // Nobody heard these announcements; the newcomer asks what it missed.
    let b = Node::start(&a.addr().await, Some(members()));
    wait_for("every early entry on the newcomer", || {
        (b.cache.list("get_repo:octo/early", 0, 1).total == 20).then_some(())
    })
    .await;
    let origin = b.cache.peek("get_repo:octo/early7").unwrap().origin.clone();
    assert_eq!(origin, Origin::Peer(a.status().peer_id.unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_the_largest_entries_gossip_carries_arrives_whole() {
    use server::p2p::protocol::INLINE_BODY_MAX;
    let a = Node::start("", Some(members()));
    let b = Node::start(&a.addr().await, Some(members()));
    b.wait_peers(1).await;
    a.wait_all_subscribed().await;
    // Each announcement is as large as gossip carries; sent back to back, the
    // reader's buffer holds one whole and the start of the next.
    let body = Bytes::from(format!("\"{}\"", "x".repeat(INLINE_BODY_MAX - 2)));
    for i in 0..40 {
        a.cache.put(&format!("burst:{i}"), body.clone(), PutOptions::default()).unwrap();
    }
    wait_for("all 40 on the peer", || (0..40).all(|i| b.cache.peek(&format!("burst:{i}")).is_some()).then_some(()))
        .await;
}
