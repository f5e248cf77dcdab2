//! peercache's server: the HTTP front (dashboard SSR, JSON API), the cache and
//! the P2P node. The binary in `main.rs` is a thin CLI over this library, so
//! tests drive the same router in-process.

pub mod cache;
pub mod config;
pub mod config_file;
pub mod github;
pub mod history;
pub mod http;
pub mod mcp;
pub mod p2p;
pub mod remote;
pub mod serve;
pub mod single_flight;
pub mod state;
