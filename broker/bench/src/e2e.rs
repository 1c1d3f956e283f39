//! The end-to-end workload: consumers start at the end of every queue, producers send stamped
//! messages, and each received message's latency is its receipt time minus the send time stamped
//! in its body (in fixed-rate runs, the slot time when the sender was behind schedule).
//!
//! Counting is exact: the producers keep the sequence numbers the broker acknowledged, the queue
//! tasks the ones they received, and the report states sent, acknowledged, received (distinct),
//! duplicates, missing (acknowledged but never received) and received-but-unacknowledged (e.g. a
//! send that timed out after the broker stored it). After the producers stop, consumers keep
//! going until everything acknowledged has arrived or the drain time runs out.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::body::{SeqSet, unix_nanos};
use crate::consume::{
    ConsumeOptions, ConsumeReport, ConsumerSide, Filter, QueueTally, StartFrom, connect_consumers,
    report,
};
use crate::error::{BenchError, Result};
use crate::produce::{
    ProduceOptions, ProduceReport, SendMode, connect_producers, new_run_id, produce_phase,
};
use crate::stats::{Counters, Window, spawn_progress};

/// Settings of an e2e run: the producer side, the consumer side (its target, warm-up and
/// duration are taken from the producer side) and the drain time.
#[derive(Debug, Clone)]
pub struct E2eOptions {
    /// Producers, topics, duration, warm-up.
    pub produce: ProduceOptions,
    /// Consumers, group, fetch style.
    pub consume: ConsumeOptions,
    /// How long consumers may take, after the last send, to receive what was acknowledged.
    pub drain: Duration,
}

/// Exact message counts of the whole run (warm-up included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct E2eCounts {
    /// Messages handed to the client.
    pub sent: u64,
    /// Acknowledged by the broker.
    pub acknowledged: u64,
    /// Sends that failed.
    pub failed: u64,
    /// Distinct messages of this run received.
    pub received: u64,
    /// Receipts of a message already received.
    pub duplicates: u64,
    /// Acknowledged but never received.
    pub missing: u64,
    /// Received although their send was not acknowledged.
    pub received_unacknowledged: u64,
}

/// Result of an e2e run.
#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    /// Where e2e latency is measured from.
    pub e2e_latency_from: &'static str,
    /// Exact counts.
    pub counts: E2eCounts,
    /// Producer side (send latency, throughput).
    pub produce: ProduceReport,
    /// Consumer side (e2e latency, throughput).
    pub consume: ConsumeReport,
}

/// Runs producers and consumers together and counts every message.
pub async fn run_e2e(options: &E2eOptions) -> Result<E2eReport> {
    let produce = &options.produce;
    let consume = ConsumeOptions {
        target: produce.target.clone(),
        from: StartFrom::Last,
        duration: produce.duration,
        warmup: produce.warmup,
        progress: false,
        ..options.consume.clone()
    };
    produce.validate()?;
    consume.validate()?;
    if produce.size < crate::body::STAMP_LEN {
        return Err(BenchError::InvalidOption {
            option: "size",
            reason: format!("e2e needs at least {} bytes", crate::body::STAMP_LEN),
        });
    }
    let topics = produce.target.prepare().await?;
    let consumers = connect_consumers(&consume, &topics).await?;
    let producers = connect_producers(produce, &topics).await?;
    let counters = Arc::new(Counters::default());
    let window = Window::starting_now(produce.warmup, produce.duration);
    let unix_start = unix_nanos().saturating_sub(window.start.elapsed().as_nanos() as u64);
    let from = unix_start + produce.warmup.as_nanos() as u64;
    let filter = Filter {
        run_id: Some(new_run_id()),
        by_send_time: Some((from, from + produce.duration.as_nanos() as u64)),
        window,
    };
    let progress = produce
        .progress
        .then(|| spawn_progress("e2e", counters.clone(), window));
    let side = ConsumerSide::start(&consume, consumers, filter, counters.clone());
    let run_id = filter.run_id.unwrap_or_default();
    let outcome =
        produce_phase(produce, producers, topics, run_id, counters.clone(), window).await?;
    let totals = &outcome.report.totals;
    let expected = if produce.mode == SendMode::Oneway {
        totals.sent
    } else {
        totals.acknowledged
    };
    let deadline = Instant::now() + options.drain;
    while counters.received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (consumers, tallies, queues) = side.stop().await?;
    consumers.shutdown();
    if let Some(progress) = progress {
        progress.abort();
    }
    let counts = count(&outcome.report, &outcome.acked, &tallies);
    Ok(E2eReport {
        e2e_latency_from: if produce.rate.is_some() {
            "send time stamped in the body (the slot time when behind the fixed-rate schedule)"
        } else {
            "send time stamped in the body"
        },
        counts,
        consume: report(&consume, &window, queues, &tallies),
        produce: outcome.report,
    })
}

/// Exact counts from the acknowledged and received sequence sets.
fn count(produce: &ProduceReport, acked: &[SeqSet], tallies: &[QueueTally]) -> E2eCounts {
    let mut received: HashMap<u32, SeqSet> = HashMap::new();
    let mut duplicates = 0;
    for tally in tallies {
        duplicates += tally.duplicates;
        for (producer, seen) in &tally.seen {
            duplicates += received
                .entry(*producer)
                .or_default()
                .union_counting_overlap(seen);
        }
    }
    let empty = SeqSet::default();
    let missing = acked
        .iter()
        .enumerate()
        .map(|(p, set)| set.count_missing_from(received.get(&(p as u32)).unwrap_or(&empty)))
        .sum();
    let received_unacknowledged = received
        .iter()
        .map(|(p, set)| set.count_missing_from(acked.get(*p as usize).unwrap_or(&empty)))
        .sum();
    E2eCounts {
        sent: produce.totals.sent,
        acknowledged: produce.totals.acknowledged,
        failed: produce.totals.failed,
        received: received.values().map(SeqSet::len).sum(),
        duplicates,
        missing,
        received_unacknowledged,
    }
}
