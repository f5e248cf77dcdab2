//! The `peercache` binary's own commands, run as a user would.

mod support;

use std::process::Command;

use support::{run, serve};

fn peercache() -> Command {
    let mut command = Command::new(support::BIN);
    command.env_remove("CACHE_DIR").env_remove("PEERCACHE_CONFIG").env("RUST_LOG", "warn");
    command
}

#[test]
fn peer_id_is_created_once_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = peercache().args(["peer-id", "--cache-dir"]).arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let first = run();
    assert!(first.starts_with("12D3KooW"), "{first}");
    assert_eq!(run(), first);
    let from_env = peercache().arg("peer-id").env("CACHE_DIR", dir.path()).output().unwrap();
    assert_eq!(String::from_utf8(from_env.stdout).unwrap().trim(), first);
}

#[test]
fn keygen_writes_a_private_key_file_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swarm.key");
    let out = peercache().args(["keygen", "--out"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = std::fs::read_to_string(&path).unwrap();
    assert!(key.starts_with("/key/swarm/psk/1.0.0/\n/base16/\n"), "{key}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = peercache().args(["keygen", "--out"]).arg(&path).output().unwrap();
    assert!(!again.status.success());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key, "the old key is untouched");
}

#[test]
fn serve_off_loopback_without_admin_token_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = peercache()
        .args(["serve", "--http", "0.0.0.0:0", "--no-p2p", "--cache-dir"])
        .arg(dir.path())
        .env_remove("PEERCACHE_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PEERCACHE_ADMIN_TOKEN"));
}

#[test]
fn put_get_and_invalidate_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["--no-p2p"], &[]);
    let url = server.url.as_str();
    let file = dir.path().join("value.json");
    std::fs::write(&file, r#"{"id": 7, "name": "from a file"}"#).unwrap();

    let out = run(&["put", "get_repo:octo/cli", file.to_str().unwrap(), "--ttl", "120", "--server", url], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.starts_with("stored get_repo:octo/cli") && said.contains("ttl 120 s"), "{said}");

    let out = run(&["put", "list_runners:octo/x", "-", "--server", url], br#"{"total_count": 2}"#);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = run(&["get", "get_repo:octo/cli", "--server", url], b"");
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["name"], "from a file");

    let out = run(&["put", "k", "-", "--server", url], b"not json");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("not valid JSON") && stderr.contains("400"), "{stderr}");

    let out = run(&["put", "github:GET:/repos/o/r:accept=:scope=anonymous", "-", "--server", url], b"{}");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("only the proxy writes them") && stderr.contains("(403)"), "{stderr}");

    let out = run(&["invalidate", "get_repo:", "--server", url], b"");
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "invalidated 1 entry");
    let out = run(&["get", "get_repo:octo/cli", "--server", url], b"");
    assert_eq!(out.status.code(), Some(3), "not found");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no fresh cache entry") && stderr.contains("404"), "{stderr}");

    let status = run(&["status", "--server", url], b"");
    let text = String::from_utf8(status.stdout).unwrap();
    assert!(text.contains("Cache:   1 entries"), "{text}");
    assert!(text.contains("✗ Disabled"), "{text}");
    let socket = dir.path().join("gh.sock");
    assert!(text.contains(&format!("gh:      gh config set http_unix_socket {}", socket.display())), "{text}");
    let peers = String::from_utf8(run(&["peers", "--json", "--server", url], b"").stdout).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&peers).unwrap()["peer_count"], 0);
}

#[test]
fn every_client_command_says_which_server_is_not_running() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for args in [
        vec!["status"],
        vec!["peers"],
        vec!["get", "k"],
        vec!["put", "k", "-"],
        vec!["invalidate", "k"],
        vec!["connect", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"],
    ] {
        let mut args = args.clone();
        args.extend(["--server", url.as_str()]);
        let out = run(&args, b"{}");
        assert_eq!(out.status.code(), Some(4), "{args:?}: server unreachable");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(&url) && stderr.contains("`peercache serve` running"), "{args:?}: {stderr}");
    }
}

