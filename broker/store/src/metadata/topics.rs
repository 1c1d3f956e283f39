//! `config/topics.json`: every topic this broker serves.
//! JSON (`TopicConfigSerializeWrapper`):
//! `{"topicConfigTable":{"<topic>":TopicConfig,...},"dataVersion":{"counter":N,"timestamp":T}}`.
//! The same document is the body of GET_ALL_TOPIC_CONFIG and part of REGISTER_BROKER.

use std::collections::BTreeMap;
use std::path::Path;

use ferrimq_config::TopicConfig;
use serde::{Deserialize, Serialize};

use crate::metadata::data_version::DataVersion;
use crate::metadata::error::Result;
use crate::metadata::json_file::{JsonFile, Source};
use crate::metadata::table::PersistedDoc;
use crate::seam::SharedSeam;

/// File name under `<storePathRootDir>/config/`.
pub const TOPICS_FILE: &str = "topics.json";

/// The persisted document; unknown top-level fields of newer Java versions are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    /// Topic name -> configuration.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// Version of the table.
    pub data_version: DataVersion,
    /// Fields this broker does not interpret, written back unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Thread-safe topic table backed by `topics.json`.
#[derive(Debug)]
pub struct TopicTable {
    doc: PersistedDoc<TopicConfigSerializeWrapper>,
}

impl TopicTable {
    /// Loads `<config_dir>/topics.json` (or its `.bak`); empty when neither exists.
    pub fn open(config_dir: &Path, seam: SharedSeam) -> Result<Self> {
        let file = JsonFile::with_seam(config_dir.join(TOPICS_FILE), seam);
        Ok(Self {
            doc: PersistedDoc::open(file)?,
        })
    }

    /// Where the table came from (`None`: no file yet).
    pub fn loaded_from(&self) -> Option<Source> {
        self.doc.loaded_from()
    }

    /// The configuration of `topic`.
    pub fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.doc.read(|d| d.topic_config_table.get(topic).cloned())
    }

    /// True when `topic` exists.
    pub fn contains(&self, topic: &str) -> bool {
        self.doc.read(|d| d.topic_config_table.contains_key(topic))
    }

    /// Inserts or replaces a topic; bumps the data version only when something changed.
    /// Returns the previous configuration.
    pub fn upsert(&self, config: TopicConfig) -> Option<TopicConfig> {
        self.doc.write(|d| {
            let previous = d.topic_config_table.get(&config.topic_name).cloned();
            if previous.as_ref() != Some(&config) {
                d.topic_config_table
                    .insert(config.topic_name.clone(), config);
                d.data_version.next_version();
            }
            previous
        })
    }

    /// Inserts `config` only if its topic is absent; returns the configuration in effect.
    pub fn get_or_insert(&self, config: TopicConfig) -> TopicConfig {
        self.doc.write(|d| {
            if let Some(existing) = d.topic_config_table.get(&config.topic_name) {
                return existing.clone();
            }
            d.topic_config_table
                .insert(config.topic_name.clone(), config.clone());
            d.data_version.next_version();
            config
        })
    }

    /// Removes a topic; bumps the data version when it existed.
    pub fn remove(&self, topic: &str) -> Option<TopicConfig> {
        self.doc.write(|d| {
            let removed = d.topic_config_table.remove(topic);
            if removed.is_some() {
                d.data_version.next_version();
            }
            removed
        })
    }

    /// Topic names in order.
    pub fn names(&self) -> Vec<String> {
        self.doc
            .read(|d| d.topic_config_table.keys().cloned().collect())
    }

    /// Number of topics.
    pub fn len(&self) -> usize {
        self.doc.read(|d| d.topic_config_table.len())
    }

    /// True when there are no topics.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current data version.
    pub fn data_version(&self) -> DataVersion {
        self.doc.read(|d| d.data_version)
    }

    /// A consistent copy of the whole table and its version.
    pub fn snapshot(&self) -> TopicConfigSerializeWrapper {
        self.doc.read(Clone::clone)
    }

    /// Compact JSON of the table (GET_ALL_TOPIC_CONFIG body).
    pub fn encode(&self) -> Result<String> {
        self.doc.encode()
    }

    /// Writes `topics.json` atomically.
    pub fn persist(&self) -> Result<()> {
        self.doc.persist()
    }
}

#[cfg(test)]
mod tests {
    use ferrimq_config::Perm;

    use super::*;
    use crate::seam::real_files;

    #[test]
    fn version_bumps_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let table = TopicTable::open(dir.path(), real_files()).unwrap();
        assert_eq!(table.loaded_from(), None);
        assert_eq!(table.upsert(TopicConfig::new("T")), None);
        assert_eq!(table.data_version().counter, 1);
        assert_eq!(
            table.upsert(TopicConfig::new("T")),
            Some(TopicConfig::new("T"))
        );
        assert_eq!(table.data_version().counter, 1);
        let changed = TopicConfig::with_queues("T", 4, Perm::READ_WRITE);
        table.upsert(changed.clone());
        assert_eq!(
            (table.data_version().counter, table.get("T")),
            (2, Some(changed.clone()))
        );
        assert_eq!(table.get_or_insert(TopicConfig::new("T")), changed);
        assert_eq!(table.remove("missing"), None);
        assert_eq!(table.data_version().counter, 2);
        assert!(table.remove("T").is_some());
        assert_eq!((table.data_version().counter, table.is_empty()), (3, true));
    }

    #[test]
    fn persist_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let table = TopicTable::open(dir.path(), real_files()).unwrap();
        table.upsert(TopicConfig::with_queues("TBW102", 8, Perm::ALL));
        table.upsert(TopicConfig::new("TopicTest"));
        table.persist().unwrap();
        let again = TopicTable::open(dir.path(), real_files()).unwrap();
        assert_eq!(again.loaded_from(), Some(Source::Main));
        assert_eq!(again.snapshot(), table.snapshot());
        assert_eq!(
            again.names(),
            vec!["TBW102".to_owned(), "TopicTest".to_owned()]
        );
    }
}
