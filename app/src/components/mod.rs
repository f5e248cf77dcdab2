//! Dashboard widgets, one per file.

pub mod admin_token;
pub mod banner;
pub mod cache_card;
pub mod call_log;
pub mod chart;
pub mod confirm;
pub mod connect_form;
pub mod copy_button;
pub mod entry_table;
pub mod entry_view;
pub mod filter_box;
pub mod fleet_flight;
pub mod gh_card;
pub mod listen_addrs;
pub mod node_header;
pub mod operations;
pub mod peer_card;
pub mod peer_list;
pub mod peer_table;
pub mod poll;
pub mod polled_card;
pub mod proxy_modes;
pub mod rate_limit_card;
pub mod toast;
