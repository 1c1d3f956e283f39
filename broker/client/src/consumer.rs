//! `PullConsumer`: pulls messages from queues it is assigned, keeps a position per queue and
//! commits positions to the broker (the Java lite-pull consumer in `assign` mode).
//!
//! Pull = PULL_MESSAGE (11) with PullSysFlag SUBSCRIPTION (the expression travels with each
//! request, so no heartbeat is needed before pulling) plus SUSPEND when long polling. Response codes
//! map as in Java: 0 found, 19 no new message, 20 no matched message, 21 offset illegal (the
//! position moves to `nextBeginOffset`). Found bodies are decoded with
//! [`crate::message::decode_records`] and filtered again by tag. A queue without a position starts
//! from its committed offset (QUERY_CONSUMER_OFFSET, 14; code 22 = none) or, failing that, from
//! the configured [`StartPosition`].
//!
//! In a master/slave group each pull goes to the broker the previous answer suggested
//! (`suggestWhichBrokerId`), else the master, else a slave; commits, offset queries and
//! min/max/search lookups go to the master, or to a slave while the master is out of the route
//! ([`crate::broker_choice`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrimq_remoting::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, JsonBody, MessageModel,
    MessageQueue, SubscriptionData,
};
use ferrimq_remoting::header::typed::{
    GetMaxOffsetRequestHeader, OffsetResponseHeader, PullMessageRequestHeader,
    PullMessageResponseHeader, QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader,
    TopicQueueRequestHeader, UnregisterClientRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};

use crate::broker_choice::{MASTER_ID, PullFromWhichNode, choose};
use crate::error::{ClientError, Result};
use crate::message::{MessageExt, decode_records, property};
use crate::message_id::now_millis;
use crate::route::RouteCache;
use crate::session::{Session, request};
use crate::subscription::{matches, subscription};

/// PullSysFlag bits.
const FLAG_SUSPEND: i32 = 0x2;
const FLAG_SUBSCRIPTION: i32 = 0x4;
/// RPC time allowed beyond the suspend time of a long poll (Java: 30 s RPC for 20 s suspend).
const LONG_POLL_MARGIN: Duration = Duration::from_secs(10);

/// Where a queue without a committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// The queue's min offset.
    First,
    /// The queue's max offset (only new messages).
    Last,
    /// The first message stored at or after this time (ms).
    Timestamp(i64),
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Consumer group.
    pub group: String,
    /// Messages asked for per pull.
    pub pull_batch_size: i32,
    /// Long-poll time the broker may hold an empty pull (`None` = answer at once).
    pub long_poll: Option<Duration>,
    /// Start of queues without a committed offset.
    pub start: StartPosition,
}

impl ConsumerConfig {
    /// Defaults for `group`: batches of 32, no long polling, start from the first offset.
    pub fn new(group: impl Into<String>) -> Self {
        ConsumerConfig {
            group: group.into(),
            pull_batch_size: 32,
            long_poll: None,
            start: StartPosition::First,
        }
    }
}

/// Outcome of one pull (Java `PullStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    /// Messages returned (possibly all filtered out client-side).
    Found,
    /// Nothing new at this offset.
    NoNewMsg,
    /// Messages were there but none matched the subscription.
    NoMatchedMsg,
    /// The offset was out of range; continue from `next_begin_offset`.
    OffsetIllegal,
}

/// Result of one pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullResult {
    /// Status.
    pub status: PullStatus,
    /// Offset to pull next.
    pub next_begin_offset: i64,
    /// Queue min offset.
    pub min_offset: i64,
    /// Queue max offset (next offset to be written).
    pub max_offset: i64,
    /// Broker id suggested for the next pull (0 = master).
    pub suggest_which_broker_id: i64,
    /// Decoded, tag-filtered messages.
    pub messages: Vec<MessageExt>,
}

/// Pulls assigned queues and commits their positions; cheap to clone.
#[derive(Debug, Clone)]
pub struct PullConsumer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    routes: Arc<RouteCache>,
    config: ConsumerConfig,
    subscriptions: Mutex<HashMap<String, SubscriptionData>>,
    /// Assigned queues and their next offsets (`None` = not resolved yet).
    positions: Mutex<BTreeMap<MessageQueue, Option<i64>>>,
    /// Broker id each queue's last pull answer suggested (master/slave failover).
    pull_from: PullFromWhichNode,
}

