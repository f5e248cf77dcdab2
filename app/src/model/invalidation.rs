//! Invalidation: what to drop, how far the word goes, and what was dropped.

use serde::{Deserialize, Serialize};

/// What to invalidate: one key, every key with a (non-empty) prefix, or —
/// only when asked for in so many words — everything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invalidation {
    Key(String),
    Prefix(String),
    All,
}

impl Invalidation {
    /// The key or prefix asked for (`""` for everything).
    pub fn pattern(&self) -> &str {
        match self {
            Invalidation::Key(key) => key,
            Invalidation::Prefix(prefix) => prefix,
            Invalidation::All => "",
        }
    }
}

/// What an invalidation removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invalidated {
    pub invalidated: usize,
    /// The key or prefix asked for.
    pub pattern: String,
    /// With `Reach::Fleet`, how many peers the signed invalidation went to
    /// (each drops its copies and bars older ones); absent for this node only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub told_peers: Option<usize>,
    /// Set when the store could not be written: the entries are gone from
    /// memory (never served again) and reach the disk with its next write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// How far an invalidation goes: this node, or every node of the fleet (a
/// signed word every trusted node honours with a barrier of its own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    #[default]
    Node,
    Fleet,
}
