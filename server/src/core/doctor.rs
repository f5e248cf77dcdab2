//! What `peercache doctor` asks the node: each part it can judge from where
//! it runs, one [`Check`] each — the P2P port, the swarm key file (there,
//! private, the same as the peers'), every bootstrap address (parsed, dialled
//! now, and how that went), peers, their clocks and versions, whether GitHub
//! answers are shared, the store and its disk, the gh socket. The README's
//! troubleshooting is this module's output. The checks that need the caller's
//! side (reaching the server, GitHub through it with the caller's token) are
//! the command's own.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use app::model::{Check, Diagnosis, Level, NodeState, PeerStatus};

use super::Core;
use crate::p2p::bootstrap::parse_bootstrap_list;
use crate::p2p::protocol::MAX_CLOCK_SKEW_MS;
use crate::AGENT;

/// What the node was started with that the checks look at.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub swarm_key: Option<PathBuf>,
    pub bootstrap: String,
    /// Where the gh socket should listen (`None`: switched off).
    pub gh_socket: Option<PathBuf>,
    pub cache_dir: PathBuf,
}

/// How long the doctor waits for each bootstrap peer it dials.
const DIAL_WAIT: Duration = Duration::from_secs(3);
/// A peer's clock this far off is named: half of what signatures allow.
const CLOCK_WARN_MS: u64 = MAX_CLOCK_SKEW_MS / 2;
/// A swarm-key mismatch this recent is a problem still.
const MISMATCH_RECENT_MS: u64 = 10 * 60 * 1000;
/// Less free disk than this under the cache directory is a problem.
const DISK_LOW_BYTES: u64 = 64 * 1024 * 1024;

impl Core {
    /// Every check this node can make of itself. Dials the bootstrap peers
    /// that are not connected (a few seconds at most each).
    pub async fn diagnose(&self) -> Diagnosis {
        let status = self.status.looked_at();
        let mut checks = vec![p2p_port(&status)];
        checks.extend(self.swarm_key(&status));
        if status.enabled {
            checks.extend(self.bootstrap(&status).await);
            checks.push(peers(&self.status.current()));
            checks.extend(clocks(&status));
            checks.extend(versions(&status));
            checks.push(match &status.sharing_warning {
                Some(warning) => Check::new("sharing", Level::Warn, warning.clone()),
                None => Check::new("sharing", Level::Ok, format!("GitHub answers are taken from {}", status.trust)),
            });
        }
        checks.push(self.store());
        checks.push(self.gh_socket());
        Diagnosis::new(checks)
    }

    fn swarm_key(&self, status: &PeerStatus) -> Vec<Check> {
        let Some(path) = &self.settings.swarm_key else {
            return vec![Check::new(
                "swarm-key",
                Level::Warn,
                "none: an open swarm, which anyone who reaches the P2P port can join (peercache keygen, CACHE_SWARM_KEY)",
            )];
        };
        let shown = path.display();
        let mut checks = vec![match std::fs::metadata(path) {
            Err(error) => Check::new("swarm-key", Level::Fail, format!("{shown}: {error}")),
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => Check::new(
                "swarm-key",
                Level::Fail,
                format!(
                    "{shown} has mode {:04o}: other users of this machine can read the key; chmod 600 {shown}",
                    meta.permissions().mode() & 0o7777
                ),
            ),
            Ok(_) => Check::new("swarm-key", Level::Ok, format!("{shown}, readable by this user only")),
        }];
        if let Some(mismatch) = &status.swarm_key_mismatch {
            let ago = self.cache.now_ms().saturating_sub(mismatch.at_ms);
            let level = if ago < MISMATCH_RECENT_MS { Level::Fail } else { Level::Warn };
            checks.push(Check::new("swarm-key", level, format!("{} s ago: {}", ago / 1000, mismatch.what)));
        }
        checks
    }

    async fn bootstrap(&self, status: &PeerStatus) -> Vec<Check> {
        let (peers, _) = parse_bootstrap_list(&self.settings.bootstrap);
        let mut checks: Vec<Check> = status
            .bootstrap_problems
            .iter()
            .map(|problem| Check::new("bootstrap", Level::Fail, problem.clone()))
            .collect();
        // Dialled all at once: the doctor waits a few seconds, not a few per address.
        let dialled = peers.into_iter().map(|peer| async move {
            let addr = peer.addr.to_string();
            if status.peers.iter().any(|p| p.peer_id == peer.peer_id.to_string()) {
                return Check::new("bootstrap", Level::Ok, format!("{addr}: connected"));
            }
            match self.connect_peer(&addr, DIAL_WAIT).await {
                Ok(_) => Check::new("bootstrap", Level::Ok, format!("{addr}: dialled, connected")),
                Err(error) => Check::new("bootstrap", Level::Fail, error.message),
            }
        });
        checks.extend(futures::future::join_all(dialled).await);
        if checks.is_empty() {
            checks.push(Check::new("bootstrap", Level::Ok, "none configured (this node is one others bootstrap from)"));
        }
        checks
    }

