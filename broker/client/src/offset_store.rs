//! Consume progress of a push consumer: where each queue resumes after a rebalance or restart.
//!
//! Clustering groups keep their offsets on the brokers (QUERY/UPDATE_CONSUMER_OFFSET, like Java's
//! `RemoteBrokerOffsetStore`): every member must see the offsets the previous owner of a queue
//! committed. Broadcasting groups keep them in a local file (Java `LocalFileOffsetStore`), since
//! every member consumes every queue on its own. Either way offsets are first updated in memory
//! as messages finish and then persisted periodically and on shutdown.
//!
//! The file is JSON `{"offsetTable":[{"topic":..,"brokerName":..,"queueId":..,"offset":..}]}`,
//! replaced atomically (write to `*.tmp`, then rename) so a crash leaves the old or the new table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ferrimq_remoting::body::MessageQueue;
use serde_json::{Value, json};

use crate::consumer::PullConsumer;
use crate::error::{ClientError, Result};

/// Where offsets are persisted.
#[derive(Debug)]
enum Backend {
    /// On the brokers, through the pull consumer's offset calls.
    Remote(PullConsumer),
    /// In a local JSON file.
    Local(PathBuf),
}

/// Offsets by queue, in memory, persisted on the brokers or in a local file.
#[derive(Debug)]
pub struct OffsetStore {
    backend: Backend,
    table: Mutex<BTreeMap<MessageQueue, i64>>,
}

impl OffsetStore {
    /// Offsets kept by the brokers (clustering).
    pub fn remote(pull: PullConsumer) -> Self {
        OffsetStore {
            backend: Backend::Remote(pull),
            table: Mutex::default(),
        }
    }

    /// Offsets kept in the file `path` (broadcasting); loads it if it exists.
    pub fn local(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let table = load_file(&path)?;
        Ok(OffsetStore {
            backend: Backend::Local(path),
            table: Mutex::new(table),
        })
    }

    /// Records `offset` as the next offset to consume of `queue`; with `increase_only` an older
    /// value never replaces a newer one (concurrent consumers finish out of order).
    pub fn update(&self, queue: &MessageQueue, offset: i64, increase_only: bool) {
        let mut table = self.lock();
        let slot = table.entry(queue.clone()).or_insert(offset);
        if !increase_only || offset > *slot {
            *slot = offset;
        }
    }

    /// The offset in memory, if any.
    pub fn read_memory(&self, queue: &MessageQueue) -> Option<i64> {
        self.lock().get(queue).copied()
    }

    /// The persisted offset (broker or file), refreshing memory; `None` when there is none.
    pub async fn read_stored(&self, queue: &MessageQueue) -> Result<Option<i64>> {
        match &self.backend {
            Backend::Remote(pull) => {
                let offset = pull.committed(queue).await?;
                if let Some(offset) = offset {
                    self.lock().insert(queue.clone(), offset);
                }
                Ok(offset)
            }
            Backend::Local(_) => Ok(self.read_memory(queue)),
        }
    }

    /// Persists the offsets of `queues` (all known queues for a local file).
    pub async fn persist_all(&self, queues: &[MessageQueue]) -> Result<()> {
        match &self.backend {
            Backend::Remote(_) => {
                for queue in queues {
                    self.persist(queue).await?;
                }
                Ok(())
            }
            Backend::Local(path) => save_file(path, &self.lock().clone()),
        }
    }

    /// Persists the offset of one queue.
    pub async fn persist(&self, queue: &MessageQueue) -> Result<()> {
        let Some(offset) = self.read_memory(queue) else {
            return Ok(());
        };
        match &self.backend {
            Backend::Remote(pull) => pull.commit_offset(queue, offset).await,
            Backend::Local(path) => save_file(path, &self.lock().clone()),
        }
    }

    /// Forgets `queue` in memory (it was rebalanced away); a local file keeps it.
    pub fn remove(&self, queue: &MessageQueue) {
        if let Backend::Remote(_) = self.backend {
            self.lock().remove(queue);
        }
    }

    /// Every offset in memory.
    pub fn snapshot(&self) -> BTreeMap<MessageQueue, i64> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<MessageQueue, i64>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> ClientError {
    ClientError::OffsetFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn load_file(path: &Path) -> Result<BTreeMap<MessageQueue, i64>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(file_error(path, e)),
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| file_error(path, e))?;
    let entries = value["offsetTable"]
        .as_array()
        .ok_or_else(|| file_error(path, "no offsetTable array"))?;
    let mut table = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let field = |name: &str| {
            entry
                .get(name)
                .ok_or_else(|| file_error(path, format!("entry {i} lacks {name}")))
        };
        let text = |name: &str| field(name).map(|v| v.as_str().unwrap_or_default().to_owned());
        let number = |name: &str| {
            field(name)?
                .as_i64()
                .ok_or_else(|| file_error(path, format!("entry {i}: {name} is not a number")))
        };
        let queue = MessageQueue {
            topic: text("topic")?,
            broker_name: text("brokerName")?,
            queue_id: i32::try_from(number("queueId")?)
                .map_err(|e| file_error(path, format!("entry {i}: {e}")))?,
        };
        table.insert(queue, number("offset")?);
    }
    Ok(table)
}

fn save_file(path: &Path, table: &BTreeMap<MessageQueue, i64>) -> Result<()> {
    let entries: Vec<Value> = table
        .iter()
        .map(|(q, offset)| {
            json!({"topic": q.topic, "brokerName": q.broker_name, "queueId": q.queue_id,
                   "offset": offset})
        })
        .collect();
    let text = serde_json::to_string_pretty(&json!({ "offsetTable": entries }))
        .map_err(|e| file_error(path, e))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_error(path, e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| file_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(id: i32) -> MessageQueue {
        MessageQueue {
            broker_name: "b".into(),
            queue_id: id,
            topic: "T".into(),
        }
    }

    #[tokio::test]
    async fn local_file_round_trips_and_increases_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("g").join("offsets.json");
        let store = OffsetStore::local(&path).expect("empty");
        store.update(&mq(0), 10, true);
        store.update(&mq(0), 7, true);
        store.update(&mq(1), 3, false);
        store.persist_all(&[]).await.expect("saved");
        let reloaded = OffsetStore::local(&path).expect("loads");
        assert_eq!(reloaded.read_stored(&mq(0)).await.expect("read"), Some(10));
        assert_eq!(reloaded.read_stored(&mq(1)).await.expect("read"), Some(3));
        assert_eq!(reloaded.read_stored(&mq(2)).await.expect("read"), None);
        reloaded.update(&mq(1), 1, false);
        assert_eq!(reloaded.read_memory(&mq(1)), Some(1));
    }

    #[test]
    fn corrupt_file_names_path_and_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("offsets.json");
        std::fs::write(&path, r#"{"offsetTable":[{"topic":"T","brokerName":"b"}]}"#)
            .expect("write");
        let err = OffsetStore::local(&path).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("offsets.json") && text.contains("entry 0 lacks queueId"),
            "{text}"
        );
    }
}
