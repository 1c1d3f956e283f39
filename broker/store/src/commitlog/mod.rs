//! The CommitLog: the single, ordered source of truth of the store.
//!
//! - [`CommitLog`] (`commitlog.rs`): append one message or a batch, read by offset, a forward
//!   [`RecordCursor`] for the dispatcher, min/max/flushed offsets, the queue offset table.
//! - [`MappedFileQueue`] (`mapped_file_queue.rs`): the directory of fixed-size files.
//! - [`recovery`]: finding the end of valid data after a clean or unclean shutdown.
//! - [`CommitLogConfig`] (`config.rs`) and [`QueueOffsetTable`] (`queue_offsets.rs`).
//!
//! Using it (the facade's view):
//! ```no_run
//! use ferrimq_store::commitlog::{CommitLog, CommitLogConfig, RecoveryMode};
//! use ferrimq_store::record::MessageRecord;
//! use ferrimq_store::seam::real_files;
//! # fn main() -> ferrimq_store::Result<()> {
//! let (log, outcome) = CommitLog::open(
//!     CommitLogConfig::new("/tmp/store/commitlog"),
//!     real_files(),
//!     RecoveryMode::Normal,
//! )?;
//! // facade: truncate ConsumeQueues to outcome.max_offset, then set_queue_offset(...) per queue.
//! let msg = MessageRecord::builder("TopicA", &b"hello"[..]).queue_id(1).build()?;
//! let put = log.append(&msg)?;
//! if let Some(wait) = put.flush {
//!     wait.wait()?; // SYNC_FLUSH: acknowledge only after this
//! }
//! let stored = log.read_record(put.physical_offset)?.expect("just written");
//! # let _ = (outcome, stored);
//! # Ok(()) }
//! ```

#[allow(clippy::module_inception)]
mod commitlog;
mod config;
mod cursor;
pub mod mapped_file_queue;
mod queue_offsets;
pub mod recovery;
mod warmer;

pub use commitlog::replica::{ReplicaAppend, ReplicaChunk};
pub use commitlog::{AppendBatchResult, AppendResult, CommitLog, StoredRecord};
pub use config::{CommitLogConfig, DEFAULT_FILE_SIZE, DEFAULT_MAX_MESSAGE_SIZE};
pub use cursor::RecordCursor;
pub use mapped_file_queue::{MappedFileQueue, RemovedFile};
pub use queue_offsets::QueueOffsetTable;
pub use recovery::{RecoveryMode, RecoveryOutcome, TailState};
