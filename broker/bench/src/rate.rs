//! A fixed-rate schedule shared by all workers, for "latency at a fixed rate" runs.
//!
//! Send slot n is due at `start + n / rate`. Workers claim slots with one atomic increment and
//! wait until the slot is due. A worker that is behind (its slot passed while it waited for the
//! broker) measures latency from the slot's intended time, not from when it got round to sending:
//! a stalled broker therefore shows up in the latency of every message that should have been
//! sent during the stall (coordinated omission corrected, as wrk2 and OpenMessaging Benchmark
//! do) instead of silently lowering the offered load. A worker on schedule measures from its
//! actual start, so the timer's 1 ms granularity is not charged to the broker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Slot times of a fixed-rate run.
#[derive(Debug)]
pub struct RateSchedule {
    start: Instant,
    rate: f64,
    next: AtomicU64,
}

impl RateSchedule {
    /// A schedule of `rate` slots per second from `start`; `rate` must be positive and finite.
    pub fn new(start: Instant, rate: f64) -> Option<RateSchedule> {
        (rate.is_finite() && rate > 0.0).then(|| RateSchedule {
            start,
            rate,
            next: AtomicU64::new(0),
        })
    }

    /// Slots per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// When slot `n` is due.
    pub fn due(&self, n: u64) -> Instant {
        self.start + Duration::from_nanos((n as f64 * 1e9 / self.rate).round() as u64)
    }

    /// Claims the next `slots` consecutive slots (a batch uses one per message) and returns when
    /// the first is due.
    pub fn claim(&self, slots: u64) -> Instant {
        let first = self.next.fetch_add(slots.max(1), Ordering::Relaxed);
        self.due(first)
    }

    /// Claims slots and sleeps until they are due; returns the intended send time.
    pub async fn wait(&self, slots: u64) -> Instant {
        let due = self.claim(slots);
        tokio::time::sleep_until(due.into()).await;
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_evenly_spaced() {
        let start = Instant::now();
        let s = RateSchedule::new(start, 1000.0).unwrap();
        assert_eq!(s.due(0), start);
        assert_eq!(s.due(1), start + Duration::from_millis(1));
        assert_eq!(s.due(1000), start + Duration::from_secs(1));
        assert_eq!(s.due(2500), start + Duration::from_millis(2500));
    }

    #[test]
    fn claims_are_distinct_and_batches_take_several_slots() {
        let start = Instant::now();
        let s = RateSchedule::new(start, 100.0).unwrap();
        assert_eq!(s.claim(1), start);
        assert_eq!(s.claim(4), start + Duration::from_millis(10));
        assert_eq!(s.claim(1), start + Duration::from_millis(50));
        assert_eq!(s.claim(0), start + Duration::from_millis(60));
        assert_eq!(s.claim(1), start + Duration::from_millis(70));
    }

    #[test]
    fn rejects_non_positive_rates() {
        let now = Instant::now();
        assert!(RateSchedule::new(now, 0.0).is_none());
        assert!(RateSchedule::new(now, -5.0).is_none());
        assert!(RateSchedule::new(now, f64::NAN).is_none());
        assert!(RateSchedule::new(now, f64::INFINITY).is_none());
    }

    #[tokio::test]
    async fn concurrent_claimers_share_one_pace() {
        let start = Instant::now();
        let s = std::sync::Arc::new(RateSchedule::new(start, 2000.0).unwrap());
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut dues = Vec::new();
                for _ in 0..50 {
                    dues.push(s.wait(1).await);
                }
                dues
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 200, "every slot claimed once");
        assert_eq!(
            *all.last().unwrap(),
            start + Duration::from_micros(199 * 500)
        );
        // 200 slots at 2000/s: the last is due at 99.5 ms, so the run cannot finish sooner.
        assert!(start.elapsed() >= Duration::from_micros(99_500));
    }
}
