//! The systemd unit (server/deploy/peercache.service): `systemd-analyze
//! verify` finds nothing in it, and the binary runs the way the unit runs it
//! — secrets read from the credential files the unit names, readiness sent
//! on `NOTIFY_SOCKET` once the HTTP front answers, plain log lines on a
//! stderr that is not a terminal.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::BIN;

const UNIT: &str = include_str!("../deploy/peercache.service");

/// The unit's `Key=value` lines under `[Service]`.
fn service_lines() -> Vec<(&'static str, &'static str)> {
    let service = UNIT.split("[Service]").nth(1).unwrap().split("\n[").next().unwrap();
    service.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('=')).collect()
}

#[test]
fn systemd_analyze_verify_finds_nothing_in_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    // Verified as written, but for the binary's place: the built one.
    let unit = dir.path().join("peercache.service");
    std::fs::write(&unit, UNIT.replace("/usr/local/bin/peercache", BIN)).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&unit).output().expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");

    let lines = service_lines();
    assert!(lines.contains(&("Type", "notify")));
    assert!(lines.contains(&("DynamicUser", "yes")));
    assert!(lines.contains(&("StateDirectory", "peercache")));
    assert!(lines.contains(&("LoadCredential", "swarm.key:/etc/peercache/swarm.key")));
    assert!(lines.contains(&("LoadCredential", "admin-token:/etc/peercache/admin-token")));
    assert!(lines.contains(&("Environment", "CACHE_SWARM_KEY=%d/swarm.key")));
    assert!(lines.contains(&("Environment", "PEERCACHE_ADMIN_TOKEN_FILE=%d/admin-token")));
}

/// What arrives on a notify socket within `within`.
fn notified(socket: &UnixDatagram, within: Duration) -> String {
    socket.set_read_timeout(Some(within)).unwrap();
    let mut buffer = [0u8; 4096];
    let n = socket.recv(&mut buffer).expect("a notification within the deadline");
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test]
async fn runs_as_the_unit_runs_it_credentials_readiness_and_plain_logs() {
    let dir = tempfile::tempdir().unwrap();
    // $CREDENTIALS_DIRECTORY as systemd fills it: the files LoadCredential names.
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    let keygen = support::run(&["keygen", "--out", credentials.join("swarm.key").to_str().unwrap()], b"");
    assert!(keygen.status.success());
    private_file(&credentials.join("admin-token"), "s3cret-token\n");
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();

    let mut child = Command::new(BIN)
        .args(["serve", "--http", "127.0.0.1:0", "--p2p-host", "127.0.0.1", "--p2p-port", "0"])
        .env("CACHE_DIR", dir.path().join("state"))
        .env("CACHE_SWARM_KEY", credentials.join("swarm.key"))
        .env("PEERCACHE_ADMIN_TOKEN_FILE", credentials.join("admin-token"))
        .env("NOTIFY_SOCKET", &notify_path)
        .env("RUST_LOG", "info")
        .env_remove("PEERCACHE_ADMIN_TOKEN")
        .env_remove("CACHE_BOOTSTRAP_PEERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("peercache listening on ").unwrap().to_owned();

    // READY=1 comes once the front answers: at that moment it does.
    let message = notified(&notify, Duration::from_secs(30));
    assert!(message.lines().any(|l| l == "READY=1"), "{message:?}");
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{url}/healthz")).send().await.unwrap().status(), 200);

    // The admin token came from its file: changes need it, even on loopback.
    let invalidate = |token: Option<&str>| {
        let mut request = http.post(format!("{url}/api/cache/invalidate")).json(&serde_json::json!({"all": true}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(invalidate(None).await.unwrap().status(), 401);
    assert_eq!(invalidate(Some("s3cret-token")).await.unwrap().status(), 200);
    // The swarm key came from its file: a private swarm.
    let peers: serde_json::Value = http.get(format!("{url}/api/mcp/peers")).send().await.unwrap().json().await.unwrap();
    assert!(peers["trust"].as_str().unwrap().contains("private swarm"), "{}", peers["trust"]);

    // SIGTERM, as systemctl stop sends: STOPPING=1, then a clean exit.
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let message = notified(&notify, Duration::from_secs(30));
    assert!(message.lines().any(|l| l == "STOPPING=1"), "{message:?}");
    assert!(child.wait().unwrap().success());
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    assert!(logs.contains("dashboard and API ready"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "no terminal colours in a pipe: {logs:?}");
}

#[test]
fn an_unreadable_admin_token_file_stops_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::run(
        &[
            "serve",
            "--http",
            "127.0.0.1:0",
            "--no-p2p",
            "--cache-dir",
            dir.path().to_str().unwrap(),
            "--admin-token-file",
            dir.path().join("missing").to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("cannot read the admin token file"), "{said}");
}
