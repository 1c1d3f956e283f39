//! The table of every ConsumeQueue of the store, keyed by (topic, queueId).
//!
//! At start-up [`ConsumeQueueTable::load`] opens every `<root>/consumequeue/<topic>/<queueId>`
//! directory; afterwards queues are created on first dispatch. Lookups take a read lock and
//! clone an `Arc`, so pulls never wait for the dispatcher.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::consume_queue::queue::ConsumeQueue;
use crate::consume_queue::unit::UNIT_SIZE;
use crate::error::{Result, StoreError};
use crate::seam::SharedSeam;

/// All ConsumeQueues of a store.
#[derive(Debug)]
pub struct ConsumeQueueTable {
    root: PathBuf,
    file_size: usize,
    seam: SharedSeam,
    queues: RwLock<HashMap<String, HashMap<i32, Arc<ConsumeQueue>>>>,
}

impl ConsumeQueueTable {
    /// Opens every queue under `root` (the `consumequeue` directory, created if missing).
    pub fn load(root: &Path, file_size: usize, seam: SharedSeam) -> Result<Self> {
        if file_size < UNIT_SIZE || file_size % UNIT_SIZE != 0 {
            return Err(StoreError::InvalidConfig(format!(
                "mappedFileSizeConsumeQueue {file_size} is not a positive multiple of 20"
            )));
        }
        std::fs::create_dir_all(root).map_err(|e| StoreError::io(root, e))?;
        let table = ConsumeQueueTable {
            root: root.to_path_buf(),
            file_size,
            seam,
            queues: RwLock::new(HashMap::new()),
        };
        for topic_entry in std::fs::read_dir(root).map_err(|e| StoreError::io(root, e))? {
            let topic_entry = topic_entry.map_err(|e| StoreError::io(root, e))?;
            let topic_dir = topic_entry.path();
            let Some(topic) = topic_entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !topic_dir.is_dir() {
                continue;
            }
            table.load_topic(&topic_dir, &topic)?;
        }
        Ok(table)
    }

    fn load_topic(&self, topic_dir: &Path, topic: &str) -> Result<()> {
        for q in std::fs::read_dir(topic_dir).map_err(|e| StoreError::io(topic_dir, e))? {
            let q = q.map_err(|e| StoreError::io(topic_dir, e))?;
            let Some(queue_id) = q.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                tracing::warn!(path = %q.path().display(), "ignoring stray entry in consumequeue");
                continue;
            };
            let cq =
                ConsumeQueue::open(q.path(), topic, queue_id, self.file_size, self.seam.clone())?;
            self.insert(Arc::new(cq));
        }
        Ok(())
    }

    fn insert(&self, cq: Arc<ConsumeQueue>) {
        let mut w = self.queues.write().unwrap_or_else(|p| p.into_inner());
        w.entry(cq.topic().to_string())
            .or_default()
            .insert(cq.queue_id(), cq);
    }

    /// The queue, if it exists.
    pub fn get(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        let r = self.queues.read().unwrap_or_else(|p| p.into_inner());
        r.get(topic)?.get(&queue_id).cloned()
    }

    /// The queue, created (empty, without files) if missing.
    pub fn get_or_create(&self, topic: &str, queue_id: i32) -> Result<Arc<ConsumeQueue>> {
        if let Some(cq) = self.get(topic, queue_id) {
            return Ok(cq);
        }
        let mut w = self.queues.write().unwrap_or_else(|p| p.into_inner());
        let per_topic = w.entry(topic.to_string()).or_default();
        if let Some(cq) = per_topic.get(&queue_id) {
            return Ok(cq.clone());
        }
        let dir = self.root.join(topic).join(queue_id.to_string());
        let cq = Arc::new(ConsumeQueue::open(
            dir,
            topic,
            queue_id,
            self.file_size,
            self.seam.clone(),
        )?);
        per_topic.insert(queue_id, cq.clone());
        Ok(cq)
    }

    /// Every queue, in no particular order.
    pub fn all(&self) -> Vec<Arc<ConsumeQueue>> {
        let r = self.queues.read().unwrap_or_else(|p| p.into_inner());
        r.values().flat_map(|m| m.values().cloned()).collect()
    }

    /// Max logical offset per (topic, queueId), used to reset the CommitLog's queue-offset
    /// table after recovery.
    pub fn max_offsets(&self) -> Vec<(String, i32, u64)> {
        self.all()
            .iter()
            .map(|q| (q.topic().to_string(), q.queue_id(), q.max_offset()))
            .collect()
    }

    /// Flushes every queue per [`ConsumeQueue::flush`]; `min_pages == 0` makes every written
    /// unit durable.
    pub fn flush(&self, min_pages: usize) -> Result<()> {
        for q in self.all() {
            q.flush(min_pages)?;
        }
        Ok(())
    }
}
