//! [`ProcessQueue`]: the messages pulled from one queue and not yet consumed, and the state of
//! the queue's ownership (dropped after a rebalance, locked for orderly consumption).
//!
//! The committable offset is the smallest offset still held (or one past the largest seen when
//! nothing is held), so a commit never skips a message whose consumption has not finished — the
//! same rule as Java's `ProcessQueue.removeMessage`. Orderly consumption takes messages out into a
//! "consuming" set and either commits them (offset = last taken + 1) or puts them back.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::message::MessageExt;

#[derive(Debug, Default)]
struct Held {
    waiting: BTreeMap<i64, MessageExt>,
    consuming: BTreeMap<i64, MessageExt>,
    bytes: usize,
    max_offset: i64,
}

/// Pulled-but-unconsumed messages of one queue.
#[derive(Debug)]
pub struct ProcessQueue {
    held: Mutex<Held>,
    dropped: AtomicBool,
    locked: AtomicBool,
    last_lock: Mutex<Option<Instant>>,
    /// Held by the orderly worker while a batch is being consumed; a rebalance takes it before
    /// giving the queue up so no batch is mid-flight when the broker lock is released.
    pub consume_lock: tokio::sync::Mutex<()>,
    /// Wakes the orderly worker when messages arrive or the lock is gained.
    pub wake: Notify,
}

impl Default for ProcessQueue {
    fn default() -> Self {
        ProcessQueue {
            held: Mutex::new(Held {
                max_offset: -1,
                ..Held::default()
            }),
            dropped: AtomicBool::new(false),
            locked: AtomicBool::new(false),
            last_lock: Mutex::new(None),
            consume_lock: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
        }
    }
}

impl ProcessQueue {
    /// Adds pulled messages (duplicates by offset replace the held copy).
    pub fn put(&self, messages: &[MessageExt]) {
        let mut held = self.lock();
        for message in messages {
            held.max_offset = held.max_offset.max(message.queue_offset);
            held.bytes += message.body.len();
            if let Some(old) = held.waiting.insert(message.queue_offset, message.clone()) {
                held.bytes -= old.body.len();
            }
        }
        drop(held);
        self.wake.notify_one();
    }

    /// Removes consumed messages; returns the offset now safe to commit.
    pub fn remove(&self, offsets: &[i64]) -> i64 {
        let mut held = self.lock();
        for offset in offsets {
            if let Some(old) = held.waiting.remove(offset) {
                held.bytes -= old.body.len();
            }
        }
        held.waiting
            .keys()
            .next()
            .copied()
            .unwrap_or(held.max_offset + 1)
    }

    /// Orderly: takes up to `n` messages in offset order into the consuming set.
    pub fn take(&self, n: usize) -> Vec<MessageExt> {
        let mut held = self.lock();
        let mut taken = Vec::new();
        while taken.len() < n {
            let Some((offset, message)) = held.waiting.pop_first() else {
                break;
            };
            held.consuming.insert(offset, message.clone());
            taken.push(message);
        }
        taken
    }

    /// Orderly: the consuming set is done; returns the offset to commit (`None` if it was empty).
    pub fn commit(&self) -> Option<i64> {
        let mut held = self.lock();
        let last = held.consuming.keys().next_back().copied();
        let consuming = std::mem::take(&mut held.consuming);
        held.bytes -= consuming.values().map(|m| m.body.len()).sum::<usize>();
        last.map(|o| o + 1)
    }

    /// Orderly: puts `messages` (taken earlier) back at the front, to be consumed again.
    pub fn consume_again(&self, messages: Vec<MessageExt>) {
        let mut held = self.lock();
        for message in messages {
            held.consuming.remove(&message.queue_offset);
            held.waiting.insert(message.queue_offset, message);
        }
    }

    /// Smallest and largest offsets held (waiting and consuming), `None` when nothing is held.
    pub fn held_range(&self) -> Option<(i64, i64)> {
        let held = self.lock();
        let firsts = [held.waiting.keys().next(), held.consuming.keys().next()];
        let lasts = [
            held.waiting.keys().next_back(),
            held.consuming.keys().next_back(),
        ];
        let min = firsts.into_iter().flatten().min().copied()?;
        let max = lasts.into_iter().flatten().max().copied()?;
        Some((min, max))
    }

    /// Messages held (waiting and consuming).
    pub fn count(&self) -> usize {
        let held = self.lock();
        held.waiting.len() + held.consuming.len()
    }

    /// Body bytes held.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether the queue was given up (its pulls and consumption stop).
    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    /// Marks the queue given up (or not).
    pub fn set_dropped(&self, dropped: bool) {
        self.dropped.store(dropped, Ordering::Release);
        self.wake.notify_one();
    }

    /// Whether this consumer holds the broker lock of the queue, renewed within `expiry`.
    pub fn is_locked(&self, expiry: Duration) -> bool {
        let renewed = *self.last_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.locked.load(Ordering::Acquire) && renewed.is_some_and(|t| t.elapsed() < expiry)
    }

    /// Records the outcome of a lock attempt.
    pub fn set_locked(&self, locked: bool) {
        if locked {
            *self.last_lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        self.locked.store(locked, Ordering::Release);
        self.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message at `offset` with a `len`-byte body.
    fn message(offset: i64, len: usize) -> MessageExt {
        let host = std::net::SocketAddr::from(([127, 0, 0, 1], 10911));
        MessageExt {
            topic: "T".into(),
            queue_id: 0,
            queue_offset: offset,
            commit_log_offset: offset * 100,
            store_size: 0,
            body_crc: 0,
            flag: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: host,
            store_timestamp: 0,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: bytes::Bytes::from(vec![b'x'; len]),
            properties: Default::default(),
            offset_msg_id: String::new(),
        }
    }

    #[test]
    fn commit_offset_waits_for_the_oldest_unfinished_message() {
        let pq = ProcessQueue::default();
        pq.put(&[message(10, 3), message(11, 4), message(12, 5)]);
        assert_eq!((pq.count(), pq.bytes()), (3, 12));
        assert_eq!(pq.remove(&[11, 12]), 10, "10 still running");
        assert_eq!(pq.remove(&[10]), 13, "all done: one past the largest seen");
        assert_eq!((pq.count(), pq.bytes()), (0, 0));
    }

    #[test]
    fn orderly_take_commit_and_consume_again() {
        let pq = ProcessQueue::default();
        pq.put(&[message(5, 1), message(3, 1), message(4, 1)]);
        let first: Vec<i64> = pq.take(2).iter().map(|m| m.queue_offset).collect();
        assert_eq!(first, [3, 4]);
        pq.consume_again(pq.take(0));
        assert_eq!(pq.commit(), Some(5));
        let again = pq.take(1);
        pq.consume_again(again);
        assert_eq!(
            pq.take(5)
                .iter()
                .map(|m| m.queue_offset)
                .collect::<Vec<_>>(),
            [5]
        );
        assert_eq!(pq.commit(), Some(6));
        assert_eq!(pq.commit(), None);
    }

    #[test]
    fn lock_expires_unless_renewed() {
        let pq = ProcessQueue::default();
        assert!(!pq.is_locked(Duration::from_secs(30)));
        pq.set_locked(true);
        assert!(pq.is_locked(Duration::from_secs(30)));
        assert!(!pq.is_locked(Duration::ZERO));
        pq.set_locked(false);
        assert!(!pq.is_locked(Duration::from_secs(30)));
    }
}
