//! `config/consumerOffset.json`: the committed offset of every (topic, group, queue).
//! JSON: `{"offsetTable":{"<topic>@<group>":{0:123,1:456}},"dataVersion":{...}}` with the
//! queue ids as unquoted numeric keys, as Java's fastjson writes them (4.x files have no
//! `dataVersion`; Java ignores it when reading ours).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::metadata::data_version::DataVersion;
use crate::metadata::error::Result;
use crate::metadata::json_file::{JsonFile, Source};
use crate::metadata::table::PersistedDoc;
use crate::seam::SharedSeam;

/// File name under `<storePathRootDir>/config/`.
pub const CONSUMER_OFFSET_FILE: &str = "consumerOffset.json";
/// Separator of the `topic@group` keys.
pub const TOPIC_GROUP_SEPARATOR: char = '@';

/// Key Java 5.x derives from the offset table when writing (see [`ConsumerOffsetTable::open`]).
const DERIVED_GROUP_TOPIC_MAP: &str = "groupTopicMap";

/// Offsets of one (topic, group): queue id -> next offset to consume.
pub type QueueOffsets = BTreeMap<i32, i64>;

/// The persisted document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerOffsetWrapper {
    /// `topic@group` -> queue offsets.
    pub offset_table: BTreeMap<String, QueueOffsets>,
    /// Version of the table.
    pub data_version: DataVersion,
    /// Fields this broker does not interpret, written back unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `topic@group`.
pub fn offset_key(topic: &str, group: &str) -> String {
    format!("{topic}{TOPIC_GROUP_SEPARATOR}{group}")
}

/// Splits a `topic@group` key.
pub fn split_offset_key(key: &str) -> Option<(&str, &str)> {
    key.split_once(TOPIC_GROUP_SEPARATOR)
}

/// Thread-safe consumer offset table backed by `consumerOffset.json`.
#[derive(Debug)]
pub struct ConsumerOffsetTable {
    doc: PersistedDoc<ConsumerOffsetWrapper>,
}

impl ConsumerOffsetTable {
    /// Loads `<config_dir>/consumerOffset.json` (or its `.bak`); empty when neither exists.
    pub fn open(config_dir: &Path, seam: SharedSeam) -> Result<Self> {
        let file = JsonFile::with_seam(config_dir.join(CONSUMER_OFFSET_FILE), seam);
        let doc: PersistedDoc<ConsumerOffsetWrapper> = PersistedDoc::open(file)?;
        // Java 5.x writes `groupTopicMap`, a value derived from `offsetTable` by a getter and
        // never read back; keeping it would write a stale copy.
        doc.write(|d| d.extra.remove(DERIVED_GROUP_TOPIC_MAP));
        Ok(Self { doc })
    }

    /// Where the table came from (`None`: no file yet).
    pub fn loaded_from(&self) -> Option<Source> {
        self.doc.loaded_from()
    }

    /// Records the committed offset of a queue; bumps the version when it changed.
    pub fn commit(&self, topic: &str, group: &str, queue_id: i32, offset: i64) {
        self.doc.write(|d| {
            let queues = d.offset_table.entry(offset_key(topic, group)).or_default();
            if queues.insert(queue_id, offset) != Some(offset) {
                d.data_version.next_version();
            }
        });
    }

    /// The committed offset of a queue; `None` means QUERY_NOT_FOUND.
    pub fn query(&self, topic: &str, group: &str, queue_id: i32) -> Option<i64> {
        self.doc.read(|d| {
            d.offset_table
                .get(&offset_key(topic, group))?
                .get(&queue_id)
                .copied()
        })
    }

    /// All queue offsets of (topic, group).
    pub fn offsets(&self, topic: &str, group: &str) -> Option<QueueOffsets> {
        self.doc
            .read(|d| d.offset_table.get(&offset_key(topic, group)).cloned())
    }

