//! ConsumeQueues: per (topic, queueId) files of 20-byte units pointing into the CommitLog.
//!
//! The dispatcher is the only writer; pulls, offset queries and cleanup read. Layout and
//! semantics follow Apache RocketMQ (reference §7.2) so a store moves between brokers.
//!
//! - [`unit`]: the 20-byte unit codec.
//! - [`queue`]: one queue (files, put, lookups).
//! - [`recovery`]: recovery, truncation to the CommitLog end, deletion of expired files.
//! - [`table`]: all queues of the store.

pub mod queue;
pub mod recovery;
pub mod table;
pub mod unit;

pub use queue::{ConsumeQueue, PutOutcome, UnitRun};
pub use table::ConsumeQueueTable;
pub use unit::{CqUnit, UNIT_SIZE};
