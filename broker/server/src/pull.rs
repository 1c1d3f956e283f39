//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361): checks, subscription, store read, the status
//! table of the protocol reference §3.2 and long polling through [`PullHold`].

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrimq_config::Perm;
use ferrimq_remoting::header::typed::{PullMessageRequestHeader, PullMessageResponseHeader};
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_store::read::{GetMessageResult, GetMessageStatus};
use ferrimq_store::store::MessageStore;
use ferrimq_transport::{Channel, HandlerResult};

use crate::consumers::ConsumerRegistry;
use crate::filter::{EXPRESSION_TAG, TagFilter};
use crate::long_polling::PullHold;
use crate::response::reject;
use crate::topics::TopicRegistry;

/// PullSysFlag: store `commitOffset` as the group's offset.
pub const FLAG_COMMIT_OFFSET: i32 = 0x1;
/// PullSysFlag: the broker may hold the request (long polling).
pub const FLAG_SUSPEND: i32 = 0x2;
/// PullSysFlag: the request carries its subscription expression.
pub const FLAG_SUBSCRIPTION: i32 = 0x4;

/// Broker settings the pull path reads.
#[derive(Debug, Clone)]
pub struct PullPolicy {
    /// `brokerPermission`.
    pub broker_permission: Perm,
    /// `autoCreateSubscriptionGroup`.
    pub auto_create_group: bool,
    /// `longPollingEnable`.
    pub long_polling: bool,
    /// `shortPollingTimeMills`.
    pub short_polling: Duration,
}

/// The pull processor and the handles it needs.
#[derive(Debug)]
pub struct PullProcessor {
    /// The message store.
    pub store: Arc<MessageStore>,
    /// Topic configs.
    pub topics: Arc<TopicRegistry>,
    /// Subscription groups and consumer offsets.
    pub metadata: Arc<Metadata>,
    /// Heartbeat-registered subscriptions.
    pub consumers: Arc<ConsumerRegistry>,
    /// Parked pulls.
    pub hold: Arc<PullHold>,
    /// Settings.
    pub policy: PullPolicy,
}

impl PullProcessor {
    /// Handles one pull request.
    pub async fn handle(
        self: Arc<Self>,
        request: RemotingCommand,
        channel: Channel,
    ) -> HandlerResult {
        let header: PullMessageRequestHeader = request.decode_header()?;
        let filter = match self.check(&request, &header) {
            Ok(filter) => filter,
            Err(response) => return Ok(Some(response)),
        };
        if header.sys_flag & FLAG_COMMIT_OFFSET != 0 && header.commit_offset >= 0 {
            self.metadata.consumer_offsets.commit(
                &header.topic,
                &header.consumer_group,
                header.queue_id,
                header.commit_offset,
            );
        }
        let mut result = self.read(&header, &filter);
        if status_code(result.status, header.queue_offset) == ResponseCode::PullNotFound
            && header.sys_flag & FLAG_SUSPEND != 0
        {
            if !self.park(&header, &channel).await {
                // The consumer went away while parked: nobody to answer.
                return Ok(None);
            }
            result = self.read(&header, &filter);
        }
        Ok(Some(respond(&request, result, header.queue_offset)))
    }

    /// Waits for a message of the queue, at most the suspend time; false when the connection
    /// closed meanwhile.
    async fn park(&self, header: &PullMessageRequestHeader, channel: &Channel) -> bool {
        let timeout = if self.policy.long_polling {
            Duration::from_millis(u64::try_from(header.suspend_timeout_millis).unwrap_or(0))
        } else {
            self.policy.short_polling
        };
        let watch = self.hold.watch(&header.topic, header.queue_id);
        let offset = u64::try_from(header.queue_offset).unwrap_or(0);
        let store = &self.store;
        let wait = watch.wait(timeout, || {
            store.max_offset_in_queue(&header.topic, header.queue_id) > offset
        });
        tokio::select! {
            _ = wait => true,
            () = channel.closed() => false,
        }
    }

    fn read(&self, header: &PullMessageRequestHeader, filter: &TagFilter) -> GetMessageResult {
        let max_bytes = header
            .max_msg_bytes
            .and_then(|b| usize::try_from(b).ok())
            .filter(|b| *b > 0);
        self.store.get_message(
            &header.topic,
            header.queue_id,
            u64::try_from(header.queue_offset).unwrap_or(0),
            usize::try_from(header.max_msg_nums).unwrap_or(0).max(1),
            max_bytes,
            filter,
        )
    }

