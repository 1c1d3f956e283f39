//! The pull task of one owned queue: long-polls the broker from the next offset, hands what it
//! finds to consumption and moves on, until the queue is given up or the consumer stops.
//!
//! Flow control as in Java: while the queue holds more than `pull_threshold_for_queue` messages
//! or `pull_threshold_bytes_for_queue` body bytes, pulls pause (50 ms steps). An orderly queue in
//! clustering mode is pulled only while its broker lock is held. A failed pull pauses the queue
//! for `pull_delay_on_error`.

use std::sync::Arc;
use std::time::Duration;

use ferrimq_remoting::body::MessageQueue;

use super::Shared;
use super::consume;
use super::process_queue::ProcessQueue;
use crate::consumer::{PullResult, PullStatus};
use crate::error::Result;
use crate::message::{MessageExt, property};

/// Pause while flow control holds pulls back (Java `PULL_TIME_DELAY_MILLS_WHEN_FLOW_CONTROL`).
const FLOW_CONTROL_PAUSE: Duration = Duration::from_millis(50);
/// Pause while an orderly queue waits for its lock.
const LOCK_WAIT_PAUSE: Duration = Duration::from_millis(500);

/// Pulls `queue` from `offset` until it is dropped or the consumer stops.
pub(super) async fn run(
    shared: Arc<Shared>,
    queue: MessageQueue,
    pq: Arc<ProcessQueue>,
    offset: i64,
) {
    let mut next = offset;
    let mut stopping = shared.stopping.clone();
    while !pq.is_dropped() && !shared.is_stopping() {
        if let Some(pause) = hold_back(&shared, &pq) {
            tokio::time::sleep(pause).await;
            continue;
        }
        let outcome = tokio::select! {
            outcome = shared.pull.pull(&queue, next, shared.config.pull_batch_size) => outcome,
            _ = stopping.changed() => return,
        };
        if pq.is_dropped() {
            return;
        }
        match handle(&shared, &queue, &pq, next, outcome) {
            Ok(moved) => next = moved,
            Err(e) => {
                tracing::debug!(?queue, offset = next, error = %e, "pull failed");
                tokio::time::sleep(shared.config.pull_delay_on_error).await;
            }
        }
    }
}

/// Why the next pull should wait, if it should.
fn hold_back(shared: &Shared, pq: &ProcessQueue) -> Option<Duration> {
    let config = &shared.config;
    if pq.count() > config.pull_threshold_for_queue
        || pq.bytes() > config.pull_threshold_bytes_for_queue
    {
        return Some(FLOW_CONTROL_PAUSE);
    }
    let needs_lock = shared.listener.is_orderly() && shared.clustering();
    (needs_lock && !pq.is_locked(config.lock_expiry)).then_some(LOCK_WAIT_PAUSE)
}

/// Applies one pull outcome; returns the next offset to pull.
fn handle(
    shared: &Arc<Shared>,
    queue: &MessageQueue,
    pq: &Arc<ProcessQueue>,
    offset: i64,
    outcome: Result<PullResult>,
) -> Result<i64> {
    let result = outcome?;
    match result.status {
        PullStatus::Found if !result.messages.is_empty() => {
            let messages = restore_topics(shared, result.messages);
            pq.put(&messages);
            if !shared.listener.is_orderly() {
                consume::submit_concurrently(shared, queue, pq, messages);
            }
        }
        PullStatus::OffsetIllegal => {
            tracing::warn!(
                ?queue,
                offset,
                next = result.next_begin_offset,
                "offset illegal"
            );
            shared
                .offsets
                .update(queue, result.next_begin_offset, false);
        }
        // Nothing (or nothing matching) to consume: the position may move past filtered ones.
        _ if pq.count() == 0 => shared.offsets.update(queue, result.next_begin_offset, true),
        _ => {}
    }
    Ok(result.next_begin_offset)
}

/// Retry copies come back with their original topic (Java `resetRetryAndNamespace`).
fn restore_topics(shared: &Shared, mut messages: Vec<MessageExt>) -> Vec<MessageExt> {
    let retry = shared.retry_topic();
    for message in &mut messages {
        if message.topic == retry {
            if let Some(original) = message.properties.get(property::RETRY_TOPIC) {
                message.topic = original.clone();
            }
        }
    }
    messages
}
