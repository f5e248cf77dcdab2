//! The GitHub REST API proxy: token scopes and sealed bodies, the stored form
//! of responses, rate-limit tracking and the proxy itself.

pub mod proxy;
pub mod ratelimit;
pub mod scope;
pub mod stats;
pub mod stored;
