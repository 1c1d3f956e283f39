//! The requests a broker sends to a push consumer on its connections, answered as Java's
//! `ClientRemotingProcessor` answers them:
//!
//! - NOTIFY_CONSUMER_IDS_CHANGED (40): rebalance now;
//! - RESET_CONSUMER_CLIENT_OFFSET (220, oneway, ResetOffsetBody): the named queues of the topic are
//!   given up, their offsets set to the given values and persisted, then a rebalance takes them
//!   over again from there (mqadmin `resetOffsetByTime` through the broker's 222);
//! - GET_CONSUMER_STATUS_FROM_CLIENT (221): this client's offsets of one topic;
//! - GET_CONSUMER_RUNNING_INFO (307): settings, subscriptions and the owned queues' state
//!   (mqadmin `consumerStatus`); consumption rates are not measured and read 0;
//! - CONSUME_MESSAGE_DIRECTLY (309): the attached message is handed to the listener once, outside
//!   the queues, and the outcome reported (mqadmin `consumeMessage`).
//!
//! The table is built before the consumer's state exists, so handlers reach it through a slot
//! filled once `PushConsumer::new` has built it (an unfilled or dropped slot answers SYSTEM_ERROR).

use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use ferrimq_remoting::body::{JsonBody, MessageQueue};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_transport::{DispatchTable, HandlerResult};
use tokio::sync::Notify;

use super::admin_bodies::{
    CmResult, ConsumeMessageDirectlyResult, GetConsumerStatusBody, ResetOffsetBody,
};
use super::listener::{
    ConcurrentContext, ConsumeConcurrentlyStatus, ConsumeOrderlyStatus, Listener, OrderlyContext,
};
use super::{Shared, running_info};
use crate::message::{MessageExt, decode_records};

/// Where the handlers find the consumer once it exists.
pub(super) type SharedSlot = Arc<OnceLock<Weak<Shared>>>;

/// The dispatch table of a push consumer's session.
pub(super) fn dispatch_table(slot: &SharedSlot, rebalance_now: &Arc<Notify>) -> DispatchTable {
    let notify = Arc::clone(rebalance_now);
    let mut table = DispatchTable::new().route(
        RequestCode::NotifyConsumerIdsChanged,
        move |_request, _channel| {
            notify.notify_one();
            async { Ok(None) }
        },
    );
    let s = Arc::clone(slot);
    table.insert(RequestCode::ResetConsumerClientOffset, move |req, _ch| {
        let shared = upgrade(&s);
        async move {
            if let Some(shared) = shared {
                reset_offset(&shared, &req).await;
            }
            Ok(None)
        }
    });
    let s = Arc::clone(slot);
    table.insert(RequestCode::GetConsumerStatusFromClient, move |req, _ch| {
        let result = with_shared(&s, &req, consumer_status);
        async move { result }
    });
    let s = Arc::clone(slot);
    table.insert(RequestCode::GetConsumerRunningInfo, move |req, _ch| {
        let result = with_shared(&s, &req, running_info::answer);
        async move { result }
    });
    let s = Arc::clone(slot);
    table.insert(RequestCode::ConsumeMessageDirectly, move |req, _ch| {
        let shared = upgrade(&s);
        async move {
            match shared {
                Some(shared) => consume_directly(&shared, &req).await,
                None => Ok(Some(not_running(&req))),
            }
        }
    });
    table
}

fn upgrade(slot: &SharedSlot) -> Option<Arc<Shared>> {
    slot.get().and_then(Weak::upgrade)
}

fn not_running(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::error_response(
        request,
        ResponseCode::SystemError,
        "the consumer is not running",
    )
}

fn with_shared(
    slot: &SharedSlot,
    request: &RemotingCommand,
    answer: fn(&Shared, &RemotingCommand) -> HandlerResult,
) -> HandlerResult {
    match upgrade(slot) {
        Some(shared) => answer(&shared, request),
        None => Ok(Some(not_running(request))),
    }
}

fn field<'a>(request: &'a RemotingCommand, name: &str) -> Option<&'a str> {
    request.ext_fields.get(name).map(String::as_str)
}

