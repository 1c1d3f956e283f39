//! Queue allocation strategies: which of a topic's queues this consumer of a clustering group
//! consumes, computed by every member from the same sorted queue list and consumer-id list so the
//! members agree without talking to each other (Java `AllocateMessageQueueStrategy`).
//!
//! The six strategies of the Java client, with the same results for the same inputs:
//! [`Averagely`] (the default), [`AveragelyByCircle`], [`ByConfig`], [`ByMachineRoom`],
//! [`MachineRoomNearby`] and [`ConsistentHash`]. Like Java, a strategy takes the lists in the
//! order given; the rebalancer sorts them first ([`allocate_sorted`]).

mod averagely;
mod by_config;
mod consistent_hash;
mod machine_room;
mod md5;

use std::fmt::Debug;

use ferrimq_remoting::body::MessageQueue;
use thiserror::Error;

pub use averagely::{Averagely, AveragelyByCircle};
pub use by_config::ByConfig;
pub use consistent_hash::{ConsistentHash, ring_hash};
pub use machine_room::{ByMachineRoom, MachineRoomNearby, MachineRoomResolver};

/// Inputs a strategy refuses (Java throws `IllegalArgumentException` for the same cases).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AllocateError {
    /// The current consumer id is empty.
    #[error("current consumer id is empty")]
    EmptyConsumerId,
    /// There is no queue to allocate.
    #[error("no message queue to allocate")]
    NoQueues,
    /// The consumer-id list is empty.
    #[error("consumer id list is empty")]
    NoConsumers,
    /// The machine-room resolver knows no room for a queue or consumer.
    #[error("machine room unknown for {what}")]
    UnknownMachineRoom {
        /// The queue or consumer id without a room.
        what: String,
    },
}

/// A queue allocation strategy.
pub trait AllocateStrategy: Send + Sync + Debug {
    /// Name as Java reports it ("AVG", "AVG_BY_CIRCLE", ...).
    fn name(&self) -> String;

    /// The queues of `mq_all` that `current_cid` consumes, `cid_all` being the group's members.
    /// A consumer missing from `cid_all` gets nothing.
    fn allocate(
        &self,
        group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Result<Vec<MessageQueue>, AllocateError>;
}

/// Java's `check`: `Ok(false)` when the consumer is not a member (allocate nothing).
pub(crate) fn check(
    current_cid: &str,
    mq_all: &[MessageQueue],
    cid_all: &[String],
) -> Result<bool, AllocateError> {
    if current_cid.is_empty() {
        return Err(AllocateError::EmptyConsumerId);
    }
    if mq_all.is_empty() {
        return Err(AllocateError::NoQueues);
    }
    if cid_all.is_empty() {
        return Err(AllocateError::NoConsumers);
    }
    Ok(cid_all.iter().any(|c| c == current_cid))
}

/// Sorts and deduplicates both lists as the Java rebalancer does (queues by topic, broker name,
/// queue id; ids as strings), then allocates with `strategy`.
pub fn allocate_sorted(
    strategy: &dyn AllocateStrategy,
    group: &str,
    current_cid: &str,
    mq_all: impl IntoIterator<Item = MessageQueue>,
    cid_all: impl IntoIterator<Item = String>,
) -> Result<Vec<MessageQueue>, AllocateError> {
    let mut queues: Vec<MessageQueue> = mq_all.into_iter().collect();
    queues.sort_by(|a, b| {
        (&a.topic, &a.broker_name, a.queue_id).cmp(&(&b.topic, &b.broker_name, b.queue_id))
    });
    queues.dedup();
    let mut cids: Vec<String> = cid_all.into_iter().collect();
    cids.sort();
    cids.dedup();
    strategy.allocate(group, current_cid, &queues, &cids)
}

/// Java `MessageQueue.toString()`, the key the consistent-hash strategy routes by.
pub fn java_queue_string(queue: &MessageQueue) -> String {
    format!(
        "MessageQueue [topic={}, brokerName={}, queueId={}]",
        queue.topic, queue.broker_name, queue.queue_id
    )
}
