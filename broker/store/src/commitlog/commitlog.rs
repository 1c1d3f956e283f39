//! The CommitLog: every message of every topic, appended in order to one sequence of files.
//!
//! Appends are serialised by one put lock, held only to pick the position, stamp the record
//! (QUEUEOFFSET, PHYSICALOFFSET, STORETIMESTAMP) and encode it straight into the mapped file.
//! Waiting for durability happens after the lock is released, through the [`Flusher`].
//! A record never spans files: when it (plus the 8-byte end marker) does not fit, the file is
//! closed with the blank marker and the record goes to the next file.
//!
//! Reads are by physical offset and zero-copy (`Bytes` that keep the file mapped); the
//! dispatcher walks records forward with [`RecordCursor`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::config::CommitLogConfig;
use super::cursor::RecordCursor;
use super::mapped_file_queue::{MappedFileQueue, RemovedFile};
use super::queue_offsets::QueueOffsetTable;
use super::recovery::{self, RecoveryMode, RecoveryOutcome};
use super::warmer::Warmer;
use crate::error::{Result, StoreError};
use crate::flush::{FlushTarget, FlushWait, Flusher, Poison};
use crate::mapped_file::MappedFile;
use crate::record::encode::{encode_blank, encode_into};
use crate::record::view::{DecodeChecks, decode};
use crate::record::{AppendStamp, BLANK_MARKER_LEN, Decoded, MessageRecord, msg_id};
use crate::seam::SharedSeam;

// Replication's raw reads and appends need the put lock.
#[path = "replica.rs"]
pub(super) mod replica;

/// Where one appended message went.
#[derive(Debug)]
pub struct AppendResult {
    /// Global CommitLog offset of the record.
    pub physical_offset: u64,
    /// Encoded size of the record.
    pub size: usize,
    /// Its ConsumeQueue offset (0 for prepared and rollback records).
    pub queue_offset: i64,
    /// STORETIMESTAMP written.
    pub store_timestamp: i64,
    /// STOREHOST written (for the offsetMsgId).
    pub store_host: SocketAddr,
    /// Under SYNC_FLUSH: completes when the record is durable. `None` under ASYNC_FLUSH.
    pub flush: Option<FlushWait>,
}

impl AppendResult {
    /// The offsetMsgId the broker returns as `msgId`.
    pub fn msg_id(&self) -> String {
        msg_id::encode(self.store_host, self.physical_offset as i64)
    }
}

/// Where an appended batch went: consecutive records in one file, consecutive queue offsets.
#[derive(Debug)]
pub struct AppendBatchResult {
    /// `(physical offset, size)` of each record, in order.
    pub records: Vec<(u64, usize)>,
    /// Queue offset of the first record (the others follow one by one).
    pub first_queue_offset: i64,
    /// STORETIMESTAMP written into every record.
    pub store_timestamp: i64,
    /// STOREHOST of the batch.
    pub store_host: SocketAddr,
    /// Under SYNC_FLUSH: completes when the whole batch is durable.
    pub flush: Option<FlushWait>,
}

impl AppendBatchResult {
    /// The comma-joined offsetMsgIds, as the broker returns for a batch.
    pub fn msg_ids(&self) -> String {
        let mut ids = String::with_capacity(self.records.len() * 57);
        for (i, (off, _)) in self.records.iter().enumerate() {
            if i > 0 {
                ids.push(',');
            }
            msg_id::encode_into(&mut ids, self.store_host, *off as i64);
        }
        ids
    }
}

/// A record read back by offset: its bytes (zero-copy) and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Global offset of the record.
    pub offset: u64,
    /// The whole record, as stored.
    pub bytes: Bytes,
}

impl StoredRecord {
    /// Offset just past this record.
    pub fn next_offset(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
}

/// The durability side the flusher drives: the files, plus the store timestamp of the newest
/// record known durable (the checkpoint's `physicMsgTimestamp`).
#[derive(Debug)]
struct Durability {
    files: Arc<MappedFileQueue>,
    appended_timestamp: AtomicI64,
    flushed_timestamp: AtomicI64,
}

impl FlushTarget for Durability {
    fn flush(&self, min_pages: usize) -> Result<u64> {
        // Read the timestamp first: the record carrying it is then below `written`, so once
        // `written` is durable, so is that record.
        let ts = self.appended_timestamp.load(Ordering::Acquire);
        let written = self.files.max_offset();
        let durable = self.files.flush(min_pages)?;
        if durable >= written {
            self.flushed_timestamp.fetch_max(ts, Ordering::AcqRel);
        }
        Ok(durable)
    }

