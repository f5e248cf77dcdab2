//! A node's summary of itself, as it travels: the figures the fleet view
//! shows, signed by the node (under a domain of its own, so a summary's
//! signature means nothing as an entry's), and what a receiver checks before
//! it keeps one — the signature, small fields, not from the future, not its
//! own echoed back.

use libp2p::identity::{Keypair, PublicKey};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use crate::p2p::rejection::{Rejection, MAX_CLOCK_SKEW_MS};
use crate::p2p::wire::under_domain;

const SUMMARY_DOMAIN: &[u8] = b"peercache/summary/v1\0";
/// Resources a summary names at most, and the longest texts it carries.
const MAX_RESOURCES: usize = 16;
const MAX_TEXT: usize = 512;

/// What a node says of itself (the dashboard's shape of it).
pub type Summary = app::model::NodeSummary;

/// A node whose figures stand still says so again after this many summary
/// periods (so the others know it is there: 2 minutes at the default 5 s);
/// one whose figures move says so every period. Every node hears every
/// summary, from several of its mesh, and checks its signature: what an idle
/// fleet does grows with how often. A node that stops is gone at once when
/// its connections close; this is for one that is connected and silent.
pub const KEEPALIVE_PERIODS: u32 = 24;

/// Nodes a fleet holds per period of a moving node's spacing: in a larger
/// fleet a node whose figures move says so once every `peers / 20` periods
/// (rounded up), so the fleet sends about 20 summaries a period whatever its
/// size. Every node checks every copy it gets of every summary (gossip's
/// signature and the summary's): at 100 nodes, summaries sent every period
/// were a quarter of the machine's CPU.
pub const NODES_PER_PERIOD: u64 = 20;

/// Periods between a moving node's summaries in a fleet where it has `peers`.
fn spacing(peers: u64) -> u32 {
    ((peers + 1).div_ceil(NODES_PER_PERIOD) as u32).clamp(1, KEEPALIVE_PERIODS)
}

/// A node silent for this long is gone: two keepalives missed, and a period.
pub fn gone_after(period: std::time::Duration) -> std::time::Duration {
    period * (2 * KEEPALIVE_PERIODS + 1)
}

/// Whether two summaries say the same, apart from when they were made.
fn same_figures(a: &Summary, b: &Summary) -> bool {
    let timeless = |s: &Summary| Summary { at_ms: 0, uptime_secs: 0, ..s.clone() };
    timeless(a) == timeless(b)
}

/// Which of a node's summaries, made once a period, go to the fleet: the
/// first, any whose figures moved (at most one every [`spacing`] periods),
/// and after [`KEEPALIVE_PERIODS`] of the same figures the same again.
#[derive(Default)]
pub struct Herald {
    said: Option<Summary>,
    quiet_periods: u32,
}

impl Herald {
    /// This period's summary, when it is to be published.
    pub fn period(&mut self, summary: Summary) -> Option<Summary> {
        self.quiet_periods += 1;
        let due = match &self.said {
            None => true,
            Some(said) if same_figures(said, &summary) => self.quiet_periods >= KEEPALIVE_PERIODS,
            Some(_) => self.quiet_periods >= spacing(summary.peers),
        };
        if !due {
            return None;
        }
        self.quiet_periods = 0;
        self.said = Some(summary.clone());
        Some(summary)
    }
}

/// A summary with its publisher's key and signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireSummary {
    pub summary: Summary,
    #[serde(with = "serde_bytes")]
    pub publisher_key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

fn signed(summary: &Summary) -> Vec<u8> {
    under_domain(SUMMARY_DOMAIN, summary)
}

impl WireSummary {
    pub fn new(summary: Summary, signer: &Keypair) -> WireSummary {
        let signature = signer.sign(&signed(&summary)).expect("ed25519 signing cannot fail");
        WireSummary { summary, publisher_key: signer.public().encode_protobuf(), signature }
    }

