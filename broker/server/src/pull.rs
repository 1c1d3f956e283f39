//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361): checks, subscription, store read, the status
//! table of the protocol reference §3.2 and long polling through [`PullHold`].

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrimq_config::{Perm, SubscriptionGroupConfig};
use ferrimq_remoting::header::typed::{PullMessageRequestHeader, PullMessageResponseHeader};
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_store::read::{GetMessageResult, GetMessageStatus};
use ferrimq_store::store::MessageStore;
use ferrimq_transport::{Channel, HandlerResult};

use crate::consumers::ConsumerRegistry;
use crate::filter::PullFilter;
use crate::long_polling::PullHold;
use crate::response::reject;
use crate::sql_filters::{Refusal, SqlFilters};
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
    /// `brokerRole` is SLAVE: commits carried by pulls are ignored (the client clears the flag
    /// for slaves anyway) and reads are refused unless `slave_read_enable`.
    pub slave: bool,
    /// `slaveReadEnable`: suggest reading from a slave when the pull is behind, and let a
    /// slave serve reads.
    pub slave_read_enable: bool,
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
    /// SQL92 settings and compiled selectors.
    pub filters: Arc<SqlFilters>,
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
        let (filter, group) = match self.check(&request, &header) {
            Ok(checked) => checked,
            Err(response) => return Ok(Some(response)),
        };
        if header.sys_flag & FLAG_COMMIT_OFFSET != 0
            && header.commit_offset >= 0
            && !self.policy.slave
        {
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
        let read_from = ReadFrom {
            broker_id: group.broker_id,
            when_slow: group.which_broker_when_consume_slowly,
        };
        Ok(Some(self.respond(
            &request,
            result,
            header.queue_offset,
            read_from,
        )))
    }

    /// The response of a read, with Java's `suggestWhichBrokerId` rule: with slaveReadEnable,
    /// the group's `whichBrokerWhenConsumeSlowly` when the read lags beyond
    /// accessMessageInMemoryMaxRatio of memory, else its `brokerId`; without it, 0 (master).
    /// A slave without slaveReadEnable answers PULL_RETRY_IMMEDIATELY towards the master,
    /// keeping the requested offset (Java moves nextBeginOffset past what it did not send).
    fn respond(
        &self,
        request: &RemotingCommand,
        result: GetMessageResult,
        offset: i64,
        read_from: ReadFrom,
    ) -> RemotingCommand {
        let slow = result.suggest_pulling_from_slave;
        if self.policy.slave && !self.policy.slave_read_enable {
            return redirect_to_master(request, &result, offset);
        }
        let suggest = match (self.policy.slave_read_enable, slow) {
            (false, _) => 0,
            (true, true) => read_from.when_slow,
            (true, false) => read_from.broker_id,
        };
        respond(request, result, offset, suggest)
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
        let parked = std::time::Instant::now();
        let open = tokio::select! {
            woken = wait => {
                tracing::debug!(
                    topic = %header.topic,
                    queue_id = header.queue_id,
                    offset,
                    woken,
                    waited_us = parked.elapsed().as_micros() as u64,
                    "parked pull answered"
                );
                true
            }
            () = channel.closed() => false,
        };
        open
    }

    fn read(&self, header: &PullMessageRequestHeader, filter: &PullFilter) -> GetMessageResult {
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
    ) -> Result<(PullFilter, SubscriptionGroupConfig), RemotingCommand> {
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
        Ok((self.subscription(request, header)?, group_config))
    }

    fn subscription(
        &self,
        request: &RemotingCommand,
        header: &PullMessageRequestHeader,
    ) -> Result<PullFilter, RemotingCommand> {
        let refused = |(code, remark): Refusal| reject(request, code, remark);
        if header.sys_flag & FLAG_SUBSCRIPTION != 0 {
            let expression = header.subscription.as_deref().unwrap_or("*");
            return self
                .filters
                .for_request(
                    &header.topic,
                    &header.consumer_group,
                    expression,
                    header.expression_type.as_deref(),
                )
                .map_err(refused);
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
        self.filters
            .for_registered(&header.consumer_group, &sub)
            .map_err(refused)
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

/// The group's read preferences (`brokerId`, `whichBrokerWhenConsumeSlowly`).
#[derive(Debug, Clone, Copy)]
struct ReadFrom {
    broker_id: i64,
    when_slow: i64,
}

/// A slave refusing reads (slaveReadEnable=false): retry now, at the master, same offset.
fn redirect_to_master(
    request: &RemotingCommand,
    result: &GetMessageResult,
    offset: i64,
) -> RemotingCommand {
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: offset,
        min_offset: result.min_offset as i64,
        max_offset: result.max_offset as i64,
        offset_delta: None,
        topic_sys_flag: None,
        group_sys_flag: None,
        forbidden_type: None,
    };
    RemotingCommand::response_to(request, ResponseCode::PullRetryImmediately)
        .with_header(&header)
        .with_remark(result.status.name())
}

fn respond(
    request: &RemotingCommand,
    result: GetMessageResult,
    offset: i64,
    suggest: i64,
) -> RemotingCommand {
    let code = status_code(result.status, offset);
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: suggest,
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
