//! CONSUMER_SEND_MSG_BACK (36): a push consumer hands back a message it failed to consume.
//! The broker stores a copy in `%RETRY%<group>` with `reconsumeTimes + 1` and a DELAY level, or
//! in `%DLQ%<group>` once the group's retry limit is reached (protocol reference §3.5).
//! A retry copy with a DELAY level goes through the schedule topic ([`crate::schedule`]) and
//! becomes visible in `%RETRY%<group>` only when its delay has passed.

use std::sync::Arc;

use ferrimq_config::SubscriptionGroupConfig;
use ferrimq_config::topic::{dlq_topic, retry_topic};
use ferrimq_remoting::header::typed::ConsumerSendMsgBackRequestHeader;
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_store::record::properties::Properties;
use ferrimq_store::record::{MessageRecord, MessageView, msg_id};
use ferrimq_store::store::MessageStore;
use ferrimq_transport::HandlerResult;

use crate::replication::Replication;
use crate::response::{reject, store_error_response};
use crate::schedule::divert;
use crate::send::{SendPolicy, VERSION_HONOURING_MAX_RECONSUME, acknowledged, random_queue};
use crate::topics::TopicRegistry;

const RETRY_TOPIC: &str = "RETRY_TOPIC";
const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
const DELAY: &str = "DELAY";

/// The send-back processor and the handles it needs.
#[derive(Debug)]
pub struct RetryProcessor {
    /// The message store.
    pub store: Arc<MessageStore>,
    /// Topic configs.
    pub topics: Arc<TopicRegistry>,
    /// Subscription groups.
    pub metadata: Arc<Metadata>,
    /// The send settings (store host, permissions, flush timeout).
    pub policy: SendPolicy,
    /// Under SYNC_MASTER the retry copy is acknowledged only once a slave has it.
    pub replication: Arc<Replication>,
}

impl RetryProcessor {
    /// Handles one CONSUMER_SEND_MSG_BACK.
    pub async fn handle(self: Arc<Self>, request: RemotingCommand) -> HandlerResult {
        let h: ConsumerSendMsgBackRequestHeader = request.decode_header()?;
        let group = match self.group(&request, &h) {
            Ok(Some(group)) => group,
            Ok(None) => {
                return Ok(Some(RemotingCommand::response_to(
                    &request,
                    ResponseCode::Success,
                )));
            }
            Err(response) => return Ok(Some(response)),
        };
        let original = match self
            .store
            .get_message_by_offset(u64::try_from(h.offset).unwrap_or(u64::MAX))
        {
            Ok(Some(record)) => record,
            Ok(None) => {
                return Ok(Some(reject(
                    &request,
                    ResponseCode::SystemError,
                    format!("look message by offset failed, {}", h.offset),
                )));
            }
            Err(err) => return Ok(Some(store_error_response(&request, &err))),
        };
        let view = MessageView::new(&original.bytes)
            .map_err(|e| format!("stored record at {}: {e}", h.offset))?;
        let record = self.copy(&request, &h, &group, &view)?;
        let appended = match self.store.append(&record) {
            Ok(r) => r,
            Err(err) => return Ok(Some(store_error_response(&request, &err))),
        };
        let end = appended.physical_offset + appended.size as u64;
        let flush_timeout = self.policy.sync_flush_timeout;
        let code =
            match acknowledged(&self.replication, appended.flush, end, true, flush_timeout).await {
                Ok(code) => code,
                Err(err) => return Ok(Some(store_error_response(&request, &err))),
            };
        Ok(Some(RemotingCommand::response_to(&request, code)))
    }

    /// The group's config; `None` when the group keeps no retry queue (the message is dropped).
    fn group(
        &self,
        request: &RemotingCommand,
        h: &ConsumerSendMsgBackRequestHeader,
    ) -> Result<Option<SubscriptionGroupConfig>, RemotingCommand> {
        let groups = &self.metadata.groups;
        let config = if self.policy.auto_create_group {
            Some(groups.get_or_create(&h.group))
        } else {
            groups.get(&h.group)
        };
        let Some(config) = config else {
            return Err(reject(
                request,
                ResponseCode::SubscriptionGroupNotExist,
                format!("subscription group not exist, {}", h.group),
            ));
        };
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
        Ok((config.retry_queue_nums > 0).then_some(config))
    }

    /// The copy to store: in the retry topic with a DELAY level, or in the DLQ.
    fn copy(
        &self,
        request: &RemotingCommand,
        h: &ConsumerSendMsgBackRequestHeader,
        group: &SubscriptionGroupConfig,
        view: &MessageView<'_>,
    ) -> Result<MessageRecord, Box<dyn std::error::Error + Send + Sync>> {
        let mut props = Properties::parse(view.properties_str());
        if props.get(RETRY_TOPIC).is_none() {
            props.insert(RETRY_TOPIC, view.topic());
        }
        let origin = props
            .get(ORIGIN_MESSAGE_ID)
            .map(str::to_owned)
            .or_else(|| h.origin_msg_id.clone().filter(|id| !id.is_empty()))
            .unwrap_or_else(|| msg_id::encode(view.store_host(), view.physical_offset()));
        props.insert(ORIGIN_MESSAGE_ID, origin);
        let reconsumed = view.reconsume_times();
        let max = match h.max_reconsume_times {
            Some(max) if request.version >= VERSION_HONOURING_MAX_RECONSUME => max,
            _ => group.retry_max_times,
        };
        let (topic, queue_id) = if reconsumed >= max || h.delay_level < 0 {
            props.remove(DELAY);
            let dlq = self.topics.ensure_group_topic(&dlq_topic(&h.group));
            if !dlq.perm.is_writeable() {
                return Err(
                    format!("the topic[{}] sending message is forbidden", dlq.topic_name).into(),
                );
            }
            (dlq.topic_name, 0)
        } else {
            let level = if h.delay_level == 0 {
                3 + reconsumed
            } else {
                h.delay_level
            };
            props.insert(DELAY, level.to_string());
            let retry = self.topics.ensure_group_topic(&retry_topic(&h.group));
            let queue_id = random_queue(retry.write_queue_nums);
            let (flags, max_level) = (view.sys_flag(), self.policy.max_delay_level);
            divert(&mut props, &retry.topic_name, queue_id, flags, max_level)
                .unwrap_or((retry.topic_name, queue_id))
        };
        Ok(
            MessageRecord::builder(topic, bytes::Bytes::copy_from_slice(view.body()))
                .queue_id(queue_id)
                .flag(view.flag())
                .sys_flag(view.sys_flag())
                .born_timestamp(view.born_timestamp())
                .born_host(view.born_host())
                .store_host(self.policy.store_host)
                .reconsume_times(reconsumed + 1)
                .properties(props)
                .build()?,
        )
    }
}
