//! The consume workload: consumers of one group splitting the topics' queues between them, one
//! task per queue pulling in a loop, either long-polling (the broker holds an empty pull until a
//! message arrives, as the Java push consumer does) or plain pulling with a short idle pause.
//!
//! A received body carrying a [`Stamp`] gives an end-to-end latency from its send time (ns); other
//! bodies fall back to the producer's born timestamp (ms). In e2e mode only this run's stamps
//! count, and each queue task records the sequence numbers it saw so duplicates and missing
//! messages can be counted exactly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrimq_client::{ConsumerConfig, MessageExt, PullConsumer, Session, StartPosition};
use ferrimq_remoting::body::MessageQueue;
use serde::Serialize;
use tokio::sync::watch;

use crate::body::{SeqSet, Stamp, unix_nanos};
use crate::error::{BenchError, Result};
use crate::histogram::{Histogram, LatencySummary};
use crate::setup::Target;
use crate::stats::{Counters, ErrorCounts, Window, count_error, merge_errors, spawn_progress};

/// Pause of a plain-pull queue task after an empty pull.
const PULL_IDLE: Duration = Duration::from_millis(5);
/// A received message older than this is traced at debug level.
const LATE: Duration = Duration::from_millis(50);
/// Pause after a failed pull.
const PULL_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How consumers fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullMode {
    /// Pulls the broker holds until messages arrive (push-consumer style).
    LongPoll,
    /// Pulls answered at once; an empty answer pauses the queue 5 ms.
    Pull,
}

impl std::str::FromStr for PullMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "long-poll" => Ok(PullMode::LongPoll),
            "pull" => Ok(PullMode::Pull),
            other => Err(format!(
                "unknown consume mode {other:?} (long-poll or pull)"
            )),
        }
    }
}

/// Where each queue starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    /// The queue's min offset.
    First,
    /// The queue's max offset: only messages sent after the start.
    Last,
    /// The group's committed offset (the min offset if none).
    Committed,
}

impl std::str::FromStr for StartFrom {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "first" => Ok(StartFrom::First),
            "last" => Ok(StartFrom::Last),
            "committed" => Ok(StartFrom::Committed),
            other => Err(format!(
                "unknown start {other:?} (first, last or committed)"
            )),
        }
    }
}

/// Settings of a consume run (and the consumer half of an e2e run).
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// Cluster and topics.
    pub target: Target,
    /// Consumer group.
    pub group: String,
    /// Consumers (each its own connection); queues are split between them.
    pub consumers: usize,
    /// Fetch style.
    pub mode: PullMode,
    /// Messages asked for per pull.
    pub pull_batch: i32,
    /// How long the broker may hold a long-poll pull.
    pub suspend: Duration,
    /// Where queues start.
    pub from: StartFrom,
    /// Measured duration.
    pub duration: Duration,
    /// Warm-up (not counted).
    pub warmup: Duration,
    /// Print a progress line every second.
    pub progress: bool,
}

impl ConsumeOptions {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |option, reason: &str| {
            Err(BenchError::InvalidOption {
                option,
                reason: reason.to_owned(),
            })
        };
        if self.consumers == 0 || self.consumers > 10_000 {
            return bad("consumers", "must be 1..=10000");
        }
        if !(1..=1024).contains(&self.pull_batch) {
            return bad("pull-batch", "must be 1..=1024");
        }
        if self.duration.is_zero() {
            return bad("duration", "must be more than 0");
        }
        if self.target.topics == 0 {
            return bad("topics", "must be at least 1");
        }
        Ok(())
    }
}

/// Figures of a consume run (or the consumer half of an e2e run).
#[derive(Debug, Clone, Serialize)]
pub struct ConsumeReport {
    /// Fetch style.
    pub mode: PullMode,
    /// Consumers.
    pub consumers: usize,
    /// Queues consumed.
    pub queues: usize,
    /// Measured seconds.
    pub measured_s: f64,
    /// Messages counted in the window.
    pub measured_received: u64,
    /// Of those, per second.
    pub msgs_per_s: f64,
    /// Body megabytes (10^6) per second.
    pub mb_per_s: f64,
    /// Send (stamp) or born time to receipt, ms.
    pub e2e_latency: LatencySummary,
    /// Messages received over the whole run (this run's only, in e2e mode).
    pub total_received: u64,
    /// Received messages whose body had no stamp (latency from the born timestamp, ms precision).
    pub unstamped: u64,
    /// Failed pulls by kind.
    pub errors_by_kind: ErrorCounts,
}

/// Which messages count and how the window applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Filter {
    /// Only stamps of this run count (e2e); `None` counts everything.
    pub run_id: Option<u64>,
    /// e2e: counted if the stamp's send time is in the window; else by receipt time.
    pub by_send_time: Option<(u64, u64)>,
    pub window: Window,
}

