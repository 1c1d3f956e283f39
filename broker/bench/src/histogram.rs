//! A log-linear latency histogram: exact below 128, then 128 linear sub-buckets per power of two.
//!
//! Values are nanoseconds (any `u64` fits). A value v >= 128 with highest set bit e lands in
//! sub-bucket `v >> (e - 7)`, so the width of its bucket is `2^(e-7)` and the relative error of a
//! reported value is below 1/128 (0.8 %). Percentiles report the highest value of the bucket
//! holding the requested rank (HdrHistogram's "highest equivalent value"), capped by the exact
//! maximum, so a percentile never understates a latency. Each worker records into its own
//! histogram and the run merges them at the end, as PR #10526's per-thread HdrHistograms do.

use serde::Serialize;

/// Sub-buckets per power of two (and the exact range).
const SUB_BUCKET_BITS: u32 = 7;
const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
/// Powers of two from 2^7 to 2^63, plus the exact range.
const BUCKETS: usize = (64 - SUB_BUCKET_BITS as usize + 1) * SUB_BUCKETS;

/// A mergeable histogram of `u64` values.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// Index of the bucket holding `value`.
fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS as u64 {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros();
    let shift = exp - SUB_BUCKET_BITS;
    let mantissa = (value >> shift) as usize - SUB_BUCKETS;
    (shift as usize + 1) * SUB_BUCKETS + mantissa
}

/// Highest value that lands in bucket `index`.
fn bucket_high(index: usize) -> u64 {
    if index < SUB_BUCKETS {
        return index as u64;
    }
    let shift = (index / SUB_BUCKETS - 1) as u32;
    let mantissa = (index % SUB_BUCKETS + SUB_BUCKETS) as u64;
    // For the very last bucket (mantissa 255, shift 56) (mantissa + 1) << shift overflows.
    ((mantissa + 1) << shift)
        .wrapping_sub(1)
        .max(mantissa << shift)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        self.counts[bucket_of(value)] += 1;
        self.count += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest value (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// Largest value (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Arithmetic mean (exact; 0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        self.sum as f64 / self.count as f64
    }

    /// The value at `percentile` (0..=100): the highest value of the bucket holding the
    /// ceil(p/100 * count)-th smallest value, capped at the maximum; 0 when empty.
    pub fn percentile(&self, percentile: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let wanted = ((percentile.clamp(0.0, 100.0) / 100.0) * self.count as f64).ceil() as u64;
        let rank = wanted.clamp(1, self.count);
        let mut seen = 0;
        for (index, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_high(index).min(self.max);
            }
        }
        self.max
    }

    /// The standard summary in milliseconds, for reports.
    pub fn summary_ms(&self) -> LatencySummary {
        let ms = |ns: u64| ns as f64 / 1e6;
        LatencySummary {
            count: self.count,
            min_ms: ms(self.min()),
            mean_ms: self.mean() / 1e6,
            p50_ms: ms(self.percentile(50.0)),
            p90_ms: ms(self.percentile(90.0)),
            p99_ms: ms(self.percentile(99.0)),
            p999_ms: ms(self.percentile(99.9)),
            max_ms: ms(self.max()),
        }
    }
}

/// Percentiles of a nanosecond histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Minimum.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// 50th percentile.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Maximum (exact).
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.min(), 1);
        assert_eq!(h.max(), 100);
        assert_eq!(h.percentile(50.0), 50);
        assert_eq!(h.percentile(99.0), 99);
        assert_eq!(h.percentile(99.9), 100);
        assert_eq!(h.percentile(100.0), 100);
        assert_eq!(h.percentile(0.0), 1);
        assert_eq!(h.mean(), 50.5);
    }

    #[test]
    fn large_values_report_their_bucket_top() {
        let mut h = Histogram::new();
        // 1_000_000 has highest bit 19: bucket width 2^12 = 4096, from 999_424 to 1_003_519.
        for _ in 0..99 {
            h.record(1_000_000);
        }
        h.record(5_000_000);
        assert_eq!(h.percentile(50.0), 1_003_519);
        assert_eq!(h.percentile(99.0), 1_003_519);
        // Rank 100 is the single 5 ms value, capped at the exact max.
        assert_eq!(h.percentile(99.9), 5_000_000);
        assert_eq!(h.max(), 5_000_000);
        assert_eq!(h.min(), 1_000_000);
    }

    #[test]
    fn bucket_bounds_are_contiguous_and_tight() {
        let mut previous_high = None;
        for index in 0..BUCKETS {
            let high = bucket_high(index);
            assert_eq!(bucket_of(high), index, "index {index}");
            if let Some(p) = previous_high {
                assert_eq!(bucket_of(p + 1), index, "index {index}");
            }
            previous_high = (high < u64::MAX).then_some(high);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_high(BUCKETS - 1), u64::MAX);
        // Relative width of every bucket above the exact range is at most 1/128.
        for v in [128u64, 1_000, 123_456, 9_999_999_999] {
            let high = bucket_high(bucket_of(v));
            assert!((high - v) as f64 / v as f64 <= 1.0 / 128.0, "value {v}");
        }
    }

    #[test]
    fn merge_adds_counts_and_extremes() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        for v in 1..=50 {
            a.record(v);
        }
        for v in 51..=100 {
            b.record(v);
        }
        a.merge(&b);
        a.merge(&Histogram::new());
        assert_eq!(a.count(), 100);
        assert_eq!(a.min(), 1);
        assert_eq!(a.max(), 100);
        assert_eq!(a.percentile(50.0), 50);
        assert_eq!(a.percentile(75.0), 75);
    }

    #[test]
    fn empty_histogram_reports_zeros() {
        let h = Histogram::new();
        assert_eq!(h.percentile(99.0), 0);
        assert_eq!(h.min(), 0);
        assert_eq!(h.summary_ms().count, 0);
        assert_eq!(h.summary_ms().max_ms, 0.0);
    }
}
