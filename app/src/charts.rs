//! What the charts draw, worked out from the server's counter samples. Pure
//! functions over [`Sample`]s, so the numbers are unit-tested; the SVG is in
//! `components/chart.rs`.

use crate::model::Sample;

/// One point of a line: when (Unix ms) and how much.
pub type Point = (u64, f64);

/// How fast a counter grew between consecutive samples, per minute, placed
/// at the later sample.
pub fn per_minute(samples: &[Sample], counter: fn(&Sample) -> u64) -> Vec<Point> {
    samples
        .windows(2)
        .filter(|pair| pair[1].at_ms > pair[0].at_ms)
        .map(|pair| {
            let grown = counter(&pair[1]).saturating_sub(counter(&pair[0])) as f64;
            let minutes = (pair[1].at_ms - pair[0].at_ms) as f64 / 60_000.0;
            (pair[1].at_ms, grown / minutes)
        })
        .collect()
}

/// The hit rate (in percent) of the lookups between consecutive samples.
/// Intervals without lookups have no hit rate and are left out.
pub fn hit_rate_percent(samples: &[Sample]) -> Vec<Point> {
    samples
        .windows(2)
        .filter_map(|pair| {
            let lookups = pair[1].requests.saturating_sub(pair[0].requests);
            let hits = pair[1].hits.saturating_sub(pair[0].hits);
            (lookups > 0).then(|| (pair[1].at_ms, hits as f64 * 100.0 / lookups as f64))
        })
        .collect()
}

/// A level read at each sample (for example the number of peers).
pub fn levels(samples: &[Sample], level: fn(&Sample) -> f64) -> Vec<Point> {
    samples.iter().map(|s| (s.at_ms, level(s))).collect()
}

/// How much time the charts span: what the samples cover, at least a minute
/// (so a fresh server's first points do not fill the width) and at most the
/// hour the server keeps.
pub fn span_ms(samples: &[Sample]) -> u64 {
    let covered = match (samples.first(), samples.last()) {
        (Some(first), Some(last)) => last.at_ms.saturating_sub(first.at_ms),
        _ => 0,
    };
    covered.clamp(60_000, 3_600_000)
}

/// The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `value`: a
/// round top for a chart's scale.
pub fn nice_ceiling(value: f64) -> f64 {
    let mut step = 1.0;
    loop {
        for factor in [1.0, 2.0, 5.0] {
            if value <= step * factor {
                return step * factor;
            }
        }
        step *= 10.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, requests: u64, hits: u64) -> Sample {
        Sample { at_ms: secs * 1000, requests, hits, upstream_calls: requests - hits, calls_saved: hits, peers: 1 }
    }

    #[test]
    fn rates_are_per_minute_over_each_interval() {
        let samples = [at(0, 0, 0), at(10, 5, 4), at(30, 25, 4)];
        assert_eq!(per_minute(&samples, |s| s.requests), [(10_000, 30.0), (30_000, 60.0)]);
        assert_eq!(per_minute(&samples[..1], |s| s.requests), []);
    }

    #[test]
    fn hit_rate_skips_intervals_without_lookups() {
        let samples = [at(0, 0, 0), at(10, 4, 3), at(20, 4, 3), at(30, 8, 3)];
        assert_eq!(hit_rate_percent(&samples), [(10_000, 75.0), (30_000, 0.0)]);
    }

    #[test]
    fn levels_are_read_as_they_are() {
        assert_eq!(levels(&[at(0, 0, 0), at(10, 1, 1)], |s| s.peers as f64), [(0, 1.0), (10_000, 1.0)]);
    }

    #[test]
    fn the_span_is_what_the_samples_cover_between_a_minute_and_an_hour() {
        assert_eq!(span_ms(&[]), 60_000);
        assert_eq!(span_ms(&[at(0, 0, 0), at(20, 0, 0)]), 60_000);
        assert_eq!(span_ms(&[at(0, 0, 0), at(600, 0, 0)]), 600_000);
        assert_eq!(span_ms(&[at(0, 0, 0), at(7200, 0, 0)]), 3_600_000);
    }

    #[test]
    fn scale_tops_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(1.5), 2.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
    }
}
