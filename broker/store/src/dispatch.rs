//! The dispatcher: derives ConsumeQueue units and index entries from the CommitLog.
//!
//! One background thread walks the CommitLog forward from the last dispatched offset with the
//! commitlog's [`RecordCursor`](crate::commitlog::RecordCursor), in batches. Per record: a CQ
//! unit `{offset, size, tagsCode}` at the record's QUEUEOFFSET (tagsCode = Java hashCode of
//! TAGS, 0 without; prepared and rollback transaction records get none) and index entries for
//! its KEYS and UNIQ_KEY. Both writes are idempotent, so re-dispatching a range after recovery
//! is safe. After each batch it publishes the dispatched offset (waking
//! [`Dispatcher::wait_dispatched`]) and calls the [`DispatchListener`] once with every arrival
//! of the batch, which is how parked long-polling pulls learn about new messages without one
//! wakeup per message.
//!
//! Index entries are built by a second thread following the dispatcher (see [`indexer`]), so a
//! slow index write never delays ConsumeQueue units or the wake-up of parked pulls.
//!
//! When idle the thread parks for at most 1 ms; [`Dispatcher::wake`] (called after appends)
//! unparks it sooner, costing the append path one atomic load while the dispatcher is busy.
//! After a pass that found records it naps for [`BUSY_NAP`] without asking to be woken, so at
//! full load the thread wakes a few thousand times a second rather than once per few appends.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::commitlog::{CommitLog, StoredRecord};
use crate::consume_queue::{ConsumeQueueTable, CqUnit};
use crate::error::Result;
use crate::index::{IndexService, RecordKeys};
use crate::record::{MessageView, java_string_hash, properties};

/// RocketMQ's schedule topic (delayed messages); its tags codes are delivery times.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// The delay level property.
const DELAY: &str = "DELAY";

/// Records dispatched per batch (one listener call, one wakeup).
pub const BATCH_RECORDS: usize = 4096;
/// Longest idle park.
const IDLE_PARK: Duration = Duration::from_millis(1);
/// Pause between passes while records keep arriving (RocketMQ's reput service sleeps 1 ms
/// between passes; this is shorter so long-polling consumers hear of arrivals sooner).
const BUSY_NAP: Duration = Duration::from_micros(250);
/// A batch taking at least this long is logged at debug level (latency investigations).
const SLOW_BATCH: Duration = Duration::from_millis(20);
/// Back-off after a failed batch (a full disk, a corrupt record).
const ERROR_BACKOFF: Duration = Duration::from_millis(500);

/// One message that reached its ConsumeQueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Queue id.
    pub queue_id: i32,
    /// The queue's new max offset (this message's queue offset + 1).
    pub max_offset: u64,
    /// STORETIMESTAMP of the message.
    pub store_timestamp: i64,
    /// Its CQ tags code.
    pub tags_code: i64,
    /// Its encoded properties string (for SQL92 filters).
    pub properties: &'a str,
}

