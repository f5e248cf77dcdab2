//! `peercache`: the command line.

use clap::{Parser, Subcommand};
use server::config::ServeConfig;
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
    }
}