    /// Permission, group, topic and queue checks; then the subscription to filter with.
    fn check(
        &self,
        request: &RemotingCommand,
        header: &PullMessageRequestHeader,
    ) -> Result<TagFilter, RemotingCommand> {
        if !self.policy.broker_permission.is_readable() {
            return Err(reject(
                request,
                ResponseCode::NoPermission,
                "the broker pulling message is forbidden",
            ));
        }
        let group = &header.consumer_group;
        let group_config = if self.policy.auto_create_group {
            Some(self.metadata.groups.get_or_create(group))
        } else {
            self.metadata.groups.get(group)
        };
        let Some(group_config) = group_config else {
            return Err(reject(
                request,
                ResponseCode::SubscriptionGroupNotExist,
                format!("subscription group [{group}] does not exist"),
            ));
        };
        if !group_config.consume_enable {
            return Err(reject(
                request,
                ResponseCode::NoPermission,
                format!("subscription group no permission, {group}"),
            ));
        }
        let topic = &header.topic;
        let Some(config) = self.topics.get(topic) else {
            return Err(reject(
                request,
                ResponseCode::TopicNotExist,
                format!("topic[{topic}] not exist, apply first please!"),
            ));
        };
        if !config.perm.is_readable() {
            return Err(reject(
                request,
                ResponseCode::NoPermission,
                format!("the topic[{topic}] pulling message is forbidden"),
            ));
        }
        if header.queue_id < 0 || header.queue_id as u32 >= config.read_queue_nums {
            return Err(reject(
                request,
                ResponseCode::SystemError,
                format!(
                    "queueId[{}] is illegal, topic:[{topic}] topicConfig.readQueueNums:[{}]",
                    header.queue_id, config.read_queue_nums
                ),
            ));
        }
        self.subscription(request, header)
    }

    fn subscription(
        &self,
        request: &RemotingCommand,
        header: &PullMessageRequestHeader,
    ) -> Result<TagFilter, RemotingCommand> {
        let not_tag = |t: &Option<String>| t.as_deref().is_some_and(|t| t != EXPRESSION_TAG);
        if header.sys_flag & FLAG_SUBSCRIPTION != 0 {
            if not_tag(&header.expression_type) {
                return Err(reject(
                    request,
                    ResponseCode::SystemError,
                    "The broker does not support consumer to filter message by SQL92",
                ));
            }
            let expression = header.subscription.as_deref().unwrap_or("*");
            return TagFilter::parse(expression).ok_or_else(|| {
                reject(
                    request,
                    ResponseCode::SubscriptionParseFailed,
                    "parse the consumer's subscription failed",
                )
            });
        }
        let sub = match self
            .consumers
            .subscription(&header.consumer_group, &header.topic)
        {
            Ok(sub) => sub,
            Err(false) => {
                return Err(reject(
                    request,
                    ResponseCode::SubscriptionNotExist,
                    "the consumer's group info not exist",
                ));
            }
            Err(true) => {
                return Err(reject(
                    request,
                    ResponseCode::SubscriptionNotExist,
                    "the consumer's subscription not exist",
                ));
            }
        };
        if sub.sub_version < header.sub_version {
            return Err(reject(
                request,
                ResponseCode::SubscriptionNotLatest,
                "the consumer's subscription not latest",
            ));
        }
        if not_tag(&sub.expression_type) {
            return Err(reject(
                request,
                ResponseCode::SystemError,
                "The broker does not support consumer to filter message by SQL92",
            ));
        }
        Ok(TagFilter::from_subscription(&sub))
    }
}

/// The response code of a store status (§3.2 table); `offset` is the requested offset.
pub fn status_code(status: GetMessageStatus, offset: i64) -> ResponseCode {
    use GetMessageStatus as S;
    match status {
        S::Found => ResponseCode::Success,
        S::NoMatchedMessage | S::MessageWasRemoving => ResponseCode::PullRetryImmediately,
        S::NoMessageInQueue | S::NoMatchedLogicQueue if offset != 0 => {
            ResponseCode::PullOffsetMoved
        }
        S::NoMessageInQueue | S::NoMatchedLogicQueue => ResponseCode::PullNotFound,
        S::OffsetTooSmall | S::OffsetOverflowBadly => ResponseCode::PullOffsetMoved,
        S::OffsetOverflowOne | S::OffsetFoundNull => ResponseCode::PullNotFound,
    }
}

fn respond(request: &RemotingCommand, result: GetMessageResult, offset: i64) -> RemotingCommand {
    let code = status_code(result.status, offset);
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: result.next_begin_offset as i64,
        min_offset: result.min_offset as i64,
        max_offset: result.max_offset as i64,
        offset_delta: None,
        topic_sys_flag: None,
        group_sys_flag: None,
        forbidden_type: None,
    };
    let response = RemotingCommand::response_to(request, code)
        .with_header(&header)
        .with_remark(result.status.name());
    if code == ResponseCode::Success {
        response.with_body(concat(result.messages, result.total_bytes))
    } else {
        response
    }
}

/// The records back to back; a single record is handed over without a copy.
fn concat(mut messages: Vec<Bytes>, total: usize) -> Bytes {
    if messages.len() == 1 {
        return messages.pop().unwrap_or_default();
    }
    let mut body = BytesMut::with_capacity(total);
    for m in &messages {
        body.extend_from_slice(m);
    }
    body.freeze()
}
