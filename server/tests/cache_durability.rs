//! kill -9 in the middle of writing: the store must open afterwards and hold
//! every entry whose `put` had returned. The writer is this same test binary,
//! started again as a child process in "writer" mode.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use server::cache::ttl::SystemClock;
use server::cache::{Cache, CacheConfig, PutOptions};

const CHILD_ENV: &str = "PEERCACHE_DURABILITY_WRITER_DIR";
const TEST_NAME: &str = "kill_9_mid_write_keeps_every_committed_entry";
const COMMITS_BEFORE_KILL: usize = 150;

fn config(dir: &Path) -> CacheConfig {
    CacheConfig { dir: Some(dir.to_owned()), ..CacheConfig::default() }
}

fn value(n: usize) -> Bytes {
    Bytes::from(format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(4096)))
}

/// Writer mode: put entries forever, reporting each one that returned.
fn write_until_killed(dir: &Path) -> ! {
    let cache = Cache::open(config(dir), Arc::new(SystemClock)).expect("writer opens the store");
    let mut stdout = std::io::stdout();
    for n in 0.. {
        cache.put(&format!("k{n}"), value(n), PutOptions { ttl_secs: Some(3600), ..PutOptions::default() }).unwrap();
        writeln!(stdout, "committed {n}").unwrap();
        stdout.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn kill_9_mid_write_keeps_every_committed_entry() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        write_until_killed(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let (lines, committed_lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("committed ") {
                if lines.send(n.parse::<usize>().unwrap()).is_err() {
                    break;
                }
            }
        }
    });
    let mut last_committed = None;
    while last_committed.map_or(true, |n| n + 1 < COMMITS_BEFORE_KILL) {
        match committed_lines.recv_timeout(Duration::from_secs(30)) {
            Ok(n) => last_committed = Some(n),
            Err(error) => {
                let _ = child.kill();
                panic!("writer stopped reporting commits: {error}");
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, mid-transaction
    child.wait().unwrap();
    // Commits the writer reported after we stopped listening also count.
    while let Ok(n) = committed_lines.try_recv() {
        last_committed = Some(n);
    }
    let last_committed = last_committed.unwrap();

    let cache = Cache::open(config(dir.path()), Arc::new(SystemClock)).expect("the store opens after kill -9");
    for n in 0..=last_committed {
        let entry = cache.get(&format!("k{n}")).unwrap_or_else(|| panic!("committed entry k{n} lost"));
        assert_eq!(entry.value, value(n));
    }
    assert!(cache.len() >= last_committed + 1);
}
