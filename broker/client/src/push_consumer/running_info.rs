//! This consumer's [`ConsumerRunningInfo`] (GET_CONSUMER_RUNNING_INFO, what mqadmin
//! `consumerStatus` prints): the settings as Java property names, the `PROP_*` entries mqadmin's
//! analysis reads, every subscription, and the state of each owned queue. Consumption rates are
//! not measured by this client, so every `ConsumeStatus` reads 0.

use std::collections::BTreeMap;

use ferrimq_remoting::body::{JsonBody, MessageModel};
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_transport::HandlerResult;

use super::Shared;
use super::admin_bodies::{
    ConsumeStatus, ConsumerRunningInfo, PROP_CLIENT_VERSION, PROP_CONSUME_ORDERLY,
    PROP_CONSUME_TYPE, PROP_CONSUMER_START_TIMESTAMP, PROP_NAMESERVER_ADDR,
    PROP_THREADPOOL_CORE_SIZE, ProcessQueueInfo,
};
use crate::consumer::StartPosition;
use crate::subscription::subscription;

/// The version this client reports in `PROP_CLIENT_VERSION`.
const CLIENT_VERSION: &str = concat!("ferrimq-rust-", env!("CARGO_PKG_VERSION"));

/// GET_CONSUMER_RUNNING_INFO answer.
pub(super) fn answer(shared: &Shared, request: &RemotingCommand) -> HandlerResult {
    let body = collect(shared).encode()?;
    Ok(Some(
        RemotingCommand::response_to(request, ResponseCode::Success).with_body(body),
    ))
}

/// The running info of the consumer now.
pub(super) fn collect(shared: &Shared) -> ConsumerRunningInfo {
    let subscriptions = shared.subscription_table();
    let version = shared.started_at();
    let subscription_set = subscriptions
        .iter()
        .map(|(topic, expression)| subscription(topic, expression, version))
        .collect();
    let mq_table = shared
        .queue_table()
        .iter()
        .map(|(queue, pq)| {
            let (min, max) = pq.held_range().unwrap_or((0, 0));
            let info = ProcessQueueInfo {
                commit_offset: shared.offsets.read_memory(queue).unwrap_or(-1),
                cached_msg_min_offset: min,
                cached_msg_max_offset: max,
                cached_msg_count: i32::try_from(pq.count()).unwrap_or(i32::MAX),
                cached_msg_size_in_mib: i32::try_from(pq.bytes() >> 20).unwrap_or(i32::MAX),
                locked: pq.is_locked(shared.config.lock_expiry),
                droped: pq.is_dropped(),
                ..ProcessQueueInfo::default()
            };
            (queue.clone(), info)
        })
        .collect();
    let status_table = subscriptions
        .keys()
        .map(|topic| (topic.clone(), ConsumeStatus::default()))
        .collect();
    ConsumerRunningInfo {
        properties: properties(shared),
        subscription_set,
        mq_table,
        status_table,
        jstack: None,
    }
}

fn properties(shared: &Shared) -> BTreeMap<String, String> {
    let c = &shared.config;
    let model = match c.model {
        MessageModel::Clustering => "CLUSTERING",
        MessageModel::Broadcasting => "BROADCASTING",
    };
    let from = match c.consume_from {
        StartPosition::First => "CONSUME_FROM_FIRST_OFFSET",
        StartPosition::Last => "CONSUME_FROM_LAST_OFFSET",
        StartPosition::Timestamp(_) => "CONSUME_FROM_TIMESTAMP",
    };
    let orderly = shared.listener.is_orderly();
    let entries = [
        ("consumerGroup", c.group.clone()),
        ("messageModel", model.to_owned()),
        ("consumeFromWhere", from.to_owned()),
        ("consumeThreadMax", c.consume_threads.to_string()),
        ("pullBatchSize", c.pull_batch_size.to_string()),
        (
            "consumeMessageBatchMaxSize",
            c.consume_batch_size.to_string(),
        ),
        (
            "pullThresholdForQueue",
            c.pull_threshold_for_queue.to_string(),
        ),
        ("maxReconsumeTimes", c.retry_limit(orderly).to_string()),
        (
            PROP_NAMESERVER_ADDR,
            shared.session().namesrv_addrs().join(";"),
        ),
        (PROP_CONSUME_TYPE, "CONSUME_PASSIVELY".to_owned()),
        (PROP_CONSUME_ORDERLY, orderly.to_string()),
        (PROP_THREADPOOL_CORE_SIZE, c.consume_threads.to_string()),
        (PROP_CLIENT_VERSION, CLIENT_VERSION.to_owned()),
        (
            PROP_CONSUMER_START_TIMESTAMP,
            shared.started_at().to_string(),
        ),
    ];
    entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}
