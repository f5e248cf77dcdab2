//! The HTTP front: one router, thin handlers, one error shape.

pub mod admin;
pub mod api;
pub mod cache_api;
pub mod errors;
pub mod metrics;
pub mod router;
