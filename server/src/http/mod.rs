//! The HTTP front: one router, thin handlers that call the core, one error
//! shape. The only layer that knows status codes.

pub mod admin;
pub mod api;
pub mod assets;
pub mod cache_api;
pub mod downloads;
pub mod errors;
pub mod front;
pub mod gh_socket;
pub mod guard;
pub mod metrics;
pub mod process_metrics;
pub mod router;
pub mod server;
pub mod state;
