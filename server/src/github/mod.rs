//! The GitHub REST API proxy: token scopes and sealed bodies, the stored form
//! of responses, HTTP caching semantics, URL rewriting, rate-limit tracking,
//! request coalescing and the proxy itself.

pub mod answer;
pub mod candidates;
pub mod confirm;
pub mod error;
pub mod fleet;
pub mod freshness;
pub mod graphql;
pub mod key;
pub mod plan;
pub mod proxy;
pub mod ratelimit;
pub mod ready;
pub mod request;
pub mod respond;
pub mod rewrite;
pub mod scope;
pub mod single_flight;
pub mod stats;
pub mod stored;
pub mod upstream;
