//! Delayed delivery (protocol reference §5.2): a message sent with `DELAY=<level>` (level > 0,
//! not a prepared or rolled-back transaction half) is stored in `SCHEDULE_TOPIC_XXXX`, queue
//! `level - 1`, with its real destination kept in `REAL_TOPIC` / `REAL_QID`. The store's
//! dispatcher writes each unit's delivery time (store time + the level's delay) as its tags code.
//!
//! The [`ScheduleService`] (masters only) walks every level's queue from its delay offset; each
//! unit whose delivery time has come is re-stored into its real topic and queue with `DELAY`
//! removed (`REAL_*` kept, as RocketMQ does), then the level's offset advances. Offsets live in
//! `delayOffset.json`, written periodically and at shutdown, so a restart resumes where the
//! service stopped: nothing lost, nothing delivered twice after a clean stop.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrimq_store::dispatch::SCHEDULE_TOPIC;
use ferrimq_store::metadata::Metadata;
use ferrimq_store::record::properties::Properties;
use ferrimq_store::record::{MessageRecord, MessageView, sys_flag};
use ferrimq_store::store::MessageStore;
use tokio::sync::watch;

/// The delay level property.
pub const PROPERTY_DELAY: &str = "DELAY";
/// The real topic of a delayed (or half) message.
pub const PROPERTY_REAL_TOPIC: &str = "REAL_TOPIC";
/// The real queue id of a delayed (or half) message.
pub const PROPERTY_REAL_QID: &str = "REAL_QID";

/// How often every level is checked for due messages.
const TICK: Duration = Duration::from_millis(100);
/// Most messages delivered per level per tick (keeps one tick short).
const BATCH: usize = 256;

/// Where a message with a positive DELAY level goes instead of its topic: the schedule topic
/// and queue `level - 1` (level clamped to `max_level`). `props` gains REAL_TOPIC / REAL_QID
/// and the clamped DELAY. `None` (nothing changed) without a positive level, for transaction
/// halves (prepared / rollback), or when no levels are configured.
pub fn divert(
    props: &mut Properties,
    topic: &str,
    queue_id: i32,
    flags: i32,
    max_level: i32,
) -> Option<(String, i32)> {
    let tran = flags & sys_flag::TRANSACTION_MASK;
    if tran == sys_flag::TRANSACTION_PREPARED || tran == sys_flag::TRANSACTION_ROLLBACK {
        return None;
    }
    let level: i32 = props.get(PROPERTY_DELAY)?.trim().parse().ok()?;
    if level <= 0 || max_level <= 0 {
        return None;
    }
    let level = level.min(max_level);
    props.insert(PROPERTY_DELAY, level.to_string());
    props.insert(PROPERTY_REAL_TOPIC, topic);
    props.insert(PROPERTY_REAL_QID, queue_id.to_string());
    Some((SCHEDULE_TOPIC.to_owned(), level - 1))
}

/// Why one scheduled message could not be delivered (it is retried on the next tick).
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The unit points at a record the CommitLog cannot return.
    #[error("schedule level {level} offset {offset}: record at {phys} unreadable: {reason}")]
    Unreadable {
        /// Delay level.
        level: i32,
        /// ConsumeQueue offset.
        offset: u64,
        /// CommitLog offset.
        phys: i64,
        /// What went wrong.
        reason: String,
    },
    /// Re-storing into the real topic failed.
    #[error("schedule level {level} offset {offset}: re-store failed: {source}")]
    Store {
        /// Delay level.
        level: i32,
        /// ConsumeQueue offset.
        offset: u64,
        /// The store's error.
        source: ferrimq_store::StoreError,
    },
}

/// Delivers due delayed messages, level by level.
#[derive(Debug)]
pub struct ScheduleService {
    store: Arc<MessageStore>,
    metadata: Arc<Metadata>,
    /// Delay of each level in ms, level 1 first.
    delays_ms: Vec<i64>,
}

impl ScheduleService {
    /// A service for the levels of `messageDelayLevel` (`delays`, level 1 first).
    pub fn new(store: Arc<MessageStore>, metadata: Arc<Metadata>, delays: &[Duration]) -> Self {
        let delays_ms = delays
            .iter()
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .collect();
        Self {
            store,
            metadata,
            delays_ms,
        }
    }

