//! Orderly-consumption queue locks (protocol reference §3.7): LOCK_BATCH_MQ (41) and
//! UNLOCK_BATCH_MQ (42). Each (consumer group, MessageQueue) has at most one owner clientId; a
//! lock lives `rocketmq.broker.rebalance.lockMaxLiveTime` (60 s by default) after its last lock
//! request, re-locking refreshes it, and another client of the group gets the queue only after
//! expiry or an unlock by the owner. The table is in memory, as in RocketMQ: after a restart the
//! clients re-lock within their 20 s rebalance period.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrimq_remoting::body::{
    JsonBody, LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody,
};
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_transport::HandlerResult;

/// Default lock lifetime (`rocketmq.broker.rebalance.lockMaxLiveTime`).
pub const DEFAULT_LOCK_MAX_LIVE: Duration = Duration::from_secs(60);

/// The time source of a lock table; tests inject a manual clock.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// One held lock.
#[derive(Debug, Clone)]
struct Lock {
    client_id: String,
    last_update: Instant,
}

/// Lock owners per consumer group and queue.
pub struct LockTable {
    max_live: Duration,
    clock: Clock,
    groups: Mutex<HashMap<String, HashMap<MessageQueue, Lock>>>,
}

impl std::fmt::Debug for LockTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockTable")
            .field("max_live", &self.max_live)
            .finish_non_exhaustive()
    }
}

impl Default for LockTable {
    fn default() -> Self {
        Self::new(DEFAULT_LOCK_MAX_LIVE)
    }
}

impl LockTable {
    /// A table whose locks expire `max_live` after their last refresh (wall clock).
    pub fn new(max_live: Duration) -> Self {
        Self::with_clock(max_live, Arc::new(Instant::now))
    }

    /// A table reading time from `clock`.
    pub fn with_clock(max_live: Duration, clock: Clock) -> Self {
        Self {
            max_live,
            clock,
            groups: Mutex::new(HashMap::new()),
        }
    }

    /// Locks every queue of `queues` that is free, expired or already `client_id`'s (refreshing
    /// it); returns the queues `client_id` now holds.
    pub fn try_lock_batch(
        &self,
        group: &str,
        queues: &BTreeSet<MessageQueue>,
        client_id: &str,
    ) -> BTreeSet<MessageQueue> {
        let now = (self.clock)();
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let table = groups.entry(group.to_owned()).or_default();
        let mut locked = BTreeSet::new();
        for mq in queues {
            let free = match table.get(mq) {
                None => true,
                Some(lock) => lock.client_id == client_id || self.expired(lock, now),
            };
            if free {
                if let Some(previous) = table.get(mq).filter(|l| l.client_id != client_id) {
                    tracing::warn!(group, ?mq, old = %previous.client_id, new = client_id,
                        "queue lock expired; handed to another client");
                }
                table.insert(
                    mq.clone(),
                    Lock {
                        client_id: client_id.to_owned(),
                        last_update: now,
                    },
                );
                locked.insert(mq.clone());
            }
        }
        locked
    }

    /// Releases the queues of `queues` held by `client_id`; others' locks are left alone.
    pub fn unlock_batch(&self, group: &str, queues: &BTreeSet<MessageQueue>, client_id: &str) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let Some(table) = groups.get_mut(group) else {
            return;
        };
        for mq in queues {
            if table.get(mq).is_some_and(|l| l.client_id == client_id) {
                table.remove(mq);
            }
        }
        if table.is_empty() {
            groups.remove(group);
        }
    }

    /// Whether `client_id` holds an unexpired lock on `mq` in `group`.
    pub fn is_locked_by(&self, group: &str, mq: &MessageQueue, client_id: &str) -> bool {
        let now = (self.clock)();
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups
            .get(group)
            .and_then(|t| t.get(mq))
            .is_some_and(|l| l.client_id == client_id && !self.expired(l, now))
    }

    fn expired(&self, lock: &Lock, now: Instant) -> bool {
        now.saturating_duration_since(lock.last_update) > self.max_live
    }
}

/// The LOCK_BATCH_MQ / UNLOCK_BATCH_MQ processor.
#[derive(Debug)]
pub struct LockProcessor {
    /// The broker's lock table.
    pub locks: Arc<LockTable>,
}

