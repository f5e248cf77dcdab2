//! `peercache`: the command line — its commands, the typed client they talk
//! to a running server with, and the settings file of `serve`.

pub mod client;
pub mod config_file;
pub mod text;

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::{Args, CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use app::model::Invalidation;

use self::client::Client;
use crate::config::{default_cache_dir, ServeConfig};
use crate::mcp::api::PeercacheApi;
use crate::p2p::identity::{load_or_create_identity, new_swarm_key, write_private};

#[derive(Parser, Debug)]
#[command(name = "peercache", version, about = "GitHub API cache shared between machines over libp2p")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: ServeConfig,

    /// A peercache.toml with `serve` settings by flag name [default:
    /// CACHE_DIR/peercache.toml when it exists]; flags and environment win.
    #[arg(long, global = true, env = "PEERCACHE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// How log lines look on standard error (`RUST_LOG` sets the level).
    #[arg(long, global = true, env = "PEERCACHE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the dashboard, JSON API, cache and P2P node (the default).
    Serve(ServeConfig),
    /// Print this node's peer id (creating its identity in CACHE_DIR if needed).
    PeerId(CacheDirArg),
    /// Show a running server's P2P status and cache statistics.
    Status {
        /// Print the JSON of /api/mcp/peers and /api/mcp/cache/stats.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List a running server's connected peers.
    Peers {
        /// Print the JSON of /api/mcp/peers.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Print the cached JSON value under KEY (asks the peers on a local miss).
    Get {
        key: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Store a JSON value under KEY, read from FILE or `-` for standard input.
    Put {
        key: String,
        file: PathBuf,
        /// Time to live in seconds [default: the operation family's].
        #[arg(long)]
        ttl: Option<u64>,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Drop every cached entry whose key starts with PREFIX, or with --all every entry.
    Invalidate {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        prefix: Option<String>,
        /// Drop every entry of the cache.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Speak MCP on standard input/output, forwarding to a running server
    /// (for agent hosts that launch a command).
    Mcp {
        #[command(flatten)]
        server: ServerArg,
    },
    /// Write a new private-swarm key file (/key/swarm/psk/1.0.0/ format).
    Keygen {
        /// Where to write it; refuses to overwrite an existing file.
        #[arg(long, default_value = "swarm.key")]
        out: PathBuf,
    },
}

#[derive(Args, Debug)]
struct ServerArg {
    /// The running peercache to ask.
    #[arg(long, env = "PEERCACHE_SERVER", default_value = client::DEFAULT_SERVER)]
    server: String,
    /// Bearer token for changes to a server that listens off loopback.
    #[arg(long, env = "PEERCACHE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

impl ServerArg {
    fn client(self) -> anyhow::Result<Client> {
        Client::new(&self.server, self.admin_token)
    }
}

#[derive(Args, Debug)]
struct CacheDirArg {
    /// Directory of the cache and the node identity [default: ~/.cache/peercache].
    #[arg(long, env = "CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// Runs the command line as the process's `main`.
pub fn main() {
    let cli = match with_config_file() {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("peercache: {error:#}");
            std::process::exit(1);
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
        .block_on(start(cli));
}

/// Parses the command line; when a config file applies, its settings become
/// the environment of flags not set otherwise, and the line is parsed again.
/// Runs before any thread exists, so setting the environment is sound.
fn with_config_file() -> anyhow::Result<Cli> {
    let cli = Cli::parse();
    let serve = match &cli.command {
        Some(Command::Serve(config)) => config,
        None => &cli.serve,
        Some(_) => return Ok(cli),
    };
    let cache_dir = serve.cache_dir();
    let Some(path) = config_file::locate(cli.config.clone(), &cache_dir)? else {
        return Ok(cli);
    };
    let command = Cli::command();
    let serve_command = command.find_subcommand("serve").expect("serve is a subcommand");
    for (env, value) in config_file::settings(serve_command, &path)? {
        if std::env::var_os(&env).is_none() {
            // SAFETY: single-threaded: no runtime and no other thread yet.
            unsafe { std::env::set_var(&env, value) };
        }
    }
    Ok(Cli::parse())
}

async fn start(cli: Cli) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Pretty => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    if let Err(error) = run(cli).await {
        // One clear line, not a backtrace.
        eprintln!("peercache: {error:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // API failures are one line: the server's words and status.
    let failed = |failure: crate::mcp::api::ApiFailure| anyhow!("{failure}");
    match cli.command {
        Some(Command::Serve(config)) => crate::serve::run(config).await,
        None => crate::serve::run(cli.serve).await,
        Some(Command::PeerId(CacheDirArg { cache_dir })) => {
            let dir = cache_dir.unwrap_or_else(default_cache_dir);
            println!("{}", load_or_create_identity(&dir)?.public().to_peer_id());
            Ok(())
        }
        Some(Command::Status { json, server }) => {
            let client = server.client()?;
            let peers = client.peer_status().await.map_err(failed)?;
            let cache = client.cache_stats().await.map_err(failed)?;
            let node = client.node_info().await.map_err(failed)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({"peers": peers, "cache": cache, "node": node}))?
                );
            } else {
                print!("{}", text::status_text(client.base(), &peers, &cache, &node));
            }
            Ok(())
        }
        Some(Command::Get { key, server }) => {
            let entry = server.client()?.entry(&key).await.map_err(failed)?;
            println!("{}", serde_json::to_string_pretty(&entry.value)?);
            Ok(())
        }
        Some(Command::Put { key, file, ttl, server }) => {
            let body = if file.as_os_str() == "-" {
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut body).context("reading standard input")?;
                body
            } else {
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let stored = server.client()?.put(&key, body, ttl).await.map_err(failed)?;
            println!("stored {} ({} bytes, cid {}, ttl {} s)", stored.key, stored.size, stored.cid, stored.ttl_secs);
            Ok(())
        }
        Some(Command::Invalidate { prefix, all, server }) => {
            let target = if all { Invalidation::All } else { Invalidation::Prefix(prefix.unwrap_or_default()) };
            let done = server.client()?.invalidate(target).await.map_err(failed)?;
            println!("invalidated {} entries", done.invalidated);
            Ok(())
        }
        Some(Command::Peers { json, server }) => {
            let peers = server.client()?.peer_status().await.map_err(failed)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&peers)?);
            } else {
                print!("{}", text::peers_text(&peers));
            }
            Ok(())
        }
        Some(Command::Mcp { server }) => {
            use rmcp::ServiceExt;
            let api: std::sync::Arc<dyn PeercacheApi> = std::sync::Arc::new(server.client()?);
            let running = crate::mcp::PeercacheMcp::new(api)
                .serve(rmcp::transport::stdio())
                .await
                .context("starting MCP on stdio")?;
            running.waiting().await.context("MCP session")?;
            Ok(())
        }
        Some(Command::Keygen { out }) => {
            write_private(&out, new_swarm_key().as_bytes()).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "wrote swarm key to {}; give the same file to every peer (--swarm-key / CACHE_SWARM_KEY)",
                out.display()
            );
            Ok(())
        }
    }
}
