//! The produce workload: N producer workers over M connections sending stamped messages in sync,
//! async (pipelined) or oneway mode, optionally at a fixed total rate, for a warm-up plus a
//! measured duration.
//!
//! Each worker keeps up to `inflight` sends outstanding (1 in sync mode, like one Java benchmark
//! thread doing blocking `send()`), records send latency into its own histogram and the sequence
//! numbers the broker acknowledged; the run merges them. Only sends *started* inside the measured
//! window count toward the measured figures; sends still outstanding at the end are awaited and
//! counted in the totals, so totals match what the broker stored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrimq_client::{Message, Producer, ProducerConfig};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use crate::body::{SeqSet, Stamp, filler, unix_nanos};
use crate::error::{BenchError, Result};
use crate::histogram::{Histogram, LatencySummary};
use crate::rate::RateSchedule;
use crate::setup::Target;
use crate::stats::{Counters, ErrorCounts, Window, count_error, merge_errors, spawn_progress};

/// How a producer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SendMode {
    /// Wait for each answer before the next send.
    Sync,
    /// Keep several sends outstanding per producer.
    Async,
    /// Fire and forget: no answer, no acknowledgement count, no latency.
    Oneway,
}

impl std::str::FromStr for SendMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sync" => Ok(SendMode::Sync),
            "async" => Ok(SendMode::Async),
            "oneway" => Ok(SendMode::Oneway),
            other => Err(format!(
                "unknown send mode {other:?} (sync, async or oneway)"
            )),
        }
    }
}

/// Settings of a produce run.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// Cluster, topics, queues.
    pub target: Target,
    /// Concurrent producer workers.
    pub producers: usize,
    /// Client connections (sessions) the workers are spread over.
    pub connections: usize,
    /// Body size in bytes.
    pub size: usize,
    /// Messages per send (1 = SEND_MESSAGE_V2, more = SEND_BATCH_MESSAGE).
    pub batch: usize,
    /// Send mode.
    pub mode: SendMode,
    /// Sends outstanding per worker in async mode.
    pub inflight: usize,
    /// Total messages per second over all workers (`None` = as fast as possible).
    pub rate: Option<f64>,
    /// Measured duration.
    pub duration: Duration,
    /// Warm-up before measuring (not counted).
    pub warmup: Duration,
    /// Producer group.
    pub group: String,
    /// Print a progress line every second.
    pub progress: bool,
}

impl ProduceOptions {
    /// Checks ranges and combinations.
    pub fn validate(&self) -> Result<()> {
        let bad = |option, reason: &str| {
            Err(BenchError::InvalidOption {
                option,
                reason: reason.to_owned(),
            })
        };
        if self.producers == 0 || self.producers > 100_000 {
            return bad("producers", "must be 1..=100000");
        }
        if self.connections == 0 || self.connections > self.producers {
            return bad("connections", "must be 1..=producers");
        }
        if self.size == 0 || self.size > 4 * 1024 * 1024 {
            return bad("size", "must be 1..=4194304 bytes");
        }
        if self.batch == 0 || self.batch > 10_000 || self.size * self.batch > 4 * 1024 * 1024 {
            return bad("batch", "must be 1..=10000 with size*batch at most 4 MiB");
        }
        if self.batch > 1 && self.mode == SendMode::Oneway {
            return bad("batch", "oneway sends single messages only");
        }
        if self.inflight == 0 || self.inflight > 4096 {
            return bad("inflight", "must be 1..=4096");
        }
        if self.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return bad("rate", "must be a positive number of messages per second");
        }
        if self.duration.is_zero() {
            return bad("duration", "must be more than 0");
        }
        if self.target.topics == 0 || self.target.queues == 0 {
            return bad("topics", "topics and queues must be at least 1");
        }
        Ok(())
    }

    fn outstanding(&self) -> usize {
        if self.mode == SendMode::Async {
            self.inflight
        } else {
            1
        }
    }
}