/// Told about new messages after every dispatched batch. The server implements it to wake
/// parked pulls. Called on the dispatcher thread: keep it short, never block.
pub trait DispatchListener: Send + Sync {
    /// The arrivals of one batch, in CommitLog order.
    fn on_arrivals(&self, arrivals: &[Arrival<'_>]);
}

mod indexer;

/// A CommitLog offset a background thread has reached, with a condvar for waiters.
///
/// Publishing is one atomic store while nobody waits: the condvar (a futex wake syscall) is only
/// touched when a waiter registered itself, which at full load is almost never (the index thread
/// naps instead of waiting while it has work).
#[derive(Debug)]
struct Progress {
    offset: AtomicU64,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    advanced: Condvar,
}

impl Progress {
    fn at(offset: u64) -> Self {
        Progress {
            offset: AtomicU64::new(offset),
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
            advanced: Condvar::new(),
        }
    }

    fn get(&self) -> u64 {
        self.offset.load(Ordering::SeqCst)
    }

    fn publish(&self, offset: u64) {
        // SeqCst pairs with `wait_until`: either this load sees the waiter, or the waiter's
        // re-check under the lock sees the new offset.
        self.offset.store(offset, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.advanced.notify_all();
        }
    }

    /// Wakes every waiter without changing the offset (shutdown).
    fn nudge(&self) {
        let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.advanced.notify_all();
    }

    /// Blocks until `done(offset)` holds or `deadline` passes; returns the last offset seen.
    fn wait_until(&self, done: impl Fn(u64) -> bool, deadline: Instant) -> u64 {
        let seen = self.get();
        if done(seen) {
            return seen;
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let seen = loop {
            let seen = self.get();
            let now = Instant::now();
            if done(seen) || now >= deadline {
                break seen;
            }
            held = self
                .advanced
                .wait_timeout(held, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        drop(held);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        seen
    }

    /// Blocks until the offset reaches `offset`; false once `deadline` passed.
    fn wait_for(&self, offset: u64, deadline: Instant) -> bool {
        self.wait_until(|seen| seen >= offset, deadline) >= offset
    }

    /// The offset once it moved past `from`, or whatever it is after `timeout`.
    fn wait_past(&self, from: u64, timeout: Duration) -> u64 {
        self.wait_until(|seen| seen > from, Instant::now() + timeout)
    }
}

/// Handle on the dispatcher thread.
pub struct Dispatcher {
    progress: Arc<Progress>,
    last_timestamp: Arc<AtomicI64>,
    fast_offset: Arc<AtomicU64>,
    idle: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Builds the index behind the dispatcher (`None` without an index).
    indexer: Option<indexer::Indexer>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("dispatched", &self.dispatched_offset())
            .finish()
    }
}

/// Where dispatched records go.
#[derive(Clone)]
pub struct Targets {
    /// The ConsumeQueues.
    pub queues: Arc<ConsumeQueueTable>,
    /// The index; `None` when `messageIndexEnable` is false.
    pub index: Option<Arc<IndexService>>,
    /// Told about every dispatched batch.
    pub listener: Option<Arc<dyn DispatchListener>>,
    /// Delay of each `messageDelayLevel` (level 1 first), in ms: a SCHEDULE_TOPIC_XXXX unit's
    /// tags code is its delivery time.
    pub delay_levels_ms: Arc<[i64]>,
}

/// What the dispatcher thread works on.
struct Work {
    log: Arc<CommitLog>,
    targets: Targets,
    /// Recovery: let the CommitLog override disagreeing queue units.
    repair: bool,
}

impl Dispatcher {
    /// Starts dispatching from `from` (a record boundary; `last_store_timestamp` is the store
    /// time of the record before it, 0 if unknown).
    pub fn start(
        from: u64,
        last_store_timestamp: i64,
        log: Arc<CommitLog>,
        mut targets: Targets,
    ) -> Result<Self> {
        let progress = Arc::new(Progress::at(from));
        let indexer = match targets.index.take() {
            Some(index) => Some(indexer::Indexer::start(
                from,
                log.clone(),
                index,
                progress.clone(),
            )?),
            None => None,
        };
        let d = Dispatcher {
            progress,
            indexer,
            last_timestamp: Arc::new(AtomicI64::new(last_store_timestamp)),
            fast_offset: Arc::new(AtomicU64::new(from)),
            idle: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
            thread: Mutex::new(None),
        };
        let work = Work {
            log,
            targets,
            repair: false,
        };
        let ctx = (
            d.progress.clone(),
            d.last_timestamp.clone(),
            d.fast_offset.clone(),
            d.idle.clone(),
            d.stop.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("store-dispatch".into())
            .spawn(move || run(work, from, ctx))
            .map_err(|e| crate::error::StoreError::io("store-dispatch thread", e))?;
        *d.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(d)
    }

    /// CommitLog offset up to which every record is dispatched.
    pub fn dispatched_offset(&self) -> u64 {
        self.fast_offset.load(Ordering::Acquire)
    }

    /// STORETIMESTAMP of the last dispatched record (the checkpoint's `logicsMsgTimestamp`
    /// once the queues are flushed), 0 before the first.
    pub fn last_store_timestamp(&self) -> i64 {
        self.last_timestamp.load(Ordering::Acquire)
    }

    /// Unparks the dispatcher if it is idle. Cheap enough to call after every append.
    pub fn wake(&self) {
        if self.idle.load(Ordering::Relaxed) && self.idle.swap(false, Ordering::AcqRel) {
            if let Some(t) = self
                .thread
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
            {
                t.thread().unpark();
            }
        }
    }

    /// Blocks until records up to `offset` are dispatched and indexed; false on timeout.
    pub fn wait_dispatched(&self, offset: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.progress.wait_for(offset, deadline)
            && self
                .indexer
                .as_ref()
                .is_none_or(|i| i.wait_indexed(offset, deadline))
    }

    /// Dispatches what is left, then stops the thread (used at shutdown).
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            t.thread().unpark();
            let _ = t.join();
        }
        if let Some(indexer) = &self.indexer {
            indexer.shutdown(&self.progress);
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

type Ctx = (
    Arc<Progress>,
    Arc<AtomicI64>,
    Arc<AtomicU64>,
    Arc<AtomicBool>,
    Arc<AtomicBool>,
);

fn run(work: Work, mut from: u64, (progress, last_ts, fast, idle, stop): Ctx) {
    // True while the last pass found records: the next empty pass naps instead of parking.
    let mut busy = false;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let min = work.log.min_offset();
        if from < min {
            // Cleanup deleted files the dispatcher had not reached (RocketMQ does the same).
            tracing::warn!(
                from,
                min,
                "dispatch fell behind the commit log minimum; skipping ahead"
            );
            from = min;
        }
        let started = Instant::now();
        let batch = dispatch_batch(&work, from);
        let took = started.elapsed();
        if took >= SLOW_BATCH {
            tracing::debug!(
                from,
                took_ms = took.as_millis() as u64,
                ok = batch.is_ok(),
                "slow dispatch batch"
            );
        }
        match batch {
            Ok((next, ts)) if next > from => {
                from = next;
                if ts > 0 {
                    last_ts.store(ts, Ordering::Release);
                }
                fast.store(from, Ordering::Release);
                progress.publish(from);
                busy = true;
                continue;
            }
            Ok(_) if stopping => return,
            Ok(_) if busy => {
                // Under load appends keep coming: collect them for one nap instead of being
                // unparked for every few records (a futex wake on the append path each time).
                busy = false;
                std::thread::sleep(BUSY_NAP);
            }
            Ok(_) => {
                idle.store(true, Ordering::SeqCst);
                if work.log.max_offset() <= from {
                    std::thread::park_timeout(IDLE_PARK);
                }
                idle.store(false, Ordering::SeqCst);
            }
            Err(e) => {
                tracing::error!(error = %e, offset = from, "dispatch failed; retrying");
                if stopping {
                    return;
                }
                std::thread::park_timeout(ERROR_BACKOFF);
            }
        }
    }
}

/// Dispatches synchronously from `from` to the current end of the CommitLog (recovery's
/// re-dispatch, before appends resume and before any reader exists: queue units that
/// disagree with the CommitLog are rewritten). Returns the end offset and the last record's store
/// timestamp (0 if none).
pub fn dispatch_to_end(log: &Arc<CommitLog>, targets: &Targets, from: u64) -> Result<(u64, i64)> {
    let work = Work {
        log: log.clone(),
        targets: Targets {
            listener: None,
            ..targets.clone()
        },
        repair: true,
    };
    let (mut at, mut ts) = (from, 0);
    loop {
        let (next, t) = dispatch_batch(&work, at)?;
        if next == at {
            return Ok((at, ts));
        }
        (at, ts) = (next, if t > 0 { t } else { ts });
    }
}

/// Dispatches up to [`BATCH_RECORDS`] records from `from`. Returns the next offset and the
/// last record's store timestamp (0 if none).
fn dispatch_batch(work: &Work, from: u64) -> Result<(u64, i64)> {
    let mut cursor = work.log.cursor(from);
    let mut records: Vec<StoredRecord> = Vec::new();
    while records.len() < BATCH_RECORDS {
        match cursor.next_record()? {
            Some(r) => records.push(r),
            None => break,
        }
    }
    let next = cursor.offset();
    let mut arrivals = Vec::with_capacity(records.len());
    let mut last_ts = 0;
    for rec in &records {
        let view = MessageView::new(&rec.bytes).map_err(|e| {
            crate::error::StoreError::corrupt("commitlog", rec.offset, e.to_string())
        })?;
        last_ts = view.store_timestamp();
        if let Some(a) = dispatch_one(work, rec.offset, &view)? {
            arrivals.push(a);
        }
    }
    if let Some(l) = &work.targets.listener {
        if !arrivals.is_empty() {
            l.on_arrivals(&arrivals);
        }
    }
    Ok((next, last_ts))
}

fn dispatch_one<'a>(
    work: &Work,
    offset: u64,
    view: &MessageView<'a>,
) -> Result<Option<Arrival<'a>>> {
    let (topic, props) = (view.topic(), view.properties_str());
    let picked = Picked::from_properties(props);
    if let Some(index) = &work.targets.index {
        index_one(index, topic, &picked, offset, view)?;
    }
    if !view.takes_queue_offset() {
        return Ok(None);
    }
    let mut tags_code = picked.tags.map_or(0, |t| i64::from(java_string_hash(t)));
    if topic == SCHEDULE_TOPIC {
        if let Some(at) = deliver_time(
            &work.targets.delay_levels_ms,
            picked.delay,
            view.store_timestamp(),
        ) {
            tags_code = at;
        }
    }
    let unit = CqUnit {
        commit_log_offset: offset as i64,
        size: view.total_size() as i32,
        tags_code,
    };
    let queue_offset = view.queue_offset().max(0) as u64;
    let cq = work.targets.queues.get_or_create(topic, view.queue_id())?;
    if work.repair {
        cq.put_repairing(queue_offset, unit)?;
    } else {
        cq.put(queue_offset, unit)?;
    }
    Ok(Some(Arrival {
        topic,
        queue_id: view.queue_id(),
        max_offset: queue_offset + 1,
        store_timestamp: view.store_timestamp(),
        tags_code,
        properties: props,
    }))
}

/// Index entries of one record (its KEYS and UNIQ_KEY).
fn index_one(
    index: &IndexService,
    topic: &str,
    picked: &Picked<'_>,
    offset: u64,
    view: &MessageView<'_>,
) -> Result<()> {
    let keys = RecordKeys {
        uniq_key: picked.uniq_key,
        keys: picked.keys,
    };
    index.build(
        topic,
        keys,
        offset as i64,
        view.store_timestamp(),
        view.sys_flag(),
    )
}

/// The properties dispatch needs, found in one pass (the last occurrence wins, as in Java).
#[derive(Default)]
struct Picked<'a> {
    tags: Option<&'a str>,
    keys: Option<&'a str>,
    uniq_key: Option<&'a str>,
    delay: Option<&'a str>,
}

impl<'a> Picked<'a> {
    fn from_properties(props: &'a str) -> Self {
        let mut p = Picked::default();
        for (k, v) in properties::entries(props) {
            match k {
                properties::TAGS => p.tags = Some(v),
                properties::KEYS => p.keys = Some(v),
                properties::UNIQ_KEY => p.uniq_key = Some(v),
                DELAY => p.delay = Some(v),
                _ => {}
            }
        }
        p
    }
}

/// RocketMQ's `computeDeliverTimestamp` for a record of the schedule topic: store time plus the
/// delay of its DELAY level (clamped to the highest level); `None` without a positive level.
fn deliver_time(levels_ms: &[i64], delay: Option<&str>, store_timestamp: i64) -> Option<i64> {
    let level: usize = delay?.trim().parse::<i32>().ok().filter(|l| *l > 0)? as usize;
    let level = level.min(levels_ms.len());
    Some(match level.checked_sub(1).and_then(|i| levels_ms.get(i)) {
        Some(ms) => store_timestamp + ms,
        None => store_timestamp + 1000,
    })
}

/// Parses `messageDelayLevel` ("1s 5s 10s 30s 1m ... 2h"; units s, m, h, d) into ms per level.
pub fn parse_delay_levels(spec: &str) -> Option<Vec<i64>> {
    spec.split_whitespace()
        .map(|l| {
            let (n, unit) = l.split_at(l.len().checked_sub(1)?);
            let n: i64 = n.parse().ok()?;
            let ms = match unit {
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => return None,
            };
            Some(n * ms)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_levels_and_deliver_time() {
        let levels =
            parse_delay_levels("1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h")
                .unwrap();
        assert_eq!(levels.len(), 18);
        assert_eq!(
            (levels[0], levels[4], levels[17]),
            (1_000, 60_000, 7_200_000)
        );
        assert_eq!(parse_delay_levels("1s 5x"), None);
        assert_eq!(deliver_time(&levels, Some("3"), 1_000), Some(11_000));
        assert_eq!(
            deliver_time(&levels, Some("99"), 0),
            Some(7_200_000),
            "clamped to level 18"
        );
        assert_eq!(deliver_time(&levels, Some("0"), 0), None);
        assert_eq!(deliver_time(&levels, None, 0), None);
        assert_eq!(deliver_time(&[], Some("2"), 5), Some(1_005));
    }
}