    fn store(&self) -> Check {
        let stats = self.cache.stats();
        if let Some(trouble) = stats.store_trouble {
            return Check::new("store", Level::Fail, format!("the store refuses writes: {trouble}"));
        }
        if !stats.persistent {
            return Check::new("store", Level::Fail, "the store could not be opened: the cache lives in memory only");
        }
        let dir = &self.settings.cache_dir;
        match rustix::fs::statvfs(dir) {
            Err(error) => Check::new("store", Level::Warn, format!("{}: free space unknown ({error})", dir.display())),
            Ok(fs) => {
                let free = fs.f_bavail.saturating_mul(fs.f_frsize);
                let words = format!(
                    "{} entries in {}; {} free on its disk",
                    stats.entries,
                    dir.display(),
                    bytesize::ByteSize::b(free).display().iec()
                );
                let room = stats.max_bytes.saturating_sub(stats.size_bytes);
                if free < DISK_LOW_BYTES {
                    Check::new("store", Level::Fail, format!("{words}: the disk is nearly full"))
                } else if free < room {
                    Check::new("store", Level::Warn, format!("{words}: less than the cache may still grow"))
                } else {
                    Check::new("store", Level::Ok, words)
                }
            }
        }
    }

    fn gh_socket(&self) -> Check {
        match (&self.settings.gh_socket, self.gh_socket.get()) {
            (None, _) => Check::new("gh-socket", Level::Ok, "switched off (--gh-socket \"\")"),
            (Some(_), Some(listening)) => Check::new("gh-socket", Level::Ok, format!("listening at {listening}")),
            (Some(path), None) => {
                Check::new("gh-socket", Level::Fail, format!("not listening at {} (the log says why)", path.display()))
            }
        }
    }
}

fn p2p_port(status: &PeerStatus) -> Check {
    match status.state {
        NodeState::Disabled => Check::new("p2p-port", Level::Ok, "P2P switched off by configuration"),
        NodeState::Failed => {
            Check::new("p2p-port", Level::Fail, status.reason.clone().unwrap_or_else(|| "failed".to_owned()))
        }
        _ if status.listen_addrs.is_empty() => Check::new("p2p-port", Level::Fail, "not listening yet"),
        _ => Check::new("p2p-port", Level::Ok, format!("listening on {}", status.listen_addrs.join(", "))),
    }
}

fn peers(status: &PeerStatus) -> Check {
    match status.peer_count {
        0 => Check::new(
            "peers",
            Level::Fail,
            format!(
                "no peer connected ({}): is 9100/tcp (--p2p-port) open on the bootstrap peer, and its address one \
                 this machine reaches?",
                status.reason.as_deref().unwrap_or("no reason given")
            ),
        ),
        n => Check::new("peers", Level::Ok, format!("{n} connected")),
    }
}

fn clocks(status: &PeerStatus) -> Vec<Check> {
    let off: Vec<Check> = status
        .peers
        .iter()
        .filter_map(|peer| {
            let offset = peer.clock_offset_ms?;
            (offset.unsigned_abs() > CLOCK_WARN_MS).then(|| {
                let way = if offset > 0 { "ahead of" } else { "behind" };
                Check::new(
                    "clock",
                    Level::Fail,
                    format!(
                        "{}'s clock is {} s {way} this node's: entries signed over {} s apart are refused; \
                         check NTP on both",
                        peer.peer_id,
                        offset.unsigned_abs() / 1000,
                        MAX_CLOCK_SKEW_MS / 1000
                    ),
                )
            })
        })
        .collect();
    if off.is_empty() {
        let measured = status.peers.iter().filter(|p| p.clock_offset_ms.is_some()).count();
        return vec![Check::new(
            "clock",
            Level::Ok,
            format!("within {} s of {measured} peer(s)", CLOCK_WARN_MS / 1000),
        )];
    }
    off
}

fn versions(status: &PeerStatus) -> Vec<Check> {
    let other: Vec<String> = status
        .peers
        .iter()
        .filter_map(|peer| {
            let agent = peer.agent.as_deref()?;
            (agent != AGENT).then(|| format!("{} runs {agent}", peer.peer_id))
        })
        .collect();
    match other.is_empty() {
        true => vec![Check::new("versions", Level::Ok, format!("every peer heard from runs {AGENT}"))],
        false => other
            .into_iter()
            .map(|words| Check::new("versions", Level::Warn, format!("{words}, this node {AGENT}")))
            .collect(),
    }
}