/// Figures of the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ProduceMeasured {
    /// Messages whose send started in the window.
    pub sent: u64,
    /// Of those, acknowledged by the broker (0 in oneway mode).
    pub acknowledged: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Acknowledged (oneway: sent) messages per second.
    pub msgs_per_s: f64,
    /// Body megabytes (10^6) per second of the same messages.
    pub mb_per_s: f64,
    /// Send latency, ms.
    pub send_latency: LatencySummary,
}

/// Counts over the whole run: warm-up, window and the final wait for outstanding sends.
#[derive(Debug, Clone, Serialize)]
pub struct ProduceTotals {
    /// Messages handed to the client.
    pub sent: u64,
    /// Messages acknowledged.
    pub acknowledged: u64,
    /// Messages whose send failed.
    pub failed: u64,
    /// Failed messages by kind.
    pub errors_by_kind: ErrorCounts,
}

/// Result of a produce run (also the producer half of an e2e run).
#[derive(Debug, Clone, Serialize)]
pub struct ProduceReport {
    /// Send mode.
    pub mode: SendMode,
    /// Where send latency is measured from.
    pub latency_from: &'static str,
    /// Topics written.
    pub topics: usize,
    /// Workers, connections, size, batch, in-flight per worker, rate.
    pub producers: usize,
    /// Client connections.
    pub connections: usize,
    /// Body bytes.
    pub size: usize,
    /// Messages per send.
    pub batch: usize,
    /// Outstanding sends per worker.
    pub inflight: usize,
    /// Fixed rate, if any.
    pub rate: Option<f64>,
    /// Warm-up seconds (not counted).
    pub warmup_s: f64,
    /// Measured seconds.
    pub measured_s: f64,
    /// Window figures.
    pub measured: ProduceMeasured,
    /// Whole-run counts.
    pub totals: ProduceTotals,
}

/// What the producer half hands to an e2e run.
#[derive(Debug)]
pub(crate) struct ProduceOutcome {
    pub report: ProduceReport,
    /// Acknowledged sequence numbers by producer id.
    pub acked: Vec<SeqSet>,
}

/// State shared by the workers of one run.
struct Plan {
    topics: Vec<String>,
    size: usize,
    batch: usize,
    mode: SendMode,
    outstanding: usize,
    run_id: u64,
    window: Window,
    unix_at_start: u64,
    schedule: Option<RateSchedule>,
    counters: Arc<Counters>,
    filler: Bytes,
}

impl Plan {
    /// When the next send is due, or `None` once the run is over.
    fn claim(&self) -> Option<Instant> {
        let due = match &self.schedule {
            Some(schedule) => schedule.claim(self.batch as u64),
            None => Instant::now(),
        };
        (due < self.window.end).then_some(due)
    }

    fn unix_of(&self, t: Instant) -> u64 {
        self.unix_at_start + t.saturating_duration_since(self.window.start).as_nanos() as u64
    }

    fn messages(&self, producer: u32, topic: &str, first_seq: u64, due: Instant) -> Vec<Message> {
        let sent_at_ns = self.unix_of(due);
        (0..self.batch as u64)
            .map(|i| {
                let stamp = Stamp {
                    run_id: self.run_id,
                    producer,
                    seq: first_seq + i,
                    sent_at_ns,
                };
                Message::new(topic, stamp.body(self.size, &self.filler))
            })
            .collect()
    }
}

/// One finished send.
struct Completion {
    /// Slot time: decides whether the send is in the measured window.
    due: Instant,
    /// Latency origin: the slot when behind schedule, else the actual start.
    start: Instant,
    done: Instant,
    first_seq: u64,
    count: u64,
    outcome: ferrimq_client::Result<()>,
}

async fn send(producer: Producer, mode: SendMode, mut messages: Vec<Message>) -> Completion {
    let count = messages.len() as u64;
    let outcome = match mode {
        SendMode::Oneway => match messages.pop() {
            Some(message) => producer.send_oneway(message).await,
            None => Ok(()),
        },
        _ if messages.len() == 1 => match messages.pop() {
            Some(message) => producer.send(message).await.map(drop),
            None => Ok(()),
        },
        _ => producer.send_batch(messages).await.map(drop),
    };
    let done = Instant::now();
    Completion {
        due: done,
        start: done,
        done,
        first_seq: 0,
        count,
        outcome,
    }
}

