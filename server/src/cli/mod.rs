//! `peercache`: the command line — its commands, the typed client they talk
//! to a running server with, and the settings file of `serve`.

pub mod client;
pub mod config_file;
pub mod doctor;
pub mod settings;
pub mod text;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use app::format::invalidated as invalidated_words;
use app::model::{Invalidation, Level, NodeState, Reach};

use self::client::Client;
use self::settings::FromFile;
use crate::config::{default_cache_dir, ServeConfig};
use crate::mcp::api::{ApiFailure, PeercacheApi};
use crate::p2p::identity::{load_or_create_identity, new_swarm_key};
use crate::private::write_private;

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
    /// Print the settings `serve` would run with (with these flags, this
    /// environment and the settings file) and where each comes from.
    Config {
        #[command(flatten)]
        serve: ServeConfig,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Print this node's peer id (creating its identity in CACHE_DIR if needed).
    PeerId {
        #[command(flatten)]
        dir: CacheDirArg,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Show a running server's P2P status and cache statistics.
    Status {
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Check a running server and name each problem: its ports, the swarm
    /// key (there, private, the same as the peers'), each bootstrap address
    /// (dialled), peers' clocks and versions, GitHub through it (with
    /// GITHUB_TOKEN or GH_TOKEN if set), the store and its disk, the gh socket.
    /// Exits 0 only when healthy, 6 when a check failed.
    Doctor {
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Every node of the fleet as its signed summary says (state, version,
    /// GitHub calls made and saved, trouble), and the totals of those up.
    Fleet {
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Release assets and archives: what the blob store holds, the bytes
    /// from GitHub against those from peers, and downloads in progress.
    Assets {
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List a running server's connected peers.
    Peers {
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Ask a running server to connect to a peer (a multiaddr ending in /p2p/<peer id>).
    Connect {
        multiaddr: String,
        /// Wait until the peer is connected (`--wait`: 10 s, `--wait=SECS`:
        /// that long, 30 s at most) and exit non-zero with why it is
        /// not: another swarm key, a refused or unanswered dial, another peer id.
        #[arg(long, value_parser = crate::units::seconds, num_args = 0..=1, require_equals = true, default_missing_value = "10", value_name = "SECS")]
        wait: Option<u64>,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Print the cached JSON value under KEY (asks the peers on a local miss);
    /// with --json the whole entry (value, CID, TTL, origin).
    Get {
        key: String,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Store a JSON value under KEY, read from FILE or `-` for standard input.
    Put {
        key: String,
        file: PathBuf,
        /// Time to live (seconds, or 5m, 1h…) [default: the operation family's].
        #[arg(long, value_parser = crate::units::seconds)]
        ttl: Option<u64>,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Drop every cached entry whose key starts with PREFIX, or with --all every
    /// entry. The node bars older copies, so peers cannot hand them back; with
    /// --fleet every node drops its copies too.
    Invalidate {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        prefix: Option<String>,
        /// Drop every entry of the cache.
        #[arg(long)]
        all: bool,
        /// Tell every node of the fleet (a signed invalidation each trusted
        /// node honours); fails when the P2P node is not running.
        #[arg(long)]
        fleet: bool,
        #[command(flatten)]
        output: OutputArg,
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
        #[command(flatten)]
        output: OutputArg,
    },
}

#[derive(Args, Debug)]
struct OutputArg {
    /// Print JSON (one document) instead of text.
    #[arg(long)]
    json: bool,
}

impl OutputArg {
    /// Prints `value` as JSON, or `text()` for a person.
    fn print<T: serde::Serialize>(&self, value: &T, text: impl FnOnce(&T) -> String) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            print!("{}", text(value));
        }
        Ok(())
    }
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

/// How `peercache` exits; scripts can tell these apart (README, "Command line").
pub mod exit {
    pub const OK: i32 = 0;
    /// Anything else that went wrong.
    pub const ERROR: i32 = 1;
    /// The command line or the settings are wrong.
    pub const USAGE: i32 = 2;
    /// The server answered that what was asked for is not there.
    pub const NOT_FOUND: i32 = 3;
    /// No server answered.
    pub const UNREACHABLE: i32 = 4;
    /// `status`: the server answered, but its P2P node failed, or is
    /// enabled and has no peer (a node switched off by configuration is 0).
    pub const NOT_ACTIVE: i32 = 5;
    /// `doctor`: at least one check failed (each is named in the output).
    pub const UNHEALTHY: i32 = 6;
}

/// `doctor` found problems: exit 6, having printed every check.
#[derive(Debug, thiserror::Error)]
#[error("{0} problem(s): {1}")]
struct Unhealthy(usize, String);

/// `status` found the P2P node failed or without peers: exit 5, having printed the status.
#[derive(Debug, thiserror::Error)]
#[error("the P2P node is {0}")]
struct NotActive(&'static str);

/// Whether the command asked for JSON (`--json`).
fn wants_json(matches: &clap::ArgMatches) -> bool {
    matches
        .subcommand()
        .is_some_and(|(_, sub)| sub.try_get_one::<bool>("json").ok().flatten().copied().unwrap_or(false))
}

/// The exit status for `error`.
fn exit_code(error: &anyhow::Error) -> i32 {
    if error.downcast_ref::<NotActive>().is_some() {
        return exit::NOT_ACTIVE;
    }
    if error.downcast_ref::<Unhealthy>().is_some() {
        return exit::UNHEALTHY;
    }
    match error.downcast_ref::<ApiFailure>() {
        Some(failure) if !failure.answered => exit::UNREACHABLE,
        Some(failure) if failure.status == 404 => exit::NOT_FOUND,
        _ => exit::ERROR,
    }
}

/// Runs the command line as the process's `main`.
pub fn main() {
    let (cli, matches, from_file) = match with_config_file() {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("peercache: {error:#}");
            std::process::exit(exit::USAGE);
        }
    };
    let code = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
        .block_on(start(cli, &matches, &from_file));
    std::process::exit(code);
}

/// Parses the command line; when a config file applies, its settings become
/// the environment of flags not set otherwise, and the line is parsed again.
/// Runs before any thread exists, so setting the environment is sound. Also
/// returns the matches and the file the settings came from (with the
/// variables it set), for `peercache config`.
fn with_config_file() -> anyhow::Result<(Cli, clap::ArgMatches, FromFile)> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let serve = match &cli.command {
        Some(Command::Serve(config)) | Some(Command::Config { serve: config, .. }) => config,
        None => &cli.serve,
        Some(_) => return Ok((cli, matches, FromFile::default())),
    };
    let cache_dir = serve.cache_dir();
    let Some(path) = config_file::locate(cli.config.clone(), &cache_dir)? else {
        return Ok((cli, matches, FromFile::default()));
    };
    let command = Cli::command();
    let serve_command = command.find_subcommand("serve").expect("serve is a subcommand");
    let mut set = Vec::new();
    for (env, value) in config_file::settings(serve_command, &path)? {
        if std::env::var_os(&env).is_none() {
            // SAFETY: single-threaded: no runtime and no other thread yet.
            unsafe { std::env::set_var(&env, value) };
            set.push(env);
        }
    }
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    Ok((cli, matches, FromFile { path: Some(path), variables: set }))
}

async fn start(cli: Cli, matches: &clap::ArgMatches, from_file: &FromFile) -> i32 {
    // Colours only for a person at a terminal: journald and log files get plain lines.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Pretty => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let json = wants_json(matches);
    match run(cli, matches, from_file).await {
        Ok(()) => exit::OK,
        Err(error) => {
            // One clear line, not a backtrace; with --json, a JSON document too.
            eprintln!("peercache: {error:#}");
            let code = exit_code(&error);
            let printed = error.downcast_ref::<NotActive>().is_some() || error.downcast_ref::<Unhealthy>().is_some();
            if json && !printed {
                let status = error.downcast_ref::<ApiFailure>().filter(|f| f.answered).map(|f| f.status);
                println!("{}", serde_json::json!({"error": format!("{error:#}"), "status": status, "exit": code}));
            }
            code
        }
    }
}

async fn run(cli: Cli, matches: &clap::ArgMatches, from_file: &FromFile) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Serve(config)) => crate::serve::run(config).await,
        None => crate::serve::run(cli.serve).await,
        Some(Command::Config { output, serve }) => {
            let config = matches.subcommand_matches("config").expect("the config command's matches");
            let settings = settings::effective(config, from_file, &serve);
            output.print(&settings, |settings| settings::text(settings, from_file))
        }
        Some(Command::PeerId { dir, output }) => {
            let dir = dir.cache_dir.unwrap_or_else(default_cache_dir);
            let peer_id = load_or_create_identity(&dir)?.public().to_peer_id().to_string();
            output.print(&serde_json::json!({ "peer_id": peer_id }), |_| format!("{peer_id}\n"))
        }
        Some(Command::Status { output, server }) => {
            let client = server.client()?;
            let peers = client.peer_status().await?;
            let cache = client.cache_stats().await?;
            let node = client.node_info().await?;
            let all = serde_json::json!({"peers": peers, "cache": cache, "node": node});
            output.print(&all, |_| text::status_text(client.base(), &peers, &cache, &node))?;
            match peers.state {
                NodeState::Failed => Err(NotActive("failed").into()),
                NodeState::Connecting => Err(NotActive("enabled but not active: no peer is connected").into()),
                NodeState::Active | NodeState::Disabled => Ok(()),
            }
        }
        Some(Command::Doctor { output, server }) => {
            let diagnosis = doctor::diagnose(&server.client()?).await?;
            output.print(&diagnosis, doctor::text)?;
            let failed: Vec<&str> =
                diagnosis.checks.iter().filter(|c| c.level == Level::Fail).map(|c| c.check.as_str()).collect();
            match failed.is_empty() {
                true => Ok(()),
                false => Err(Unhealthy(failed.len(), failed.join(", ")).into()),
            }
        }
        Some(Command::Fleet { output, server }) => {
            let fleet: app::model::FleetView = server.client()?.get("/api/fleet").await?;
            output.print(&fleet, text::fleet_text)
        }
        Some(Command::Assets { output, server }) => {
            let assets: crate::assets::stats::AssetsView = server.client()?.get("/api/assets").await?;
            output.print(&assets, text::assets_text)
        }
        Some(Command::Peers { output, server }) => {
            let peers = server.client()?.peer_status().await?;
            output.print(&peers, text::peers_text)
        }
        Some(Command::Connect { multiaddr, wait, output, server }) => {
            let wait = wait.map(std::time::Duration::from_secs);
            let dialing = server.client()?.connect(&multiaddr, wait).await?;
            output.print(&dialing, |d| match d.connected {
                Some(true) => format!("connected to {}\n", d.dialing),
                _ => format!("dialing {}\n", d.dialing),
            })
        }
        Some(Command::Get { key, output, server }) => {
            let entry = server.client()?.entry(&key).await?;
            if output.json {
                output.print(&entry, |_| String::new())
            } else {
                println!("{}", serde_json::to_string_pretty(&entry.value)?);
                Ok(())
            }
        }
        Some(Command::Put { key, file, ttl, output, server }) => {
            let body = if file.as_os_str() == "-" {
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut body).context("reading standard input")?;
                body
            } else {
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let stored = server.client()?.put(&key, body, ttl).await?;
            output.print(&stored, |s| {
                format!("stored {} ({} bytes, cid {}, ttl {} s)\n", s.key, s.size, s.cid, s.ttl_secs)
            })
        }
        Some(Command::Invalidate { prefix, all, fleet, output, server }) => {
            let target = if all { Invalidation::All } else { Invalidation::Prefix(prefix.unwrap_or_default()) };
            let reach = if fleet { Reach::Fleet } else { Reach::Node };
            let done = server.client()?.invalidate(target, reach).await?;
            output.print(&done, |d| format!("invalidated {}\n", invalidated_words(d.invalidated, d.told_peers)))
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
        Some(Command::Keygen { out, output }) => {
            write_private(&out, new_swarm_key().as_bytes()).with_context(|| format!("writing {}", out.display()))?;
            output.print(&serde_json::json!({ "swarm_key": out }), |_| {
                format!(
                    "wrote swarm key to {}; give the same file to every peer (--swarm-key / CACHE_SWARM_KEY)\n",
                    out.display()
                )
            })
        }
    }
}
