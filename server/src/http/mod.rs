//! The HTTP front: one router, thin handlers, one error shape.

pub mod api;
pub mod errors;
pub mod router;
