//! Dashboard widgets, one per file.

pub mod cache_card;
pub mod peer_card;
pub mod poll;