impl PullConsumer {
    /// A consumer with its own route cache on `session`.
    pub fn new(session: Arc<Session>, config: ConsumerConfig) -> Self {
        PullConsumer::with_routes(RouteCache::new(session, Duration::from_secs(30)), config)
    }

    /// A consumer sharing `routes`.
    pub fn with_routes(routes: Arc<RouteCache>, config: ConsumerConfig) -> Self {
        PullConsumer {
            inner: Arc::new(Inner {
                routes,
                config,
                subscriptions: Mutex::default(),
                positions: Mutex::default(),
                pull_from: PullFromWhichNode::default(),
            }),
        }
    }

    /// Sets the tag expression of `topic`: "*" or "tagA || tagB" (default "*").
    pub fn subscribe(&self, topic: &str, expression: &str) {
        let data = subscription(topic, expression, now_millis());
        lock(&self.inner.subscriptions).insert(topic.to_owned(), data);
    }

    /// Subscribes `topic` with a SQL92 selector (Java `MessageSelector.bySql`), evaluated by
    /// the broker on message properties (`TAGS`, `KEYS`, user properties). A broker without
    /// `enablePropertyFilter` answers pulls with SYSTEM_ERROR, an invalid expression with
    /// SUBSCRIPTION_PARSE_FAILED and the parser's message; both surface as
    /// [`ClientError::Broker`] from the pull.
    pub fn subscribe_sql92(&self, topic: &str, expression: &str) {
        let data = crate::subscription::sql92_subscription(topic, expression, now_millis());
        lock(&self.inner.subscriptions).insert(topic.to_owned(), data);
    }

