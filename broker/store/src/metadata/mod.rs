//! Broker metadata persisted as JSON under `<storePathRootDir>/config/`, in the files and
//! formats the Java broker uses, so a store directory can move between ferrimq and RocketMQ:
//!
//! - [`TopicTable`] (`topics.json`), [`SubscriptionGroupTable`] (`subscriptionGroup.json`),
//!   [`ConsumerOffsetTable`] (`consumerOffset.json`), [`DelayOffsetTable`] (`delayOffset.json`):
//!   each a thread-safe in-memory table with a [`DataVersion`] bumped on change and a
//!   `persist()` that writes the file.
//! - [`json_file`]: the crash-safe write (temp file, fsync, rename, directory fsync, `.bak` of
//!   the previous version) and the load with `.bak` fallback.
//!
//! Files are read with the fastjson dialect parser (Java writes `{0:123}` keys) and written in
//! fastjson's pretty layout with unquoted numeric keys, which the Java broker reads back.

pub mod consumer_offsets;
pub mod data_version;
pub mod delay_offsets;
pub mod error;
pub mod groups;
pub mod json_file;
mod table;
pub mod topics;

use std::path::Path;

pub use consumer_offsets::ConsumerOffsetTable;
pub use data_version::DataVersion;
pub use delay_offsets::DelayOffsetTable;
pub use error::MetadataError;
pub use groups::SubscriptionGroupTable;
pub use json_file::{JsonFile, Source};
pub use topics::TopicTable;

use crate::seam::SharedSeam;

/// The four metadata tables of one broker.
#[derive(Debug)]
pub struct Metadata {
    /// `topics.json`.
    pub topics: TopicTable,
    /// `subscriptionGroup.json`.
    pub groups: SubscriptionGroupTable,
    /// `consumerOffset.json`.
    pub consumer_offsets: ConsumerOffsetTable,
    /// `delayOffset.json`.
    pub delay_offsets: DelayOffsetTable,
}

impl Metadata {
    /// Loads every table from `config_dir` (usually `StoreConfig::config_dir()`).
    pub fn open(config_dir: &Path, seam: SharedSeam) -> error::Result<Self> {
        Ok(Self {
            topics: TopicTable::open(config_dir, seam.clone())?,
            groups: SubscriptionGroupTable::open(config_dir, seam.clone())?,
            consumer_offsets: ConsumerOffsetTable::open(config_dir, seam.clone())?,
            delay_offsets: DelayOffsetTable::open(config_dir, seam)?,
        })
    }

    /// Persists every table (at shutdown); stops at the first failure.
    pub fn persist_all(&self) -> error::Result<()> {
        self.topics.persist()?;
        self.groups.persist()?;
        self.consumer_offsets.persist()?;
        self.delay_offsets.persist()
    }
}
