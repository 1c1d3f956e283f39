//! Every read and write of the transaction system topics: half messages (by commit-log or queue
//! offset), their copies put back at the end of the half queue, op records, the committed real
//! message, and the copy moved to `TRANS_CHECK_MAX_TIME_TOPIC`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use ferrimq_config::topic::{TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use ferrimq_store::read::AcceptAll;
use ferrimq_store::record::encode::{AppendStamp, encode_to_vec};
use ferrimq_store::record::{
    MessageRecord, MessageRecordBuilder, MessageView, Properties, sys_flag,
};
use ferrimq_store::store::MessageStore;

use super::{
    PROPERTY_TRANSACTION_PREPARED, PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET, REMOVE_TAG,
    TransactionError,
};
use crate::schedule::{PROPERTY_REAL_QID, PROPERTY_REAL_TOPIC};
use crate::topics::TopicRegistry;

/// The tags property.
const PROPERTY_TAGS: &str = "TAGS";
/// Op records read per store call.
const OP_BATCH: usize = 32;

/// A half message as stored, decoded into owned fields.
#[derive(Debug, Clone)]
pub struct HalfMessage {
    /// Its commit-log offset.
    pub commit_log_offset: i64,
    /// Its offset in the half queue.
    pub queue_offset: i64,
    /// Queue id in the half topic (0).
    pub queue_id: i32,
    /// User flag.
    pub flag: i32,
    /// sysFlag as stored (transaction bits cleared).
    pub sys_flag: i32,
    /// Producer timestamp.
    pub born_timestamp: i64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// When the broker stored it.
    pub store_timestamp: i64,
    /// Broker address.
    pub store_host: SocketAddr,
    /// Reconsume count.
    pub reconsume_times: i32,
    /// Body as stored (possibly compressed, per sysFlag).
    pub body: Bytes,
    /// Properties, REAL_TOPIC / REAL_QID included.
    pub properties: Properties,
}

impl HalfMessage {
    fn from_view(view: &MessageView<'_>) -> Self {
        HalfMessage {
            commit_log_offset: view.physical_offset(),
            queue_offset: view.queue_offset(),
            queue_id: view.queue_id(),
            flag: view.flag(),
            sys_flag: view.sys_flag(),
            born_timestamp: view.born_timestamp(),
            born_host: view.born_host(),
            store_timestamp: view.store_timestamp(),
            store_host: view.store_host(),
            reconsume_times: view.reconsume_times(),
            body: Bytes::copy_from_slice(view.body()),
            properties: Properties::parse(view.properties_str()),
        }
    }

    /// REAL_TOPIC and REAL_QID.
    pub fn real_destination(&self) -> Result<(String, i32), TransactionError> {
        let malformed = |reason: &str| TransactionError::Malformed {
            offset: self.commit_log_offset,
            reason: reason.to_owned(),
        };
        let topic = self
            .properties
            .get(PROPERTY_REAL_TOPIC)
            .ok_or_else(|| malformed("no REAL_TOPIC property"))?;
        let queue = self
            .properties
            .get(PROPERTY_REAL_QID)
            .and_then(|q| q.parse().ok())
            .ok_or_else(|| malformed("no numeric REAL_QID property"))?;
        Ok((topic.to_owned(), queue))
    }

    /// A builder with this message's fields in `topic` / `queue_id` with `props`.
    fn builder(&self, topic: &str, queue_id: i32, props: Properties) -> MessageRecordBuilder {
        MessageRecord::builder(topic, self.body.clone())
            .queue_id(queue_id)
            .flag(self.flag)
            .sys_flag(self.sys_flag)
            .born_timestamp(self.born_timestamp)
            .born_host(self.born_host)
            .store_host(self.store_host)
            .reconsume_times(self.reconsume_times)
            .properties(props)
    }

    /// A record with this message's fields in `topic` / `queue_id` with `props`.
    fn record(
        &self,
        topic: &str,
        queue_id: i32,
        props: Properties,
    ) -> Result<MessageRecord, TransactionError> {
        self.build(self.builder(topic, queue_id, props))
    }

    fn build(&self, builder: MessageRecordBuilder) -> Result<MessageRecord, TransactionError> {
        builder.build().map_err(|e| TransactionError::Malformed {
            offset: self.commit_log_offset,
            reason: e.to_string(),
        })
    }

