//! Settings of `peercache serve`, each a flag with an environment variable.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};

use crate::cache::CacheConfig;
use crate::github::confirm::ConfirmMode;
use crate::github::freshness::Freshness;
use crate::units;

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

    /// How long a client has to send a request's headers (milliseconds, or 10s…)
    /// (a client that sends half a header and waits is dropped).
    #[arg(long = "http-header-timeout-ms", env = "PEERCACHE_HTTP_HEADER_TIMEOUT_MS", default_value = "10s", value_parser = units::millis)]
    pub http_header_timeout_ms: u64,

    /// Off loopback: the most a request may take to be answered, and its body
    /// to arrive (milliseconds, or 60s…).
    #[arg(long = "http-request-timeout-ms", env = "PEERCACHE_HTTP_REQUEST_TIMEOUT_MS", default_value = "60s", value_parser = units::millis)]
    pub http_request_timeout_ms: u64,

    /// Off loopback: connections served at once (more wait their turn).
    #[arg(long = "http-max-connections", env = "PEERCACHE_HTTP_MAX_CONNECTIONS", default_value_t = 512)]
    pub http_max_connections: usize,

    /// Bearer token required by mutating endpoints when `--http` is not loopback.
    #[arg(long, env = "PEERCACHE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// A file holding the admin token (read when `--admin-token` is not
    /// given; the systemd unit passes its credential this way).
    #[arg(long = "admin-token-file", env = "PEERCACHE_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Directory of the persistent cache store [default: ~/.cache/peercache].
    #[arg(long, env = "CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// TTL of entries whose operation has no family default (seconds, or 5m, 1h…).
    #[arg(long, env = "CACHE_DEFAULT_TTL", default_value = "5m", value_parser = units::seconds)]
    pub default_ttl: u64,

    /// Most entries the cache holds before evicting the least recently used.
    #[arg(long, env = "CACHE_MAX_ENTRIES", default_value_t = 10_000)]
    pub max_entries: u64,

    /// Most bytes (keys + values) the cache holds before evicting (bytes, or 256MiB, 1GiB…).
    #[arg(long, env = "CACHE_MAX_BYTES", default_value = "256MiB", value_parser = units::bytes)]
    pub max_bytes: u64,

    /// How long an expired entry is kept to answer when GitHub rate-limits (seconds, or 1h…).
    #[arg(long, env = "CACHE_STALE_GRACE", default_value = "1h", value_parser = units::seconds)]
    pub stale_grace: u64,

    /// Largest request body the API accepts (bytes, or 8MiB…; larger: 413).
    #[arg(long, env = "CACHE_MAX_BODY", default_value = "8MiB", value_parser = units::bytes_usize)]
    pub max_body: usize,

    /// Run the P2P node (true/false).
    #[arg(long = "p2p", env = "CACHE_ENABLE_P2P", default_value_t = true, action = ArgAction::Set,
          value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub enable_p2p: bool,

    /// Do not run the P2P node (same as `--p2p false`).
    #[arg(long = "no-p2p")]
    pub no_p2p: bool,

    /// TCP port the P2P node listens on (0 picks a free port).
    #[arg(long = "p2p-port", env = "CACHE_LISTEN_PORT", default_value_t = 9100)]
    pub p2p_port: u16,

    /// Address the P2P node listens on.
    #[arg(long = "p2p-host", env = "CACHE_LISTEN_HOST", default_value = "0.0.0.0")]
    pub p2p_host: IpAddr,

    /// Peers to connect to: comma-separated multiaddrs ending in /p2p/<peer id>.
    #[arg(long = "bootstrap", env = "CACHE_BOOTSTRAP_PEERS", default_value = "", value_name = "ADDRS")]
    pub bootstrap_peers: String,

    /// Find peers on the local network with mDNS (true/false).
    #[arg(long, env = "CACHE_MDNS", default_value_t = false, action = ArgAction::Set,
          value_parser = BoolishValueParser::new(), value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub mdns: bool,

    /// Private swarm: a /key/swarm/psk/1.0.0/ file (make one with `peercache keygen`).
    #[arg(long = "swarm-key", env = "CACHE_SWARM_KEY", value_name = "FILE")]
    pub swarm_key: Option<PathBuf>,

    /// Peers whose GitHub answers this node takes: comma-separated peer ids.
    /// Empty: every member of a private swarm, nobody in an open one.
    #[arg(long = "trusted-peers", env = "CACHE_TRUSTED_PEERS", default_value = "", value_name = "IDS")]
    pub trusted_peers: String,

    /// Host names (and IPs) the dashboard and API are reached by besides the
    /// loopback ones: changes from any other `Host` are refused (DNS rebinding).
    #[arg(long = "public-names", env = "PEERCACHE_PUBLIC_NAMES", default_value = "", value_name = "NAMES")]
    pub public_names: String,

    /// GitHub's REST API that `/github/...` forwards to.
    #[arg(long = "github-api-url", env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub github_api_url: String,

    /// Group secret for token scopes (same on every peer of a group); defaults
    /// to the swarm key, else a public salt.
    #[arg(long = "cache-secret", env = "CACHE_SECRET", hide_env_values = true)]
    pub cache_secret: Option<String>,

    /// How stored GitHub answers are reused: `ttl` (fresh for their TTL) or
    /// `revalidate` (every request asks GitHub with the ETag; 304s are free).
    #[arg(long, env = "CACHE_FRESHNESS", value_enum, default_value_t = Freshness::Ttl)]
    pub freshness: Freshness,

    /// Confirmed sharing across tokens: `cross-scope` (another token's or an
    /// untrusted peer's answer is served only after GitHub answers 304 to
    /// this requester's own credentials), `always` (every answer this node
    /// did not itself get from GitHub for the token is confirmed), or `off`
    /// (nothing shared between tokens).
    #[arg(long, env = "CACHE_CONFIRM", value_enum, default_value_t = ConfirmMode::CrossScope)]
    pub confirm: ConfirmMode,

    /// The base URL clients reach `/github` at, when the request's `Host`
    /// would not say it (a TLS front, another path); GitHub's URLs in answers
    /// are rewritten to it. Default: `http://<Host>/github`.
    #[arg(long = "public-url", env = "PEERCACHE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// How long a cached GraphQL read is reused (seconds, or 1m…).
    #[arg(long = "graphql-ttl", env = "CACHE_GRAPHQL_TTL", default_value = "1m", value_parser = units::seconds)]
    pub graphql_ttl: u64,

    /// The Unix socket `gh` is pointed at (`gh config set http_unix_socket
    /// PATH`) [default: CACHE_DIR/gh.sock]; empty (or `off`) switches it off.
    #[arg(long = "gh-socket", env = "PEERCACHE_GH_SOCKET", value_name = "PATH")]
    pub gh_socket: Option<String>,

    /// The API host `gh` talks to (what its requests on the socket name in `Host`).
    #[arg(long = "gh-host", env = "PEERCACHE_GH_HOST", default_value = "api.github.com")]
    pub gh_host: String,

    /// GitHub responses larger than this stream through uncached (bytes, or 8MiB…).
    #[arg(long = "proxy-max-body", env = "CACHE_PROXY_MAX_BODY", default_value = "8MiB", value_parser = units::bytes_usize)]
    pub proxy_max_body: usize,

    /// Hosts a download's redirect may lead to, comma-separated `host` (HTTPS)
    /// or `host:port`; name a GitHub Enterprise Server's here. Redirects
    /// elsewhere are refused, and the token never goes to these hosts.
    #[arg(long = "asset-hosts", env = "CACHE_ASSET_HOSTS", default_value = crate::assets::hosts::DEFAULT_ASSET_HOSTS)]
    pub asset_hosts: crate::assets::hosts::AssetHosts,

    /// Most bytes of release assets and archives the blob store keeps
    /// (CACHE_DIR/blobs) before removing the least recently used (bytes, or 10GiB…).
    #[arg(long = "asset-budget", env = "CACHE_ASSET_BUDGET", default_value = "10GiB", value_parser = units::bytes)]
    pub asset_budget: u64,

    /// The largest one download may be (bytes, or 2GiB…); a larger one fails.
    #[arg(long = "asset-max-bytes", env = "CACHE_ASSET_MAX_BYTES", default_value = "4GiB", value_parser = units::bytes)]
    pub asset_max_bytes: u64,

    /// How long a local miss waits for peers (milliseconds, or 2s…).
    #[arg(long = "peer-timeout-ms", env = "CACHE_PEER_TIMEOUT_MS", default_value = "2s", value_parser = units::millis)]
    pub peer_timeout_ms: u64,

    /// Peers a local miss asks at most, the key's best-ranked first, one at a
    /// time (hedged); 0 asks every connected peer at once.
    #[arg(long = "peer-fanout", env = "CACHE_PEER_FANOUT", default_value_t = 3)]
    pub peer_fanout: usize,

    /// Fleet-wide single flight: before asking GitHub, ask the key's
    /// coordinator; one node of the fleet fetches, the others wait for its
    /// entry (true/false).
    #[arg(long = "fleet-single-flight", env = "CACHE_FLEET_SINGLE_FLIGHT", default_value_t = true, action = ArgAction::Set,
          value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub fleet_single_flight: bool,

    /// The longest a request waits for another node's fetch (milliseconds, or
    /// 5s…; then it asks GitHub itself).
    #[arg(long = "fleet-wait-ms", env = "CACHE_FLEET_WAIT_MS", default_value = "5s", value_parser = units::millis)]
    pub fleet_wait_ms: u64,

    /// How often this node tells the fleet its summary for the fleet view
    /// when its figures move (milliseconds, or 5s…; at least 100 ms; in a
    /// fleet of more than 20 nodes, once every peers/20 periods); an idle
    /// node says it again every 24 periods, and one silent for 49 periods (or
    /// whose last connection to this node closed) shows as gone.
    #[arg(long = "fleet-summary-ms", env = "CACHE_FLEET_SUMMARY_MS", default_value = "5s", value_parser = sample_period)]
    pub fleet_summary_ms: u64,

    /// How often the charts' counters are sampled (milliseconds, or 10s…; at
    /// least 100 ms; the last 360 samples are kept).
    #[arg(long = "sample-period-ms", env = "PEERCACHE_SAMPLE_PERIOD_MS", default_value = "10s", value_parser = sample_period)]
    pub sample_period_ms: u64,
}

