//! One module per dashboard tab.

pub mod overview;
