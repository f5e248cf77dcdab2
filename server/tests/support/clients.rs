//! The GitHub clients the tests run against peercache (PyGithub from the
//! virtualenv `make test` makes, Octokit from end2end's npm packages), and
//! where their scripts are.

use std::path::PathBuf;
use std::time::Duration;

pub fn python() -> PathBuf {
    let path = std::env::var_os("PEERCACHE_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "/var/tmp/peercache-target".into());
        PathBuf::from(target).join("venv/bin/python")
    });
    assert!(
        path.exists(),
        "no python with PyGithub at {}: run `make test` (it makes one) or set PEERCACHE_PYTHON",
        path.display()
    );
    path
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Runs a client to completion (at most a minute); its JSON output.
pub async fn run(program: PathBuf, args: &[String]) -> serde_json::Value {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&program).args(args).kill_on_drop(true).output(),
    )
    .await
    .expect("the client finished within a minute")
    .unwrap();
    assert!(output.status.success(), "{} {args:?}: {}", program.display(), String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&output.stdout)))
}
