//! Broker locks of orderly queues (LOCK_BATCH_MQ 41 / UNLOCK_BATCH_MQ 42): in clustering mode
//! an orderly consumer consumes a queue only while the queue's broker says it holds the lock, so
//! two members never consume one queue at once even while a rebalance is under way. Locks are
//! taken when a queue is assigned, renewed every `lock_interval` (they expire on the broker after
//! 60 s and locally after `lock_expiry`), and released when a queue is given up or at shutdown.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferrimq_remoting::body::{JsonBody, LockBatchRequestBody, LockBatchResponseBody, MessageQueue};
use ferrimq_remoting::{RequestCode, ResponseCode};

use super::Shared;
use crate::error::{ClientError, Result};
use crate::session::request;

fn body(shared: &Shared, queues: BTreeSet<MessageQueue>) -> LockBatchRequestBody {
    LockBatchRequestBody {
        client_id: shared.session().client_id().to_owned(),
        consumer_group: shared.config.group.clone(),
        mq_set: queues,
        only_this_broker: false,
    }
}

fn broker_addr(shared: &Shared, broker: &str) -> Result<String> {
    shared
        .routes
        .master_addr(broker)
        .ok_or_else(|| ClientError::NoBrokerAddr {
            broker: broker.to_owned(),
        })
}

/// Locks `queues` (all on `broker`); returns the ones now held by this client.
pub(super) async fn lock_batch(
    shared: &Shared,
    broker: &str,
    queues: BTreeSet<MessageQueue>,
) -> Result<BTreeSet<MessageQueue>> {
    let addr = broker_addr(shared, broker)?;
    let req = request(RequestCode::LockBatchMq).with_body(body(shared, queues).encode()?);
    let response = shared
        .session()
        .invoke_ok(&addr, req, &[ResponseCode::Success], None)
        .await?;
    Ok(LockBatchResponseBody::decode(&response.body)?.lock_ok_mq_set)
}

/// Releases the locks of `queues` (all on `broker`).
pub(super) async fn unlock_batch(
    shared: &Shared,
    broker: &str,
    queues: BTreeSet<MessageQueue>,
) -> Result<()> {
    let addr = broker_addr(shared, broker)?;
    let req = request(RequestCode::UnlockBatchMq).with_body(body(shared, queues).encode()?);
    shared
        .session()
        .invoke_ok(&addr, req, &[ResponseCode::Success], None)
        .await
        .map(drop)
}

/// Locks one queue; `false` when another member holds it or the broker cannot be reached.
pub(super) async fn lock_one(shared: &Shared, queue: &MessageQueue) -> bool {
    let set = BTreeSet::from([queue.clone()]);
    match lock_batch(shared, &queue.broker_name, set).await {
        Ok(locked) => locked.contains(queue),
        Err(e) => {
            tracing::warn!(?queue, error = %e, "lock failed");
            false
        }
    }
}

fn by_broker(shared: &Shared) -> BTreeMap<String, BTreeSet<MessageQueue>> {
    let mut grouped: BTreeMap<String, BTreeSet<MessageQueue>> = BTreeMap::new();
    for queue in shared.queue_table().keys() {
        grouped
            .entry(queue.broker_name.clone())
            .or_default()
            .insert(queue.clone());
    }
    grouped
}

/// Renews the locks of every owned queue; queues the broker refuses stop being consumed.
pub(super) async fn lock_all(shared: &Shared) {
    for (broker, queues) in by_broker(shared) {
        match lock_batch(shared, &broker, queues.clone()).await {
            Ok(locked) => {
                let table = shared.queue_table();
                for queue in &queues {
                    if let Some(pq) = table.get(queue) {
                        pq.set_locked(locked.contains(queue));
                    }
                }
            }
            Err(e) => tracing::warn!(%broker, error = %e, "relock failed"),
        }
    }
}

/// Releases the locks of every owned queue.
pub(super) async fn unlock_all(shared: &Shared) {
    for (broker, queues) in by_broker(shared) {
        if let Err(e) = unlock_batch(shared, &broker, queues).await {
            tracing::warn!(%broker, error = %e, "unlock failed");
        }
    }
}

/// Renews locks every `lock_interval` until the consumer stops.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(shared.config.lock_interval);
    ticker.tick().await;
    while !shared.is_stopping() {
        ticker.tick().await;
        lock_all(&shared).await;
    }
}
