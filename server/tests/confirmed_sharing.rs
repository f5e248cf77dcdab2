//! Confirmed sharing: an answer one token fetched is served to another token
//! only after GitHub answers 304 to that token's own credentials — free, and
//! proof GitHub would send it exactly those bytes. Against the stand-in,
//! which computes ETags as github.com does and counts charged and free calls
//! apart: per-job tokens on eight nodes cost about one charged call per key;
//! a token GitHub refuses gets GitHub's 404 while the fleet holds the body; a
//! token whose view differs gets its own body; opaque ETags cost no more than
//! not sharing; and in `always` mode a member's forged or pre-write answer
//! never reaches the client.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;

use app::api::Backend;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use server::cache::entry::Entry;
use server::cache::ttl::Clock;
use server::github::confirm::ConfirmMode;
use server::github::key::proxy_key;
use server::github::scope::Scopes;
use server::github::stored::{Binding, Decoded};
use support::inproc::{fleet, fleet_with, start_peercache_with, Peercache};
use support::{standin, wait_for};

const KEY: &str = "/key/swarm/psk/1.0.0/\n/base16/\n6262626262626262626262626262626262626262626262626262626262626262\n";

fn swarm_key(dir: &Path) -> String {
    let path = dir.join("swarm.key");
    std::fs::write(&path, KEY).unwrap();
    path.display().to_string()
}

struct Got {
    status: StatusCode,
    body: String,
    headers: HeaderMap,
}

impl Got {
    fn mode(&self) -> &str {
        self.headers.get("x-peercache").map_or("", |v| v.to_str().unwrap())
    }
}

