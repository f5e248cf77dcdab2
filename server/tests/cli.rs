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
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "invalidated 1 entries");
    let out = run(&["get", "get_repo:octo/cli", "--server", url], b"");
    assert!(!out.status.success());
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
    for args in [vec!["status"], vec!["peers"], vec!["get", "k"], vec!["put", "k", "-"], vec!["invalidate", "k"]] {
        let mut args = args.clone();
        args.extend(["--server", url.as_str()]);
        let out = run(&args, b"{}");
        assert!(!out.status.success(), "{args:?}");
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
