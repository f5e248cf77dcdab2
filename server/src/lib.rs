//! peercache's server: the HTTP front (dashboard SSR, JSON API, MCP), the
//! core behind it, and the cache, P2P node and GitHub proxy below that. The
//! binary in `main.rs` is a thin CLI over this library, so tests drive the
//! same router in-process. Imports point one way: `cli` and `http` → `core` →
//! `cache`, `p2p`, `github`; `p2p` carries `fleet`'s summaries.

pub mod assets;
pub mod blobs;
pub mod cache;
pub mod cli;
pub mod config;
pub mod core;
pub mod fleet;
pub mod github;
pub mod http;
pub mod mcp;
pub mod p2p;
pub mod private;
pub mod serve;
pub mod units;

/// How peercache names itself to GitHub (`User-Agent` when the client sent
/// none) and to peers (identify's agent version).
pub const AGENT: &str = concat!("peercache/", env!("CARGO_PKG_VERSION"));