    fn flushed_offset(&self) -> u64 {
        self.files.flushed_offset()
    }
}

struct Writer {
    current: Option<Arc<MappedFile>>,
    queue_offsets: QueueOffsetTable,
    last_timestamp: i64,
}

/// The first record of a batch, after checking the batch is one (topic, queue).
fn batch_head(msgs: &[MessageRecord]) -> Result<&MessageRecord> {
    let first = msgs
        .first()
        .ok_or_else(|| StoreError::IllegalMessage("empty batch".into()))?;
    if msgs
        .iter()
        .any(|m| m.topic() != first.topic() || m.queue_id() != first.queue_id())
    {
        return Err(StoreError::IllegalMessage(
            "batch mixes topics or queues".into(),
        ));
    }
    Ok(first)
}

/// Encodes `msgs` back to back into `dst` (starting at global offset `base`), with consecutive
/// queue offsets from `first_queue_offset` (0 for all when `None`); records `(offset, size)`.
fn encode_batch(
    dst: &mut [u8],
    msgs: &[MessageRecord],
    base: u64,
    first_queue_offset: Option<i64>,
    ts: i64,
    records: &mut Vec<(u64, usize)>,
) {
    let mut at = 0usize;
    for (i, m) in msgs.iter().enumerate() {
        let len = m.encoded_len();
        let stamp = AppendStamp {
            queue_offset: first_queue_offset.map_or(0, |q| q + i as i64),
            physical_offset: (base + at as u64) as i64,
            store_timestamp: ts,
        };
        encode_into(m, stamp, &mut dst[at..at + len]);
        records.push((base + at as u64, len));
        at += len;
    }
}

/// The CommitLog. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct CommitLog {
    config: CommitLogConfig,
    durability: Arc<Durability>,
    writer: Mutex<Writer>,
    poison: Arc<Poison>,
    flusher: Flusher,
    warmer: Option<Warmer>,
    closed: AtomicBool,
}