#[test]
fn logs_can_be_json_lines() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = peercache()
        .args(["--log-format", "json", "serve", "--http", "127.0.0.1:0", "--no-p2p", "--cache-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().expect("a log line").unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let line: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|_| panic!("not JSON: {first}"));
    assert!(line["level"].is_string() && line["fields"].is_object(), "{line}");
}

#[test]
fn config_file_sits_between_environment_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("peercache.toml"),
        "# found in CACHE_DIR without --config\n\
         default-ttl = 42\n\
         max-entries = 9\n\
         max-bytes = 1000000\n\
         p2p = false\n\
         bootstrap = [\"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN\"]\n",
    )
    .unwrap();
    // environment beats the file; a flag beats both.
    let server = serve(dir.path(), &["--max-bytes", "2000000"], &[("CACHE_MAX_ENTRIES", "7")]);
    let stats: serde_json::Value =
        serde_json::from_str(&support::peercache(&["status", "--json", "--server", &server.url])).unwrap();
    assert_eq!(stats["cache"]["max_entries"], 7, "env over file");
    assert_eq!(stats["cache"]["max_size_bytes"], 2_000_000, "flag over file");
    assert_eq!(stats["peers"]["state"], "disabled", "file over default");
    let put = run(&["put", "misc:x", "-", "--server", &server.url], b"{}");
    assert!(String::from_utf8(put.stdout).unwrap().contains("ttl 42 s"), "file over default");
}

#[test]
fn a_bad_config_file_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "max-entrys = 5\n").unwrap();
    let out = run(&["serve", "--config", file.to_str().unwrap(), "--cache-dir", dir.path().to_str().unwrap()], b"");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("unknown setting \"max-entrys\""), "{stderr}");
    let out = run(&["serve", "--config", "/nonexistent/peercache.toml"], b"");
    assert!(String::from_utf8(out.stderr).unwrap().contains("does not exist"));
}

/// Runs `args` and parses what it printed as JSON.
fn json(args: &[&str], stdin: &[u8]) -> serde_json::Value {
    let out = run(args, stdin);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e})"))
}

#[test]
fn every_command_that_prints_data_prints_json_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["--no-p2p"], &[]);
    let url = server.url.as_str();
    let stored = json(&["put", "get_repo:o/j", "-", "--ttl", "2m", "--json", "--server", url], br#"{"id": 1}"#);
    assert_eq!((stored["key"].as_str(), stored["ttl_secs"].as_u64()), (Some("get_repo:o/j"), Some(120)));
    let entry = json(&["get", "get_repo:o/j", "--json", "--server", url], b"");
    assert_eq!((entry["value"]["id"].as_u64(), entry["cid"].as_str()), (Some(1), stored["cid"].as_str()));
    assert_eq!(json(&["status", "--json", "--server", url], b"")["cache"]["total_entries"], 1);
    assert_eq!(json(&["peers", "--json", "--server", url], b"")["peer_count"], 0);
    assert_eq!(json(&["assets", "--json", "--server", url], b"")["blobs_held"], 0);
    assert_eq!(json(&["invalidate", "get_repo:", "--json", "--server", url], b"")["invalidated"], 1);
    let id = json(&["peer-id", "--json", "--cache-dir", dir.path().to_str().unwrap()], b"");
    assert!(id["peer_id"].as_str().unwrap().starts_with("12D3KooW"));
    let key = dir.path().join("k");
    assert_eq!(json(&["keygen", "--json", "--out", key.to_str().unwrap()], b"")["swarm_key"], key.to_str().unwrap());
    let settings = json(&["config", "--json", "--cache-dir", dir.path().to_str().unwrap()], b"");
    assert!(settings.as_array().unwrap().iter().any(|s| s["setting"] == "max-bytes"));
}

