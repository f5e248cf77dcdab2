//! Dashboard widgets, one per file.

pub mod banner;
pub mod cache_card;
pub mod copy_button;
pub mod node_header;
pub mod peer_card;
pub mod peer_list;
pub mod poll;
pub mod polled_card;
pub mod rate_limit_card;
