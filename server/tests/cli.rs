//! The `peercache` binary's own commands, run as a user would.

use std::process::Command;

fn peercache() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_peercache"));
    command.env_remove("CACHE_DIR").env("RUST_LOG", "warn");
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