/// RESET_CONSUMER_CLIENT_OFFSET: moves this consumer's queues of the topic to the new offsets.
async fn reset_offset(shared: &Arc<Shared>, request: &RemotingCommand) {
    let (Some(topic), Some(group)) = (field(request, "topic"), field(request, "group")) else {
        return;
    };
    if group != shared.config.group {
        return;
    }
    let body = match ResetOffsetBody::decode(&request.body) {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(%topic, error = %e, "bad reset offset body");
            return;
        }
    };
    let mut reset: Vec<(MessageQueue, i64)> = body
        .offset_table
        .into_iter()
        .filter(|(q, _)| q.topic == topic)
        .collect();
    reset.sort();
    for (queue, offset) in &reset {
        if let Some(pq) = shared.queue_table().remove(queue) {
            pq.set_dropped(true);
        }
        shared.offsets.update(queue, *offset, false);
        if let Err(e) = shared.offsets.persist(queue).await {
            tracing::warn!(?queue, error = %e, "persisting a reset offset failed");
        }
        shared.offsets.remove(queue);
    }
    tracing::info!(%topic, queues = reset.len(), "consumer offsets reset by the broker");
    shared.rebalance_now.notify_one();
}

/// GET_CONSUMER_STATUS_FROM_CLIENT: this client's offsets of the asked topic.
fn consumer_status(shared: &Shared, request: &RemotingCommand) -> HandlerResult {
    let topic = field(request, "topic").unwrap_or_default();
    let body = GetConsumerStatusBody {
        message_queue_table: shared
            .offsets
            .snapshot()
            .into_iter()
            .filter(|(q, _)| q.topic == topic)
            .collect(),
    };
    Ok(Some(
        RemotingCommand::response_to(request, ResponseCode::Success).with_body(body.encode()?),
    ))
}

/// CONSUME_MESSAGE_DIRECTLY: one listener call with the attached message.
async fn consume_directly(shared: &Shared, request: &RemotingCommand) -> HandlerResult {
    let message = match decode_records(&request.body) {
        Ok(mut messages) if !messages.is_empty() => messages.swap_remove(0),
        Ok(_) => return Ok(Some(reject(request, "no message attached"))),
        Err(e) => return Ok(Some(reject(request, format!("bad message: {e}")))),
    };
    let queue = MessageQueue {
        broker_name: field(request, "brokerName").unwrap_or_default().to_owned(),
        queue_id: message.queue_id,
        topic: message.topic.clone(),
    };
    let listener = shared.listener.clone();
    let order = listener.is_orderly();
    let started = Instant::now();
    let outcome =
        tokio::task::spawn_blocking(move || call_listener(&listener, queue, message)).await;
    let (consume_result, remark) = match outcome {
        Ok(result) => (result, None),
        Err(e) => (CmResult::CrThrowException, Some(e.to_string())),
    };
    let result = ConsumeMessageDirectlyResult {
        order,
        auto_commit: true,
        consume_result,
        remark,
        spent_time_mills: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    };
    Ok(Some(
        RemotingCommand::response_to(request, ResponseCode::Success).with_body(result.encode()?),
    ))
}

fn call_listener(listener: &Listener, queue: MessageQueue, message: MessageExt) -> CmResult {
    let batch = [message];
    match listener {
        Listener::Concurrently(l) => {
            let mut context = ConcurrentContext {
                queue,
                delay_level_when_next_consume: 0,
                ack_index: i32::MAX,
            };
            match l.consume(&batch, &mut context) {
                ConsumeConcurrentlyStatus::ConsumeSuccess => CmResult::CrSuccess,
                ConsumeConcurrentlyStatus::ReconsumeLater => CmResult::CrLater,
            }
        }
        Listener::Orderly(l) => {
            let mut context = OrderlyContext {
                queue,
                suspend_time: None,
            };
            match l.consume(&batch, &mut context) {
                ConsumeOrderlyStatus::Success => CmResult::CrSuccess,
                ConsumeOrderlyStatus::SuspendCurrentQueueAMoment => CmResult::CrLater,
            }
        }
    }
}

fn reject(request: &RemotingCommand, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::error_response(request, ResponseCode::SystemError, remark)
}
