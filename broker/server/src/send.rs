//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320): permission and queue
//! checks, topic auto-creation, the stored record (CLUSTER added, WAIT dropped, bornHost = peer,
//! storeHost = brokerIP1:listenPort), the append, and the SYNC_FLUSH wait awaited without
//! blocking a thread. Half (TRAN_MSG) messages go to the transaction half topic
//! ([`crate::transaction::divert_half`]), delayed ones to the schedule topic.

use std::net::SocketAddr;
use std::sync::Arc;

use ferrimq_config::topic::{
    RETRY_GROUP_TOPIC_PREFIX, dlq_topic, is_not_allowed_send_topic, is_retry_topic,
};
use ferrimq_config::{Perm, TopicConfig};
use ferrimq_remoting::header::typed::{SendMessageRequestHeader, SendMessageResponseHeader};
use ferrimq_remoting::message::decode_batch;
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_store::flush::{FlushStatus, FlushWait};
use ferrimq_store::metadata::Metadata;
use ferrimq_store::record::MessageRecord;
use ferrimq_store::record::properties::Properties;
use ferrimq_store::store::MessageStore;
use ferrimq_transport::{Channel, HandlerResult};

use crate::replication::{Replication, waits_for_store};
use crate::response::{reject, store_error_response};
use crate::schedule::divert;
use crate::topics::TopicRegistry;

/// Property naming the cluster of the storing broker.
const PROPERTY_CLUSTER: &str = "CLUSTER";
/// Delay level property; cleared when a message goes to the DLQ.
const PROPERTY_DELAY: &str = "DELAY";
/// Request version from which the header's `maxReconsumeTimes` counts (`V3_4_9`).
pub(crate) const VERSION_HONOURING_MAX_RECONSUME: i32 = 121;
/// Property telling the broker to wait for the store; never stored.
const PROPERTY_WAIT: &str = "WAIT";
/// extFields key of the broker region in every send response.
pub const MSG_REGION: &str = "MSG_REGION";
/// extFields key of the trace switch in every send response.
pub const TRACE_ON: &str = "TRACE_ON";

/// Broker settings the send path reads.
#[derive(Debug, Clone)]
pub struct SendPolicy {
    /// `brokerIP1:listenPort`, written as STOREHOST.
    pub store_host: SocketAddr,
    /// `brokerClusterName`, stored as CLUSTER.
    pub cluster: String,
    /// `regionId`.
    pub region: String,
    /// `traceOn`.
    pub trace_on: bool,
    /// `brokerPermission`.
    pub broker_permission: Perm,
    /// `maxMessageSize` (body bytes).
    pub max_message_size: usize,
    /// `syncFlushTimeout`: longest wait for durability under SYNC_FLUSH.
    pub sync_flush_timeout: std::time::Duration,
    /// `autoCreateSubscriptionGroup` (groups of retry topics).
    pub auto_create_group: bool,
    /// Highest `messageDelayLevel` level (DELAY levels above it are clamped).
    pub max_delay_level: i32,
    /// `rejectTransactionMessage`: refuse half (TRAN_MSG) messages.
    pub reject_transaction_message: bool,
}

/// The send processor and the handles it needs.
#[derive(Debug)]
pub struct SendProcessor {
    /// The message store.
    pub store: Arc<MessageStore>,
    /// Topic configs.
    pub topics: Arc<TopicRegistry>,
    /// Subscription groups (retry limits of `%RETRY%` topics).
    pub metadata: Arc<Metadata>,
    /// Settings.
    pub policy: SendPolicy,
    /// Replication: wakes the slave streams, and the SYNC_MASTER wait.
    pub replication: Arc<Replication>,
}

/// Where an append went, ready for the response header.
struct Stored {
    msg_id: String,
    queue_offset: i64,
    flush: Option<FlushWait>,
    /// CommitLog offset just past the stored bytes (what a SYNC_MASTER slave must have).
    end_offset: u64,
    /// The message's `WAIT` (RocketMQ's `isWaitStoreMsgOK`).
    wait_store: bool,
}