    /// Topics `group` has offsets for.
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        self.doc.read(|d| {
            d.offset_table
                .keys()
                .filter_map(|k| {
                    split_offset_key(k)
                        .filter(|(_, g)| *g == group)
                        .map(|(t, _)| t.to_owned())
                })
                .collect()
        })
    }

    /// Groups having offsets for `topic`.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        self.doc.read(|d| {
            d.offset_table
                .keys()
                .filter_map(|k| {
                    split_offset_key(k)
                        .filter(|(t, _)| *t == topic)
                        .map(|(_, g)| g.to_owned())
                })
                .collect()
        })
    }

    /// Drops every offset of `group` (DELETE_SUBSCRIPTIONGROUP with cleanOffset); returns how
    /// many (topic, group) entries went.
    pub fn remove_group(&self, group: &str) -> usize {
        self.remove_where(|_, g| g == group)
    }

    /// Drops every offset of `topic` (topic deletion).
    pub fn remove_topic(&self, topic: &str) -> usize {
        self.remove_where(|t, _| t == topic)
    }

    fn remove_where(&self, doomed: impl Fn(&str, &str) -> bool) -> usize {
        self.doc.write(|d| {
            let before = d.offset_table.len();
            d.offset_table
                .retain(|k, _| !split_offset_key(k).is_some_and(|(t, g)| doomed(t, g)));
            let removed = before - d.offset_table.len();
            if removed > 0 {
                d.data_version.next_version();
            }
            removed
        })
    }

    /// The current data version.
    pub fn data_version(&self) -> DataVersion {
        self.doc.read(|d| d.data_version)
    }

    /// A consistent copy of the table.
    pub fn snapshot(&self) -> ConsumerOffsetWrapper {
        self.doc.read(Clone::clone)
    }

    /// Compact JSON (GET_ALL_CONSUMER_OFFSET body).
    pub fn encode(&self) -> Result<String> {
        self.doc.encode()
    }

    /// Writes `consumerOffset.json` atomically.
    pub fn persist(&self) -> Result<()> {
        self.doc.persist()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::real_files;

    #[test]
    fn commit_query_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let table = ConsumerOffsetTable::open(dir.path(), real_files()).unwrap();
        assert_eq!(table.query("T", "g", 0), None);
        table.commit("T", "g", 0, 10);
        table.commit("T", "g", 1, 20);
        table.commit("U", "g", 0, 5);
        table.commit("T", "h", 0, 1);
        assert_eq!(table.query("T", "g", 1), Some(20));
        assert_eq!(table.data_version().counter, 4);
        table.commit("T", "g", 1, 20);
        assert_eq!(table.data_version().counter, 4);
        assert_eq!(
            table.topics_of_group("g"),
            vec!["T".to_owned(), "U".to_owned()]
        );
        assert_eq!(
            table.groups_of_topic("T"),
            vec!["g".to_owned(), "h".to_owned()]
        );
        assert_eq!(table.remove_group("g"), 2);
        assert_eq!(table.remove_topic("T"), 1);
        assert_eq!(table.snapshot().offset_table.len(), 0);
    }

    #[test]
    fn persisted_with_numeric_queue_keys() {
        let dir = tempfile::tempdir().unwrap();
        let table = ConsumerOffsetTable::open(dir.path(), real_files()).unwrap();
        table.commit("TopicTest", "g1", 0, 123);
        table.commit("TopicTest", "g1", 1, 456);
        table.persist().unwrap();
        let text = std::fs::read_to_string(dir.path().join(CONSUMER_OFFSET_FILE)).unwrap();
        assert!(
            text.contains("\"TopicTest@g1\":{\n\t\t\t0:123,\n\t\t\t1:456\n\t\t}"),
            "{text}"
        );
        let again = ConsumerOffsetTable::open(dir.path(), real_files()).unwrap();
        assert_eq!(
            again.offsets("TopicTest", "g1"),
            Some([(0, 123), (1, 456)].into())
        );
    }
}
