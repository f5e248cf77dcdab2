//! The charts' memory: a reading of the counters every sample period (10 s
//! unless configured), the last 360 of them (an hour at 10 s) kept in a ring
//! in memory, so a freshly opened dashboard draws history at once. Kept in
//! memory only: after a restart the counters start at zero again, and so does
//! their history.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use app::model::Sample;

/// How often a sample is taken unless configured otherwise.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(10);

/// Samples kept: one hour at the default period.
pub const SAMPLES_KEPT: usize = 360;

/// A bounded ring of samples, oldest first.
pub struct SampleRing {
    samples: Mutex<VecDeque<Sample>>,
    capacity: usize,
}

impl SampleRing {
    pub fn new(capacity: usize) -> Self {
        SampleRing { samples: Mutex::new(VecDeque::with_capacity(capacity)), capacity }
    }

    /// Keeps `sample`, dropping the oldest when full.
    pub fn push(&self, sample: Sample) {
        let mut samples = self.samples.lock().expect("sample ring lock");
        if samples.len() == self.capacity {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The samples kept, oldest first.
    pub fn snapshot(&self) -> Vec<Sample> {
        self.samples.lock().expect("sample ring lock").iter().cloned().collect()
    }
}

impl Default for SampleRing {
    fn default() -> Self {
        SampleRing::new(SAMPLES_KEPT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64) -> Sample {
        Sample { at_ms, requests: at_ms, hits: 0, upstream_calls: 0, calls_saved: 0, peers: 0 }
    }

    #[test]
    fn the_ring_keeps_the_newest_samples_in_order() {
        let ring = SampleRing::new(3);
        for at in 1..=5 {
            ring.push(sample(at));
        }
        let kept: Vec<u64> = ring.snapshot().iter().map(|s| s.at_ms).collect();
        assert_eq!(kept, [3, 4, 5]);
    }

    #[test]
    fn an_hour_of_ten_second_samples_is_kept() {
        assert_eq!(SAMPLES_KEPT as u64 * SAMPLE_PERIOD.as_secs(), 3600);
    }
}
