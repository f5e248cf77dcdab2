//! One module per dashboard tab.

pub mod assets;
pub mod cache;
pub mod charts;
pub mod fleet;
pub mod overview;
pub mod peers;
