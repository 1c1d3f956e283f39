//! Handing messages to the listener and acting on its verdict.
//!
//! Concurrently: each batch runs on a blocking thread (at most `consume_threads` at once). On
//! success the batch leaves the process queue and the queue's offset moves up to the smallest
//! message still held. On `ReconsumeLater` in clustering mode each failed message is sent back
//! (CONSUMER_SEND_MSG_BACK, with the context's delay level and `max_reconsume_times`, so the
//! broker stores it in `%RETRY%<group>` or, past the limit, `%DLQ%<group>`); a message the
//! broker cannot take back is consumed again locally after 5 s. Broadcasting drops failures.
//!
//! Orderly: one worker per queue takes batches in offset order, only while the queue's lock
//! is held (clustering). `SuspendCurrentQueueAMoment` puts the batch back and pauses the queue;
//! past `max_reconsume_times` the batch is sent to the dead-letter queue and the queue moves on.

use std::sync::Arc;
use std::time::Duration;

use ferrimq_remoting::body::MessageQueue;
use ferrimq_remoting::header::typed::ConsumerSendMsgBackRequestHeader;
use ferrimq_remoting::{RequestCode, ResponseCode};

use super::Shared;
use super::listener::{
    ConcurrentContext, ConsumeConcurrentlyStatus, ConsumeOrderlyStatus, Listener, OrderlyContext,
};
use super::process_queue::ProcessQueue;
use crate::error::{ClientError, Result};
use crate::message::MessageExt;
use crate::session::request;

/// Delay before a message the broker refused to take back is consumed again locally.
const LOCAL_RETRY_DELAY: Duration = Duration::from_secs(5);
/// Delay level sending a message straight to the dead-letter queue.
const DLQ_DELAY_LEVEL: i32 = -1;

/// Schedules `messages` (just added to `pq`) for concurrent consumption in batches.
pub(super) fn submit_concurrently(
    shared: &Arc<Shared>,
    queue: &MessageQueue,
    pq: &Arc<ProcessQueue>,
    messages: Vec<MessageExt>,
) {
    for batch in messages.chunks(shared.config.consume_batch_size.max(1)) {
        let (shared, queue, pq) = (Arc::clone(shared), queue.clone(), Arc::clone(pq));
        let batch = batch.to_vec();
        tokio::spawn(consume_batch(shared, queue, pq, batch));
    }
}

/// Consumes `batch`, retrying locally (after 5 s) what the broker could not take back.
async fn consume_batch(
    shared: Arc<Shared>,
    queue: MessageQueue,
    pq: Arc<ProcessQueue>,
    mut batch: Vec<MessageExt>,
) {
    loop {
        let again = consume_once(&shared, &queue, &pq, batch).await;
        if again.is_empty() || pq.is_dropped() || shared.is_stopping() {
            return;
        }
        tokio::time::sleep(LOCAL_RETRY_DELAY).await;
        batch = again;
    }
}

/// One listener call and its aftermath; returns the messages to consume again locally.
async fn consume_once(
    shared: &Arc<Shared>,
    queue: &MessageQueue,
    pq: &ProcessQueue,
    batch: Vec<MessageExt>,
) -> Vec<MessageExt> {
    let Listener::Concurrently(listener) = shared.listener.clone() else {
        return Vec::new();
    };
    let Ok(_permit) = Arc::clone(&shared.consume_permits).acquire_owned().await else {
        return Vec::new();
    };
    if pq.is_dropped() {
        return Vec::new();
    }
    let context = ConcurrentContext {
        queue: queue.clone(),
        delay_level_when_next_consume: 0,
        ack_index: i32::MAX,
    };
    let (status, context) = run_blocking(context, &batch, move |batch, context| {
        listener.consume(batch, context)
    })
    .await;
    let acked = match status {
        ConsumeConcurrentlyStatus::ConsumeSuccess => {
            usize::try_from(context.ack_index.saturating_add(1))
                .unwrap_or(0)
                .min(batch.len())
        }
        ConsumeConcurrentlyStatus::ReconsumeLater => 0,
    };
    let mut done: Vec<i64> = batch[..acked].iter().map(|m| m.queue_offset).collect();
    let mut again = Vec::new();
    for message in &batch[acked..] {
        if !shared.clustering() {
            tracing::warn!(
                msg_id = message.msg_id(),
                "broadcast message failed; dropped"
            );
            done.push(message.queue_offset);
        } else if send_back(
            shared,
            queue,
            message,
            context.delay_level_when_next_consume,
        )
        .await
        .is_ok()
        {
            done.push(message.queue_offset);
        } else {
            let mut retry = message.clone();
            retry.reconsume_times += 1;
            again.push(retry);
        }
    }
    let offset = pq.remove(&done);
    if !pq.is_dropped() {
        shared.offsets.update(queue, offset, true);
    }
    again
}

