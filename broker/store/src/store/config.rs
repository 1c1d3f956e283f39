//! The facade's configuration: RocketMQ's `MessageStoreConfig` keys in snake_case, with
//! RocketMQ's defaults. The typed broker config (`ferrimq-config`) is mapped onto it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cleanup::{CleanupConfig, Clock, DiskUsageProbe, StatvfsProbe, SystemClock};
use crate::commitlog::{CommitLogConfig, DEFAULT_FILE_SIZE, DEFAULT_MAX_MESSAGE_SIZE};
use crate::consume_queue::UNIT_SIZE;
use crate::dispatch::{DispatchListener, parse_delay_levels};
use crate::error::{Result, StoreError};
use crate::flush::FlushPolicy;
use crate::read::ReadLimits;
use crate::record::BLANK_MARKER_LEN;
use crate::seam::{SharedSeam, real_files};

/// Store settings (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// `storePathRootDir`.
    pub store_path_root_dir: PathBuf,
    /// `mappedFileSizeCommitLog` (1 GiB).
    pub mapped_file_size_commit_log: usize,
    /// `mappedFileSizeConsumeQueue` (300,000 units × 20 bytes).
    pub mapped_file_size_consume_queue: usize,
    /// `maxMessageSize` (4 MiB).
    pub max_message_size: usize,
    /// `flushDiskType` with its intervals.
    pub flush_disk_type: FlushPolicy,
    /// `flushIntervalConsumeQueue` (1 s): how often queues, index and checkpoint are flushed.
    pub flush_interval_consume_queue: Duration,
    /// `flushConsumeQueueLeastPages` (2): a queue's active file is flushed once this many 4 KiB
    /// pages are dirty (a filled file always is).
    pub flush_consume_queue_least_pages: usize,
    /// `flushConsumeQueueThoroughInterval` (60 s): a flush of every dirty byte at least this
    /// often; only such a flush advances the checkpoint's logics timestamp.
    pub flush_consume_queue_thorough_interval: Duration,
    /// `cleanResourceInterval` (10 s).
    pub clean_resource_interval: Duration,
    /// `messageIndexEnable` (true).
    pub message_index_enable: bool,
    /// `maxHashSlotNum` (5,000,000).
    pub max_hash_slot_num: u32,
    /// `maxIndexNum` (20,000,000).
    pub max_index_num: u32,
    /// `fileReservedTime` hours (72).
    pub file_reserved_time: u64,
    /// `deleteWhen` (`"04"`).
    pub delete_when: String,
    /// `diskMaxUsedSpaceRatio` % (75, bounded 10..=95).
    pub disk_max_used_space_ratio: u32,
    /// `diskSpaceWarningLevelRatio` (0.90).
    pub disk_space_warning_level_ratio: f64,
    /// `diskSpaceCleanForciblyRatio` (0.85).
    pub disk_space_clean_forcibly_ratio: f64,
    /// `cleanFileForciblyEnable` (true).
    pub clean_file_forcibly_enable: bool,
    /// `maxTransferBytesOnMessageInMemory` (256 KiB).
    pub max_transfer_bytes_on_message_in_memory: usize,
    /// `maxTransferCountOnMessageInMemory` (32).
    pub max_transfer_count_on_message_in_memory: usize,
    /// `maxTransferBytesOnMessageInDisk` (64 KiB).
    pub max_transfer_bytes_on_message_in_disk: usize,
    /// `maxTransferCountOnMessageInDisk` (8).
    pub max_transfer_count_on_message_in_disk: usize,
    /// `accessMessageInMemoryMaxRatio` % of RAM (40).
    pub access_message_in_memory_max_ratio: u32,
    /// `checkCRCOnRecover` (true).
    pub check_crc_on_recover: bool,
    /// Pre-create the next CommitLog file in the background.
    pub preallocate_commit_log: bool,
    /// `messageDelayLevel`: delays of levels 1..=18.
    pub message_delay_level: String,
}