#[test]
fn exit_codes_tell_usage_not_found_unreachable_and_other_failures_apart() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(&["status", "--no-such-flag"], b"").status.code(), Some(2), "usage");
    let out = run(&["serve", "--max-bytes", "lots", "--cache-dir", dir.path().to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2), "a bad value is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("say 256MiB"));
    let server = serve(dir.path(), &["--no-p2p"], &[("PEERCACHE_ADMIN_TOKEN", "right")]);
    let url = server.url.as_str();
    assert_eq!(run(&["get", "get_repo:none", "--server", url], b"").status.code(), Some(3), "not found");
    // With --json, a script reads the failure as JSON too.
    let out = run(&["get", "get_repo:none", "--json", "--server", url], b"");
    assert_eq!(out.status.code(), Some(3));
    let failure: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON error on standard output");
    assert_eq!((failure["status"].as_u64(), failure["exit"].as_u64()), (Some(404), Some(3)), "{failure}");
    assert!(failure["error"].as_str().unwrap().contains("no fresh cache entry"), "{failure}");
    // A node switched off by configuration is what it was told to be: status exits 0.
    assert_eq!(run(&["status", "--server", url], b"").status.code(), Some(0));
    let out = run(&["invalidate", "--all", "--server", url, "--admin-token", "wrong"], b"");
    assert_eq!(out.status.code(), Some(1), "refused: another failure");
    assert_eq!(run(&["invalidate", "--all", "--server", url, "--admin-token", "right"], b"").status.code(), Some(0));
}

#[test]
fn connect_dials_a_peer_of_a_running_server() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = serve(a_dir.path(), &[], &[]);
    let b = serve(b_dir.path(), &[], &[]);
    let a_addr = support::wait_for_blocking("node A's listen address", || {
        let peers = json(&["peers", "--json", "--server", &a.url], b"");
        peers["listen_addrs"].as_array().and_then(|addrs| addrs.first()).and_then(|a| a.as_str()).map(str::to_owned)
    });
    // Enabled, with no peer yet: status says so, and exits 5 for scripts.
    let out = run(&["status", "--server", &b.url], b"");
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not active"));
    let out = run(&["connect", &a_addr, "--server", &b.url], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("dialing "));
    support::wait_for_blocking("B connected to A", || {
        (json(&["peers", "--json", "--server", &b.url], b"")["peer_count"] == 1).then_some(())
    });
    assert_eq!(run(&["status", "--server", &b.url], b"").status.code(), Some(0), "active");
    // `peers` prints whole ids under a header: what CACHE_TRUSTED_PEERS takes.
    let a_id = a_addr.rsplit("/p2p/").next().unwrap();
    let listed = String::from_utf8(run(&["peers", "--server", &b.url], b"").stdout).unwrap();
    assert!(listed.starts_with("PEER ID"), "{listed}");
    assert!(listed.lines().nth(1).unwrap().starts_with(a_id), "{listed}");
    let out = run(&["connect", "/ip4/127.0.0.1/tcp/1", "--server", &b.url], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/p2p/"), "names what is missing");
}

/// `connect --wait` reports the dial's result: connected (exit 0), or why
/// not (exit 1), where a plain `connect` only says it started dialing.
#[test]
fn connect_wait_says_whether_the_peer_connected() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = serve(a_dir.path(), &[], &[]);
    let b = serve(b_dir.path(), &[], &[]);
    let a_addr = support::wait_for_blocking("node A's listen address", || {
        json(&["peers", "--json", "--server", &a.url], b"")["listen_addrs"][0].as_str().map(str::to_owned)
    });
    let out = run(&["connect", "--wait=5", &a_addr, "--server", &b.url], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), format!("connected to {a_addr}"));
    // Nobody listens there: refused, named, exit 1.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let a_id = a_addr.rsplit("/p2p/").next().unwrap();
    let nobody = format!("/ip4/127.0.0.1/tcp/{closed}/p2p/{a_id}");
    let out = run(&["connect", "--wait", &nobody, "--server", &b.url], b"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not connect") && stderr.to_lowercase().contains("refused"), "{stderr}");
    // The status line says what the node is, once: no "✓ Enabled" beside "not active"; the upstream in use.
    let text = String::from_utf8(run(&["status", "--server", &b.url], b"").stdout).unwrap();
    assert!(text.contains("P2P:     ✓ Active — 1 peer(s)\n"), "{text}");
    assert!(!text.contains("✓ Enabled"), "{text}");
    assert!(text.contains("GitHub:  https://api.github.com\n"), "{text}");
}