impl SendProcessor {
    /// Handles one send request (any of the three codes).
    pub async fn handle(
        self: Arc<Self>,
        request: RemotingCommand,
        channel: Channel,
    ) -> HandlerResult {
        let mut header =
            SendMessageRequestHeader::from_command_fields(request.code, &request.ext_fields)?;
        let (mut config, mut queue_id) = match self.check(&request, &header) {
            Ok(target) => target,
            Err(response) => return Ok(Some(response)),
        };
        let batch = request.code == RequestCode::SendBatchMessage.code();
        if !batch && is_retry_topic(&header.topic) {
            match self.dead_letter(&request, &mut header) {
                Ok(Some(dlq)) => (config, queue_id) = (dlq, 0),
                Ok(None) => {}
                Err(response) => return Ok(Some(response)),
            }
        }
        let stored = if batch {
            self.append_batch(&request, &header, &config, queue_id, channel.peer_addr())
        } else {
            self.append_one(&request, &header, &config, queue_id, channel.peer_addr())
        };
        let stored = match stored {
            Ok(stored) => stored,
            Err(response) => return Ok(Some(response)),
        };
        Ok(Some(self.finish(&request, stored, queue_id).await))
    }

    /// Permission, topic and queue checks; the topic config and the queue to write.
    fn check(
        &self,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
    ) -> Result<(TopicConfig, i32), RemotingCommand> {
        let topic = &header.topic;
        if !self.policy.broker_permission.is_writeable() {
            return Err(reject(
                request,
                ResponseCode::NoPermission,
                format!(
                    "the broker[{}] sending message is forbidden",
                    self.policy.store_host
                ),
            ));
        }
        if is_not_allowed_send_topic(topic) {
            return Err(reject(
                request,
                ResponseCode::NoPermission,
                format!("Sending message to topic[{topic}] is forbidden."),
            ));
        }
        let Some(config) = self.topics.get_or_auto_create(
            topic,
            &header.default_topic,
            header.default_topic_queue_nums,
        ) else {
            return Err(reject(
                request,
                ResponseCode::TopicNotExist,
                format!("topic[{topic}] not exist, apply first please!"),
            ));
        };
        if !config.perm.is_writeable() {
            return Err(reject(
                request,
                ResponseCode::NoPermission,
                format!("the topic[{topic}] sending message is forbidden"),
            ));
        }
        let limit = config.read_queue_nums.max(config.write_queue_nums);
        if header.queue_id >= 0 && header.queue_id as u32 >= limit {
            return Err(reject(
                request,
                ResponseCode::SystemError,
                format!(
                    "request queueId[{}] is illegal, topic:[{topic}] topicConfig.writeQueueNums: [{}]",
                    header.queue_id, config.write_queue_nums
                ),
            ));
        }
        let queue_id = if header.queue_id < 0 {
            random_queue(config.write_queue_nums)
        } else {
            header.queue_id
        };
        Ok((config, queue_id))
    }

    /// A `%RETRY%<group>` message consumed too often goes to `%DLQ%<group>` (queue 0, no
    /// delay) instead: the returned config is the DLQ's and `header` now names it.
    fn dead_letter(
        &self,
        request: &RemotingCommand,
        header: &mut SendMessageRequestHeader,
    ) -> Result<Option<TopicConfig>, RemotingCommand> {
        let group = header.topic[RETRY_GROUP_TOPIC_PREFIX.len()..].to_owned();
        let groups = &self.metadata.groups;
        let config = if self.policy.auto_create_group {
            Some(groups.get_or_create(&group))
        } else {
            groups.get(&group)
        };
        let Some(config) = config else {
            let remark = format!("subscription group not exist, {group}");
            return Err(reject(
                request,
                ResponseCode::SubscriptionGroupNotExist,
                remark,
            ));
        };
        let max = match header.max_reconsume_times {
            Some(max) if request.version >= VERSION_HONOURING_MAX_RECONSUME => max,
            _ => config.retry_max_times,
        };
        if header.reconsume_times_or_zero() < max {
            return Ok(None);
        }
        let dlq = self.topics.ensure_group_topic(&dlq_topic(&group));
        let mut props = Properties::parse(header.properties.as_deref().unwrap_or(""));
        props.remove(PROPERTY_DELAY);
        header.topic = dlq.topic_name.clone();
        header.properties = Some(props.encode());
        tracing::info!(group = %group, topic = %header.topic, "message moved to the dead letter queue");
        Ok(Some(dlq))
    }

