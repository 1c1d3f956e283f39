//! `MessageStore`: the facade the broker server uses.
//!
//! [`MessageStore::open`] takes the lock file, notes a crash (the `abort` marker), recovers the
//! CommitLog, repairs ConsumeQueues and index files and re-dispatches (see [`recovery`]), then
//! starts the dispatcher and the housekeeping thread (queue/index/checkpoint flush, cleanup).
//! Appends go to the CommitLog (returning its durability handle); reads go through the
//! ConsumeQueues (see [`crate::read`]). [`MessageStore::shutdown`] stops everything, flushes,
//! writes the checkpoint and removes the `abort` marker. Dropping a store without `shutdown`
//! stops its threads but leaves the marker, so the next open recovers as after a crash.

pub mod config;
mod housekeeping;
pub mod recovery;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::checkpoint::{AbortMarker, Checkpoint, StoreLock};
use crate::cleanup::{Cleaner, CleanupReport};
use crate::commitlog::{
    AppendBatchResult, AppendResult, CommitLog, ReplicaAppend, ReplicaChunk, StoredRecord,
};
use crate::consume_queue::ConsumeQueueTable;
use crate::dispatch::{Dispatcher, Targets};
use crate::error::{Result, StoreError};
use crate::index::IndexService;
use crate::read::{self, GetMessageResult, MessageFilter, ReadLimits, RecordSource};
use crate::record::{MessageRecord, MessageView};

pub use config::{StoreConfig, StoreHooks};
pub use recovery::OpenReport;

/// RocketMQ's `defaultQueryMaxNum`: results of a unique-key query.
pub const DEFAULT_QUERY_MAX_NUM: usize = 32;

/// Messages found by key (QUERY_MESSAGE).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryMessageResult {
    /// Whole stored records, newest first.
    pub messages: Vec<Bytes>,
    /// `indexLastUpdateTimestamp` of the response header.
    pub index_last_update_timestamp: i64,
    /// `indexLastUpdatePhyoffset` of the response header.
    pub index_last_update_phy_offset: i64,
}

/// What the background threads share with the facade.
struct Core {
    log: Arc<CommitLog>,
    queues: Arc<ConsumeQueueTable>,
    index: Option<Arc<IndexService>>,
    dispatcher: Dispatcher,
    cleaner: Cleaner,
    checkpoint: Checkpoint,
    /// `flushConsumeQueueLeastPages` for the periodic, not thorough, queue flushes.
    queue_flush_least_pages: usize,
}

impl Core {
    /// Flushes queues, index and checkpoint. Only a `thorough` flush makes every queue unit
    /// durable, so only it advances the checkpoint's logics timestamp (recovery after a crash
    /// re-dispatches from the checkpoint, rebuilding any queue units the disk did not get).
    fn flush_logics(&self, thorough: bool) -> Result<()> {
        let logics_ts = self.dispatcher.last_store_timestamp();
        let least_pages = if thorough {
            0
        } else {
            self.queue_flush_least_pages
        };
        self.queues.flush(least_pages)?;
        let index_ts = match &self.index {
            Some(i) => i.flush()?,
            None => None,
        };
        let physic_ts = self.log.flushed_store_timestamp();
        self.checkpoint.update(|c| {
            c.physic_msg_timestamp = c.physic_msg_timestamp.max(physic_ts);
            if thorough && logics_ts > 0 {
                c.logics_msg_timestamp = logics_ts;
            }
            c.index_msg_timestamp = index_ts.unwrap_or(c.logics_msg_timestamp);
        });
        self.checkpoint.flush()
    }

    fn clean(&self) -> Result<CleanupReport> {
        self.cleaner
            .run_once(&self.log, &self.queues, self.index.as_deref())
    }
}

impl housekeeping::Jobs for Core {
    fn flush_logics(&self, thorough: bool) -> Result<()> {
        Core::flush_logics(self, thorough)
    }
    fn clean(&self) -> Result<()> {
        Core::clean(self).map(|_| ())
    }
}

impl RecordSource for CommitLog {
    fn record(&self, offset: u64, size: usize) -> Option<Bytes> {
        self.read(offset, size)
    }
    fn store_timestamp(&self, offset: u64, size: usize) -> Option<i64> {
        let b = self.read(offset, size)?;
        MessageView::new(&b).ok().map(|v| v.store_timestamp())
    }
    fn min_offset(&self) -> u64 {
        CommitLog::min_offset(self)
    }
    fn max_offset(&self) -> u64 {
        CommitLog::max_offset(self)
    }
    fn roll_next_file(&self, offset: u64) -> u64 {
        let size = self.config().file_size as u64;
        offset + size - offset % size
    }
}

/// The message store. See the module docs.
pub struct MessageStore {
    config: StoreConfig,
    core: Arc<Core>,
    housekeeping: housekeeping::Housekeeping,
    limits: ReadLimits,
    report: OpenReport,
    abort: std::sync::Mutex<Option<AbortMarker>>,
    closed: AtomicBool,
    _lock: StoreLock,
}

impl std::fmt::Debug for MessageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStore")
            .field("root", &self.config.store_path_root_dir)
            .field("commit_log", &self.core.log)
            .finish()
    }
}

