//! Counting during a run: the measurement window, live counters for the progress line, error
//! kinds, and the once-a-second progress printer.
//!
//! Workers keep exact per-worker tallies and histograms (merged at the end); the shared atomic
//! [`Counters`] exist only so the progress line can show rates while the run is going.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferrimq_client::ClientError;
use ferrimq_transport::TransportError;

/// The measured part of a run: from the end of the warm-up to the end of the run.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Run start (warm-up begins).
    pub start: Instant,
    /// Warm-up end: measurement begins.
    pub measure_from: Instant,
    /// Run end: no send starts at or after it.
    pub end: Instant,
}

impl Window {
    /// A window starting now.
    pub fn starting_now(warmup: Duration, duration: Duration) -> Window {
        let start = Instant::now();
        Window {
            start,
            measure_from: start + warmup,
            end: start + warmup + duration,
        }
    }

    /// Whether an operation that started at `t` is counted.
    pub fn measured(&self, t: Instant) -> bool {
        t >= self.measure_from && t < self.end
    }

    /// Length of the measured part, seconds.
    pub fn measured_secs(&self) -> f64 {
        (self.end - self.measure_from).as_secs_f64()
    }
}

/// Live totals shared by the workers, read by the progress line.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages handed to the client.
    pub sent: AtomicU64,
    /// Messages acknowledged by the broker.
    pub acked: AtomicU64,
    /// Messages whose send failed.
    pub failed: AtomicU64,
    /// Messages received by consumers (this run's, in e2e mode).
    pub received: AtomicU64,
    /// Body bytes received.
    pub received_bytes: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> [u64; 4] {
        [
            self.sent.load(Ordering::Relaxed),
            self.acked.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        ]
    }
}

/// Failed messages by kind ("timeout", "broker_code_14", ...).
pub type ErrorCounts = BTreeMap<String, u64>;

/// Adds `n` failures of `error`'s kind.
pub fn count_error(errors: &mut ErrorCounts, error: &ClientError, n: u64) {
    *errors.entry(error_kind(error)).or_default() += n;
}

/// A short stable name for the cause of `error`.
pub fn error_kind(error: &ClientError) -> String {
    match error {
        ClientError::SendFailed { last, .. } => error_kind(last),
        ClientError::Transport(t) => match t {
            TransportError::Timeout { .. } => "timeout".to_owned(),
            TransportError::ConnectFailed { .. } => "connect_failed".to_owned(),
            TransportError::ChannelClosed { .. } => "channel_closed".to_owned(),
            TransportError::WriteQueueFull { .. } => "write_queue_full".to_owned(),
            _ => "transport".to_owned(),
        },
        ClientError::Broker { code, .. } => format!("broker_code_{code}"),
        ClientError::NoRoute { .. } => "no_route".to_owned(),
        ClientError::NoQueue { .. } => "no_queue".to_owned(),
        ClientError::NoBrokerAddr { .. } => "no_broker_addr".to_owned(),
        ClientError::InvalidMessage { .. } => "invalid_message".to_owned(),
        _ => "client".to_owned(),
    }
}

/// Merges `from` into `into`.
pub fn merge_errors(into: &mut ErrorCounts, from: &ErrorCounts) {
    for (kind, n) in from {
        *into.entry(kind.clone()).or_default() += n;
    }
}

/// Prints a progress line on stderr every second until the returned handle is aborted.
pub fn spawn_progress(
    label: &'static str,
    counters: Arc<Counters>,
    window: Window,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        let mut last = counters.snapshot();
        loop {
            ticker.tick().await;
            let now = counters.snapshot();
            let rate = |i: usize| now[i] - last[i];
            let phase = if Instant::now() < window.measure_from {
                "warmup"
            } else if Instant::now() < window.end {
                "run"
            } else {
                "drain"
            };
            eprintln!(
                "[{label} {:>4}s {phase:>6}] sent/s {:>8} acked/s {:>8} failed/s {:>6} recv/s {:>8} | total acked {} failed {} recv {}",
                window.start.elapsed().as_secs(),
                rate(0),
                rate(1),
                rate(2),
                rate(3),
                now[1],
                now[2],
                now[3],
            );
            last = now;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_only_the_measured_part() {
        let w = Window::starting_now(Duration::from_secs(2), Duration::from_secs(3));
        assert!(!w.measured(w.start));
        assert!(w.measured(w.measure_from));
        assert!(w.measured(w.start + Duration::from_millis(4999)));
        assert!(!w.measured(w.end));
        assert_eq!(w.measured_secs(), 3.0);
    }

    #[test]
    fn error_kinds_see_through_send_failed() {
        let broker = ClientError::Broker {
            addr: "a".into(),
            request: 310,
            code: 14,
            remark: "busy".into(),
        };
        assert_eq!(error_kind(&broker), "broker_code_14");
        let wrapped = ClientError::SendFailed {
            topic: "T".into(),
            attempts: 3,
            last: Box::new(broker),
        };
        assert_eq!(error_kind(&wrapped), "broker_code_14");
        let mut counts = ErrorCounts::new();
        count_error(&mut counts, &wrapped, 4);
        count_error(&mut counts, &ClientError::NoNameServer, 1);
        let mut total = ErrorCounts::new();
        merge_errors(&mut total, &counts);
        merge_errors(&mut total, &counts);
        assert_eq!(total["broker_code_14"], 8);
        assert_eq!(total["client"], 2);
    }
}