    /// Checks every level each tick and persists `delayOffset.json` every `persist` until
    /// stopped; the last write happens in the broker's shutdown (`Metadata::persist_all`).
    pub async fn run(self: Arc<Self>, persist: Duration, mut stop: watch::Receiver<bool>) {
        let mut last_persist = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => return,
            }
            let service = Arc::clone(&self);
            let persist_now = last_persist.elapsed() >= persist;
            let done = tokio::task::spawn_blocking(move || {
                service.deliver_all(now_ms());
                if persist_now {
                    service.persist();
                }
            })
            .await;
            if let Err(err) = done {
                tracing::error!(error = %err, "schedule task failed");
            }
            if persist_now {
                last_persist = tokio::time::Instant::now();
            }
        }
    }

    /// Delivers every message of every level due at `now` (ms); returns how many were.
    pub fn deliver_all(&self, now: i64) -> usize {
        let mut delivered = 0;
        for (index, delay) in self.delays_ms.iter().enumerate() {
            let level = index as i32 + 1;
            match self.deliver_level(level, *delay, now) {
                Ok(n) => delivered += n,
                Err(err) => tracing::warn!(error = %err, "delayed delivery stalled; retrying"),
            }
        }
        delivered
    }

    /// Writes `delayOffset.json`.
    pub fn persist(&self) {
        if let Err(err) = self.metadata.delay_offsets.persist() {
            tracing::error!(error = %err, "persisting delay offsets failed");
        }
    }

    /// Delivers the due head of one level's queue, advancing its offset after each message.
    /// A delivery time further away than the level's delay (the clock went back) counts as
    /// due now, as RocketMQ's `correctDeliverTimestamp` does.
    fn deliver_level(&self, level: i32, delay: i64, now: i64) -> Result<usize, ScheduleError> {
        let queue_id = level - 1;
        let Some(cq) = self.store.consume_queues().get(SCHEDULE_TOPIC, queue_id) else {
            return Ok(0);
        };
        let stored = self.metadata.delay_offsets.get(level).unwrap_or(0);
        let mut offset = u64::try_from(stored).unwrap_or(0).max(cq.min_offset());
        let mut delivered = 0;
        while delivered < BATCH && offset < cq.max_offset() {
            let Some(unit) = cq.get(offset) else { break };
            if unit.tags_code > now && unit.tags_code <= now.saturating_add(delay) {
                break;
            }
            self.restore(level, offset, unit.commit_log_offset)?;
            offset += 1;
            delivered += 1;
            self.metadata.delay_offsets.update(level, offset as i64);
        }
        if u64::try_from(stored).unwrap_or(0) != offset && delivered == 0 {
            // The queue was cleaned below the stored offset: start from its first unit.
            self.metadata.delay_offsets.update(level, offset as i64);
        }
        Ok(delivered)
    }

    /// Re-stores the scheduled record at CommitLog `phys` into its real topic and queue.
    fn restore(&self, level: i32, offset: u64, phys: i64) -> Result<(), ScheduleError> {
        let unreadable = |reason: String| ScheduleError::Unreadable {
            level,
            offset,
            phys,
            reason,
        };
        let stored = self
            .store
            .get_message_by_offset(u64::try_from(phys).unwrap_or(u64::MAX))
            .map_err(|e| unreadable(e.to_string()))?
            .ok_or_else(|| unreadable("no record".into()))?;
        let view = MessageView::new(&stored.bytes).map_err(|e| unreadable(e.to_string()))?;
        let record = real_record(&view).map_err(unreadable)?;
        self.store
            .append(&record)
            .map_err(|source| ScheduleError::Store {
                level,
                offset,
                source,
            })?;
        Ok(())
    }
}

/// The record to deliver: the scheduled one in its REAL_TOPIC / REAL_QID, DELAY removed.
fn real_record(view: &MessageView<'_>) -> Result<MessageRecord, String> {
    let mut props = Properties::parse(view.properties_str());
    let topic = props
        .get(PROPERTY_REAL_TOPIC)
        .ok_or("no REAL_TOPIC property")?
        .to_owned();
    let queue_id: i32 = props
        .get(PROPERTY_REAL_QID)
        .and_then(|q| q.parse().ok())
        .ok_or("no numeric REAL_QID property")?;
    props.remove(PROPERTY_DELAY);
    MessageRecord::builder(topic, bytes::Bytes::copy_from_slice(view.body()))
        .queue_id(queue_id)
        .flag(view.flag())
        .sys_flag(view.sys_flag())
        .born_timestamp(view.born_timestamp())
        .born_host(view.born_host())
        .store_host(view.store_host())
        .reconsume_times(view.reconsume_times())
        .properties(props)
        .build()
        .map_err(|e| e.to_string())
}

