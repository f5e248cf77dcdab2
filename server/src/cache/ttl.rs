//! Time: an injectable clock (tests move it by hand, nothing sleeps) and the
//! default time-to-live of each operation family.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

/// A clock that only moves when told to.
#[derive(Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(start_ms: u64) -> Self {
        ManualClock(AtomicU64::new(start_ms))
    }

    pub fn advance_secs(&self, secs: u64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Default TTL of an operation family, or `None` for the configured default.
/// Matched on the operation's name, most specific family first. The one TTL
/// table: cache keys name their operation, and the GitHub proxy names a path
/// by its family (`repos.actions.runs`, see `github::proxy::path_family`).
pub fn family_ttl_secs(operation: &str) -> Option<u64> {
    let op = operation.to_ascii_lowercase();
    const FAMILIES: &[(&[&str], u64)] = &[
        (&["active_runner"], 15),
        (&["runner"], 30),
        (&["workflow_run", "actions.runs"], 60),
        (&["auth"], 30),
        (&["issue", "pull", "pr_", "prs"], 300),
        (&["repo"], 300),
    ];
    FAMILIES.iter().find(|(needles, _)| needles.iter().any(|needle| op.contains(needle))).map(|(_, ttl)| *ttl)
}

/// The longest any entry lives: a local put may not ask for more, and an
/// entry from a peer that asks for more gets this.
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

/// A GitHub path's family: its name in the call log, and what picks its TTL
/// (see [`family_ttl_secs`]).
pub fn path_family(path: &str) -> &'static str {
    let path = path.split(['?', ':']).next().unwrap_or(path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["repos", _, _, "actions", "runners", ..] => "repos.actions.runners",
        ["repos", _, _, "actions", "runs", ..] => "repos.actions.runs",
        ["repos", _, _, "actions", ..] => "repos.actions",
        ["repos", _, _, "issues", ..] => "repos.issues",
        ["repos", _, _, "pulls", ..] => "repos.pulls",
        ["repos", ..] => "repos",
        ["graphql"] => "graphql",
        ["user", ..] => "user",
        ["orgs", ..] => "orgs",
        ["users", ..] => "users",
        ["search", ..] => "search",
        ["rate_limit"] => "rate_limit",
        _ => "other",
    }
}

/// The longest a GitHub answer about a repository can stay fresh: how long a
/// write barrier must last.
pub fn longest_github_ttl(default_ttl_secs: u64) -> u64 {
    default_ttl_secs.max(300).min(MAX_TTL_SECS)
}

/// The longest TTL an entry under `key` may have: for a GitHub answer its
/// path family's TTL (`default_ttl_secs` outside the families), for anything
/// else [`MAX_TTL_SECS`]. What a peer claims beyond it is cut to it.
pub fn max_ttl_for(key: &str, default_ttl_secs: u64) -> u64 {
    match crate::cache::key::github_path(key) {
        Some(path) => family_ttl_secs(path_family(path)).unwrap_or(default_ttl_secs).min(MAX_TTL_SECS),
        None => MAX_TTL_SECS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_capped_by_the_path_family_and_the_global_maximum() {
        assert_eq!(max_ttl_for("github:GET:/repos/o/r/actions/runs:accept=:scope=anonymous", 300), 60);
        assert_eq!(max_ttl_for("github:GET:/repos/o/r?per_page=5:accept=:scope=anonymous", 900), 300);
        assert_eq!(max_ttl_for("github:GET:/users/octocat:accept=:scope=anonymous", 900), 900);
        assert_eq!(max_ttl_for("github:GET:/users/octocat:accept=:scope=anonymous", u64::MAX), MAX_TTL_SECS);
        assert_eq!(max_ttl_for("get_repo:octo/a", 300), MAX_TTL_SECS);
    }

    #[test]
    fn families_get_their_ttls() {
        assert_eq!(family_ttl_secs("list_active_runners"), Some(15));
        assert_eq!(family_ttl_secs("list_runners"), Some(30));
        assert_eq!(family_ttl_secs("list_workflow_runs"), Some(60));
        assert_eq!(family_ttl_secs("get_auth_status"), Some(30));
        assert_eq!(family_ttl_secs("list_issues"), Some(300));
        assert_eq!(family_ttl_secs("list_prs"), Some(300));
        assert_eq!(family_ttl_secs("get_repo"), Some(300));
        assert_eq!(family_ttl_secs("something_else"), None);
        // The proxy's path families.
        assert_eq!(family_ttl_secs("repos.actions.runners"), Some(30));
        assert_eq!(family_ttl_secs("repos.actions.runs"), Some(60));
        assert_eq!(family_ttl_secs("repos.issues"), Some(300));
        assert_eq!(family_ttl_secs("users"), None);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(5_000);
        assert_eq!(clock.now_ms(), 5_000);
        clock.advance_secs(3);
        assert_eq!(clock.now_ms(), 8_000);
    }
}

/// Milliseconds since the epoch as RFC 3339 (UTC), as the API shows times.
pub fn rfc3339(ms: u64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod format_tests {
    #[test]
    fn rfc3339_of_epoch_millis() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_500), "1970-01-01T00:00:01.5Z");
    }
}
