//! The P2P node against hostile and untrusted peers, with real nodes on
//! 127.0.0.1: GitHub answers only from trusted publishers (relays need no
//! trust), forged signatures refused and scored down, TTLs capped, floods
//! kept to a peer's share, other wire versions ignored without parting, and
//! a panicking event loop restarted.

mod support;

use std::collections::HashSet;

use bytes::Bytes;
use server::cache::entry::Entry;
use server::cache::PutOptions;
use server::p2p::protocol::{WireEntry, WIRE_VERSION};
use support::node::Node;
use support::wait_for;

const GITHUB_KEY: &str = "github:GET:/repos/octo/hello:accept=application/vnd.github+json:scope=anonymous";

fn json(text: &str) -> Bytes {
    Bytes::from(text.to_owned())
}

fn trusting(peers: &[libp2p::PeerId]) -> impl FnOnce(&mut server::p2p::NodeConfig) {
    let peers: HashSet<libp2p::PeerId> = peers.iter().copied().collect();
    move |config| config.trusted_peers = peers
}

fn refused(node: &Node, reason: &str) -> u64 {
    node.status().refused_by_reason.get(reason).copied().unwrap_or(0)
}

/// An entry `publisher` stores as the proxy would (the cache, not the API).
fn publish(node: &Node, key: &str, body: &str) {
    node.cache.put(key, json(body), PutOptions::default()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_swarm_shares_github_answers_only_from_trusted_publishers() {
    let a = Node::start("", None);
    let addr = a.addr().await;
    let doubter = Node::start(&addr, None);
    let believer = Node::start_with(&addr, trusting(&[a.peer_id()]), |_| {});
    a.wait_peers(2).await;
    a.wait_all_subscribed().await;
    publish(&a, GITHUB_KEY, r#"{"full_name": "octo/hello"}"#);
    publish(&a, "get_repo:octo/mine", r#"{"id": 1}"#);
    let stored = wait_for("the answer on the node that trusts A", || believer.cache.peek(GITHUB_KEY)).await;
    assert_eq!(stored.provenance.as_ref().unwrap().publisher_key, a.identity.public().encode_protobuf());
    wait_for("A's own entry on the doubter", || doubter.cache.peek("get_repo:octo/mine")).await;
    wait_for("the doubter to count the refusal", || (refused(&doubter, "untrusted_publisher") == 1).then_some(()))
        .await;
    assert!(doubter.cache.peek(GITHUB_KEY).is_none(), "not stored by a node that does not trust A");
    let status = doubter.status();
    let a_there = status.peers.iter().find(|p| p.peer_id == a.peer_id().to_string()).unwrap();
    assert!(!a_there.trusted && a_there.refused == 1);
    assert!(status.trust.contains("nobody"), "{}", status.trust);
    assert!(believer.status().peers.iter().any(|p| p.trusted));
    // A miss does not fetch it either.
    assert!(doubter.client.lookup(&doubter.cache, GITHUB_KEY).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_peer_with_a_bad_signature_is_refused_and_scored_down() {
    let a = Node::start("", None);
    let b = Node::start_with(&a.addr().await, trusting(&[a.peer_id()]), |_| {});
    b.wait_peers(1).await;
    a.wait_all_subscribed().await;
    let honest = Entry::new(GITHUB_KEY.into(), json(r#"{"x":1}"#), a.cache.now_ms(), 60, None, Some(200));
    let mut forged = WireEntry::full(&honest, &a.identity);
    forged.ttl_secs = 3600; // not what A signed
    a.client.publish_raw(forged.encode_announcement()).await;
    wait_for("the bad signature counted", || (refused(&b, "bad_signature") == 1).then_some(())).await;
    assert!(b.cache.peek(GITHUB_KEY).is_none());
    let a_id = a.peer_id().to_string();
    wait_for("A's gossip score on B to fall", || {
        b.status().peers.iter().find(|p| p.peer_id == a_id)?.gossip_score.filter(|s| *s < 0.0)
    })
    .await;
    // A forgery of an untrusted peer's own (a body that is not its CID) too.
    let c = Node::start(&a.addr().await, None);
    b.wait_peers(2).await;
    c.wait_peers(2).await;
    c.wait_all_subscribed().await;
    let mut lie = WireEntry::full(
        &Entry::new("get_repo:octo/c".into(), json(r#"{"v":1}"#), c.cache.now_ms(), 60, None, None),
        &c.identity,
    );
    lie.body = Some(br#"{"v":2}"#.to_vec());
    c.client.publish_raw(lie.encode_announcement()).await;
    wait_for("the forged body counted", || (refused(&b, "cid_mismatch") >= 1).then_some(())).await;
    assert!(b.cache.peek("get_repo:octo/c").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_relayed_by_an_untrusted_node_keeps_its_publisher_and_is_stored() {
    let publisher = Node::start("", None);
    let relay = Node::start_with(&publisher.addr().await, trusting(&[publisher.peer_id()]), |_| {});
    relay.wait_peers(1).await;
    publisher.wait_all_subscribed().await;
    publish(&publisher, GITHUB_KEY, r#"{"full_name": "octo/hello"}"#);
    wait_for("the answer on the relay", || relay.cache.peek(GITHUB_KEY)).await;
    let publisher_id = publisher.peer_id();
    drop(publisher);
    relay.wait_peers(0).await;
    // C trusts the publisher, not the relay, and meets only the relay.
    let c = Node::start_with(&relay.addr().await, trusting(&[publisher_id]), |_| {});
    c.wait_peers(1).await;
    let got = c.client.lookup(&c.cache, GITHUB_KEY).await.expect("fetched through the relay");
    assert_eq!(got.value, json(r#"{"full_name": "octo/hello"}"#));
    assert_eq!(got.origin.label(), relay.peer_id().to_string(), "it came from the relay");
    assert_eq!(c.status().peers[0].trusted, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_ttl_is_capped_and_the_node_stays_active() {
    let a = Node::start("", None);
    let b = Node::start_with(&a.addr().await, trusting(&[a.peer_id()]), |_| {});
    b.wait_peers(1).await;
    a.wait_all_subscribed().await;
    // What overflowed `ttl_secs * 1000` in the event loop: signed, so honest-looking.
    let runs = "github:GET:/repos/octo/hello/actions/runs:accept=:scope=anonymous";
    let mut entry = Entry::new(runs.into(), json("{}"), a.cache.now_ms(), u64::MAX / 1000 + 1, None, Some(200));
    entry.ttl_secs = u64::MAX / 1000 + 1;
    a.client.publish_raw(WireEntry::full(&entry, &a.identity).encode_announcement()).await;
    let mut big = entry.clone();
    big.key = "get_repo:octo/forever".into();
    a.client.publish_raw(WireEntry::announcement(&big, &a.identity).encode_announcement()).await;
    let stored = wait_for("the capped entry", || b.cache.peek(runs)).await;
    assert_eq!(stored.ttl_secs, 60, "cut to the path's own TTL");
    let forever = wait_for("the other capped entry", || b.cache.peek("get_repo:octo/forever")).await;
    assert_eq!(forever.ttl_secs, 7 * 24 * 3600, "cut to the global maximum");
    // Still active and still sharing.
    assert!(b.status().active);
    publish(&a, "get_repo:octo/after", "{}");
    wait_for("a later entry", || b.cache.peek("get_repo:octo/after")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_tiny_entries_from_one_peer_leaves_most_of_the_cache() {
    let a = Node::start("", None);
    let b = Node::start_with(&a.addr().await, |_| {}, |cache| cache.max_entries = 1000);
    b.wait_peers(1).await;
    a.wait_all_subscribed().await;
    for n in 0..1000 {
        b.cache.put(&format!("get_repo:octo/kept{n:04}"), json("{}"), PutOptions::default()).unwrap();
    }
    let now = a.cache.now_ms();
    for n in 0..10_000 {
        let entry = Entry::new(format!("flood:{n}"), json("1"), now, 600, None, None);
        a.client.publish_raw(WireEntry::full(&entry, &a.identity).encode_announcement()).await;
    }
    wait_for("the flood to hit its limit", || {
        (refused(&b, "over_budget") + refused(&b, "rate_limited") > 0).then_some(())
    })
    .await;
    let accepted = b.status().accepted_from_peers;
    assert!((1..=200).contains(&accepted), "at most a share a minute: {accepted}");
    let kept = b.cache.list("get_repo:octo/kept", 0, 1).total;
    assert!(kept >= 800, "most of what B had is still there: {kept}");
    assert!(b.status().active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_wire_version_is_ignored_and_counted_without_parting() {
    let a = Node::start("", None);
    let b = Node::start(&a.addr().await, None);
    b.wait_peers(1).await;
    a.wait_all_subscribed().await;
    let since = b.status().peers[0].connected_since.clone();
    let payload = postcard::to_allocvec(&("a field this node does not know", 42u64)).unwrap();
    let newer = WireEntry::frame(WIRE_VERSION + 1, &payload);
    a.client.publish_raw(newer).await;
    wait_for("the other version counted", || (refused(&b, "unknown_version") == 1).then_some(())).await;
    publish(&a, "get_repo:octo/still", "{}");
    wait_for("an entry after it", || b.cache.peek("get_repo:octo/still")).await;
    assert_eq!(b.status().peers[0].connected_since, since, "still the same connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_event_loop_is_shown_restarted_and_shares_again() {
    let a = Node::start("", None);
    let b = Node::start(&a.addr().await, None);
    b.wait_peers(1).await;
    b.client.inject_panic().await;
    let failed = wait_for("the failed state", || b.status().reason.filter(|r| r.contains("restarting"))).await;
    assert!(failed.contains("panic injected by a test"), "{failed}");
    assert!(!b.status().active, "never a silent Active");
    wait_for("B back with its peer", || (b.status().active && b.status().peer_count == 1).then_some(())).await;
    a.wait_all_subscribed().await;
    publish(&a, "get_repo:octo/restarted", "{}");
    wait_for("an entry after the restart", || b.cache.peek("get_repo:octo/restarted")).await;
}
