//! `config/subscriptionGroup.json`: consumer group settings.
//! JSON: `{"subscriptionGroupTable":{"<group>":SubscriptionGroupConfig,...},"dataVersion":{...}}`
//! (5.x adds `forbiddenTable`, kept verbatim). Also the GET_ALL_SUBSCRIPTIONGROUP_CONFIG body.

use std::collections::BTreeMap;
use std::path::Path;

use ferrimq_config::SubscriptionGroupConfig;
use serde::{Deserialize, Serialize};

use crate::metadata::data_version::DataVersion;
use crate::metadata::error::Result;
use crate::metadata::json_file::{JsonFile, Source};
use crate::metadata::table::PersistedDoc;
use crate::seam::SharedSeam;

/// File name under `<storePathRootDir>/config/`.
pub const SUBSCRIPTION_GROUP_FILE: &str = "subscriptionGroup.json";

/// The persisted document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    /// Group name -> settings.
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    /// Version of the table.
    pub data_version: DataVersion,
    /// Fields this broker does not interpret (5.x `forbiddenTable`), written back unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Thread-safe subscription group table backed by `subscriptionGroup.json`.
#[derive(Debug)]
pub struct SubscriptionGroupTable {
    doc: PersistedDoc<SubscriptionGroupWrapper>,
}

impl SubscriptionGroupTable {
    /// Loads `<config_dir>/subscriptionGroup.json` (or its `.bak`); empty when neither exists.
    pub fn open(config_dir: &Path, seam: SharedSeam) -> Result<Self> {
        let file = JsonFile::with_seam(config_dir.join(SUBSCRIPTION_GROUP_FILE), seam);
        Ok(Self {
            doc: PersistedDoc::open(file)?,
        })
    }

    /// Where the table came from (`None`: no file yet).
    pub fn loaded_from(&self) -> Option<Source> {
        self.doc.loaded_from()
    }

    /// The settings of `group`.
    pub fn get(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        self.doc
            .read(|d| d.subscription_group_table.get(group).cloned())
    }

    /// Inserts or replaces a group; bumps the version only when something changed.
    pub fn upsert(&self, config: SubscriptionGroupConfig) -> Option<SubscriptionGroupConfig> {
        self.doc.write(|d| {
            let previous = d.subscription_group_table.get(&config.group_name).cloned();
            if previous.as_ref() != Some(&config) {
                d.subscription_group_table
                    .insert(config.group_name.clone(), config);
                d.data_version.next_version();
            }
            previous
        })
    }

    /// The group's settings, creating it with defaults when absent (autoCreateSubscriptionGroup).
    pub fn get_or_create(&self, group: &str) -> SubscriptionGroupConfig {
        self.doc.write(|d| {
            if let Some(existing) = d.subscription_group_table.get(group) {
                return existing.clone();
            }
            let created = SubscriptionGroupConfig::new(group);
            d.subscription_group_table
                .insert(group.to_owned(), created.clone());
            d.data_version.next_version();
            created
        })
    }

    /// Removes a group; bumps the version when it existed.
    pub fn remove(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        self.doc.write(|d| {
            let removed = d.subscription_group_table.remove(group);
            if removed.is_some() {
                d.data_version.next_version();
            }
            removed
        })
    }

    /// Group names in order.
    pub fn names(&self) -> Vec<String> {
        self.doc
            .read(|d| d.subscription_group_table.keys().cloned().collect())
    }

    /// The current data version.
    pub fn data_version(&self) -> DataVersion {
        self.doc.read(|d| d.data_version)
    }

    /// A consistent copy of the table.
    pub fn snapshot(&self) -> SubscriptionGroupWrapper {
        self.doc.read(Clone::clone)
    }

    /// Compact JSON (GET_ALL_SUBSCRIPTIONGROUP_CONFIG body).
    pub fn encode(&self) -> Result<String> {
        self.doc.encode()
    }

    /// Writes `subscriptionGroup.json` atomically.
    pub fn persist(&self) -> Result<()> {
        self.doc.persist()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::real_files;

    #[test]
    fn create_on_demand_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let table = SubscriptionGroupTable::open(dir.path(), real_files()).unwrap();
        let g = table.get_or_create("g1");
        assert_eq!((g.retry_max_times, table.data_version().counter), (16, 1));
        table.get_or_create("g1");
        assert_eq!(table.data_version().counter, 1);
        let mut changed = g.clone();
        changed.consume_enable = false;
        assert_eq!(table.upsert(changed.clone()), Some(g));
        table.persist().unwrap();
        let again = SubscriptionGroupTable::open(dir.path(), real_files()).unwrap();
        assert_eq!(again.get("g1"), Some(changed));
        assert_eq!(again.data_version(), table.data_version());
        assert!(again.remove("g1").is_some());
        assert_eq!(again.names(), Vec::<String>::new());
    }
}
