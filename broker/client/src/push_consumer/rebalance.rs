//! Rebalance: decides which queues this consumer owns and starts or stops their pulls.
//!
//! Per subscribed topic: broadcasting owns every readable queue; clustering asks a broker for
//! the group's members and applies the allocation strategy to the sorted lists. Queues no longer
//! owned are given up (offset persisted, orderly lock released once no batch is mid-flight);
//! queues newly owned are locked first when orderly (a refused lock means retry next rebalance),
//! get their start offset (stored offset, else `consume_from`) and a pull task.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ferrimq_remoting::body::MessageQueue;

use super::process_queue::ProcessQueue;
use super::{Shared, consume, membership, pull_loop, queue_locks};
use crate::allocate::allocate_sorted;
use crate::consumer::StartPosition;
use crate::error::Result;

/// Time a rebalance waits for an orderly batch in flight before giving a queue up later.
const CONSUME_LOCK_WAIT: Duration = Duration::from_secs(1);

/// Rebalances every `rebalance_interval` and whenever a broker notifies a membership change.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(shared.config.rebalance_interval);
    ticker.tick().await;
    while !shared.is_stopping() {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(e) = membership::heartbeat(&shared).await {
                    tracing::warn!(group = %shared.config.group, error = %e, "heartbeat failed");
                }
            }
            _ = shared.rebalance_now.notified() => {}
        }
        rebalance(&shared).await;
    }
}

/// One rebalance of every subscribed topic.
pub(super) async fn rebalance(shared: &Arc<Shared>) {
    for topic in shared.subscription_table().keys() {
        match assignment(shared, topic).await {
            Ok(assigned) => update_queues(shared, topic, assigned).await,
            Err(e) => tracing::debug!(%topic, error = %e, "rebalance skipped"),
        }
    }
}

/// The queues of `topic` this consumer should own.
async fn assignment(shared: &Shared, topic: &str) -> Result<BTreeSet<MessageQueue>> {
    let route = shared.routes.route(topic).await?;
    let all = route.subscribe.clone();
    if !shared.clustering() {
        return Ok(all.into_iter().collect());
    }
    let members = membership::consumer_ids(shared, topic).await?;
    let cid = shared.session().client_id();
    let strategy = shared.config.strategy.as_ref();
    match allocate_sorted(strategy, &shared.config.group, cid, all, members) {
        Ok(mine) => Ok(mine.into_iter().collect()),
        Err(e) => {
            tracing::debug!(%topic, error = %e, "nothing to allocate");
            Ok(BTreeSet::new())
        }
    }
}

async fn update_queues(shared: &Arc<Shared>, topic: &str, assigned: BTreeSet<MessageQueue>) {
    let owned: Vec<(MessageQueue, Arc<ProcessQueue>)> = shared
        .queue_table()
        .iter()
        .filter(|(q, _)| q.topic == topic)
        .map(|(q, pq)| (q.clone(), Arc::clone(pq)))
        .collect();
    for (queue, pq) in &owned {
        if !assigned.contains(queue) && give_up(shared, queue, pq).await {
            shared.queue_table().remove(queue);
        }
    }
    for queue in assigned {
        {
            let mut table = shared.queue_table();
            match table.get(&queue) {
                Some(pq) if !pq.is_dropped() => continue,
                // Given up earlier but not released (a batch was in flight): start afresh.
                Some(_) => drop(table.remove(&queue)),
                None => {}
            }
        }
        if let Err(e) = take_over(shared, queue.clone()).await {
            tracing::warn!(?queue, error = %e, "could not start queue");
        }
    }
}

/// Stops consuming `queue`; `false` if an orderly batch is still running (retry next time).
async fn give_up(shared: &Shared, queue: &MessageQueue, pq: &ProcessQueue) -> bool {
    pq.set_dropped(true);
    let orderly_locked = shared.listener.is_orderly() && shared.clustering();
    let guard = if orderly_locked {
        match tokio::time::timeout(CONSUME_LOCK_WAIT, pq.consume_lock.lock()).await {
            Ok(guard) => Some(guard),
            Err(_) => return false,
        }
    } else {
        None
    };
    if let Err(e) = shared.offsets.persist(queue).await {
        tracing::warn!(?queue, error = %e, "persisting offset of a dropped queue failed");
    }
    shared.offsets.remove(queue);
    if orderly_locked {
        let set = BTreeSet::from([queue.clone()]);
        if let Err(e) = queue_locks::unlock_batch(shared, &queue.broker_name, set).await {
            tracing::warn!(?queue, error = %e, "unlock failed");
        }
    }
    drop(guard);
    true
}

async fn take_over(shared: &Arc<Shared>, queue: MessageQueue) -> Result<()> {
    let orderly = shared.listener.is_orderly();
    let pq = Arc::new(ProcessQueue::default());
    if orderly && shared.clustering() {
        if !queue_locks::lock_one(shared, &queue).await {
            tracing::debug!(?queue, "lock refused; retrying at the next rebalance");
            return Ok(());
        }
        pq.set_locked(true);
    }
    let offset = start_offset(shared, &queue).await?;
    shared.offsets.update(&queue, offset, false);
    shared.queue_table().insert(queue.clone(), Arc::clone(&pq));
    tokio::spawn(pull_loop::run(
        Arc::clone(shared),
        queue.clone(),
        Arc::clone(&pq),
        offset,
    ));
    if orderly {
        tokio::spawn(consume::orderly_worker(Arc::clone(shared), queue, pq));
    }
    Ok(())
}

/// Stored offset, else the `consume_from` position (retry queues always from their start).
async fn start_offset(shared: &Shared, queue: &MessageQueue) -> Result<i64> {
    if let Some(offset) = shared.offsets.read_stored(queue).await? {
        if offset >= 0 {
            return Ok(offset);
        }
    }
    if queue.topic == shared.retry_topic() {
        return Ok(0);
    }
    match shared.config.consume_from {
        StartPosition::First => shared.pull.min_offset(queue).await,
        StartPosition::Last => shared.pull.max_offset(queue).await,
        StartPosition::Timestamp(t) => shared.pull.search_offset(queue, t).await,
    }
}