async fn get(pc: &Peercache, path: &str, token: &str) -> Got {
    let response = reqwest::Client::new()
        .get(format!("{}/github{path}", pc.url))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    Got { status, headers, body: response.text().await.unwrap() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_gets_another_tokens_body_once_github_confirms_it_for_free() {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = swarm_key(dir.path());
    let pc = start_peercache_with(&gh.base, None, |c| c.swarm_key = Some(key.clone().into())).await;
    let first = get(&pc, "/users/octocat", "job-1").await;
    assert_eq!((first.status, first.mode()), (StatusCode::OK, "MISS"));
    assert_eq!((gh.charged(), gh.free()), (1, 0));

    let second = get(&pc, "/users/octocat", "job-2").await;
    assert_eq!((second.status, second.mode()), (StatusCode::OK, "CONFIRMED"), "{:?}", second.headers);
    assert_eq!(second.body, first.body, "the fleet's bytes");
    assert_eq!(second.headers["cache-status"], "peercache; fwd=uri-miss; fwd-status=304; detail=confirmed; stored");
    assert_eq!((gh.charged(), gh.free()), (1, 1), "GitHub confirmed it for free");
    assert_ne!(second.headers["etag"], first.headers["etag"], "the ETag GitHub gives job-2, not job-1's");

    let third = get(&pc, "/users/octocat", "job-2").await;
    assert_eq!(third.mode(), "HIT", "stored for job-2's scope");
    assert_eq!(gh.total(), 2);

    let stats = pc.state.core.proxy_stats();
    assert_eq!((stats.confirm.tried, stats.confirm.confirmed, stats.confirm.refused), (1, 1, 0));
    assert_eq!(stats.confirm.by_family["users"].confirmed, 1);
    assert_eq!(stats.confirm.mode, "cross-scope");
    assert!(stats.confirm.shares_tokens);
    assert_eq!(stats.modes["CONFIRMED"], 1);
    assert_eq!(stats.free_confirmations_last_hour, 1);
    let metrics = reqwest::get(format!("{}/metrics", pc.url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("peercache_confirmations_total{family=\"users\",outcome=\"confirmed\"} 1"), "{metrics}");
    assert!(metrics.contains("peercache_github_free_confirmations_last_hour 1"), "{metrics}");
    assert!(metrics.contains("peercache_proxy_responses_total{mode=\"CONFIRMED\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_confirm_off_tokens_share_nothing() {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = swarm_key(dir.path());
    let pc = start_peercache_with(&gh.base, None, |c| {
        c.swarm_key = Some(key.clone().into());
        c.confirm = ConfirmMode::Off;
    })
    .await;
    assert_eq!(get(&pc, "/users/octocat", "job-1").await.mode(), "MISS");
    assert_eq!(get(&pc, "/users/octocat", "job-2").await.mode(), "MISS");
    assert_eq!((gh.charged(), gh.free()), (2, 0));
    assert!(!pc.state.core.proxy_stats().confirm.shares_tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_github_refuses_gets_its_404_on_every_node_while_the_fleet_holds_the_body() {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let nodes = fleet(2, &gh.base, &swarm_key(dir.path())).await;
    let member = get(&nodes[0], "/repos/octo/private", "member").await;
    assert_eq!(member.status, StatusCode::OK);
    assert!(member.body.contains("\"private\":true"));
    wait_for("the body on node 1", || {
        (!nodes[1].state.core.cache.list("github:GET:/repos/octo/private", 0, 10).entries.is_empty()).then_some(())
    })
    .await;
    for node in &nodes {
        let outsider = get(node, "/repos/octo/private", "outsider").await;
        assert_eq!(outsider.status, StatusCode::NOT_FOUND, "{}", outsider.body);
        assert!(!outsider.body.contains("\"private\":true"), "{}", outsider.body);
        assert!(outsider.body.contains("Not Found"));
    }
    let refused: u64 = nodes.iter().map(|n| n.state.core.proxy_stats().confirm.refused).sum();
    assert_eq!(refused, 2, "each node offered the body and GitHub refused it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_whose_view_differs_gets_its_own_body() {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = swarm_key(dir.path());
    let pc = start_peercache_with(&gh.base, None, |c| c.swarm_key = Some(key.clone().into())).await;
    let plain = get(&pc, "/repos/octo/view", "reader").await;
    assert!(!plain.body.contains("permissions"));
    let admin = get(&pc, "/repos/octo/view", "admin-1").await;
    assert_eq!((admin.status, admin.mode()), (StatusCode::OK, "MISS"), "GitHub's own answer");
    assert!(admin.body.contains("\"permissions\""), "{}", admin.body);
    let reader_again = get(&pc, "/repos/octo/view", "reader-2").await;
    assert_eq!(reader_again.mode(), "CONFIRMED", "the plain body, confirmed for another reader");
    assert!(!reader_again.body.contains("permissions"), "{}", reader_again.body);
}

/// Many tokens, the same keys, on one node: how many calls GitHub charges.
async fn workload(pc: &Peercache) {
    for job in 0..6 {
        for user in 0..5 {
            let got = get(pc, &format!("/users/u{user}"), &format!("job-{job}")).await;
            assert_eq!(got.status, StatusCode::OK);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_etags_cost_no_more_charged_calls_than_not_sharing() {
    let dir = tempfile::tempdir().unwrap();
    let key = swarm_key(dir.path());
    let mut charged = Vec::new();
    for mode in [ConfirmMode::Off, ConfirmMode::CrossScope] {
        let gh = standin::start("").await;
        gh.opaque_etags.store(true, Ordering::SeqCst);
        let pc = start_peercache_with(&gh.base, None, |c| {
            c.swarm_key = Some(key.clone().into());
            c.confirm = mode;
        })
        .await;
        workload(&pc).await;
        assert_eq!(gh.free(), 0, "nobody can compute an opaque tag");
        charged.push(gh.charged());
        if mode == ConfirmMode::CrossScope {
            let stats = pc.state.core.proxy_stats().confirm;
            assert_eq!((stats.confirmed, stats.refused), (0, 25), "the operator sees the rule failing");
        }
    }
    assert_eq!(charged[1], charged[0], "off: {}, cross-scope: {}", charged[0], charged[1]);
    assert_eq!(charged[0], 30);
}

/// Zipf-like draws of 40 keys out of 60, the same for every run.
fn draws(seed: u64) -> Vec<usize> {
    let weights: Vec<f64> = (1..=60).map(|rank| 1.0 / rank as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..40)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut pick = (state >> 11) as f64 / (1u64 << 53) as f64 * total;
            weights
                .iter()
                .position(|w| {
                    pick -= w;
                    pick <= 0.0
                })
                .unwrap_or(59)
        })
        .collect()
}

/// 8 nodes, 4 jobs per node one after another, each job its own token (or
/// all one token), 40 GETs per job: GitHub's charged calls and the keys asked.
async fn ci_fleet(per_job_tokens: bool) -> (u64, usize) {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let nodes = fleet(8, &gh.base, &swarm_key(dir.path())).await;
    let mut keys = BTreeSet::new();
    let mut runners = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let url = node.url.clone();
        let jobs: Vec<(String, Vec<usize>)> = (0..4)
            .map(|j| {
                let token = if per_job_tokens { format!("ghs_job_{n}_{j}") } else { "ghs_shared".to_owned() };
                (token, draws((n * 4 + j) as u64))
            })
            .collect();
        keys.extend(jobs.iter().flat_map(|(_, draws)| draws.iter().copied()));
        runners.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for (token, draws) in jobs {
                for user in draws {
                    let response = client
                        .get(format!("{url}/github/users/u{user}"))
                        .header("authorization", format!("token {token}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                }
            }
        }));
    }
    for runner in runners {
        runner.await.unwrap();
    }
    (gh.charged(), keys.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_job_tokens_on_eight_nodes_cost_about_one_charged_call_per_key() {
    let (charged, keys) = ci_fleet(true).await;
    assert!(charged as f64 <= 1.2 * keys as f64, "{charged} charged calls for {keys} keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_token_on_eight_nodes_still_costs_about_one_call_per_key() {
    let (charged, keys) = ci_fleet(false).await;
    assert!(charged as f64 <= 1.2 * keys as f64, "{charged} charged calls for {keys} keys");
}

/// What a member stores and announces as GitHub's answer for `token`:
/// `body`, sealed as every member seals, stored at its clock's now.
fn plant(member: &Peercache, path: &str, token: &str, body: &str) {
    plant_with(member, path, token, body, Scopes::new(None, Some(KEY), true));
}

/// The same, sealed under `scopes`.
fn plant_with(member: &Peercache, path: &str, token: &str, body: &str, scopes: Scopes) {
    let scope = scopes.scope_of(Some(&format!("token {token}")));
    // The key of the tests' requests: reqwest sends `Accept: */*`.
    let key = proxy_key(path, "", "*/*", "", &scope.id);
    let now = member.clock.now_ms();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json; charset=utf-8".parse().unwrap());
    let decoded = Decoded::new(StatusCode::OK, &headers, Bytes::from(body.to_owned()));
    let binding = Binding { key: &key, stored_at_ms: now, ttl_secs: 60, etag: None };
    let value = Bytes::from(decoded.encode(&scope, &binding));
    member.state.core.cache.insert(Entry::new(key, value, now, 60, None, Some(200))).unwrap();
}

/// A member (node 0), a node in the default mode (node 1) and one that
/// confirms everything (node 2).
async fn member_and_two_modes(gh: &standin::Standin, dir: &Path) -> Vec<Peercache> {
    fleet_with(3, &gh.base, &swarm_key(dir), |i, c| {
        if i == 2 {
            c.confirm = ConfirmMode::Always;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_always_mode_a_members_forged_answer_never_reaches_the_client() {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let nodes = member_and_two_modes(&gh, dir.path()).await;
    plant(&nodes[0], "/repos/octo/forged", "T", r#"{"full_name":"octo/forged","tag_name":"v6.6.6-backdoor"}"#);
    for node in &nodes[1..] {
        wait_for("the forged entry announced", || {
            (!node.state.core.cache.list("github:GET:/repos/octo/forged", 0, 10).entries.is_empty()).then_some(())
        })
        .await;
    }
    let trusting = get(&nodes[1], "/repos/octo/forged", "T").await;
    assert!(
        trusting.body.contains("backdoor"),
        "cross-scope trusts members for their own scope (the README says so): {} {}",
        trusting.mode(),
        trusting.body
    );
    let confirming = get(&nodes[2], "/repos/octo/forged", "T").await;
    assert_eq!((confirming.status, confirming.mode()), (StatusCode::OK, "MISS"), "{}", confirming.body);
    assert!(!confirming.body.contains("backdoor"), "{}", confirming.body);
    assert!(confirming.body.contains("\"version\":1"), "GitHub's current answer: {}", confirming.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_always_mode_a_pre_write_answer_republished_with_a_new_time_is_not_served() {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let nodes = member_and_two_modes(&gh, dir.path()).await;
    let before = get(&nodes[0], "/repos/octo/w", "T").await;
    assert!(before.body.contains("\"version\":1"));
    let written = reqwest::Client::new()
        .post(format!("{}/github/repos/octo/w/issues", nodes[0].url))
        .header("authorization", "token T")
        .body(r#"{"title":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), StatusCode::CREATED);
    for node in &nodes {
        node.clock.advance_secs(2);
    }
    // The member hands out its pre-write copy again, dated after the write.
    plant(&nodes[0], "/repos/octo/w", "T", &before.body);
    wait_for("the re-published copy on node 2", || {
        let page = nodes[2].state.core.cache.list("github:GET:/repos/octo/w", 0, 10);
        page.entries.iter().any(|e| e.origin != "local").then_some(())
    })
    .await;
    let confirming = get(&nodes[2], "/repos/octo/w", "T").await;
    assert_eq!(confirming.status, StatusCode::OK);
    assert!(confirming.body.contains("\"version\":2"), "GitHub's current answer: {}", confirming.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_group_secret_only_anonymous_answers_cross_scopes() {
    // An open swarm's node: no swarm key, no CACHE_SECRET (the public salt would let anyone open shared bodies).
    let gh = standin::start("").await;
    let pc = start_peercache_with(&gh.base, None, |_| {}).await;
    assert!(!pc.state.core.proxy_stats().confirm.shares_tokens);
    assert_eq!(get(&pc, "/users/octocat", "job-1").await.mode(), "MISS");
    assert_eq!(get(&pc, "/users/octocat", "job-2").await.mode(), "MISS", "job-1's body is sealed for job-1 alone");
    let anonymous = reqwest::get(format!("{}/github/users/hubot", pc.url)).await.unwrap();
    assert_eq!(anonymous.headers()["x-peercache"], "MISS");
    let confirmed = get(&pc, "/users/hubot", "job-3").await;
    assert_eq!(confirmed.mode(), "CONFIRMED", "an anonymous answer is anyone's to confirm");
    assert_eq!(gh.charged(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_swarm_shares_what_github_confirms_and_nothing_it_does_not() {
    // Two nodes of an open swarm with one CACHE_SECRET; neither trusts the other.
    let gh = standin::start("").await;
    let secret = |c: &mut server::config::ServeConfig| c.cache_secret = Some("the fleet's secret".into());
    let a = start_peercache_with(&gh.base, Some(String::new()), secret).await;
    let addr = wait_for("a's address", || a.state.core.status.current().listen_addrs.first().cloned()).await;
    let b = start_peercache_with(&gh.base, Some(addr), secret).await;
    wait_for("a and b in one gossip mesh", || {
        let (sa, sb) = (a.state.core.status.current(), b.state.core.status.current());
        (sa.gossip.topic_peers == 1 && sb.gossip.topic_peers == 1).then_some(())
    })
    .await;
    assert_eq!(get(&a, "/users/octocat", "job-1").await.mode(), "MISS");
    wait_for("a's answer at b, taken as a body to confirm", || {
        (!b.state.core.cache.list("github:GET:/users/octocat", 0, 1).entries.is_empty()).then_some(())
    })
    .await;
    // Another token at b: confirmed by GitHub, for free.
    let other = get(&b, "/users/octocat", "job-2").await;
    assert_eq!(other.mode(), "CONFIRMED");
    // The same token at b: an untrusted publisher's answer is confirmed too, never served as it is.
    let same = get(&b, "/users/octocat", "job-1").await;
    assert_eq!(same.mode(), "CONFIRMED", "not a PEER-HIT from a publisher b does not trust");
    assert_eq!((gh.charged(), gh.free()), (1, 2));
    // What a stranger makes up fails the check: GitHub's answer is served.
    plant_with(
        &a,
        "/users/hubot",
        "job-1",
        r#"{"login":"hubot","site_admin":true}"#,
        Scopes::new(Some("the fleet's secret"), None, true),
    );
    wait_for("the made-up answer at b", || {
        (!b.state.core.cache.list("github:GET:/users/hubot", 0, 1).entries.is_empty()).then_some(())
    })
    .await;
    let made_up = get(&b, "/users/hubot", "job-1").await;
    assert_eq!(made_up.mode(), "MISS");
    assert!(!made_up.body.contains("site_admin\":true"), "{}", made_up.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tokens_bursting_on_eight_nodes_cost_one_charged_call() {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let nodes = fleet(8, &gh.base, &swarm_key(dir.path())).await;
    gh.gate.send_replace(false);
    let burst: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let url = format!("{}/github/slow-shared/octo/burst", node.url);
            tokio::spawn(async move {
                let response = reqwest::Client::new()
                    .get(url)
                    .header("authorization", format!("token job-{i}"))
                    .send()
                    .await
                    .unwrap();
                let mode = response.headers()["x-peercache"].to_str().unwrap().to_owned();
                (response.status(), mode, response.text().await.unwrap())
            })
        })
        .collect();
    // One node's call is at GitHub; the others wait for its body.
    wait_for("the first call at GitHub", || (gh.count("/slow-shared/octo/burst") >= 1).then_some(())).await;
    gh.gate.send_replace(true);
    let mut modes = Vec::new();
    for answer in burst {
        let (status, mode, body) = answer.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("octo/burst"), "{body}");
        modes.push(mode);
    }
    assert_eq!(gh.charged(), 1, "one charged call for eight tokens: {modes:?}");
    assert_eq!(modes.iter().filter(|m| *m == "CONFIRMED").count(), 7, "{modes:?}");
}
