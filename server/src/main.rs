//! `peercache`: the command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use server::config::{default_cache_dir, ServeConfig};
use app::model::{CacheStats, PeerStatus};
use server::p2p::identity::{load_or_create_identity, new_swarm_key, write_private};
use server::remote;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(name = "peercache", version, about = "GitHub API cache shared between machines over libp2p")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: ServeConfig,
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
    #[arg(long, env = "PEERCACHE_SERVER", default_value = remote::DEFAULT_SERVER)]
    server: String,
}

#[derive(Args, Debug)]
struct CacheDirArg {
    /// Directory of the cache and the node identity [default: ~/.cache/peercache].
    #[arg(long, env = "CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run(Cli::parse()).await {
        // One clear line, not a backtrace.
        eprintln!("peercache: {error:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Serve(config)) => server::serve::run(config).await,
        None => server::serve::run(cli.serve).await,
        Some(Command::PeerId(CacheDirArg { cache_dir })) => {
            let dir = cache_dir.unwrap_or_else(default_cache_dir);
            println!("{}", load_or_create_identity(&dir)?.public().to_peer_id());
            Ok(())
        }
        Some(Command::Status { json, server: ServerArg { server } }) => {
            let peers: PeerStatus = remote::get_json(&server, "/api/mcp/peers").await?;
            let cache: CacheStats = remote::get_json(&server, "/api/mcp/cache/stats").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({"peers": peers, "cache": cache}))?);
            } else {
                print!("{}", remote::status_text(&server, &peers, &cache));
            }
            Ok(())
        }
        Some(Command::Peers { json, server: ServerArg { server } }) => {
            let peers: PeerStatus = remote::get_json(&server, "/api/mcp/peers").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&peers)?);
            } else {
                print!("{}", remote::peers_text(&peers));
            }
            Ok(())
        }
        Some(Command::Keygen { out }) => {
            write_private(&out, new_swarm_key().as_bytes()).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote swarm key to {}; give the same file to every peer (--swarm-key / CACHE_SWARM_KEY)", out.display());
            Ok(())
        }
    }
}