/// One worker's exact tallies.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    acked: u64,
    failed: u64,
    measured_ok: u64,
    measured_failed: u64,
    latency: Histogram,
    errors: ErrorCounts,
    acked_seqs: SeqSet,
}

impl Tally {
    fn absorb(&mut self, c: Completion, plan: &Plan) {
        let measured = plan.window.measured(c.due);
        match &c.outcome {
            Ok(()) => {
                self.measured_ok += if measured { c.count } else { 0 };
                if plan.mode == SendMode::Oneway {
                    return;
                }
                self.acked += c.count;
                Counters::add(&plan.counters.acked, c.count);
                for seq in c.first_seq..c.first_seq + c.count {
                    self.acked_seqs.insert(seq);
                }
                if measured {
                    self.latency
                        .record(c.done.duration_since(c.start).as_nanos() as u64);
                }
            }
            Err(error) => {
                self.failed += c.count;
                self.measured_failed += if measured { c.count } else { 0 };
                Counters::add(&plan.counters.failed, c.count);
                count_error(&mut self.errors, error, c.count);
            }
        }
    }
}

async fn run_worker(id: u32, producer: Producer, plan: Arc<Plan>) -> (u32, Tally) {
    let mut tally = Tally::default();
    let mut inflight = FuturesUnordered::new();
    let mut next_seq = 0u64;
    let mut turn = id as usize;
    let mut stopping = false;
    loop {
        if !stopping && inflight.len() < plan.outstanding {
            let Some(due) = plan.claim() else {
                stopping = true;
                continue;
            };
            // On schedule: wait for the slot (completing outstanding sends meanwhile) and time
            // from the actual start, so the timer's 1 ms granularity is not charged to the
            // broker. Behind schedule: time from the slot, charging the backlog (coordinated
            // omission). Without a rate every slot is due now.
            let start = if due > Instant::now() {
                let sleep = tokio::time::sleep_until(due.into());
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        biased;
                        () = &mut sleep => break,
                        Some(c) = inflight.next(), if !inflight.is_empty() => {
                            tally.absorb(c, &plan);
                        }
                    }
                }
                Instant::now()
            } else {
                due
            };
            let topic = &plan.topics[turn % plan.topics.len()];
            turn += 1;
            let messages = plan.messages(id, topic, next_seq, start);
            let first_seq = next_seq;
            next_seq += plan.batch as u64;
            tally.sent += plan.batch as u64;
            Counters::add(&plan.counters.sent, plan.batch as u64);
            let mode = plan.mode;
            let producer = producer.clone();
            inflight.push(async move {
                let completion = send(producer, mode, messages).await;
                Completion {
                    due,
                    start,
                    first_seq,
                    ..completion
                }
            });
            continue;
        }
        match inflight.next().await {
            Some(c) => tally.absorb(c, &plan),
            None => break,
        }
    }
    (id, tally)
}

/// A run id unlikely to repeat: time and pid mixed.
pub(crate) fn new_run_id() -> u64 {
    let t = unix_nanos();
    t.rotate_left(17) ^ (u64::from(std::process::id()) << 32) ^ t
}