fn sample_period(text: &str) -> Result<u64, String> {
    let ms = units::millis(text)?;
    if ms < 100 {
        return Err(format!("{text:?}: the period is at least 100 ms"));
    }
    Ok(ms)
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
        config.enable_p2p = false;
        config
    }

    /// The admin token: `--admin-token`, else the first line of
    /// `--admin-token-file`; empty means none.
    pub fn admin_token(&self) -> anyhow::Result<Option<String>> {
        let token = match (&self.admin_token, &self.admin_token_file) {
            (Some(token), _) => token.trim().to_owned(),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|error| anyhow::anyhow!("cannot read the admin token file {}: {error}", file.display()))?
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned(),
            (None, None) => String::new(),
        };
        Ok((!token.is_empty()).then_some(token))
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(default_cache_dir)
    }

    /// Where the `gh` socket listens, unless switched off (an empty path).
    pub fn gh_socket_path(&self) -> Option<PathBuf> {
        match self.gh_socket.as_deref() {
            Some("" | "off") => None,
            Some(path) => Some(PathBuf::from(path)),
            None => Some(self.cache_dir().join("gh.sock")),
        }
    }

    pub fn fleet_summary_period(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.fleet_summary_ms)
    }

    pub fn sample_period(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.sample_period_ms)
    }

    pub fn p2p_enabled(&self) -> bool {
        self.enable_p2p && !self.no_p2p
    }

    pub fn cache(&self) -> CacheConfig {
        CacheConfig {
            dir: Some(self.cache_dir()),
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
            default_ttl_secs: self.default_ttl,
            stale_grace_secs: self.stale_grace,
        }
    }
}