    fn append_one(
        &self,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        config: &TopicConfig,
        queue_id: i32,
        born_host: SocketAddr,
    ) -> Result<Stored, RemotingCommand> {
        self.check_size(request, request.body.len())?;
        let mut props = self.stored_properties(header.properties.as_deref().unwrap_or(""));
        let (flags, max_level) = (header.sys_flag, self.policy.max_delay_level);
        let half = self.divert_half(request, &mut props, &header.topic, queue_id)?;
        let diverted =
            half.or_else(|| divert(&mut props, &header.topic, queue_id, flags, max_level));
        let mut delayed;
        let (header, queue_id) = match diverted {
            Some((topic, schedule_queue)) => {
                delayed = header.clone();
                if topic == ferrimq_config::topic::TRANS_HALF_TOPIC {
                    // A half message is stored as NOT_TYPE: the half topic is dispatched.
                    delayed.sys_flag &= !ferrimq_store::record::sys_flag::TRANSACTION_MASK;
                }
                delayed.topic = topic;
                (&delayed, schedule_queue)
            }
            None => (header, queue_id),
        };
        let record = self
            .record(header, config, queue_id, born_host, request.body.clone())
            .flag(header.flag)
            .properties(props)
            .build()
            .map_err(|e| store_error_response(request, &e))?;
        let r = self
            .store
            .append(&record)
            .map_err(|e| store_error_response(request, &e))?;
        Ok(Stored {
            msg_id: r.msg_id(),
            queue_offset: r.queue_offset,
            flush: r.flush,
            end_offset: r.physical_offset + r.size as u64,
            wait_store: waits_for_store(header.properties.as_deref()),
        })
    }

    fn append_batch(
        &self,
        request: &RemotingCommand,
        header: &SendMessageRequestHeader,
        config: &TopicConfig,
        queue_id: i32,
        born_host: SocketAddr,
    ) -> Result<Stored, RemotingCommand> {
        let entries = decode_batch(&request.body).map_err(|e| {
            reject(
                request,
                ResponseCode::MessageIllegal,
                format!("bad batch body: {e}"),
            )
        })?;
        let mut records = Vec::with_capacity(entries.len());
        for entry in entries {
            self.check_size(request, entry.body.len())?;
            // Each inner message keeps its own properties (and UNIQ_KEY); the batch-level
            // properties are not appended (RocketMQ ISSUE #9416).
            let record = self
                .record(header, config, queue_id, born_host, entry.body)
                .flag(entry.flag)
                .properties(self.stored_properties(&entry.properties))
                .build()
                .map_err(|e| store_error_response(request, &e))?;
            records.push(record);
        }
        if records.is_empty() {
            return Err(reject(request, ResponseCode::MessageIllegal, "empty batch"));
        }
        let r = self
            .store
            .append_batch(&records)
            .map_err(|e| store_error_response(request, &e))?;
        Ok(Stored {
            msg_id: r.msg_ids(),
            queue_offset: r.first_queue_offset,
            end_offset: r.records.last().map_or(0, |&(o, len)| o + len as u64),
            flush: r.flush,
            wait_store: waits_for_store(header.properties.as_deref()),
        })
    }

    /// A TRAN_MSG message goes to the transaction half topic (or is refused under
    /// `rejectTransactionMessage`); see [`crate::transaction::divert_half`].
    fn divert_half(
        &self,
        request: &RemotingCommand,
        props: &mut Properties,
        topic: &str,
        queue_id: i32,
    ) -> Result<Option<(String, i32)>, RemotingCommand> {
        if self.policy.reject_transaction_message && crate::transaction::is_half(props) {
            let remark = format!(
                "the broker[{}] sending transaction message is forbidden",
                self.policy.store_host
            );
            return Err(reject(request, ResponseCode::NoPermission, remark));
        }
        Ok(crate::transaction::divert_half(props, topic, queue_id))
    }

    fn check_size(&self, request: &RemotingCommand, len: usize) -> Result<(), RemotingCommand> {
        if len > self.policy.max_message_size {
            return Err(reject(
                request,
                ResponseCode::MessageIllegal,
                format!(
                    "the message body size over max value, MAX: {}",
                    self.policy.max_message_size
                ),
            ));
        }
        Ok(())
    }

