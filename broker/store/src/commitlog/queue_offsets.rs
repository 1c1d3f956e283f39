//! The next ConsumeQueue offset of every (topic, queue id), assigned under the put lock.
//!
//! RocketMQ calls it the `topicQueueTable`. Only the CommitLog's writer touches it while
//! appending; at start-up the facade fills it from the ConsumeQueues' max offsets (the
//! ConsumeQueues, rebuilt from the CommitLog, are where these offsets persist).

use std::collections::HashMap;

/// Next queue offset per (topic, queue id). Lookups by `&str` never allocate; a new topic
/// allocates its key once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueueOffsetTable {
    topics: HashMap<String, HashMap<i32, i64>>,
}

impl QueueOffsetTable {
    /// The offset the next message of (topic, queue) gets (0 for a queue never seen).
    pub fn next(&self, topic: &str, queue_id: i32) -> i64 {
        self.topics
            .get(topic)
            .and_then(|q| q.get(&queue_id))
            .copied()
            .unwrap_or(0)
    }

    /// Sets the next offset of (topic, queue).
    pub fn set(&mut self, topic: &str, queue_id: i32, next: i64) {
        match self.topics.get_mut(topic) {
            Some(q) => {
                q.insert(queue_id, next);
            }
            None => {
                self.topics
                    .insert(topic.to_owned(), HashMap::from([(queue_id, next)]));
            }
        }
    }

    /// Advances (topic, queue) by `n` and returns the offset before the advance (one hash
    /// lookup per level on the append path).
    pub fn advance(&mut self, topic: &str, queue_id: i32, n: i64) -> i64 {
        let queues = match self.topics.get_mut(topic) {
            Some(q) => q,
            None => self.topics.entry(topic.to_owned()).or_default(),
        };
        let slot = queues.entry(queue_id).or_insert(0);
        let current = *slot;
        *slot += n;
        current
    }

    /// Forgets a topic (after it is deleted).
    pub fn remove_topic(&mut self, topic: &str) {
        self.topics.remove(topic);
    }

    /// Every (topic, queue id, next offset).
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.topics
            .iter()
            .flat_map(|(t, q)| q.iter().map(move |(id, off)| (t.as_str(), *id, *off)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_set_remove() {
        let mut t = QueueOffsetTable::default();
        assert_eq!(t.advance("A", 0, 1), 0);
        assert_eq!(t.advance("A", 0, 3), 1);
        assert_eq!(t.next("A", 0), 4);
        assert_eq!(t.next("A", 1), 0);
        t.set("B", 2, 10);
        assert_eq!(t.advance("B", 2, 1), 10);
        let mut all: Vec<_> = t.iter().collect();
        all.sort();
        assert_eq!(all, vec![("A", 0, 4), ("B", 2, 11)]);
        t.remove_topic("A");
        assert_eq!(t.next("A", 0), 0);
    }
}