    /// Its publisher and summary, when it may be kept: signed by the key it
    /// carries, small, made no later than clock skew allows, not `local`'s.
    pub fn verify(self, local: &PeerId, now_ms: u64) -> Result<(PeerId, Summary), Rejection> {
        let summary = &self.summary;
        let texts = [Some(&summary.version), summary.trouble.as_ref()];
        if summary.rate_limits.len() > MAX_RESOURCES
            || texts.iter().flatten().any(|text| text.len() > MAX_TEXT)
            || summary.rate_limits.iter().any(|limit| limit.resource.len() > MAX_TEXT)
        {
            return Err(Rejection::Malformed("an oversized summary".into()));
        }
        let key = PublicKey::try_decode_protobuf(&self.publisher_key).map_err(|_| Rejection::BadSignature)?;
        if !key.verify(&signed(summary), &self.signature) {
            return Err(Rejection::BadSignature);
        }
        let publisher = key.to_peer_id();
        if publisher == *local {
            return Err(Rejection::OwnEntry);
        }
        if summary.at_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(Rejection::FromTheFuture(summary.at_ms - now_ms));
        }
        Ok((publisher, self.summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_node_says_only_what_moved_and_now_and_then_that_it_is_there() {
        let at = |period: u64, hits: u64| Summary {
            at_ms: NOW + period * 5_000,
            uptime_secs: period * 5,
            hits,
            ..Summary::default()
        };
        let mut herald = Herald::default();
        // Periods 0..=50: hits move at 3 and 4, then stand still.
        let hits = |period: u64| match period {
            0..=2 => 1,
            3 => 2,
            _ => 3,
        };
        let published: Vec<u64> = (0..=50).filter(|&p| herald.period(at(p, hits(p))).is_some()).collect();
        assert_eq!(published, [0, 3, 4, 28]);
        assert!(herald.period(at(51, 3)).is_none(), "only the clock moved");
        assert!(herald.period(at(52, 3)).is_some(), "24 quiet periods: said again");
        assert_eq!(herald.period(at(53, 4)).map(|s| s.hits), Some(4), "figures that move go at once");
    }

    #[test]
    fn in_a_large_fleet_a_busy_node_speaks_less_often_and_an_idle_one_as_before() {
        let at = |period: u64, peers: u64, hits: u64| Summary {
            at_ms: NOW + period * 5_000,
            uptime_secs: period * 5,
            peers,
            hits,
            ..Summary::default()
        };
        for (peers, every) in [(0, 1), (19, 1), (20, 2), (99, 5), (10_000, KEEPALIVE_PERIODS as u64)] {
            let mut herald = Herald::default();
            // Figures that move every period.
            let published: Vec<u64> = (0..=20).filter(|&p| herald.period(at(p, peers, p)).is_some()).collect();
            let expected: Vec<u64> = (0..=20).filter(|p| p % every == 0).collect();
            assert_eq!(published, expected, "{peers} peers");
        }
        let mut herald = Herald::default();
        let published: Vec<u64> = (0..=50).filter(|&p| herald.period(at(p, 99, 7)).is_some()).collect();
        assert_eq!(published, [0, 24, 48], "an idle node of a large fleet keeps its keepalive");
    }

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn a_summary_is_kept_only_as_its_signer_made_it() {
        let (node, me) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let local = me.public().to_peer_id();
        let summary = Summary { version: "0.1.0".into(), at_ms: NOW, hits: 3, ..Summary::default() };
        let honest = WireSummary::new(summary.clone(), &node);
        assert_eq!(honest.clone().verify(&local, NOW), Ok((node.public().to_peer_id(), summary)));
        // Figures changed on the way: the signature no longer holds.
        let mut inflated = honest.clone();
        inflated.summary.calls_saved = 1_000_000;
        assert_eq!(inflated.verify(&local, NOW), Err(Rejection::BadSignature));
        // Its own summary echoed back, one from the future, an oversized one.
        assert_eq!(honest.clone().verify(&node.public().to_peer_id(), NOW), Err(Rejection::OwnEntry));
        let ahead = WireSummary::new(Summary { at_ms: NOW + 10 * 60_000, ..Summary::default() }, &node);
        assert!(matches!(ahead.verify(&local, NOW), Err(Rejection::FromTheFuture(_))));
        let long = WireSummary::new(Summary { trouble: Some("x".repeat(10_000)), ..Summary::default() }, &node);
        assert!(matches!(long.verify(&local, NOW), Err(Rejection::Malformed(_))));
    }
}
