//! `config/delayOffset.json`: how far the schedule service has delivered each delay level of
//! `SCHEDULE_TOPIC_XXXX`. JSON: `{"offsetTable":{1:off,2:off,...},"dataVersion":{...}}` with
//! the levels as unquoted numeric keys (4.x files have no `dataVersion`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::metadata::data_version::DataVersion;
use crate::metadata::error::Result;
use crate::metadata::json_file::{JsonFile, Source};
use crate::metadata::table::PersistedDoc;
use crate::seam::SharedSeam;

/// File name under `<storePathRootDir>/config/`.
pub const DELAY_OFFSET_FILE: &str = "delayOffset.json";

/// The persisted document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DelayOffsetWrapper {
    /// Delay level (1-based) -> next ConsumeQueue offset to deliver.
    pub offset_table: BTreeMap<i32, i64>,
    /// Version of the table.
    pub data_version: DataVersion,
    /// Fields this broker does not interpret, written back unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Thread-safe delay offset table backed by `delayOffset.json`.
#[derive(Debug)]
pub struct DelayOffsetTable {
    doc: PersistedDoc<DelayOffsetWrapper>,
}

impl DelayOffsetTable {
    /// Loads `<config_dir>/delayOffset.json` (or its `.bak`); empty when neither exists.
    pub fn open(config_dir: &Path, seam: SharedSeam) -> Result<Self> {
        let file = JsonFile::with_seam(config_dir.join(DELAY_OFFSET_FILE), seam);
        Ok(Self {
            doc: PersistedDoc::open(file)?,
        })
    }

    /// Where the table came from (`None`: no file yet).
    pub fn loaded_from(&self) -> Option<Source> {
        self.doc.loaded_from()
    }

    /// Records the delivery progress of `level`; bumps the version when it changed.
    pub fn update(&self, level: i32, offset: i64) {
        self.doc.write(|d| {
            if d.offset_table.insert(level, offset) != Some(offset) {
                d.data_version.next_version();
            }
        });
    }

    /// Progress of `level` (`None`: never delivered, start at 0).
    pub fn get(&self, level: i32) -> Option<i64> {
        self.doc.read(|d| d.offset_table.get(&level).copied())
    }

    /// Every level's progress.
    pub fn offsets(&self) -> BTreeMap<i32, i64> {
        self.doc.read(|d| d.offset_table.clone())
    }

    /// The current data version.
    pub fn data_version(&self) -> DataVersion {
        self.doc.read(|d| d.data_version)
    }

    /// Compact JSON (GET_ALL_DELAY_OFFSET body).
    pub fn encode(&self) -> Result<String> {
        self.doc.encode()
    }

    /// Writes `delayOffset.json` atomically.
    pub fn persist(&self) -> Result<()> {
        self.doc.persist()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::real_files;

    #[test]
    fn update_persist_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let table = DelayOffsetTable::open(dir.path(), real_files()).unwrap();
        table.update(1, 10);
        table.update(3, 7);
        table.update(3, 7);
        assert_eq!(table.data_version().counter, 2);
        table.persist().unwrap();
        let encoded = table.encode().unwrap();
        assert!(
            encoded.starts_with(r#"{"offsetTable":{1:10,3:7},"dataVersion":{"#),
            "{encoded}"
        );
        let again = DelayOffsetTable::open(dir.path(), real_files()).unwrap();
        assert_eq!(
            (again.get(1), again.get(2), again.get(3)),
            (Some(10), None, Some(7))
        );
        assert_eq!(again.offsets().len(), 2);
    }
}
