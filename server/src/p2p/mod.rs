//! The P2P node. Everything outside this folder reads the node's status from a
//! snapshot and never waits on the network.

pub mod status;