/// Wall-clock milliseconds (the unit of store timestamps and delivery times).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divert_clamps_and_keeps_the_real_destination() {
        let mut props = Properties::new();
        props.insert(PROPERTY_DELAY, "40");
        let target = divert(&mut props, "T", 3, 0, 18);
        assert_eq!(target, Some((SCHEDULE_TOPIC.to_owned(), 17)));
        assert_eq!(props.get(PROPERTY_DELAY), Some("18"));
        assert_eq!(props.get(PROPERTY_REAL_TOPIC), Some("T"));
        assert_eq!(props.get(PROPERTY_REAL_QID), Some("3"));
    }

    #[test]
    fn divert_ignores_no_delay_and_transaction_halves() {
        let mut props = Properties::new();
        assert_eq!(divert(&mut props, "T", 0, 0, 18), None);
        props.insert(PROPERTY_DELAY, "0");
        assert_eq!(divert(&mut props, "T", 0, 0, 18), None);
        props.insert(PROPERTY_DELAY, "2");
        let prepared = sys_flag::TRANSACTION_PREPARED;
        assert_eq!(divert(&mut props, "T", 0, prepared, 18), None);
        assert_eq!(props.get(PROPERTY_REAL_TOPIC), None);
        let commit = sys_flag::TRANSACTION_COMMIT;
        assert_eq!(
            divert(&mut props, "T", 1, commit, 18),
            Some((SCHEDULE_TOPIC.to_owned(), 1))
        );
    }
}

#[cfg(test)]
mod delivery_tests {
    use super::*;
    use ferrimq_store::seam::real_files;
    use ferrimq_store::store::StoreConfig;

    /// A store and metadata in a temporary directory with levels 1 s and 2 s.
    fn service(dir: &std::path::Path) -> ScheduleService {
        let mut config = StoreConfig::new(dir);
        config.mapped_file_size_commit_log = 1 << 20;
        config.message_delay_level = "1s 2s".into();
        let metadata = Metadata::open(&dir.join("config"), real_files()).expect("metadata");
        let store = MessageStore::open(config).expect("store");
        let delays = [Duration::from_secs(1), Duration::from_secs(2)];
        ScheduleService::new(Arc::new(store), Arc::new(metadata), &delays)
    }

    /// Appends a DELAY=`level` message for (T, 1) and returns its delivery time.
    fn schedule(s: &ScheduleService, level: i32, body: &'static [u8]) -> i64 {
        let mut props = Properties::new();
        props.insert(PROPERTY_DELAY, level.to_string());
        let (topic, queue) = divert(&mut props, "T", 1, 0, 2).expect("diverted");
        let record = MessageRecord::builder(topic, body)
            .queue_id(queue)
            .properties(props)
            .build()
            .expect("record");
        s.store.append(&record).expect("append");
        let end = s.store.commit_log_max_offset();
        assert!(s.store.wait_dispatched(end, Duration::from_secs(5)));
        let cq = s.store.consume_queues().get(SCHEDULE_TOPIC, queue);
        let cq = cq.expect("schedule queue");
        let offset = cq.max_offset() - 1;
        let stored_at = s.store.message_store_time(SCHEDULE_TOPIC, queue, offset);
        let due = cq.get(offset).expect("unit").tags_code;
        assert_eq!(Some(due), stored_at.map(|t| t + i64::from(level) * 1000));
        due
    }

    fn delivered(s: &ScheduleService) -> Vec<Vec<u8>> {
        let end = s.store.commit_log_max_offset();
        assert!(s.store.wait_dispatched(end, Duration::from_secs(5)));
        let r = s
            .store
            .get_message("T", 1, 0, 32, None, &ferrimq_store::read::AcceptAll);
        r.messages
            .iter()
            .map(|m| MessageView::new(m).expect("record").body().to_vec())
            .collect()
    }

    #[test]
    fn delivers_when_due_and_advances_the_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = service(dir.path());
        let due = schedule(&s, 1, b"one");
        let due2 = schedule(&s, 2, b"two");
        assert_eq!(s.deliver_all(due - 1), 0);
        assert!(delivered(&s).is_empty());
        assert_eq!(s.deliver_all(due), 1);
        assert_eq!(delivered(&s), vec![b"one".to_vec()]);
        assert_eq!(s.metadata.delay_offsets.get(1), Some(1));
        assert_eq!(s.deliver_all(due2), 1);
        assert_eq!(s.deliver_all(due2 + 10_000), 0, "nothing delivered twice");
        assert_eq!(delivered(&s), vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(s.metadata.delay_offsets.offsets().len(), 2);
    }

    #[test]
    fn a_clock_gone_back_delivers_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = service(dir.path());
        let due = schedule(&s, 2, b"late");
        // Now is an hour before the store time: the delivery time is past now + 2 s.
        assert_eq!(s.deliver_all(due - 3_600_000), 1);
        assert_eq!(delivered(&s), vec![b"late".to_vec()]);
    }
}
