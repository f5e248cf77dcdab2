//! Real GitHub clients through peercache, as the README tells users to point
//! them: PyGithub (`base_url`) and Octokit (`baseUrl`) list all 75 issues of
//! a stand-in repository page after page (following `Link` headers GitHub
//! writes with absolute URLs) and complete a user from its `url`; a second
//! identical run reaches the stand-in zero times; and a run with another
//! token on another node of the fleet costs no charged call (GitHub confirms
//! every answer for the new token with a free 304).
//!
//! The clients are installed by the README's test command: PyGithub in a
//! virtualenv under the build directory (`PEERCACHE_PYTHON` names its
//! python), Octokit in `end2end/node_modules`.

mod support;

use std::path::PathBuf;

use app::api::Backend;
use support::clients::{python, run, workspace};
use support::inproc::{fleet, start_peercache};
use support::standin;

/// Runs `client` twice against one peercache: both runs see every issue
/// and the user; the second costs the stand-in nothing.
async fn twice(client: impl Fn(String) -> (PathBuf, Vec<String>)) {
    let gh = standin::start("").await;
    let pc = start_peercache(&gh.base, None).await;
    let (program, args) = client(format!("{}/github", pc.url));
    let first = run(program.clone(), &args).await;
    let numbers: Vec<u64> = first["issues"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
    assert_eq!(numbers, (1..=standin::ISSUES).collect::<Vec<_>>(), "{first}");
    assert_eq!((first["user"].as_str(), first["name"].as_str()), (Some("user2"), Some("The user2")), "{first}");
    let issue_pages = format!("/repositories/{}/issues", standin::REPO_ID);
    assert_eq!(gh.count(&issue_pages), 2, "pages 2 and 3 came through peercache");
    assert_eq!(gh.count("/users/user2"), 1);
    let calls = gh.total();
    let second = run(program, &args).await;
    assert_eq!(second, first);
    assert_eq!(gh.total(), calls, "the second run reached GitHub zero times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pygithub_pages_through_all_issues_and_the_second_run_is_free() {
    let script = workspace().join("server/tests/clients/pygithub_issues.py");
    twice(|base| (python(), vec![script.display().to_string(), base, "ghp_test".into()])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn octokit_paginates_all_issues_and_the_second_run_is_free() {
    let script = workspace().join("end2end/clients/octokit_issues.mjs");
    assert!(
        workspace().join("end2end/node_modules/@octokit/rest").exists(),
        "run `make test` (it installs end2end's npm packages)"
    );
    twice(|base| (PathBuf::from("node"), vec![script.display().to_string(), base, "ghp_test".into()])).await;
}

/// Runs `client` on node 0 with one token, then on node 1 with another: the
/// same answers, and the second run costs GitHub nothing it charges.
async fn across_tokens(client: impl Fn(String, &str) -> (PathBuf, Vec<String>)) {
    let gh = standin::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("swarm.key");
    std::fs::write(
        &key,
        "/key/swarm/psk/1.0.0/\n/base16/\n7373737373737373737373737373737373737373737373737373737373737373\n",
    )
    .unwrap();
    let nodes = fleet(2, &gh.base, &key.display().to_string()).await;
    let (program, args) = client(format!("{}/github", nodes[0].url), "ghs_job_one");
    let first = run(program, &args).await;
    let held = nodes[0].state.core.cache.list("github:", 0, 100).total;
    support::wait_for("node 0's answers on node 1", || {
        (nodes[1].state.core.cache.list("github:", 0, 100).total == held).then_some(())
    })
    .await;
    let (charged, free) = (gh.charged(), gh.free());
    let (program, args) = client(format!("{}/github", nodes[1].url), "ghs_job_two");
    let second = run(program, &args).await;
    assert_eq!(second, first);
    assert_eq!(gh.charged(), charged, "the second token's run was confirmed, not fetched");
    assert!(gh.free() > free, "GitHub was asked, for free");
    let confirmed = nodes[1].state.core.proxy_stats().confirm.confirmed;
    assert_eq!(confirmed, gh.free() - free, "every answer of the second run was CONFIRMED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pygithub_with_another_token_on_another_node_is_confirmed_for_free() {
    let script = workspace().join("server/tests/clients/pygithub_issues.py");
    across_tokens(|base, token| (python(), vec![script.display().to_string(), base, token.into()])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn octokit_with_another_token_on_another_node_is_confirmed_for_free() {
    let script = workspace().join("end2end/clients/octokit_issues.mjs");
    across_tokens(|base, token| (PathBuf::from("node"), vec![script.display().to_string(), base, token.into()])).await;
}