impl std::fmt::Debug for CommitLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitLog")
            .field("dir", &self.config.dir)
            .field("max_offset", &self.max_offset())
            .finish()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl CommitLog {
    /// Opens (or creates) the CommitLog in `config.dir`, recovers it in `mode` and starts its
    /// flusher. The queue offset table starts empty: the facade fills it from the
    /// ConsumeQueues with [`CommitLog::set_queue_offset`].
    pub fn open(
        config: CommitLogConfig,
        seam: SharedSeam,
        mode: RecoveryMode,
    ) -> Result<(Self, RecoveryOutcome)> {
        config.validate()?;
        let files = Arc::new(MappedFileQueue::load(
            &config.dir,
            config.file_size,
            seam,
            config.preallocate,
        )?);
        let outcome = recovery::recover(
            &files,
            mode,
            config.max_message_size,
            config.check_crc_on_recover,
        )?;
        let durability = Arc::new(Durability {
            files: Arc::clone(&files),
            appended_timestamp: AtomicI64::new(outcome.last_store_timestamp),
            flushed_timestamp: AtomicI64::new(outcome.last_store_timestamp),
        });
        let poison = Arc::new(Poison::default());
        let flusher = Flusher::start(config.flush, durability.clone(), Arc::clone(&poison))?;
        let warmer = config
            .prefault_ahead
            .then(|| Warmer::start(Arc::downgrade(&files), outcome.max_offset));
        let writer = Writer {
            current: files.last(),
            queue_offsets: QueueOffsetTable::default(),
            last_timestamp: outcome.last_store_timestamp,
        };
        let log = CommitLog {
            config,
            durability,
            writer: Mutex::new(writer),
            poison,
            flusher,
            warmer,
            closed: AtomicBool::new(false),
        };
        Ok((log, outcome))
    }

    /// The configuration in use.
    pub fn config(&self) -> &CommitLogConfig {
        &self.config
    }

    fn files(&self) -> &MappedFileQueue {
        &self.durability.files
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_size(&self, size: usize) -> Result<()> {
        let max = self.config.max_message_size;
        if size > max {
            return Err(StoreError::MessageTooLarge { size, max });
        }
        Ok(())
    }

    /// Appends one message. Under SYNC_FLUSH the result carries the [`FlushWait`] the caller
    /// must complete before acknowledging.
    pub fn append(&self, msg: &MessageRecord) -> Result<AppendResult> {
        let size = msg.encoded_len();
        self.check_size(size)?;
        let mut w = self.lock_writer();
        self.check_writable()?;
        let file = self.file_with_room(&mut w, size)?;
        let ts = now_ms().max(w.last_timestamp);
        let queue_offset = if msg.takes_queue_offset() {
            w.queue_offsets.advance(msg.topic(), msg.queue_id(), 1)
        } else {
            0
        };
        let physical_offset = file.base_offset() + file.wrote_position() as u64;
        let stamp = AppendStamp {
            queue_offset,
            physical_offset: physical_offset as i64,
            store_timestamp: ts,
        };
        file.append_with(size, |dst| encode_into(msg, stamp, dst))
            .expect("room was checked under the put lock");
        w.last_timestamp = ts;
        self.durability
            .appended_timestamp
            .store(ts, Ordering::Release);
        drop(w);
        self.wrote_to(physical_offset + size as u64);
        Ok(AppendResult {
            physical_offset,
            size,
            queue_offset,
            store_timestamp: ts,
            store_host: msg.store_host(),
            flush: self.flusher.request(physical_offset + size as u64),
        })
    }

    /// Appends a batch as consecutive records in one file with consecutive queue offsets
    /// (SEND_BATCH_MESSAGE). Every record must have the batch's topic and queue id; the total
    /// size is bounded by `max_message_size` like the batch body RocketMQ receives.
    pub fn append_batch(&self, msgs: &[MessageRecord]) -> Result<AppendBatchResult> {
        let first = batch_head(msgs)?;
        let total: usize = msgs.iter().map(MessageRecord::encoded_len).sum();
        self.check_size(total)?;
        let mut w = self.lock_writer();
        self.check_writable()?;
        let file = self.file_with_room(&mut w, total)?;
        let ts = now_ms().max(w.last_timestamp);
        let takes = first.takes_queue_offset();
        let first_queue_offset = if takes {
            w.queue_offsets.next(first.topic(), first.queue_id())
        } else {
            0
        };
        let base = file.base_offset() + file.wrote_position() as u64;
        let queue_offset = takes.then_some(first_queue_offset);
        let mut records = Vec::with_capacity(msgs.len());
        file.append_with(total, |dst| {
            encode_batch(dst, msgs, base, queue_offset, ts, &mut records)
        })
        .expect("room was checked under the put lock");
        if takes {
            w.queue_offsets
                .advance(first.topic(), first.queue_id(), msgs.len() as i64);
        }
        w.last_timestamp = ts;
        self.durability
            .appended_timestamp
            .store(ts, Ordering::Release);
        drop(w);
        self.wrote_to(base + total as u64);
        Ok(AppendBatchResult {
            records,
            first_queue_offset,
            store_timestamp: ts,
            store_host: first.store_host(),
            flush: self.flusher.request(base + total as u64),
        })
    }

    fn wrote_to(&self, end: u64) {
        if let Some(w) = &self.warmer {
            w.writer_at(end);
        }
    }

    /// The current file if `size` bytes plus the end marker fit, else closes it with the blank
    /// marker and rolls to the next file. Called under the put lock.
    fn file_with_room(&self, w: &mut Writer, size: usize) -> Result<Arc<MappedFile>> {
        if let Some(f) = w
            .current
            .as_ref()
            .filter(|f| f.remaining() >= size + BLANK_MARKER_LEN)
        {
            return Ok(Arc::clone(f));
        }
        if let Some(f) = w.current.take() {
            let remaining = f.remaining();
            if remaining >= BLANK_MARKER_LEN {
                f.append_with(remaining, |dst| encode_blank(dst, remaining))
                    .expect("exactly the remaining bytes");
            } else if remaining > 0 {
                // Never left by this writer or RocketMQ (both keep room for the marker).
                f.append_with(remaining, |dst| dst.fill(0))
                    .expect("exactly the remaining bytes");
            }
        }
        let next = self.files().create_next(0)?;
        w.current = Some(Arc::clone(&next));
        Ok(next)
    }

    /// The next queue offset of (topic, queue).
    pub fn queue_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.lock_writer().queue_offsets.next(topic, queue_id)
    }

    /// Sets the next queue offset of (topic, queue): the facade calls this at start-up with the
    /// ConsumeQueue max offsets, and when a topic's queues are reset.
    pub fn set_queue_offset(&self, topic: &str, queue_id: i32, next: i64) {
        self.lock_writer().queue_offsets.set(topic, queue_id, next);
    }

    /// Replaces the whole queue offset table.
    pub fn reset_queue_offsets(&self, table: QueueOffsetTable) {
        self.lock_writer().queue_offsets = table;
    }

    /// Forgets a deleted topic's queue offsets.
    pub fn remove_topic(&self, topic: &str) {
        self.lock_writer().queue_offsets.remove_topic(topic);
    }

    /// `size` bytes at global `offset`, zero-copy; `None` when they are not (or no longer)
    /// stored or not yet written.
    pub fn read(&self, offset: u64, size: usize) -> Option<Bytes> {
        let file = self.files().find(offset)?;
        file.bytes((offset - file.base_offset()) as usize, size)
    }

    /// The whole record at `offset` (an offset from a ConsumeQueue unit or an offsetMsgId).
    /// `Ok(None)` when the offset is not stored; `Corrupt` when it does not hold a record.
    pub fn read_record(&self, offset: u64) -> Result<Option<StoredRecord>> {
        let Some(file) = self.files().find(offset) else {
            return Ok(None);
        };
        let pos = (offset - file.base_offset()) as usize;
        let Some(head) = file.read(pos, 8) else {
            return Ok(None);
        };
        let checks = DecodeChecks {
            max_size: self.config.max_message_size,
            crc: false,
            position: Some(offset),
        };
        let size = i32::from_be_bytes(head[..4].try_into().expect("4 bytes")).max(0) as usize;
        let bytes = file
            .bytes(pos, size.max(8))
            .unwrap_or_else(|| Bytes::copy_from_slice(head));
        match decode(&bytes, checks) {
            Ok(Decoded::Message(_)) => Ok(Some(StoredRecord { offset, bytes })),
            Ok(Decoded::Blank { .. }) => Err(StoreError::corrupt(
                file.path(),
                pos as u64,
                format!("commit log offset {offset} is the end-of-file marker, not a record"),
            )),
            Err(e) => Err(StoreError::corrupt(
                file.path(),
                pos as u64,
                format!("commit log offset {offset}: {e}"),
            )),
        }
    }

    /// A forward cursor over records from `offset` (for the dispatcher); it hops over blank
    /// markers and stops at the current end of written data.
    pub fn cursor(&self, offset: u64) -> RecordCursor<'_> {
        RecordCursor::new(self, offset)
    }

    pub(super) fn file_at(&self, offset: u64) -> Option<Arc<MappedFile>> {
        self.files().find(offset)
    }

    /// Offset of the first stored byte.
    pub fn min_offset(&self) -> u64 {
        self.files().min_offset()
    }

    /// Offset just past the last written record.
    pub fn max_offset(&self) -> u64 {
        self.files().max_offset()
    }

    /// Offset up to which bytes are durable.
    pub fn flushed_offset(&self) -> u64 {
        self.durability.flushed_offset()
    }

    /// STORETIMESTAMP of the newest record known durable: what the checkpoint records as
    /// `physicMsgTimestamp`.
    pub fn flushed_store_timestamp(&self) -> i64 {
        self.durability.flushed_timestamp.load(Ordering::Acquire)
    }

    /// Flushes everything written now (used before writing a checkpoint and at shutdown);
    /// a failure poisons the store.
    pub fn flush_all(&self) -> Result<u64> {
        self.poison.check()?;
        self.durability.flush(0).map_err(|e| self.poison.set(&e))
    }

    /// True once a failed sync poisoned the store.
    pub fn is_poisoned(&self) -> bool {
        self.poison.is_poisoned()
    }

    /// Deletes the oldest files while `expired` says so (at most `max`, never the newest) and
    /// returns them; a file still being read is unlinked when its last reader drops.
    pub fn delete_expired_files(
        &self,
        max: usize,
        expired: impl FnMut(&MappedFile) -> bool,
    ) -> Vec<RemovedFile> {
        self.files().delete_expired(max, expired)
    }

    /// A snapshot of the files, oldest first (for cleanup decisions and tools).
    pub fn mapped_files(&self) -> Vec<Arc<MappedFile>> {
        self.files().files()
    }

    /// Stops the flusher after a final flush; appends after this fail with `ShutDown`. Returns
    /// the poison error if the final flush (or an earlier one) failed, in which case the caller
    /// must not mark the shutdown clean.
    pub fn shutdown(&self) -> Result<()> {
        let _w = self.lock_writer();
        self.closed.store(true, Ordering::Release);
        self.flusher.shutdown();
        self.poison.check()
    }

    fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::ShutDown);
        }
        self.poison.check()
    }
}