    /// The CHECK_TRANSACTION_STATE body: this record re-encoded with its real topic and queue
    /// (Java `MessageDecoder.encode` after `setTopic(REAL_TOPIC)` / `setQueueId(REAL_QID)`).
    pub fn check_body(&self) -> Result<Vec<u8>, TransactionError> {
        let (topic, queue) = self.real_destination()?;
        let record = self.record(&topic, queue, self.properties.clone())?;
        let stamp = AppendStamp {
            queue_offset: self.queue_offset,
            physical_offset: self.commit_log_offset,
            store_timestamp: self.store_timestamp,
        };
        Ok(encode_to_vec(&record, stamp))
    }
}

/// Where an append went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Commit-log offset.
    pub commit_log_offset: i64,
    /// Queue offset.
    pub queue_offset: i64,
}

/// What a committed message's acknowledgement waits for.
#[derive(Debug)]
pub struct Durability {
    /// The SYNC_FLUSH wait (`None` under ASYNC_FLUSH).
    pub flush: Option<ferrimq_store::flush::FlushWait>,
    /// Commit-log offset past the message (what SYNC_MASTER replication must reach).
    pub end: u64,
}

/// One op record: the half queue offsets it resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// Its offset in the op queue.
    pub op_offset: i64,
    /// Half queue offsets it marks resolved (empty for a record that is not a `d` op).
    pub half_offsets: Vec<i64>,
}

/// Reads and writes of the half, op and check-max topics.
#[derive(Debug)]
pub struct TransactionLog {
    store: Arc<MessageStore>,
    topics: Arc<TopicRegistry>,
    store_host: SocketAddr,
}

