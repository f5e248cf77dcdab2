//! `peercache`: the command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use server::config::{default_cache_dir, ServeConfig};
use server::p2p::identity::{load_or_create_identity, new_swarm_key, write_private};
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
    /// Write a new private-swarm key file (/key/swarm/psk/1.0.0/ format).
    Keygen {
        /// Where to write it; refuses to overwrite an existing file.
        #[arg(long, default_value = "swarm.key")]
        out: PathBuf,
    },
}

#[derive(Args, Debug)]
struct CacheDirArg {
    /// Directory of the cache and the node identity [default: ~/.cache/peercache].
    #[arg(long, env = "CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Serve(config)) => server::serve::run(config).await,
        None => server::serve::run(cli.serve).await,
        Some(Command::PeerId(CacheDirArg { cache_dir })) => {
            let dir = cache_dir.unwrap_or_else(default_cache_dir);
            println!("{}", load_or_create_identity(&dir)?.public().to_peer_id());
            Ok(())
        }
        Some(Command::Keygen { out }) => {
            write_private(&out, new_swarm_key().as_bytes()).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote swarm key to {}; give the same file to every peer (--swarm-key / CACHE_SWARM_KEY)", out.display());
            Ok(())
        }
    }
}