/// One queue task's tallies.
#[derive(Debug, Default)]
pub(crate) struct QueueTally {
    pub received: u64,
    pub measured: u64,
    pub measured_bytes: u64,
    pub duplicates: u64,
    pub unstamped: u64,
    pub latency: Histogram,
    pub errors: ErrorCounts,
    /// Sequence numbers seen, by producer id (e2e only).
    pub seen: HashMap<u32, SeqSet>,
}

impl QueueTally {
    fn absorb(&mut self, messages: &[MessageExt], filter: &Filter, counters: &Counters) {
        let now_unix = unix_nanos();
        let now = Instant::now();
        let mut fresh = 0;
        for message in messages {
            let stamp = Stamp::read(&message.body);
            let sent_at = match (stamp, filter.run_id) {
                (Some(s), Some(run)) if s.run_id != run => continue,
                (None, Some(_)) => continue,
                (Some(s), Some(_)) => {
                    if !self.seen.entry(s.producer).or_default().insert(s.seq) {
                        self.duplicates += 1;
                        continue;
                    }
                    s.sent_at_ns
                }
                (Some(s), None) => s.sent_at_ns,
                (None, None) => {
                    self.unstamped += 1;
                    message.born_timestamp.max(0) as u64 * 1_000_000
                }
            };
            fresh += 1;
            let measured = match filter.by_send_time {
                Some((from, to)) => (from..to).contains(&sent_at),
                None => filter.window.measured(now),
            };
            if measured {
                self.measured += 1;
                self.measured_bytes += message.body.len() as u64;
                self.latency.record(now_unix.saturating_sub(sent_at));
            }
        }
        self.received += fresh;
        Counters::add(&counters.received, fresh);
    }
}

/// Connected consumers with their queues, ready to start.
pub(crate) struct Consumers {
    pub consumers: Vec<PullConsumer>,
    pub sessions: Vec<Arc<Session>>,
    pub assigned: Vec<Vec<MessageQueue>>,
}

impl Consumers {
    /// Closes the consumers' connections.
    pub(crate) fn shutdown(&self) {
        for session in &self.sessions {
            session.shutdown();
        }
    }
}

/// Running consumers: stop them with [`ConsumerSide::stop`].
pub(crate) struct ConsumerSide {
    consumers: Consumers,
    tasks: tokio::task::JoinSet<QueueTally>,
    stop: watch::Sender<bool>,
    queues: usize,
}

/// Creates the consumers, splits the queues of `topics` between them and positions each queue.
pub(crate) async fn connect_consumers(
    options: &ConsumeOptions,
    topics: &[String],
) -> Result<Consumers> {
    let mut consumers = Vec::with_capacity(options.consumers);
    let mut sessions = Vec::with_capacity(options.consumers);
    for c in 0..options.consumers {
        let mut config = ConsumerConfig::new(options.group.clone());
        config.pull_batch_size = options.pull_batch;
        config.long_poll = (options.mode == PullMode::LongPoll).then_some(options.suspend);
        config.start = StartPosition::First;
        let session = options.target.session(&format!("consumer-{c}"));
        sessions.push(session.clone());
        consumers.push(PullConsumer::new(session, config));
    }
    let mut assigned = vec![Vec::new(); options.consumers];
    let mut index = 0;
    for topic in topics {
        for queue in consumers[0].queues(topic).await? {
            assigned[index % options.consumers].push(queue);
            index += 1;
        }
    }
    for (consumer, queues) in consumers.iter().zip(&assigned) {
        consumer.assign(queues.iter().cloned());
        for queue in queues {
            match options.from {
                StartFrom::First => drop(consumer.seek_to_begin(queue).await?),
                StartFrom::Last => drop(consumer.seek_to_end(queue).await?),
                StartFrom::Committed => {}
            }
        }
    }
    Ok(Consumers {
        consumers,
        sessions,
        assigned,
    })
}

impl ConsumerSide {
    /// Starts one pulling task per assigned queue.
    pub(crate) fn start(
        options: &ConsumeOptions,
        mut consumers: Consumers,
        filter: Filter,
        counters: Arc<Counters>,
    ) -> ConsumerSide {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let mut queues = 0;
        let assigned = std::mem::take(&mut consumers.assigned);
        for (consumer, assigned) in consumers.consumers.iter().zip(assigned) {
            for queue in assigned {
                queues += 1;
                let task = QueueTask {
                    consumer: consumer.clone(),
                    queue,
                    mode: options.mode,
                    filter,
                    counters: counters.clone(),
                    stopped: stopped.clone(),
                };
                tasks.spawn(task.run());
            }
        }
        ConsumerSide {
            consumers,
            tasks,
            stop,
            queues,
        }
    }