    /// The readable queues of `topic`.
    pub async fn queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let route = self.inner.routes.route(topic).await?;
        Ok(route.subscribe.clone())
    }

    /// Replaces the assigned queues; positions of queues kept are kept.
    pub fn assign(&self, queues: impl IntoIterator<Item = MessageQueue>) {
        let mut positions = lock(&self.inner.positions);
        let old = std::mem::take(&mut *positions);
        for queue in queues {
            let position = old.get(&queue).copied().flatten();
            positions.insert(queue, position);
        }
    }

    /// Assigned queues with their next offsets (`None` = not resolved yet).
    pub fn positions(&self) -> BTreeMap<MessageQueue, Option<i64>> {
        lock(&self.inner.positions).clone()
    }

    /// Sets the next offset of an assigned (or newly assigned) queue.
    pub fn seek(&self, queue: &MessageQueue, offset: i64) {
        lock(&self.inner.positions).insert(queue.clone(), Some(offset));
    }

    /// Moves `queue` to its min offset.
    pub async fn seek_to_begin(&self, queue: &MessageQueue) -> Result<i64> {
        let offset = self.min_offset(queue).await?;
        self.seek(queue, offset);
        Ok(offset)
    }

    /// Moves `queue` to its max offset.
    pub async fn seek_to_end(&self, queue: &MessageQueue) -> Result<i64> {
        let offset = self.max_offset(queue).await?;
        self.seek(queue, offset);
        Ok(offset)
    }

    /// Moves `queue` to the first message stored at or after `timestamp` (ms).
    pub async fn seek_to_timestamp(&self, queue: &MessageQueue, timestamp: i64) -> Result<i64> {
        let offset = self.search_offset(queue, timestamp).await?;
        self.seek(queue, offset);
        Ok(offset)
    }

    /// Pulls every assigned queue once, concurrently, and returns what was found, advancing the
    /// positions. If nothing was found and long polling is configured, pulls again letting the
    /// broker hold each request, and returns as soon as one queue yields messages (pulls still
    /// held are abandoned without moving their positions, so nothing is skipped).
    pub async fn poll(&self) -> Result<Vec<MessageExt>> {
        let found = self.pull_all(None).await?;
        match self.inner.config.long_poll {
            Some(suspend) if found.is_empty() => self.pull_all(Some(suspend)).await,
            _ => Ok(found),
        }
    }

    async fn pull_all(&self, suspend: Option<Duration>) -> Result<Vec<MessageExt>> {
        let queues: Vec<MessageQueue> = lock(&self.inner.positions).keys().cloned().collect();
        let mut pulls: tokio::task::JoinSet<Result<Vec<MessageExt>>> = tokio::task::JoinSet::new();
        for queue in queues {
            let consumer = self.clone();
            pulls.spawn(async move { consumer.pull_queue(&queue, suspend).await });
        }
        let mut messages = Vec::new();
        while let Some(joined) = pulls.join_next().await {
            let batch = joined.map_err(|e| ClientError::InvalidMessage {
                reason: format!("pull task failed: {e}"),
            })??;
            messages.extend(batch);
            if !messages.is_empty() && suspend.is_some() {
                // Pulls that already finished have moved their positions: keep their messages.
                pulls.abort_all();
                while let Some(joined) = pulls.join_next().await {
                    if let Ok(Ok(batch)) = joined {
                        messages.extend(batch);
                    }
                }
                break;
            }
        }
        Ok(messages)
    }

    /// Pulls `queue` at its position (letting the broker hold the request per the long-poll
    /// setting) and advances it.
    pub async fn pull_next(&self, queue: &MessageQueue) -> Result<Vec<MessageExt>> {
        self.pull_queue(queue, self.inner.config.long_poll).await
    }

    async fn pull_queue(
        &self,
        queue: &MessageQueue,
        suspend: Option<Duration>,
    ) -> Result<Vec<MessageExt>> {
        let offset = self.position(queue).await?;
        let batch = self.inner.config.pull_batch_size;
        let result = self.pull_with(queue, offset, batch, suspend).await?;
        let mut positions = lock(&self.inner.positions);
        if let Some(slot) = positions.get_mut(queue) {
            if *slot == Some(offset) {
                *slot = Some(result.next_begin_offset);
            }
        }
        Ok(result.messages)
    }

    /// One PULL_MESSAGE of `queue` at `offset`, independent of positions, long polling per the
    /// configuration.
    pub async fn pull(
        &self,
        queue: &MessageQueue,
        offset: i64,
        max_nums: i32,
    ) -> Result<PullResult> {
        self.pull_with(queue, offset, max_nums, self.inner.config.long_poll)
            .await
    }

    async fn pull_with(
        &self,
        queue: &MessageQueue,
        offset: i64,
        max_nums: i32,
        suspend: Option<Duration>,
    ) -> Result<PullResult> {
        let sub = self.subscription_of(&queue.topic);
        let header = PullMessageRequestHeader {
            consumer_group: self.inner.config.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            queue_offset: offset,
            max_msg_nums: max_nums,
            sys_flag: FLAG_SUBSCRIPTION | if suspend.is_some() { FLAG_SUSPEND } else { 0 },
            commit_offset: 0,
            suspend_timeout_millis: suspend.map_or(0, |d| d.as_millis() as i64),
            subscription: Some(sub.sub_string.clone()),
            sub_version: sub.sub_version,
            expression_type: sub
                .expression_type
                .clone()
                .or_else(|| Some("TAG".to_owned())),
            max_msg_bytes: None,
            request_source: None,
            proxy_forward_client_id: None,
        };
        let accepted = [
            ResponseCode::Success,
            ResponseCode::PullNotFound,
            ResponseCode::PullRetryImmediately,
            ResponseCode::PullOffsetMoved,
        ];
        // The broker checks held requests only every 5 s, so allow for that past the suspend time.
        let timeout = match suspend {
            Some(held) => held + LONG_POLL_MARGIN,
            None => self.session().request_timeout(),
        };
        let req = request(RequestCode::PullMessage).with_header(&header);
        let preferred = self.inner.pull_from.recalculate(queue);
        let response = self
            .invoke_broker(queue, preferred, req, &accepted, Some(timeout))
            .await;
        if response.is_err() && preferred != MASTER_ID {
            // The suggested broker is unreachable or refused (a slave that does not know the
            // topic yet): start over from the master, or a slave if the route lacks it.
            self.inner.pull_from.update(queue, MASTER_ID);
        }
        let result = pull_result(&response?, &sub)?;
        self.inner
            .pull_from
            .update(queue, result.suggest_which_broker_id);
        Ok(result)
    }

    /// The committed offset of `queue` for this group (`None` if the broker has none: code 22).
    pub async fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>> {
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: self.inner.config.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            set_zero_if_not_found: Some(false),
        };
        let req = request(RequestCode::QueryConsumerOffset).with_header(&header);
        let accepted = [ResponseCode::Success, ResponseCode::QueryNotFound];
        let response = self
            .invoke_broker(queue, MASTER_ID, req, &accepted, None)
            .await?;
        if response.code == ResponseCode::QueryNotFound.code() {
            return Ok(None);
        }
        Ok(Some(
            response.decode_header::<OffsetResponseHeader>()?.offset,
        ))
    }

    /// Stores `offset` as the group's committed offset of `queue` (UPDATE_CONSUMER_OFFSET, 15).
    pub async fn commit_offset(&self, queue: &MessageQueue, offset: i64) -> Result<()> {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: self.inner.config.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            commit_offset: offset,
        };
        let req = request(RequestCode::UpdateConsumerOffset).with_header(&header);
        self.invoke_broker(queue, MASTER_ID, req, &[ResponseCode::Success], None)
            .await
            .map(drop)
    }

    /// Commits the position of every assigned queue that has one.
    pub async fn commit(&self) -> Result<()> {
        let positions = self.positions();
        for (queue, position) in positions {
            if let Some(offset) = position {
                self.commit_offset(&queue, offset).await?;
            }
        }
        Ok(())
    }

    /// Queue min offset (GET_MIN_OFFSET, 31).
    pub async fn min_offset(&self, queue: &MessageQueue) -> Result<i64> {
        let header = TopicQueueRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
        };
        let req = request(RequestCode::GetMinOffset).with_header(&header);
        self.offset_call(queue, req).await
    }

    /// Queue max offset (GET_MAX_OFFSET, 30): the next offset to be written.
    pub async fn max_offset(&self, queue: &MessageQueue) -> Result<i64> {
        let header = GetMaxOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            committed: Some(true),
        };
        let req = request(RequestCode::GetMaxOffset).with_header(&header);
        self.offset_call(queue, req).await
    }

    /// Offset of the first message stored at or after `timestamp` (SEARCH_OFFSET_BY_TIMESTAMP, 29).
    pub async fn search_offset(&self, queue: &MessageQueue, timestamp: i64) -> Result<i64> {
        let header = SearchOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            timestamp,
            boundary_type: Some("LOWER".to_owned()),
        };
        let req = request(RequestCode::SearchOffsetByTimestamp).with_header(&header);
        self.offset_call(queue, req).await
    }

    /// Registers the group and its subscriptions with every master of the subscribed topics.
    pub async fn heartbeat(&self) -> Result<()> {
        let subs: Vec<SubscriptionData> =
            lock(&self.inner.subscriptions).values().cloned().collect();
        let mut addrs = BTreeSet::new();
        for sub in &subs {
            addrs.extend(self.inner.routes.route(&sub.topic).await?.master_addrs());
        }
        let data = HeartbeatData {
            client_id: self.session().client_id().to_owned(),
            consumer_data_set: vec![ConsumerData {
                consume_from_where: match self.inner.config.start {
                    StartPosition::First => ConsumeFromWhere::ConsumeFromFirstOffset,
                    StartPosition::Last => ConsumeFromWhere::ConsumeFromLastOffset,
                    StartPosition::Timestamp(_) => ConsumeFromWhere::ConsumeFromTimestamp,
                },
                consume_type: ConsumeType::ConsumeActively,
                group_name: self.inner.config.group.clone(),
                message_model: MessageModel::Clustering,
                subscription_data_set: subs,
                unit_mode: false,
            }],
            ..HeartbeatData::default()
        };
        let body = data.encode()?;
        for addr in addrs {
            let req = request(RequestCode::HeartBeat).with_body(body.clone());
            self.session()
                .invoke_ok(&addr, req, &[ResponseCode::Success], None)
                .await?;
        }
        Ok(())
    }

    /// Unregisters the group from every master in the cached routes.
    pub async fn shutdown(&self) -> Result<()> {
        let header = UnregisterClientRequestHeader {
            client_id: self.session().client_id().to_owned(),
            producer_group: None,
            consumer_group: Some(self.inner.config.group.clone()),
        };
        for addr in self.inner.routes.all_master_addrs() {
            let req = request(RequestCode::UnregisterClient).with_header(&header);
            self.session()
                .invoke_ok(&addr, req, &[ResponseCode::Success], None)
                .await?;
        }
        Ok(())
    }

    fn session(&self) -> &Arc<Session> {
        self.inner.routes.session()
    }

    fn subscription_of(&self, topic: &str) -> SubscriptionData {
        let mut subs = lock(&self.inner.subscriptions);
        subs.entry(topic.to_owned())
            .or_insert_with(|| subscription(topic, "*", now_millis()))
            .clone()
    }

    /// Resolves the position of `queue`: assigned value, committed offset, or start position.
    async fn position(&self, queue: &MessageQueue) -> Result<i64> {
        if let Some(Some(offset)) = lock(&self.inner.positions).get(queue) {
            return Ok(*offset);
        }
        let offset = match self.committed(queue).await? {
            Some(offset) => offset,
            None => match self.inner.config.start {
                StartPosition::First => self.min_offset(queue).await?,
                StartPosition::Last => self.max_offset(queue).await?,
                StartPosition::Timestamp(t) => self.search_offset(queue, t).await?,
            },
        };
        lock(&self.inner.positions).insert(queue.clone(), Some(offset));
        Ok(offset)
    }

    async fn offset_call(&self, queue: &MessageQueue, req: RemotingCommand) -> Result<i64> {
        let response = self
            .invoke_broker(queue, MASTER_ID, req, &[ResponseCode::Success], None)
            .await?;
        Ok(response.decode_header::<OffsetResponseHeader>()?.offset)
    }

    /// Sends `req` to broker `preferred` of `queue`'s broker name if the route lists it, else to
    /// the master, else to a slave ([`choose`]); a transport failure invalidates the route.
    async fn invoke_broker(
        &self,
        queue: &MessageQueue,
        preferred: i64,
        req: RemotingCommand,
        accepted: &[ResponseCode],
        timeout: Option<Duration>,
    ) -> Result<RemotingCommand> {
        let route = self.inner.routes.route(&queue.topic).await?;
        let addr = choose(&route, &queue.broker_name, preferred)
            .ok_or_else(|| ClientError::NoBrokerAddr {
                broker: queue.broker_name.clone(),
            })?
            .addr;
        let outcome = self
            .session()
            .invoke_ok(&addr, req, accepted, timeout)
            .await;
        if let Err(ClientError::Transport(_)) = &outcome {
            self.inner.routes.invalidate(&queue.topic);
        }
        outcome
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn pull_result(response: &RemotingCommand, sub: &SubscriptionData) -> Result<PullResult> {
    let header: PullMessageResponseHeader = response.decode_header()?;
    let status = match ResponseCode::from_code(response.code) {
        Some(ResponseCode::Success) => PullStatus::Found,
        Some(ResponseCode::PullRetryImmediately) => PullStatus::NoMatchedMsg,
        Some(ResponseCode::PullOffsetMoved) => PullStatus::OffsetIllegal,
        _ => PullStatus::NoNewMsg,
    };
    let mut messages = Vec::new();
    if status == PullStatus::Found {
        for mut message in decode_records(&response.body)? {
            if !matches(sub, &message) {
                continue;
            }
            let props = &mut message.properties;
            props.insert(
                property::MIN_OFFSET.to_owned(),
                header.min_offset.to_string(),
            );
            props.insert(
                property::MAX_OFFSET.to_owned(),
                header.max_offset.to_string(),
            );
            messages.push(message);
        }
    }
    Ok(PullResult {
        status,
        next_begin_offset: header.next_begin_offset,
        min_offset: header.min_offset,
        max_offset: header.max_offset,
        suggest_which_broker_id: header.suggest_which_broker_id,
        messages,
    })
}
