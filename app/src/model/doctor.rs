//! `peercache doctor`: one line per check, each healthy, worth a look, or a
//! problem that needs fixing; healthy only when no check is a problem.

use serde::{Deserialize, Serialize};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    /// Works, but not as a fleet usually wants (an open swarm, a peer on
    /// another version).
    Warn,
    /// Broken: `doctor` exits non-zero.
    Fail,
}

/// One check: what was looked at, how it came out, and what to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// A short name (`p2p-port`, `swarm-key`, `bootstrap`, `clock`, …).
    pub check: String,
    pub level: Level,
    pub detail: String,
}

impl Check {
    pub fn new(check: &str, level: Level, detail: impl Into<String>) -> Check {
        Check { check: check.to_owned(), level, detail: detail.into() }
    }
}

/// `GET /api/doctor` and `peercache doctor --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// No check is a problem.
    pub healthy: bool,
    pub checks: Vec<Check>,
}

impl Diagnosis {
    pub fn new(checks: Vec<Check>) -> Diagnosis {
        Diagnosis { healthy: checks.iter().all(|c| c.level != Level::Fail), checks }
    }
}