impl StoreConfig {
    /// RocketMQ's defaults for a store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let c = CleanupConfig::default();
        StoreConfig {
            store_path_root_dir: root.into(),
            mapped_file_size_commit_log: DEFAULT_FILE_SIZE,
            mapped_file_size_consume_queue: 300_000 * UNIT_SIZE,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            flush_disk_type: FlushPolicy::ASYNC_DEFAULT,
            flush_interval_consume_queue: Duration::from_millis(1000),
            flush_consume_queue_least_pages: 2,
            flush_consume_queue_thorough_interval: Duration::from_millis(60_000),
            clean_resource_interval: Duration::from_millis(10_000),
            message_index_enable: true,
            max_hash_slot_num: 5_000_000,
            max_index_num: 20_000_000,
            file_reserved_time: c.file_reserved_time,
            delete_when: c.delete_when,
            disk_max_used_space_ratio: c.disk_max_used_space_ratio,
            disk_space_warning_level_ratio: c.disk_space_warning_level_ratio,
            disk_space_clean_forcibly_ratio: c.disk_space_clean_forcibly_ratio,
            clean_file_forcibly_enable: c.clean_file_forcibly_enable,
            max_transfer_bytes_on_message_in_memory: 256 * 1024,
            max_transfer_count_on_message_in_memory: 32,
            max_transfer_bytes_on_message_in_disk: 64 * 1024,
            max_transfer_count_on_message_in_disk: 8,
            access_message_in_memory_max_ratio: 40,
            check_crc_on_recover: true,
            preallocate_commit_log: true,
            message_delay_level: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
                .into(),
        }
    }

    pub(crate) fn commit_log(&self) -> CommitLogConfig {
        let mut c = CommitLogConfig::new(self.store_path_root_dir.join("commitlog"));
        c.file_size = self.mapped_file_size_commit_log;
        // The Java broker accepts a maxMessageSize larger than a (small) CommitLog file and
        // fails only the message that does not fit; do the same instead of refusing to open.
        let largest = self
            .mapped_file_size_commit_log
            .saturating_sub(BLANK_MARKER_LEN);
        if self.max_message_size > largest {
            tracing::warn!(
                max_message_size = self.max_message_size,
                file_size = self.mapped_file_size_commit_log,
                "maxMessageSize does not fit a CommitLog file; larger messages are refused"
            );
        }
        c.max_message_size = self.max_message_size.min(largest);
        c.flush = self.flush_disk_type;
        c.preallocate = self.preallocate_commit_log;
        c.check_crc_on_recover = self.check_crc_on_recover;
        // Pre-fault pages from a background thread: the kernel's zero-fill of fresh CommitLog
        // pages leaves the append path. SYNC_FLUSH: writers wait for each fsync anyway (group
        // commit of 64 writers ~85k -> ~108k appends/s on the CI VM, benches/append.rs).
        // ASYNC_FLUSH: the zero-fill was 20 % of broker CPU at 64 sync producers; moved to the
        // warmer, `ferrimq bench produce` went from ~72k to ~82k msgs/s on 2 cores.
        c.prefault_ahead = true;
        c
    }

    pub(crate) fn delay_levels_ms(&self) -> Result<Vec<i64>> {
        parse_delay_levels(&self.message_delay_level).ok_or_else(|| {
            StoreError::InvalidConfig(format!(
                "messageDelayLevel {:?} is not a list like \"1s 5s 1m 2h\"",
                self.message_delay_level
            ))
        })
    }

    pub(crate) fn cleanup(&self) -> CleanupConfig {
        CleanupConfig {
            file_reserved_time: self.file_reserved_time,
            delete_when: self.delete_when.clone(),
            disk_max_used_space_ratio: self.disk_max_used_space_ratio,
            disk_space_warning_level_ratio: self.disk_space_warning_level_ratio,
            disk_space_clean_forcibly_ratio: self.disk_space_clean_forcibly_ratio,
            clean_file_forcibly_enable: self.clean_file_forcibly_enable,
            ..CleanupConfig::default()
        }
    }

    pub(crate) fn read_limits(&self) -> ReadLimits {
        let ram = total_memory_bytes().unwrap_or(u64::MAX / 100);
        ReadLimits {
            max_bytes_in_memory: self.max_transfer_bytes_on_message_in_memory,
            max_count_in_memory: self.max_transfer_count_on_message_in_memory,
            max_bytes_in_disk: self.max_transfer_bytes_on_message_in_disk,
            max_count_in_disk: self.max_transfer_count_on_message_in_disk,
            memory_window: ram / 100 * u64::from(self.access_message_in_memory_max_ratio),
        }
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn total_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The injectable parts of a store: file seam, clock and disk probe (tests replace them) and
/// the dispatch listener (the server's long-polling service).
#[derive(Clone)]
pub struct StoreHooks {
    /// Durability observer of every store file.
    pub seam: SharedSeam,
    /// Wall clock for cleanup decisions.
    pub clock: Arc<dyn Clock>,
    /// Disk usage probe for cleanup and the disk-full guard.
    pub disk: Arc<dyn DiskUsageProbe>,
    /// Told about dispatched messages.
    pub listener: Option<Arc<dyn DispatchListener>>,
}

impl std::fmt::Debug for StoreHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHooks")
            .field("seam", &self.seam)
            .field("clock", &self.clock)
            .field("disk", &self.disk)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

impl Default for StoreHooks {
    fn default() -> Self {
        StoreHooks {
            seam: real_files(),
            clock: Arc::new(SystemClock),
            disk: Arc::new(StatvfsProbe),
            listener: None,
        }
    }
}

impl From<&ferrimq_config::StoreConfig> for StoreConfig {
    /// Maps the typed broker.conf section onto the store's settings (the CommitLog directory is
    /// always `<root>/commitlog`; `storePathCommitLog` is not supported yet).
    fn from(t: &ferrimq_config::StoreConfig) -> Self {
        let ms = Duration::from_millis;
        let flush_disk_type = match t.flush_disk_type {
            ferrimq_config::FlushDiskType::SyncFlush => FlushPolicy::Sync {
                timeout: ms(t.sync_flush_timeout),
            },
            ferrimq_config::FlushDiskType::AsyncFlush => FlushPolicy::Async {
                interval: ms(t.flush_interval_commit_log),
                min_pages: t.flush_commit_log_least_pages as usize,
                thorough_interval: ms(t.flush_commit_log_thorough_interval),
            },
        };
        let levels: Vec<String> = t
            .message_delay_level
            .0
            .iter()
            .map(|d| format!("{}s", d.as_secs()))
            .collect();
        StoreConfig {
            store_path_root_dir: t.store_path_root_dir.clone(),
            mapped_file_size_commit_log: t.mapped_file_size_commit_log as usize,
            mapped_file_size_consume_queue: t.mapped_file_size_consume_queue as usize,
            max_message_size: t.max_message_size as usize,
            flush_disk_type,
            flush_interval_consume_queue: ms(t.flush_interval_consume_queue),
            flush_consume_queue_least_pages: t.flush_consume_queue_least_pages as usize,
            flush_consume_queue_thorough_interval: ms(t.flush_consume_queue_thorough_interval),
            clean_resource_interval: ms(t.clean_resource_interval),
            message_index_enable: t.message_index_enable,
            max_hash_slot_num: t.max_hash_slot_num,
            max_index_num: t.max_index_num,
            file_reserved_time: u64::from(t.file_reserved_time),
            delete_when: t.delete_when.to_string(),
            disk_max_used_space_ratio: t.disk_max_used_space_ratio,
            disk_space_warning_level_ratio: f64::from(t.disk_space_warning_level_ratio) / 100.0,
            disk_space_clean_forcibly_ratio: f64::from(t.disk_space_clean_forcibly_ratio) / 100.0,
            clean_file_forcibly_enable: t.clean_file_forcibly_enable,
            max_transfer_bytes_on_message_in_memory: t.max_transfer_bytes_on_message_in_memory
                as usize,
            max_transfer_count_on_message_in_memory: t.max_transfer_count_on_message_in_memory
                as usize,
            max_transfer_bytes_on_message_in_disk: t.max_transfer_bytes_on_message_in_disk as usize,
            max_transfer_count_on_message_in_disk: t.max_transfer_count_on_message_in_disk as usize,
            access_message_in_memory_max_ratio: t.access_message_in_memory_max_ratio,
            check_crc_on_recover: t.check_crc_on_recover,
            preallocate_commit_log: true,
            message_delay_level: levels.join(" "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_defaults_map_onto_rocketmq_defaults() {
        let typed = ferrimq_config::StoreConfig {
            store_path_root_dir: PathBuf::from("/data/store"),
            ..ferrimq_config::StoreConfig::default()
        };
        let mapped = StoreConfig::from(&typed);
        assert_eq!(mapped, StoreConfig {
            message_delay_level: "1s 5s 10s 30s 60s 120s 180s 240s 300s 360s 420s 480s 540s 600s 1200s 1800s 3600s 7200s".into(),
            ..StoreConfig::new("/data/store")
        });
        assert_eq!(
            mapped.delay_levels_ms().unwrap(),
            StoreConfig::new("/x").delay_levels_ms().unwrap()
        );
    }
}
