//! The proxy's counters: responses per `X-Peercache` mode, how long each
//! answer took (a histogram per mode), upstream failures by kind, and the
//! calls saved per minute over the last hour (a ring of 60 buckets).
//! Upstream calls are the cache's `api_calls_made`, counted once where the
//! call log is kept.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// What happened to one proxied request; sent as `X-Peercache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Hit,
    PeerHit,
    Miss,
    Revalidated,
    /// Another scope's (or an untrusted peer's) body, which GitHub confirmed
    /// for this requester with a free 304.
    Confirmed,
    Coalesced,
    Stale,
    /// GitHub's rate-limit refusal replayed from this node's hold: GitHub
    /// was not asked.
    Held,
    Pass,
}

impl Mode {
    pub const ALL: [Mode; 9] = [
        Mode::Hit,
        Mode::PeerHit,
        Mode::Miss,
        Mode::Revalidated,
        Mode::Confirmed,
        Mode::Coalesced,
        Mode::Stale,
        Mode::Held,
        Mode::Pass,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hit => "HIT",
            Mode::PeerHit => "PEER-HIT",
            Mode::Miss => "MISS",
            Mode::Revalidated => "REVALIDATED",
            Mode::Confirmed => "CONFIRMED",
            Mode::Coalesced => "COALESCED",
            Mode::Stale => "STALE",
            Mode::Held => "HELD",
            Mode::Pass => "PASS",
        }
    }

    /// Whether this answer spared a full call to GitHub.
    pub fn saved_a_call(self) -> bool {
        matches!(self, Mode::Hit | Mode::PeerHit | Mode::Revalidated | Mode::Confirmed | Mode::Coalesced | Mode::Stale)
    }

    /// Whether GitHub was asked and answered 304, which it does not charge.
    pub fn free_at_github(self) -> bool {
        matches!(self, Mode::Revalidated | Mode::Confirmed)
    }

    /// The RFC 9211 `Cache-Status` value.
    pub fn cache_status(self) -> &'static str {
        match self {
            Mode::Hit => "peercache; hit",
            Mode::PeerHit => "peercache; hit; detail=peer",
            Mode::Miss => "peercache; fwd=uri-miss",
            Mode::Revalidated => "peercache; fwd=stale; fwd-status=304; stored",
            Mode::Confirmed => "peercache; fwd=uri-miss; fwd-status=304; detail=confirmed; stored",
            Mode::Coalesced => "peercache; fwd=uri-miss; collapsed",
            Mode::Stale => "peercache; hit; detail=stale-rate-limited",
            Mode::Held => "peercache; hit; detail=rate-limit-held",
            Mode::Pass => "peercache; fwd=bypass",
        }
    }
}

/// Why a request to GitHub failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamError {
    /// No connection could be made.
    Unreachable,
    /// No answer in time.
    TimedOut,
    /// The connection broke some other way (TLS, protocol).
    Transport,
    /// GitHub answered 5xx.
    ServerError,
    /// GitHub refused for a rate limit.
    RateLimited,
    /// The answer's body broke off.
    BrokenBody,
}

impl UpstreamError {
    pub const ALL: [UpstreamError; 6] = [
        UpstreamError::Unreachable,
        UpstreamError::TimedOut,
        UpstreamError::Transport,
        UpstreamError::ServerError,
        UpstreamError::RateLimited,
        UpstreamError::BrokenBody,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamError::Unreachable => "unreachable",
            UpstreamError::TimedOut => "timed_out",
            UpstreamError::Transport => "transport",
            UpstreamError::ServerError => "server_error",
            UpstreamError::RateLimited => "rate_limited",
            UpstreamError::BrokenBody => "broken_body",
        }
    }

    /// The kind of a failed `reqwest` request.
    pub fn of(error: &reqwest::Error) -> UpstreamError {
        if error.is_timeout() {
            UpstreamError::TimedOut
        } else if error.is_connect() {
            UpstreamError::Unreachable
        } else {
            UpstreamError::Transport
        }
    }
}

/// The label of an answer's latency: its mode.
pub type ModeLabel = [(&'static str, &'static str); 1];

fn latency_histogram() -> Histogram {
    // 100 µs (a hit) to about 6 s (a slow GitHub), ×2.5 a bucket.
    Histogram::new(exponential_buckets(0.0001, 2.5, 13))
}

const MINUTES: usize = 60;

/// Counts per minute over the last hour: (minute since epoch, count), one
/// slot per minute.
struct LastHour(Mutex<[(u64, u64); MINUTES]>);

impl LastHour {
    fn new() -> LastHour {
        LastHour(Mutex::new([(0, 0); MINUTES]))
    }

    fn add(&self, now_ms: u64) {
        let minute = now_ms / 60_000;
        let mut slots = self.0.lock().expect("last hour lock");
        let slot = &mut slots[(minute % MINUTES as u64) as usize];
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 += 1;
    }

