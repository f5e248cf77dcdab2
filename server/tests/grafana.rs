//! The Grafana board in `server/deploy/grafana-dashboard.json` against a
//! real Prometheus (Debian's `prometheus`, which `make test` installs)
//! scraping two nodes of a private swarm after a workload: every panel's
//! every query returns data. A third node with another swarm key gives the
//! refusal panel something to show, as a stranger would.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{serve, standin, wait_for_blocking as until};

/// Prometheus on a free loopback port, killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn scraping(targets: &[String]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: peercache\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's prometheus (`make setup` installs it)");
        Prometheus { child, url: format!("http://127.0.0.1:{port}"), _dir: dir }
    }

    /// An instant query's result vector, `None` while Prometheus is not up.
    fn query(&self, expr: &str) -> Option<Vec<Value>> {
        let response = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .timeout(Duration::from_secs(5))
            .send()
            .ok()?;
        let body: Value = response.json().ok()?;
        assert_eq!(body["status"], "success", "{expr}: {body}");
        body["data"]["result"].as_array().cloned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_of_the_grafana_board_returns_data_from_a_real_prometheus() {
    let gh = standin::start("").await;
    let base = gh.base.clone();
    tokio::task::spawn_blocking(move || {
        let board: Value =
            serde_json::from_str(include_str!("../deploy/grafana-dashboard.json")).expect("the board is JSON");
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let key = dirs[0].path().join("swarm.key");
        support::peercache(&["keygen", "--out", key.to_str().unwrap()]);
        let args = ["--swarm-key", key.to_str().unwrap(), "--github-api-url", &base];
        let a = serve(dirs[0].path(), &args, &[]);
        let addr = until("a's address", || {
            let json: Value = reqwest::blocking::get(format!("{}/api/mcp/peers", a.url)).ok()?.json().ok()?;
            json["listen_addrs"][0].as_str().map(str::to_owned)
        });
        let b = serve(dirs[1].path(), &args, &[("CACHE_BOOTSTRAP_PEERS", &addr)]);
        // A stranger with another key: refused on both sides, and counted.
        let other = dirs[2].path().join("other.key");
        support::peercache(&["keygen", "--out", other.to_str().unwrap()]);
        let stranger = serve(
            dirs[2].path(),
            &["--swarm-key", other.to_str().unwrap(), "--github-api-url", &base],
            &[("CACHE_BOOTSTRAP_PEERS", &addr)],
        );
        let prometheus = Prometheus::scraping(&[
            a.url.trim_start_matches("http://").to_owned(),
            b.url.trim_start_matches("http://").to_owned(),
        ]);
        // A workload: misses, hits, a peer's answer, another token confirmed, a GitHub failure, a rate limit.
        let client = reqwest::blocking::Client::new();
        let ask = |url: &str, path: &str, token: &str| {
            client.get(format!("{url}/github{path}")).header("authorization", format!("token {token}")).send().unwrap();
        };
        // Prometheus starts, scrapes every second, and a rate needs two scrapes: a minute at most.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        for round in 0.. {
            for node in [&a.url, &b.url] {
                ask(node, "/repos/octo/board", "T");
                ask(node, &format!("/repos/octo/r{round}"), "T");
                ask(node, "/repos/octo/board", "U");
                ask(node, "/fail/502", "T");
                ask(node, "/search/issues?q=x", "T");
            }
            let empty = empty_queries(&board, &prometheus);
            if empty.is_empty() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "queries without data after a minute:\n{}", empty.join("\n"));
            std::thread::sleep(Duration::from_millis(500));
        }
        drop(stranger);
    })
    .await
    .unwrap();
}

/// The queries of the board that return nothing yet (each with its panel).
fn empty_queries(board: &Value, prometheus: &Prometheus) -> Vec<String> {
    let panels = board["panels"].as_array().expect("panels");
    assert!(panels.len() >= 15, "a board for the /metrics families");
    let mut empty = Vec::new();
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{}: the board's own data source", panel["title"]);
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty()).expect("a panel with queries");
        for target in targets {
            let expr = target["expr"].as_str().unwrap().replace("$__rate_interval", "30s");
            if prometheus.query(&expr).is_none_or(|result| result.is_empty()) {
                empty.push(format!("{}: {expr}", panel["title"]));
            }
        }
    }
    empty
}