    /// The fields shared by a single message and every message of a batch.
    fn record(
        &self,
        header: &SendMessageRequestHeader,
        config: &TopicConfig,
        queue_id: i32,
        born_host: SocketAddr,
        body: bytes::Bytes,
    ) -> ferrimq_store::record::MessageRecordBuilder {
        let mut sys_flag = header.sys_flag;
        if config.topic_filter_type == ferrimq_config::TopicFilterType::MultiTag {
            sys_flag |= ferrimq_store::record::sys_flag::MULTI_TAGS;
        }
        MessageRecord::builder(header.topic.clone(), body)
            .queue_id(queue_id)
            .sys_flag(sys_flag)
            .born_timestamp(header.born_timestamp)
            .born_host(born_host)
            .store_host(self.policy.store_host)
            .reconsume_times(header.reconsume_times_or_zero())
    }

    /// The stored properties string: the message's own, WAIT dropped, CLUSTER added.
    fn stored_properties(&self, encoded: &str) -> Properties {
        let mut props = Properties::parse(encoded);
        props.remove(PROPERTY_WAIT);
        props.insert(PROPERTY_CLUSTER, self.policy.cluster.clone());
        props
    }

    /// Awaits durability under SYNC_FLUSH and builds the response.
    async fn finish(
        &self,
        request: &RemotingCommand,
        stored: Stored,
        queue_id: i32,
    ) -> RemotingCommand {
        let code = match acknowledged(
            &self.replication,
            stored.flush,
            stored.end_offset,
            stored.wait_store,
            self.policy.sync_flush_timeout,
        )
        .await
        {
            Ok(code) => code,
            Err(err) => return store_error_response(request, &err),
        };
        let header = SendMessageResponseHeader {
            msg_id: stored.msg_id,
            queue_id,
            queue_offset: stored.queue_offset,
            transaction_id: None,
            batch_uniq_id: None,
        };
        RemotingCommand::response_to(request, code)
            .with_header(&header)
            .with_ext_field(MSG_REGION, self.policy.region.clone())
            .with_ext_field(TRACE_ON, self.policy.trace_on.to_string())
    }
}

/// The status to answer for bytes appended up to `end`: the disk flush (SYNC_FLUSH) and the slave
/// acknowledgement (SYNC_MASTER, when the message waits for the store) are awaited together, and
/// a replication failure wins the status, as in the Java broker (CommitLog.asyncPutMessage).
/// Every client-acknowledged append goes through here: sends, send-backs, committed transactions.
pub async fn acknowledged(
    replication: &Replication,
    flush: Option<FlushWait>,
    end: u64,
    wait_store: bool,
    flush_timeout: std::time::Duration,
) -> Result<ResponseCode, ferrimq_store::StoreError> {
    let replicated = replication.after_append(end, wait_store);
    let (flushed, replicated) = tokio::join!(durability(flush, flush_timeout), replicated);
    Ok(replicated.unwrap_or(flushed?))
}

/// Waits for a SYNC_FLUSH append to be durable: SUCCESS, or FLUSH_DISK_TIMEOUT after `timeout`.
/// The timeout is enforced here too: a sync stuck in the kernel holds the flusher, which then
/// cannot expire the request on time.
pub async fn durability(
    flush: Option<FlushWait>,
    timeout: std::time::Duration,
) -> Result<ResponseCode, ferrimq_store::StoreError> {
    let Some(wait) = flush else {
        return Ok(ResponseCode::Success);
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(Ok(FlushStatus::Durable)) => Ok(ResponseCode::Success),
        Ok(Ok(FlushStatus::TimedOut)) | Err(_) => Ok(ResponseCode::FlushDiskTimeout),
        Ok(Err(err)) => Err(err),
    }
}

/// A pseudo-random queue below `count` (queueId < 0 lets the broker pick).
pub(crate) fn random_queue(count: u32) -> i32 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    // xorshift64*, advanced atomically: good enough to spread queues, no dependency.
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33;
    (r % u64::from(count.max(1))) as i32
}