/// Malformed `CACHE_BOOTSTRAP_PEERS` entries are named in `status`, where it
/// used to say "no bootstrap peers configured".
#[test]
fn bad_bootstrap_entries_are_named_in_status() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path(), &[], &[("CACHE_BOOTSTRAP_PEERS", "/ip4/10.99.0.1/tcp/9100,10.99.0.2:9100")]);
    let out = run(&["status", "--server", &node.url], b"");
    assert_eq!(out.status.code(), Some(5));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("no usable bootstrap peer: 2 entries of CACHE_BOOTSTRAP_PEERS ignored"), "{text}");
    assert!(!text.contains("no bootstrap peers configured"), "{text}");
    let named: Vec<&str> = text.lines().filter(|l| l.starts_with("Bootstrap: ")).collect();
    assert_eq!(named.len(), 2, "{text}");
    assert!(named[0].contains("\"/ip4/10.99.0.1/tcp/9100\"") && named[0].contains("/p2p/"), "{text}");
    assert!(named[1].contains("\"10.99.0.2:9100\": not a multiaddr"), "{text}");
}

#[test]
fn config_shows_each_setting_and_where_it_came_from_in_human_units() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("peercache.toml"), "default-ttl = \"10m\"\nmax-entries = 9\n").unwrap();
    let out = peercache()
        .args(["config", "--json", "--max-bytes", "1GiB", "--cache-dir", dir.path().to_str().unwrap()])
        .env("CACHE_STALE_GRACE", "2h")
        .env_remove("CACHE_DEFAULT_TTL")
        .env_remove("CACHE_MAX_ENTRIES")
        .env_remove("CACHE_MAX_BYTES")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let settings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let of = |name: &str| settings.iter().find(|s| s["setting"] == name).unwrap_or_else(|| panic!("{name}")).clone();
    assert_eq!((of("max-bytes")["value"].clone(), of("max-bytes")["source"].clone()), ("1GiB".into(), "flag".into()));
    assert_eq!((of("stale-grace")["value"].clone(), of("stale-grace")["source"].clone()), ("2h".into(), "env".into()));
    assert_eq!(
        (of("default-ttl")["value"].clone(), of("default-ttl")["source"].clone()),
        ("10m".into(), "file".into())
    );
    assert_eq!(of("max-entries")["source"], "file");
    assert_eq!(
        (of("http")["value"].clone(), of("http")["source"].clone()),
        ("127.0.0.1:8899".into(), "default".into())
    );
    assert_eq!(of("admin-token")["source"], "unset");
    // Paths and the upstream in use, never "unset" where serve derives one.
    let in_dir = |file: &str| dir.path().join(file).display().to_string();
    assert_eq!(of("gh-socket")["value"], in_dir("gh.sock"));
    assert_eq!(of("gh-socket")["source"], "default");
    assert_eq!(of("github-api-url")["value"], "https://api.github.com");
    let out = peercache()
        .args(["config", "--json"])
        .env_remove("CACHE_DIR")
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let settings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let cache_dir = settings.iter().find(|s| s["setting"] == "cache-dir").unwrap();
    assert_eq!(
        (cache_dir["value"].clone(), cache_dir["source"].clone()),
        (in_dir(".cache/peercache").into(), "default".into())
    );

    // The same units work for serve: 1 GiB is 1073741824 bytes.
    let server = serve(dir.path(), &["--no-p2p", "--max-bytes", "1GiB"], &[]);
    let stats = json(&["status", "--json", "--server", &server.url], b"");
    assert_eq!(stats["cache"]["max_size_bytes"], 1u64 << 30);
    let put = run(&["put", "misc:x", "-", "--server", &server.url], b"{}");
    assert!(String::from_utf8(put.stdout).unwrap().contains("ttl 600 s"), "10m from the file");

    // A secret shows only that it is set.
    let out = peercache().args(["config", "--admin-token", "s3cret"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("s3cret") && text.contains("(set, hidden)"), "{text}");
}