    /// Stops every queue task and returns their tallies.
    pub(crate) async fn stop(mut self) -> Result<(Consumers, Vec<QueueTally>, usize)> {
        // Send fails only when every task already ended, which is fine.
        let _ = self.stop.send(true);
        let mut tallies = Vec::new();
        while let Some(joined) = self.tasks.join_next().await {
            tallies.push(joined?);
        }
        Ok((self.consumers, tallies, self.queues))
    }
}

struct QueueTask {
    consumer: PullConsumer,
    queue: MessageQueue,
    mode: PullMode,
    filter: Filter,
    counters: Arc<Counters>,
    stopped: watch::Receiver<bool>,
}

impl QueueTask {
    async fn run(mut self) -> QueueTally {
        let mut tally = QueueTally::default();
        while !*self.stopped.borrow() {
            let pull_started = Instant::now();
            let pulled = tokio::select! {
                pulled = self.consumer.pull_next(&self.queue) => pulled,
                _ = self.stopped.changed() => break,
            };
            let pause = match pulled {
                Ok(messages) if messages.is_empty() && self.mode == PullMode::Pull => PULL_IDLE,
                Ok(messages) => {
                    self.trace_late(&messages, pull_started);
                    tally.absorb(&messages, &self.filter, &self.counters);
                    continue;
                }
                Err(error) => {
                    count_error(&mut tally.errors, &error, 1);
                    PULL_ERROR_PAUSE
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = self.stopped.changed() => break,
            }
        }
        tally
    }

    /// Debug trace of a pull that brought a message older than [`LATE`]: how long the pull
    /// itself took tells a broker-side hold from a late client-side pull.
    fn trace_late(&self, messages: &[MessageExt], pull_started: Instant) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let now = unix_nanos();
        let oldest = messages
            .iter()
            .filter_map(|m| Stamp::read(&m.body))
            .map(|s| now.saturating_sub(s.sent_at_ns))
            .max()
            .unwrap_or(0);
        if oldest >= LATE.as_nanos() as u64 {
            tracing::debug!(
                queue_id = self.queue.queue_id,
                count = messages.len(),
                oldest_ms = oldest / 1_000_000,
                pull_ms = pull_started.elapsed().as_millis() as u64,
                first_offset = messages.first().map_or(-1, |m| m.queue_offset),
                "late messages"
            );
        }
    }
}

/// Merges queue tallies into a report.
pub(crate) fn report(
    options: &ConsumeOptions,
    window: &Window,
    queues: usize,
    tallies: &[QueueTally],
) -> ConsumeReport {
    let mut latency = Histogram::new();
    let mut errors = ErrorCounts::new();
    let (mut received, mut measured, mut bytes, mut unstamped) = (0, 0, 0, 0);
    for tally in tallies {
        latency.merge(&tally.latency);
        merge_errors(&mut errors, &tally.errors);
        received += tally.received;
        measured += tally.measured;
        bytes += tally.measured_bytes;
        unstamped += tally.unstamped;
    }
    let secs = window.measured_secs();
    ConsumeReport {
        mode: options.mode,
        consumers: options.consumers,
        queues,
        measured_s: secs,
        measured_received: measured,
        msgs_per_s: measured as f64 / secs,
        mb_per_s: bytes as f64 / secs / 1e6,
        e2e_latency: latency.summary_ms(),
        total_received: received,
        unstamped,
        errors_by_kind: errors,
    }
}

/// Runs a consume benchmark for warm-up + duration, then commits the group's positions.
pub async fn run_consume(options: &ConsumeOptions) -> Result<ConsumeReport> {
    options.validate()?;
    let topics = options.target.topic_names();
    let consumers = connect_consumers(options, &topics).await?;
    let counters = Arc::new(Counters::default());
    let window = Window::starting_now(options.warmup, options.duration);
    let filter = Filter {
        run_id: None,
        by_send_time: None,
        window,
    };
    let progress = options
        .progress
        .then(|| spawn_progress("consume", counters.clone(), window));
    let side = ConsumerSide::start(options, consumers, filter, counters);
    tokio::time::sleep_until(window.end.into()).await;
    let (consumers, tallies, queues) = side.stop().await?;
    if let Some(progress) = progress {
        progress.abort();
    }
    let mut report = report(options, &window, queues, &tallies);
    for consumer in &consumers.consumers {
        if let Err(error) = consumer.commit().await {
            count_error(&mut report.errors_by_kind, &error, 1);
        }
    }
    consumers.shutdown();
    Ok(report)
}
