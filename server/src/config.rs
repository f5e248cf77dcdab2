//! Settings of `peercache serve`, each a flag with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::cache::CacheConfig;

/// Where the dashboard's static files (`pkg/peercache.js`, `.wasm`, `.css`) live
/// when nothing says otherwise: `site/` beside the build profile directory of
/// this binary, which is where `make build` puts them.
pub fn default_site_root() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join("site")))
        .unwrap_or_else(|| PathBuf::from("site"))
}

/// `~/.cache/peercache` (or `$XDG_CACHE_HOME/peercache`).
pub fn default_cache_dir() -> PathBuf {
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("peercache")
}

#[derive(Args, Clone, Debug)]
pub struct ServeConfig {
    /// Address of the dashboard and HTTP API (port 0 picks a free port). Off
    /// loopback, mutating endpoints need the admin token.
    #[arg(long = "http", env = "PEERCACHE_HTTP_ADDR", default_value = "127.0.0.1:8899")]
    pub http_addr: SocketAddr,

    /// Directory holding the built dashboard assets (`pkg/`); defaults to
    /// `site/` next to the binary's build directory.
    #[arg(long, env = "PEERCACHE_SITE_ROOT")]
    pub site_root: Option<PathBuf>,

    /// Bearer token required by mutating endpoints when `--http` is not loopback.
    #[arg(long, env = "PEERCACHE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Directory of the persistent cache store [default: ~/.cache/peercache].
    #[arg(long, env = "CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// TTL in seconds of entries whose operation has no family default.
    #[arg(long, env = "CACHE_DEFAULT_TTL", default_value_t = 300)]
    pub default_ttl: u64,

    /// Most entries the cache holds before evicting the least recently used.
    #[arg(long, env = "CACHE_MAX_ENTRIES", default_value_t = 10_000)]
    pub max_entries: u64,

    /// Most bytes (keys + values) the cache holds before evicting.
    #[arg(long, env = "CACHE_MAX_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_bytes: u64,

    /// Seconds an expired entry is kept to answer when GitHub rate-limits.
    #[arg(long, env = "CACHE_STALE_GRACE", default_value_t = 3600)]
    pub stale_grace: u64,

    /// Largest request body the API accepts, in bytes (larger: 413).
    #[arg(long, env = "CACHE_MAX_BODY", default_value_t = 8 * 1024 * 1024)]
    pub max_body: usize,
}

impl ServeConfig {
    /// Defaults for everything, listening on `http_addr` and caching in
    /// `cache_dir`. For tests and embedding.
    pub fn for_tests(http_addr: SocketAddr, cache_dir: PathBuf) -> ServeConfig {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            serve: ServeConfig,
        }
        let mut config = Defaults::parse_from(["peercache"]).serve;
        config.http_addr = http_addr;
        config.cache_dir = Some(cache_dir);
        config
    }

    pub fn site_root(&self) -> PathBuf {
        self.site_root.clone().unwrap_or_else(default_site_root)
    }

    pub fn cache(&self) -> CacheConfig {
        CacheConfig {
            dir: Some(self.cache_dir.clone().unwrap_or_else(default_cache_dir)),
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
            default_ttl_secs: self.default_ttl,
            stale_grace_secs: self.stale_grace,
        }
    }
}
