//! Stock `gh` (Debian's package) with its own `GH_CONFIG_DIR` in a
//! temporary directory, pointed at a peercache's socket.

use std::path::Path;
use std::time::Duration;

/// `gh` with its own config directory, pointed at `socket`.
pub struct Gh {
    config: tempfile::TempDir,
}

impl Gh {
    pub async fn at(socket: &Path) -> Gh {
        let gh = Gh { config: tempfile::tempdir().unwrap() };
        let out = gh.run(&["config", "set", "http_unix_socket", &socket.display().to_string()]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        gh
    }

    pub async fn run(&self, args: &[&str]) -> std::process::Output {
        let command = tokio::process::Command::new("gh")
            .args(args)
            .env("GH_CONFIG_DIR", self.config.path())
            .env("GH_TOKEN", "ghp_test")
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("GH_PROMPT_DISABLED", "1")
            .env("NO_COLOR", "1")
            .env_remove("GH_HOST")
            .env_remove("GITHUB_TOKEN")
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(Duration::from_secs(60), command)
            .await
            .expect("gh finished within a minute")
            .expect("gh runs")
    }

    /// `gh args`, which must succeed; what it printed.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.status.success(), "gh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}