/// Runs a listener call on a blocking thread with its own copy of the batch; a panicking
/// listener counts as a failure (the status's default) and leaves the context as it was.
async fn run_blocking<C, S>(
    context: C,
    batch: &[MessageExt],
    call: impl FnOnce(&[MessageExt], &mut C) -> S + Send + 'static,
) -> (S, C)
where
    C: Clone + Send + 'static,
    S: Default + Send + 'static,
{
    let (copy, mut own) = (batch.to_vec(), context.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let status = call(&copy, &mut own);
        (status, own)
    })
    .await;
    outcome.unwrap_or_else(|e| {
        tracing::error!(error = %e, "listener panicked");
        (S::default(), context)
    })
}

/// CONSUMER_SEND_MSG_BACK of `message` to the broker it came from.
pub(super) async fn send_back(
    shared: &Shared,
    queue: &MessageQueue,
    message: &MessageExt,
    delay_level: i32,
) -> Result<()> {
    let addr = shared
        .routes
        .master_addr(&queue.broker_name)
        .unwrap_or_else(|| message.store_host.to_string());
    let orderly = shared.listener.is_orderly();
    let header = ConsumerSendMsgBackRequestHeader {
        offset: message.commit_log_offset,
        group: shared.config.group.clone(),
        delay_level,
        origin_msg_id: Some(message.msg_id().to_owned()),
        origin_topic: Some(message.topic.clone()),
        unit_mode: Some(false),
        max_reconsume_times: Some(shared.config.retry_limit(orderly)),
    };
    let req = request(RequestCode::ConsumerSendMsgBack).with_header(&header);
    let outcome = shared
        .session()
        .invoke_ok(&addr, req, &[ResponseCode::Success], None)
        .await;
    if let Err(e) = &outcome {
        tracing::warn!(%addr, msg_id = message.msg_id(), error = %e, "send back failed");
    }
    outcome.map(drop)
}

/// Consumes `queue` in order until it is dropped or the consumer stops.
pub(super) async fn orderly_worker(
    shared: Arc<Shared>,
    queue: MessageQueue,
    pq: Arc<ProcessQueue>,
) {
    let mut stopping = shared.stopping.clone();
    let needs_lock = shared.clustering();
    loop {
        if pq.is_dropped() || shared.is_stopping() {
            return;
        }
        if needs_lock && !pq.is_locked(shared.config.lock_expiry) || pq.count() == 0 {
            tokio::select! {
                _ = pq.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stopping.changed() => return,
            }
            continue;
        }
        match consume_in_order(&shared, &queue, &pq).await {
            Ok(Some(pause)) => tokio::time::sleep(pause).await,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(?queue, error = %e, "orderly consumption paused");
                tokio::time::sleep(shared.config.suspend_current_queue_time).await;
            }
        }
    }
}

/// One orderly batch; returns the pause to take before the next one, if any.
async fn consume_in_order(
    shared: &Arc<Shared>,
    queue: &MessageQueue,
    pq: &Arc<ProcessQueue>,
) -> Result<Option<Duration>> {
    let Listener::Orderly(listener) = shared.listener.clone() else {
        return Ok(None);
    };
    let _guard = pq.consume_lock.lock().await;
    if pq.is_dropped() {
        return Ok(None);
    }
    let batch = pq.take(shared.config.consume_batch_size.max(1));
    if batch.is_empty() {
        return Ok(None);
    }
    let context = OrderlyContext {
        queue: queue.clone(),
        suspend_time: None,
    };
    let (status, context) = run_blocking(context, &batch, move |batch, context| {
        listener.consume(batch, context)
    })
    .await;
    if status == ConsumeOrderlyStatus::SuspendCurrentQueueAMoment {
        let limit = shared.config.retry_limit(true);
        if batch.iter().all(|m| m.reconsume_times < limit) {
            let again = batch
                .into_iter()
                .map(|mut m| {
                    m.reconsume_times += 1;
                    m
                })
                .collect();
            pq.consume_again(again);
            return Ok(Some(
                context
                    .suspend_time
                    .unwrap_or(shared.config.suspend_current_queue_time),
            ));
        }
        for message in &batch {
            if let Err(e) = send_back(shared, queue, message, DLQ_DELAY_LEVEL).await {
                pq.consume_again(batch);
                return Err(e);
            }
        }
    }
    commit_orderly(shared, queue, pq)
}

/// Records the consumed batch's offset: even on a queue being given up, since the rebalance
/// persists offsets only after taking the consume lock this batch holds.
fn commit_orderly(
    shared: &Shared,
    queue: &MessageQueue,
    pq: &ProcessQueue,
) -> Result<Option<Duration>> {
    match pq.commit() {
        Some(offset) => {
            shared.offsets.update(queue, offset, false);
            Ok(None)
        }
        None => Err(ClientError::InvalidMessage {
            reason: format!("orderly commit of {queue:?} with nothing consuming"),
        }),
    }
}