    /// The counts of the 60 minutes up to `now_ms`.
    fn sum(&self, now_ms: u64) -> u64 {
        let minute = now_ms / 60_000;
        let slots = self.0.lock().expect("last hour lock");
        slots.iter().filter(|(m, _)| minute.saturating_sub(*m) < MINUTES as u64).map(|(_, n)| n).sum()
    }
}

pub struct ProxyCounters {
    modes: [AtomicU64; 9],
    /// Sealed entries that did not open under their own key, time and TTL.
    pub seal_mismatches: AtomicU64,
    /// Fleet-wide single flight: requests that waited for another node's
    /// fetch, and those whose wait ran out (they fetched themselves).
    pub fleet_waits: AtomicU64,
    pub fleet_wait_timeouts: AtomicU64,
    /// Writes not told to the fleet: their token wrote faster than allowed.
    pub invalidations_held_back: AtomicU64,
    /// Calls saved in the last hour.
    saved: LastHour,
    /// Answers GitHub gave for free (304) in the last hour.
    free: LastHour,
    upstream_errors: [AtomicU64; 6],
    /// Seconds from a request's arrival to its answer, by mode (registered
    /// in `/metrics` by the core).
    pub latency: Family<ModeLabel, Histogram, fn() -> Histogram>,
}

impl Default for ProxyCounters {
    fn default() -> Self {
        ProxyCounters {
            modes: Default::default(),
            seal_mismatches: AtomicU64::new(0),
            fleet_waits: AtomicU64::new(0),
            fleet_wait_timeouts: AtomicU64::new(0),
            invalidations_held_back: AtomicU64::new(0),
            saved: LastHour::new(),
            free: LastHour::new(),
            upstream_errors: Default::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl ProxyCounters {
    pub fn record(&self, mode: Mode, now_ms: u64) {
        let index = Mode::ALL.iter().position(|m| *m == mode).expect("every mode is listed");
        self.modes[index].fetch_add(1, Ordering::Relaxed);
        if mode.saved_a_call() {
            self.saved.add(now_ms);
        }
        if mode.free_at_github() {
            self.free.add(now_ms);
        }
    }

    /// An answer of `mode` that took `took` from the request's arrival.
    pub fn answered_in(&self, mode: Mode, took: Duration) {
        self.latency.get_or_create(&[("mode", mode.as_str())]).observe(took.as_secs_f64());
    }

    pub fn upstream_error(&self, kind: UpstreamError) {
        let index = UpstreamError::ALL.iter().position(|k| *k == kind).expect("every kind is listed");
        self.upstream_errors[index].fetch_add(1, Ordering::Relaxed);
    }

    pub fn upstream_errors(&self) -> BTreeMap<String, u64> {
        UpstreamError::ALL
            .iter()
            .zip(&self.upstream_errors)
            .map(|(kind, count)| (kind.as_str().to_owned(), count.load(Ordering::Relaxed)))
            .collect()
    }

    pub fn fleet_wait(&self) {
        self.fleet_waits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn fleet_wait_timeout(&self) {
        self.fleet_wait_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn invalidation_held_back(&self) {
        self.invalidations_held_back.fetch_add(1, Ordering::Relaxed);
    }

    pub fn seal_mismatch(&self) {
        self.seal_mismatches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn modes(&self) -> BTreeMap<String, u64> {
        Mode::ALL
            .iter()
            .zip(&self.modes)
            .map(|(mode, count)| (mode.as_str().to_owned(), count.load(Ordering::Relaxed)))
            .collect()
    }

    /// Calls saved in the 60 minutes up to `now_ms`.
    pub fn saved_last_hour(&self, now_ms: u64) -> u64 {
        self.saved.sum(now_ms)
    }

    /// Answers GitHub confirmed for free (304) in the 60 minutes up to `now_ms`.
    pub fn free_last_hour(&self, now_ms: u64) -> u64 {
        self.free.sum(now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_modes_and_forgets_saves_older_than_an_hour() {
        let counters = ProxyCounters::default();
        let t0 = 1_000 * 60_000;
        counters.record(Mode::Hit, t0);
        counters.record(Mode::Miss, t0);
        counters.record(Mode::Coalesced, t0 + 30 * 60_000);
        counters.record(Mode::Confirmed, t0 + 30 * 60_000);
        assert_eq!(counters.free_last_hour(t0 + 30 * 60_000), 1, "a 304 GitHub did not charge");
        assert_eq!(counters.modes()["CONFIRMED"], 1);
        assert_eq!(counters.modes()["HIT"], 1);
        assert_eq!(counters.modes()["MISS"], 1);
        assert_eq!(counters.saved_last_hour(t0 + 30 * 60_000), 3);
        assert_eq!(counters.saved_last_hour(t0 + 60 * 60_000), 2, "the first save is an hour old");
        assert_eq!(counters.saved_last_hour(t0 + 120 * 60_000), 0);
    }
}