/// Runs the producer workers over `topics` in `window` and merges their tallies.
pub(crate) async fn produce_phase(
    options: &ProduceOptions,
    producers: Vec<Producer>,
    topics: Vec<String>,
    run_id: u64,
    counters: Arc<Counters>,
    window: Window,
) -> Result<ProduceOutcome> {
    let plan = Arc::new(Plan {
        topics,
        size: options.size,
        batch: options.batch,
        mode: options.mode,
        outstanding: options.outstanding(),
        run_id,
        unix_at_start: unix_nanos().saturating_sub(window.start.elapsed().as_nanos() as u64),
        window,
        schedule: options
            .rate
            .and_then(|rate| RateSchedule::new(window.start, rate)),
        counters,
        filler: filler(options.size),
    });
    let mut workers = tokio::task::JoinSet::new();
    for id in 0..options.producers {
        let producer = producers[id % producers.len()].clone();
        workers.spawn(run_worker(id as u32, producer, plan.clone()));
    }
    let mut tallies: Vec<(u32, Tally)> = Vec::with_capacity(options.producers);
    while let Some(joined) = workers.join_next().await {
        tallies.push(joined?);
    }
    for producer in &producers {
        producer.routes().session().shutdown();
    }
    Ok(merge(options, &plan, tallies))
}

/// Runs a produce benchmark: prepares the topics, connects, warms up, measures, then waits for
/// the sends still outstanding.
pub async fn run_produce(options: &ProduceOptions) -> Result<ProduceReport> {
    options.validate()?;
    let topics = options.target.prepare().await?;
    let producers = connect_producers(options, &topics).await?;
    let counters = Arc::new(Counters::default());
    let window = Window::starting_now(options.warmup, options.duration);
    let progress = options
        .progress
        .then(|| spawn_progress("produce", counters.clone(), window));
    let outcome = produce_phase(options, producers, topics, new_run_id(), counters, window).await;
    if let Some(progress) = progress {
        progress.abort();
    }
    Ok(outcome?.report)
}

/// One producer per connection, with routes of every topic already cached.
pub(crate) async fn connect_producers(
    options: &ProduceOptions,
    topics: &[String],
) -> Result<Vec<Producer>> {
    let mut producers = Vec::with_capacity(options.connections);
    for c in 0..options.connections {
        let session = options.target.session(&format!("producer-{c}"));
        let mut config = ProducerConfig::new(options.group.clone());
        config.default_topic_queue_nums = options.target.queues as i32;
        let producer = Producer::new(session, config);
        for topic in topics {
            producer
                .routes()
                .publish_route(topic, options.target.queues as i32)
                .await?;
        }
        producers.push(producer);
    }
    Ok(producers)
}

fn merge(options: &ProduceOptions, plan: &Plan, tallies: Vec<(u32, Tally)>) -> ProduceOutcome {
    let mut latency = Histogram::new();
    let mut errors = ErrorCounts::new();
    let mut acked = vec![SeqSet::default(); options.producers];
    let (mut sent, mut ok, mut failed, mut m_ok, mut m_failed) = (0, 0, 0, 0, 0);
    for (id, tally) in tallies {
        latency.merge(&tally.latency);
        merge_errors(&mut errors, &tally.errors);
        sent += tally.sent;
        ok += tally.acked;
        failed += tally.failed;
        m_ok += tally.measured_ok;
        m_failed += tally.measured_failed;
        acked[id as usize] = tally.acked_seqs;
    }
    let secs = plan.window.measured_secs();
    let report = ProduceReport {
        mode: options.mode,
        latency_from: if options.rate.is_some() {
            "intended send time when behind the fixed-rate schedule (coordinated omission \
             corrected), actual send time when on schedule"
        } else {
            "actual send time"
        },
        topics: plan.topics.len(),
        producers: options.producers,
        connections: options.connections,
        size: options.size,
        batch: options.batch,
        inflight: options.outstanding(),
        rate: options.rate,
        warmup_s: options.warmup.as_secs_f64(),
        measured_s: secs,
        measured: ProduceMeasured {
            sent: m_ok + m_failed,
            acknowledged: if options.mode == SendMode::Oneway {
                0
            } else {
                m_ok
            },
            failed: m_failed,
            msgs_per_s: m_ok as f64 / secs,
            mb_per_s: (m_ok * options.size as u64) as f64 / secs / 1e6,
            send_latency: latency.summary_ms(),
        },
        totals: ProduceTotals {
            sent,
            acknowledged: ok,
            failed,
            errors_by_kind: errors,
        },
    };
    ProduceOutcome { report, acked }
}