impl MessageStore {
    /// Opens the store with the production hooks.
    pub fn open(config: StoreConfig) -> Result<Self> {
        Self::open_with(config, StoreHooks::default())
    }

    /// Opens the store with injected hooks (tests, the server's dispatch listener).
    pub fn open_with(config: StoreConfig, hooks: StoreHooks) -> Result<Self> {
        let root = config.store_path_root_dir.clone();
        let lock = StoreLock::acquire(&root)?;
        let abort = AbortMarker::create(&root)?;
        let checkpoint = Checkpoint::open(&root.join("checkpoint"))?;
        let rec = recovery::recover(
            &config,
            hooks.seam.clone(),
            &checkpoint,
            abort.was_present(),
        )?;
        let targets = Targets {
            listener: hooks.listener.clone(),
            ..rec.targets.clone()
        };
        let dispatcher = Dispatcher::start(
            rec.report.redispatched_to,
            rec.last_dispatched_timestamp,
            rec.log.clone(),
            targets,
        )?;
        let cleaner = Cleaner::new(
            config.cleanup(),
            &root,
            hooks.clock.clone(),
            hooks.disk.clone(),
        );
        let _ = cleaner.probe_disk();
        let core = Arc::new(Core {
            log: rec.log,
            queues: rec.targets.queues,
            index: rec.targets.index,
            dispatcher,
            cleaner,
            checkpoint,
            queue_flush_least_pages: config.flush_consume_queue_least_pages,
        });
        core.flush_logics(true)?;
        let periods = housekeeping::Periods {
            flush: config.flush_interval_consume_queue,
            thorough_flush: config.flush_consume_queue_thorough_interval,
            clean: config.clean_resource_interval,
        };
        let housekeeping = housekeeping::Housekeeping::start(core.clone(), periods)
            .map_err(|e| StoreError::io("store-housekeeping thread", e))?;
        Ok(MessageStore {
            limits: config.read_limits(),
            config,
            core,
            housekeeping,
            report: rec.report,
            abort: std::sync::Mutex::new(Some(abort)),
            closed: AtomicBool::new(false),
            _lock: lock,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// What opening the store found and repaired.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The CommitLog (for replication and tools).
    pub fn commit_log(&self) -> &Arc<CommitLog> {
        &self.core.log
    }

    /// The ConsumeQueues.
    pub fn consume_queues(&self) -> &Arc<ConsumeQueueTable> {
        &self.core.queues
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::ShutDown);
        }
        self.core.cleaner.check_writable()
    }

    /// Appends one message. Under SYNC_FLUSH the caller must complete `result.flush` before
    /// acknowledging. Fails while the disk is above the warning level.
    pub fn append(&self, msg: &MessageRecord) -> Result<AppendResult> {
        self.check_open()?;
        let r = self.core.log.append(msg)?;
        self.core.dispatcher.wake();
        Ok(r)
    }

    /// Appends a batch of one topic and queue (SEND_BATCH_MESSAGE).
    pub fn append_batch(&self, msgs: &[MessageRecord]) -> Result<AppendBatchResult> {
        self.check_open()?;
        let r = self.core.log.append_batch(msgs)?;
        self.core.dispatcher.wake();
        Ok(r)
    }

    /// Replication (master): whole records from CommitLog `offset`, at most `max_bytes`, never
    /// across a file end (see [`CommitLog::replica_chunk`]).
    pub fn replica_chunk(&self, offset: u64, max_bytes: usize) -> Result<Option<ReplicaChunk>> {
        self.core.log.replica_chunk(offset, max_bytes)
    }

    /// Replication (slave): appends raw master bytes at exactly the CommitLog end (see
    /// [`CommitLog::append_replica`]); the dispatcher then builds queues and index from them.
    pub fn append_replica(&self, offset: u64, data: &[u8]) -> Result<ReplicaAppend> {
        self.check_open()?;
        let r = self.core.log.append_replica(offset, data)?;
        self.core.dispatcher.wake();
        Ok(r)
    }

    /// Reads up to `max_count` messages of (topic, queue) from logical `offset`, at most
    /// `max_bytes` in total (besides the store's transfer limits), filtered by `filter`.
    pub fn get_message(
        &self,
        topic: &str,
        queue_id: i32,
        offset: u64,
        max_count: usize,
        max_bytes: Option<usize>,
        filter: &dyn MessageFilter,
    ) -> GetMessageResult {
        let mut limits = self.limits;
        if let Some(b) = max_bytes {
            limits.max_bytes_in_memory = limits.max_bytes_in_memory.min(b);
            limits.max_bytes_in_disk = limits.max_bytes_in_disk.min(b);
        }
        let cq = self.core.queues.get(topic, queue_id);
        read::get_messages(
            cq.as_deref(),
            &*self.core.log,
            offset,
            max_count,
            &limits,
            filter,
        )
    }

    /// The record at CommitLog `offset` (VIEW_MESSAGE_BY_ID).
    pub fn get_message_by_offset(&self, offset: u64) -> Result<Option<StoredRecord>> {
        self.core.log.read_record(offset)
    }

    /// Min logical offset of a queue (0 if it does not exist).
    pub fn min_offset_in_queue(&self, topic: &str, queue_id: i32) -> u64 {
        self.core
            .queues
            .get(topic, queue_id)
            .map_or(0, |q| q.min_offset())
    }

    /// Max logical offset (next to be written) of a queue (0 if it does not exist).
    pub fn max_offset_in_queue(&self, topic: &str, queue_id: i32) -> u64 {
        self.core
            .queues
            .get(topic, queue_id)
            .map_or(0, |q| q.max_offset())
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP (see [`read::offset_by_time`]); 0 for a missing queue.
    pub fn offset_by_timestamp(&self, topic: &str, queue_id: i32, timestamp: i64) -> u64 {
        self.core
            .queues
            .get(topic, queue_id)
            .map_or(0, |q| read::offset_by_time(&q, &*self.core.log, timestamp))
    }

    /// GET_EARLIEST_MSG_STORETIME: store time of the queue's first message.
    pub fn earliest_message_time(&self, topic: &str, queue_id: i32) -> Option<i64> {
        let q = self.core.queues.get(topic, queue_id)?;
        read::earliest_store_time(&q, &*self.core.log)
    }

    /// Store time of the message at a logical offset of a queue.
    pub fn message_store_time(&self, topic: &str, queue_id: i32, offset: u64) -> Option<i64> {
        let u = self.core.queues.get(topic, queue_id)?.get(offset)?;
        self.core
            .log
            .store_timestamp(u.commit_log_offset as u64, u.size as usize)
    }

    /// QUERY_MESSAGE by user key: records of `topic` whose KEYS contain `key`, stored in
    /// `[begin, end]`, at most `max_num` (and 64).
    pub fn query_message(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin: i64,
        end: i64,
    ) -> QueryMessageResult {
        self.query(topic, key, max_num, begin, end, |v| {
            v.keys().any(|k| k == key)
        })
    }

    /// QUERY_MESSAGE with `_UNIQUE_KEY_QUERY=true`: records of `topic` whose UNIQ_KEY is `key`.
    pub fn query_by_unique_key(
        &self,
        topic: &str,
        key: &str,
        begin: i64,
        end: i64,
    ) -> QueryMessageResult {
        self.query(topic, key, DEFAULT_QUERY_MAX_NUM, begin, end, |v| {
            v.uniq_key() == Some(key)
        })
    }

    fn query(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin: i64,
        end: i64,
        matches: impl Fn(&MessageView<'_>) -> bool,
    ) -> QueryMessageResult {
        let Some(index) = &self.core.index else {
            return QueryMessageResult::default();
        };
        let found = index.query(topic, key, max_num, begin, end);
        let mut out = QueryMessageResult {
            messages: Vec::new(),
            index_last_update_timestamp: found.last_update_timestamp,
            index_last_update_phy_offset: found.last_update_phy_offset,
        };
        for off in found.phy_offsets {
            let Ok(Some(rec)) = self.core.log.read_record(off as u64) else {
                continue;
            };
            let keep =
                MessageView::new(&rec.bytes).is_ok_and(|v| v.topic() == topic && matches(&v));
            if keep {
                out.messages.push(rec.bytes);
            }
        }
        out
    }

    /// First stored CommitLog offset.
    pub fn commit_log_min_offset(&self) -> u64 {
        self.core.log.min_offset()
    }

    /// CommitLog end.
    pub fn commit_log_max_offset(&self) -> u64 {
        self.core.log.max_offset()
    }

    /// CommitLog offset up to which ConsumeQueues and index are built.
    pub fn dispatched_offset(&self) -> u64 {
        self.core.dispatcher.dispatched_offset()
    }

    /// Waits until everything appended up to `offset` is dispatched; false on timeout.
    pub fn wait_dispatched(&self, offset: u64, timeout: Duration) -> bool {
        self.core.dispatcher.wait_dispatched(offset, timeout)
    }

    /// Runs one cleanup pass now (the admin's `deleteExpiredCommitLog`, tests).
    pub fn clean_now(&self) -> Result<CleanupReport> {
        self.core.clean()
    }

    /// Flushes queues (every written unit) and index and writes the checkpoint now.
    pub fn flush_logics(&self) -> Result<()> {
        self.core.flush_logics(true)
    }

    /// Clean shutdown: refuse appends, final CommitLog flush, dispatch the rest, flush
    /// queues/index/checkpoint, remove the `abort` marker. An error (e.g. a poisoned
    /// CommitLog) leaves the marker so the next open recovers.
    pub fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.housekeeping.stop();
        let flushed = self.core.log.flush_all();
        let closed = self.core.log.shutdown();
        self.core.dispatcher.shutdown();
        flushed?;
        closed?;
        self.core.flush_logics(true)?;
        if let Some(abort) = self.abort.lock().unwrap_or_else(|p| p.into_inner()).take() {
            abort.clear()?;
        }
        tracing::info!(root = %self.config.store_path_root_dir.display(), "store shut down cleanly");
        Ok(())
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        self.housekeeping.stop();
        self.core.dispatcher.shutdown();
    }
}