impl LockProcessor {
    /// LOCK_BATCH_MQ: answers SUCCESS with the queues the client now holds (`lockOKMQSet`).
    pub fn lock(&self, request: &RemotingCommand) -> HandlerResult {
        let body = match LockBatchRequestBody::decode(&request.body) {
            Ok(body) => body,
            Err(err) => return Ok(Some(bad_body(request, &err))),
        };
        let locked = self
            .locks
            .try_lock_batch(&body.consumer_group, &body.mq_set, &body.client_id);
        let response = LockBatchResponseBody {
            lock_ok_mq_set: locked,
        };
        let encoded = response.encode()?;
        Ok(Some(
            RemotingCommand::response_to(request, ResponseCode::Success).with_body(encoded),
        ))
    }

    /// UNLOCK_BATCH_MQ (also sent oneway; the transport drops the answer then).
    pub fn unlock(&self, request: &RemotingCommand) -> HandlerResult {
        let body = match UnlockBatchRequestBody::decode(&request.body) {
            Ok(body) => body,
            Err(err) => return Ok(Some(bad_body(request, &err))),
        };
        self.locks
            .unlock_batch(&body.consumer_group, &body.mq_set, &body.client_id);
        Ok(Some(RemotingCommand::response_to(
            request,
            ResponseCode::Success,
        )))
    }
}

fn bad_body(request: &RemotingCommand, err: &dyn std::fmt::Display) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::SystemError)
        .with_remark(format!("bad lock batch body: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock advanced by hand.
    fn manual_clock() -> (Clock, Arc<Mutex<Duration>>) {
        let base = Instant::now();
        let elapsed = Arc::new(Mutex::new(Duration::ZERO));
        let e = Arc::clone(&elapsed);
        let clock: Clock = Arc::new(move || base + *e.lock().unwrap());
        (clock, elapsed)
    }

    fn mq(queue_id: i32) -> MessageQueue {
        MessageQueue {
            broker_name: "b".into(),
            queue_id,
            topic: "T".into(),
        }
    }

    fn set(ids: &[i32]) -> BTreeSet<MessageQueue> {
        ids.iter().map(|&i| mq(i)).collect()
    }

    #[test]
    fn owner_keeps_queue_until_expiry() {
        let (clock, elapsed) = manual_clock();
        let table = LockTable::with_clock(Duration::from_secs(60), clock);
        assert_eq!(table.try_lock_batch("G", &set(&[0, 1]), "c1"), set(&[0, 1]));
        assert_eq!(table.try_lock_batch("G", &set(&[1, 2]), "c2"), set(&[2]));
        // Another group is independent.
        assert_eq!(table.try_lock_batch("H", &set(&[0]), "c2"), set(&[0]));
        *elapsed.lock().unwrap() = Duration::from_secs(60);
        assert_eq!(table.try_lock_batch("G", &set(&[0]), "c2"), set(&[]));
        *elapsed.lock().unwrap() = Duration::from_secs(61);
        assert!(!table.is_locked_by("G", &mq(0), "c1"));
        assert_eq!(table.try_lock_batch("G", &set(&[0, 1]), "c2"), set(&[0, 1]));
        assert!(table.is_locked_by("G", &mq(1), "c2"));
    }

    #[test]
    fn relock_refreshes_the_lease() {
        let (clock, elapsed) = manual_clock();
        let table = LockTable::with_clock(Duration::from_secs(60), clock);
        assert_eq!(table.try_lock_batch("G", &set(&[0]), "c1"), set(&[0]));
        *elapsed.lock().unwrap() = Duration::from_secs(50);
        assert_eq!(table.try_lock_batch("G", &set(&[0]), "c1"), set(&[0]));
        *elapsed.lock().unwrap() = Duration::from_secs(100);
        assert_eq!(table.try_lock_batch("G", &set(&[0]), "c2"), set(&[]));
        assert!(table.is_locked_by("G", &mq(0), "c1"));
        *elapsed.lock().unwrap() = Duration::from_secs(111);
        assert_eq!(table.try_lock_batch("G", &set(&[0]), "c2"), set(&[0]));
    }

    #[test]
    fn only_the_owner_unlocks() {
        let (clock, _elapsed) = manual_clock();
        let table = LockTable::with_clock(Duration::from_secs(60), clock);
        assert_eq!(table.try_lock_batch("G", &set(&[0, 1]), "c1"), set(&[0, 1]));
        table.unlock_batch("G", &set(&[0, 1]), "c2");
        assert!(table.is_locked_by("G", &mq(0), "c1"));
        table.unlock_batch("G", &set(&[0]), "c1");
        assert!(!table.is_locked_by("G", &mq(0), "c1"));
        assert_eq!(table.try_lock_batch("G", &set(&[0, 1]), "c2"), set(&[0]));
    }
}
