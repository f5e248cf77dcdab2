//! Settings of `peercache serve`, each a flag with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// Where the dashboard's static files (`pkg/peercache.js`, `.wasm`, `.css`) live
/// when nothing says otherwise: `site/` beside the build profile directory of
/// this binary, which is where `make build` puts them.
pub fn default_site_root() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join("site")))
        .unwrap_or_else(|| PathBuf::from("site"))
}

#[derive(Args, Clone, Debug)]
pub struct ServeConfig {
    /// Address of the dashboard and HTTP API (port 0 picks a free port).
    #[arg(long = "http", env = "PEERCACHE_HTTP_ADDR", default_value = "127.0.0.1:8899")]
    pub http_addr: SocketAddr,

    /// Directory holding the built dashboard assets (`pkg/`); defaults to
    /// `site/` next to the binary's build directory.
    #[arg(long, env = "PEERCACHE_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
}

impl ServeConfig {
    pub fn site_root(&self) -> PathBuf {
        self.site_root.clone().unwrap_or_else(default_site_root)
    }
}
