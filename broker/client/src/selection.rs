//! Queue selection and the retry rule of the producer, kept free of I/O so they are unit-tested.
//!
//! Round robin over the topic's publish queues (Java `TopicPublishInfo.selectOneMessageQueue`):
//! each call takes the next queue; after a failure the next attempt skips queues of the broker
//! that just failed when another broker has one. Retryable broker codes are the Java producer's
//! `retryResponseCodes` (protocol ref §2.2); connection failures and timeouts are retryable too.

use std::sync::atomic::{AtomicUsize, Ordering};

use ferrimq_remoting::ResponseCode;
use ferrimq_remoting::body::MessageQueue;

use crate::error::ClientError;

/// Broker codes after which the producer tries another queue.
pub const RETRYABLE_CODES: &[ResponseCode] = &[
    ResponseCode::TopicNotExist,
    ResponseCode::ServiceNotAvailable,
    ResponseCode::SystemError,
    ResponseCode::SystemBusy,
    ResponseCode::NoPermission,
    ResponseCode::NoBuyerId,
    ResponseCode::NotInCurrentUnit,
    ResponseCode::GoAway,
];

/// Whether a failed send attempt may be retried on another queue.
pub fn is_retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Transport(_) => true,
        ClientError::Broker { code, .. } => RETRYABLE_CODES.iter().any(|c| c.code() == *code),
        _ => false,
    }
}

/// Round-robin selector over publish queues.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// A selector starting at `start` (Java starts at a random index).
    pub fn starting_at(start: usize) -> Self {
        RoundRobin {
            next: AtomicUsize::new(start),
        }
    }

    /// The next queue, avoiding `avoid_broker` when any other broker has a queue.
    pub fn select<'q>(
        &self,
        queues: &'q [MessageQueue],
        avoid_broker: Option<&str>,
    ) -> Option<&'q MessageQueue> {
        if queues.is_empty() {
            return None;
        }
        if let Some(avoid) = avoid_broker {
            for _ in 0..queues.len() {
                let index = self.next.fetch_add(1, Ordering::Relaxed) % queues.len();
                if queues[index].broker_name != avoid {
                    return Some(&queues[index]);
                }
            }
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % queues.len();
        Some(&queues[index])
    }
}

/// Chooses a queue for an ordered send: same shard key, same queue (while the route is stable).
pub trait QueueSelector: Send + Sync {
    /// Index into `queues` (taken modulo its length).
    fn select(&self, queues: &[MessageQueue]) -> usize;
}

/// Selects `queues[key % len]` (Java `SelectMessageQueueByHash` with a precomputed key).
#[derive(Debug, Clone, Copy)]
pub struct ByShardKey(pub u64);

impl QueueSelector for ByShardKey {
    fn select(&self, queues: &[MessageQueue]) -> usize {
        usize::try_from(self.0 % queues.len().max(1) as u64).unwrap_or(0)
    }
}

impl<F: Fn(&[MessageQueue]) -> usize + Send + Sync> QueueSelector for F {
    fn select(&self, queues: &[MessageQueue]) -> usize {
        self(queues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues() -> Vec<MessageQueue> {
        let q = |broker: &str, id| MessageQueue {
            broker_name: broker.into(),
            queue_id: id,
            topic: "T".into(),
        };
        vec![q("a", 0), q("a", 1), q("b", 0), q("b", 1)]
    }

    fn pick(rr: &RoundRobin, qs: &[MessageQueue], avoid: Option<&str>) -> (String, i32) {
        let q = rr.select(qs, avoid).unwrap();
        (q.broker_name.clone(), q.queue_id)
    }

    #[test]
    fn round_robin_cycles_every_queue() {
        let rr = RoundRobin::starting_at(0);
        let qs = queues();
        let picked: Vec<_> = (0..5).map(|_| pick(&rr, &qs, None)).collect();
        let expected = [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("a", 0)];
        assert_eq!(picked, expected.map(|(b, i)| (b.to_string(), i)));
        assert!(rr.select(&[], None).is_none());
    }

    #[test]
    fn failed_broker_is_avoided_when_another_exists() {
        let rr = RoundRobin::starting_at(0);
        let qs = queues();
        for _ in 0..8 {
            assert_eq!(pick(&rr, &qs, Some("a")).0, "b");
        }
        let only_a = &qs[..2];
        assert_eq!(pick(&rr, only_a, Some("a")).0, "a");
    }

    #[test]
    fn retryable_codes_follow_the_java_producer() {
        let broker = |code| ClientError::Broker {
            addr: "x".into(),
            request: 310,
            code,
            remark: String::new(),
        };
        for code in [17, 14, 1, 2, 16, 204, 205, 1500] {
            assert!(is_retryable(&broker(code)), "{code}");
        }
        for code in [13, 3, 19, 23] {
            assert!(!is_retryable(&broker(code)), "{code}");
        }
        assert!(!is_retryable(&ClientError::NoNameServer));
    }

    #[test]
    fn shard_key_selects_stably() {
        let qs = queues();
        assert_eq!(ByShardKey(6).select(&qs), 2);
        assert_eq!(ByShardKey(6).select(&qs), 2);
        assert_eq!((|qs: &[MessageQueue]| qs.len() - 1).select(&qs), 3);
    }
}