impl TransactionLog {
    /// A log over `store`; `store_host` is the broker address written into op records.
    pub fn new(
        store: Arc<MessageStore>,
        topics: Arc<TopicRegistry>,
        store_host: SocketAddr,
    ) -> Self {
        TransactionLog {
            store,
            topics,
            store_host,
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<MessageStore> {
        &self.store
    }

    /// The half message at commit-log `offset`; an error if the record there is not one.
    pub fn half_at_commit_offset(&self, offset: i64) -> Result<HalfMessage, TransactionError> {
        let not_found = |reason: String| TransactionError::HalfNotFound { offset, reason };
        let phys = u64::try_from(offset).map_err(|_| not_found("negative offset".into()))?;
        let stored = self
            .store
            .get_message_by_offset(phys)
            .map_err(|e| not_found(e.to_string()))?
            .ok_or_else(|| not_found("no record".into()))?;
        let view = MessageView::new(&stored.bytes).map_err(|e| not_found(e.to_string()))?;
        if view.topic() != TRANS_HALF_TOPIC {
            return Err(not_found(format!("record of topic {}", view.topic())));
        }
        Ok(HalfMessage::from_view(&view))
    }

    /// The half message at `queue_offset` of half queue 0; `None` when the queue has no unit
    /// there (cleaned or not yet written) or the record is gone.
    pub fn half_at_queue_offset(&self, queue_offset: i64) -> Option<HalfMessage> {
        let cq = self.store.consume_queues().get(TRANS_HALF_TOPIC, 0)?;
        let unit = cq.get(u64::try_from(queue_offset).ok()?)?;
        self.half_at_commit_offset(unit.commit_log_offset).ok()
    }

    /// Smallest and next offsets of half queue 0 (`(0, 0)` before the first half message).
    pub fn half_queue_range(&self) -> (i64, i64) {
        let min = self.store.min_offset_in_queue(TRANS_HALF_TOPIC, 0);
        let max = self.store.max_offset_in_queue(TRANS_HALF_TOPIC, 0);
        (min as i64, max as i64)
    }

    /// Smallest and next offsets of op queue 0.
    pub fn op_queue_range(&self) -> (i64, i64) {
        let min = self.store.min_offset_in_queue(TRANS_OP_HALF_TOPIC, 0);
        let max = self.store.max_offset_in_queue(TRANS_OP_HALF_TOPIC, 0);
        (min as i64, max as i64)
    }

    /// Op records from `from` to the current end of the op queue.
    pub fn read_ops(&self, from: i64) -> Vec<OpRecord> {
        let mut ops = Vec::new();
        let mut offset = u64::try_from(from).unwrap_or(0);
        loop {
            let r =
                self.store
                    .get_message(TRANS_OP_HALF_TOPIC, 0, offset, OP_BATCH, None, &AcceptAll);
            if r.messages.is_empty() {
                return ops;
            }
            for (bytes, op_offset) in r.messages.iter().zip(&r.queue_offsets) {
                ops.push(OpRecord {
                    op_offset: *op_offset as i64,
                    half_offsets: MessageView::new(bytes).map_or(Vec::new(), |v| op_targets(&v)),
                });
            }
            offset = r.next_begin_offset;
        }
    }

    /// Writes the op record resolving the half message at `half_queue_offset`.
    pub fn append_op(&self, half: &HalfMessage) -> Result<Appended, TransactionError> {
        self.topics.ensure_group_topic(TRANS_OP_HALF_TOPIC);
        let mut props = Properties::new();
        props.insert(PROPERTY_TAGS, REMOVE_TAG);
        let body = Bytes::from(half.queue_offset.to_string());
        let record = MessageRecord::builder(TRANS_OP_HALF_TOPIC, body)
            .queue_id(half.queue_id)
            .born_timestamp(now_ms())
            .born_host(self.store_host)
            .store_host(self.store_host)
            .properties(props)
            .build()
            .map_err(|source| TransactionError::Store {
                what: "op record",
                source,
            })?;
        self.append(&record, "op record")
    }

    /// Writes the committed message to its real topic and queue: REAL_TOPIC, REAL_QID and
    /// TRAN_MSG cleared, transaction bits = COMMIT, preparedTransactionOffset = the half's
    /// commit-log offset.
    /// Returns where it went and what to await before acknowledging it (the SYNC_FLUSH wait and
    /// the end offset replication must reach).
    pub fn append_commit(
        &self,
        half: &HalfMessage,
    ) -> Result<(Appended, Durability), TransactionError> {
        let (topic, queue) = half.real_destination()?;
        let mut props = half.properties.clone();
        props.remove(PROPERTY_REAL_TOPIC);
        props.remove(PROPERTY_REAL_QID);
        props.remove(PROPERTY_TRANSACTION_PREPARED);
        let flags = (half.sys_flag & !sys_flag::TRANSACTION_MASK) | sys_flag::TRANSACTION_COMMIT;
        let builder = half
            .builder(&topic, queue, props)
            .sys_flag(flags)
            .prepared_transaction_offset(half.commit_log_offset);
        let record = half.build(builder)?;
        let r = self
            .store
            .append(&record)
            .map_err(|source| TransactionError::Store {
                what: "committed message",
                source,
            })?;
        let appended = Appended {
            commit_log_offset: r.physical_offset as i64,
            queue_offset: r.queue_offset,
        };
        let durability = Durability {
            flush: r.flush,
            end: r.physical_offset + r.size as u64,
        };
        Ok((appended, durability))
    }

    /// Appends a copy of `half` with `props` at the end of the half queue.
    pub fn put_back(
        &self,
        half: &HalfMessage,
        props: Properties,
    ) -> Result<Appended, TransactionError> {
        let record = half.record(TRANS_HALF_TOPIC, half.queue_id, props)?;
        self.append(&record, "half message put back")
    }

    /// Appends a copy put back during its immunity time (remembering the original offset).
    pub fn put_back_immune(&self, half: &HalfMessage) -> Result<Appended, TransactionError> {
        let mut props = half.properties.clone();
        if props
            .get(PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET)
            .is_none()
        {
            props.insert(
                PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET,
                half.queue_offset.to_string(),
            );
        }
        self.put_back(half, props)
    }

    /// Moves a half message checked `transactionCheckMax` times to TRANS_CHECK_MAX_TIME_TOPIC.
    pub fn discard(&self, half: &HalfMessage) -> Result<Appended, TransactionError> {
        self.topics.ensure_group_topic(TRANS_CHECK_MAX_TIME_TOPIC);
        let record = half.record(TRANS_CHECK_MAX_TIME_TOPIC, 0, half.properties.clone())?;
        self.append(&record, "half message discarded")
    }

    fn append(
        &self,
        record: &MessageRecord,
        what: &'static str,
    ) -> Result<Appended, TransactionError> {
        let r = self
            .store
            .append(record)
            .map_err(|source| TransactionError::Store { what, source })?;
        Ok(Appended {
            commit_log_offset: r.physical_offset as i64,
            queue_offset: r.queue_offset,
        })
    }
}

/// Half queue offsets an op record resolves: a `d`-tagged body of comma-separated decimal
/// offsets (4.x writes one, 5.x may merge several).
fn op_targets(view: &MessageView<'_>) -> Vec<i64> {
    if view.tags() != Some(REMOVE_TAG) {
        return Vec::new();
    }
    std::str::from_utf8(view.body())
        .unwrap_or("")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Wall-clock milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
