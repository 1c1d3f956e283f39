//! ferrimq-store: the message store.
//!
//! All messages of all topics are appended to one CommitLog; a dispatcher derives ConsumeQueues
//! and IndexFiles from it. The store is synchronous and never sees the network; the server wraps
//! it in async code.
//!
//! Modules (see docs/architecture.md for the flows):
//! - [`mapped_file`]: fixed-size memory-mapped files, one writer, many readers.
//! - [`seam`]: where durability events are reported (tests inject crashes and fsync failures).
//! - [`record`]: the stored message format V1 (encode in place, validated borrowed views).
//! - [`commitlog`]: the CommitLog (append, read, cursor, recovery) over a queue of mapped files.
//! - [`flush`]: flush policy (group commit / periodic), the poisoned state after a failed sync.
//! - [`checkpoint`]: the `checkpoint` file, the `abort` marker and the `lock` file.
//! - [`metadata`]: `config/*.json` tables (topics, groups, consumer/delay offsets), crash-safe.
//! - [`consume_queue`]: per (topic, queue) files of 20-byte units into the CommitLog.
//! - [`index`]: IndexFiles, lookup by key / unique key within a time range.
//! - [`dispatch`]: the thread that builds queues and index from the CommitLog, wakes readers.
//! - [`read`]: pulls through the ConsumeQueue (tag filter, RocketMQ statuses), offset by time.
//! - [`cleanup`]: expiry of old files by time and disk usage, the disk-full guard.
//! - [`store`]: `MessageStore`, the facade (open + recovery, append, reads, shutdown).
//! - [`error`]: the store's error type.

pub mod cleanup;
pub mod consume_queue;
pub mod dispatch;
pub mod error;
pub mod index;
#[allow(unsafe_code)]
pub mod mapped_file;
pub mod metadata;
pub mod read;
pub mod seam;
pub mod store;
// store-core: CommitLog, record format, flush, checkpoint.
#[allow(unsafe_code)]
pub mod checkpoint;
pub mod commitlog;
pub mod flush;
pub mod record;

pub use error::{Result, StoreError};
