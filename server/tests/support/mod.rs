//! Running the real `peercache` binary from tests: a `serve` process on
//! 127.0.0.1 (killed when dropped) and one-shot commands.

#![allow(dead_code)]

pub mod clients;
pub mod gh;
pub mod inproc;
pub mod node;
pub mod releases;
pub mod standin;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_peercache");

/// A `peercache serve` process, killed when dropped.
pub struct Serve {
    child: Child,
    pub url: String,
}

impl Serve {
    /// Stops the server as systemd would (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().unwrap()
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `peercache serve` on free loopback ports with `cache_dir` and `args`.
pub fn serve(cache_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Serve {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--http", "127.0.0.1:0", "--p2p-host", "127.0.0.1", "--p2p-port", "0", "--cache-dir"])
        .arg(cache_dir)
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    serve_command(command)
}

/// Starts `command`, a `peercache serve` whose arguments the caller chose
/// (on loopback), and waits for it to listen.
pub fn serve_command(mut command: Command) -> Serve {
    // What the caller did not set: quiet logs, no bootstrap peers from the test's own environment.
    let unset = |command: &Command, name: &str| command.get_envs().all(|(key, _)| key != name);
    if unset(&command, "CACHE_BOOTSTRAP_PEERS") {
        command.env_remove("CACHE_BOOTSTRAP_PEERS");
    }
    if unset(&command, "RUST_LOG") {
        command.env("RUST_LOG", "warn");
    }
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("peercache listening on ").expect("the first line names the address").to_owned();
    Serve { child, url }
}

/// Runs a command to completion (assert_cmd), feeding `stdin`, within 60 s.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    assert_cmd::Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("CACHE_DIR")
        .env_remove("PEERCACHE_SERVER")
        .env_remove("PEERCACHE_CONFIG")
        .write_stdin(stdin.to_vec())
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap()
}

/// Runs a command that must succeed; its standard output.
pub fn peercache(args: &[&str]) -> String {
    let out = run(args, b"");
    assert!(out.status.success(), "peercache {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// How long a test waits for a condition before it fails.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(20);
/// How often a waiting test looks again.
const POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// The one way tests wait: until `probe` gives a value, looking every 20 ms,
/// failing (naming `what`) after [`WAIT`]. Tests never sleep a fixed time.
pub async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {WAIT:?} waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_for`] for tests without a runtime (they block their thread).
pub fn wait_for_blocking<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out after {WAIT:?} waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// A JSON answer, fetched from inside a waiting probe (which cannot await).
pub fn json_now(url: &str) -> Option<serde_json::Value> {
    tokio::task::block_in_place(|| reqwest::blocking::get(url).ok()?.json().ok())
}
