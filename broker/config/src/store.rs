//! `StoreConfig`: the message store's section of broker.conf (RocketMQ `MessageStoreConfig`
//! keys and defaults): paths, file sizes, flush policy, cleanup, index and HA transfer tuning.
//! Value types carry meaning where RocketMQ uses strings: [`FlushDiskType`], [`DelayLevels`],
//! [`DeleteWhen`]. Sizes are bytes, intervals milliseconds unless a field says otherwise.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::ConfigError;
use crate::section;
use crate::setting::Setting;

/// How the commit log reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FlushDiskType {
    /// A background flush every `flushIntervalCommitLog` ms; sends return before the fsync.
    #[default]
    AsyncFlush,
    /// Group commit: a send returns only after its bytes are durable.
    SyncFlush,
}

impl Setting for FlushDiskType {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        match raw {
            "ASYNC_FLUSH" => Ok(FlushDiskType::AsyncFlush),
            "SYNC_FLUSH" => Ok(FlushDiskType::SyncFlush),
            _ => Err("expected ASYNC_FLUSH or SYNC_FLUSH".to_owned()),
        }
    }
    fn render_setting(&self) -> Option<String> {
        Some(match self {
            FlushDiskType::AsyncFlush => "ASYNC_FLUSH".to_owned(),
            FlushDiskType::SyncFlush => "SYNC_FLUSH".to_owned(),
        })
    }
}

/// `messageDelayLevel`: the delay of each level, level 1 first
/// (default `1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayLevels(pub Vec<Duration>);

impl DelayLevels {
    /// RocketMQ's default text.
    pub const DEFAULT_TEXT: &'static str =
        "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

    /// The highest level.
    pub fn max_level(&self) -> u32 {
        u32::try_from(self.0.len()).unwrap_or(u32::MAX)
    }

    /// Delay of `level` (1-based); levels above the maximum are clamped to it, as the broker does.
    pub fn delay(&self, level: u32) -> Option<Duration> {
        if level == 0 {
            return None;
        }
        let index = level.min(self.max_level()) as usize - 1;
        self.0.get(index).copied()
    }
}

impl Default for DelayLevels {
    fn default() -> Self {
        Self::parse_setting(Self::DEFAULT_TEXT).expect("the default delay levels parse")
    }
}

impl Setting for DelayLevels {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        let levels = raw
            .split_whitespace()
            .map(parse_delay)
            .collect::<Result<Vec<_>, _>>()?;
        if levels.is_empty() {
            return Err("expected at least one delay level such as 1s".to_owned());
        }
        Ok(DelayLevels(levels))
    }
    fn render_setting(&self) -> Option<String> {
        Some(
            self.0
                .iter()
                .map(|d| render_delay(*d))
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}

fn parse_delay(item: &str) -> Result<Duration, String> {
    let bad = || format!("bad delay level {item:?} (expected a number followed by s, m, h or d)");
    let unit = item.chars().last().ok_or_else(bad)?;
    let number = &item[..item.len() - unit.len_utf8()];
    let seconds_per_unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    n.checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

fn render_delay(delay: Duration) -> String {
    let secs = delay.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// `deleteWhen`: hours of the day (0..=23) at which expired files are deleted, `04` or `04;16`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteWhen(pub Vec<u8>);

impl DeleteWhen {
    /// True when `hour` is one of the configured hours.
    pub fn includes(&self, hour: u8) -> bool {
        self.0.contains(&hour)
    }
}

impl Default for DeleteWhen {
    fn default() -> Self {
        DeleteWhen(vec![4])
    }
}

impl Setting for DeleteWhen {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        let hours = raw
            .split(';')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| {
                h.parse::<u8>()
                    .ok()
                    .filter(|&n| n < 24)
                    .ok_or_else(|| format!("bad hour {h:?} (expected 00..23)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if hours.is_empty() {
            return Err("expected at least one hour such as 04".to_owned());
        }
        Ok(DeleteWhen(hours))
    }
    fn render_setting(&self) -> Option<String> {
        Some(
            self.0
                .iter()
                .map(|h| format!("{h:02}"))
                .collect::<Vec<_>>()
                .join(";"),
        )
    }
}

impl fmt::Display for DeleteWhen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_setting().unwrap_or_default())
    }
}

/// Unit size of a ConsumeQueue entry; `mappedFileSizeConsumeQueue` is rounded up to it.
pub const CQ_UNIT_SIZE: u64 = 20;
/// Largest file size the Java broker can map (Java `int`).
pub const MAX_MAPPED_FILE_SIZE: u64 = i32::MAX as u64;

section! {
    /// The message store's settings (`MessageStoreConfig`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct StoreConfig {
        /// Root of the store. (Java defaults to `$HOME/store`; no environment is read here.)
        store_path_root_dir: PathBuf = "storePathRootDir", PathBuf::from("store");
        /// CommitLog directory; unset means `<root>/commitlog`.
        store_path_commit_log: Option<PathBuf> = "storePathCommitLog", None;
        /// Size of each CommitLog file (1 GiB).
        mapped_file_size_commit_log: u64 = "mappedFileSizeCommitLog", 1024 * 1024 * 1024;
        /// Size of each ConsumeQueue file (300,000 units of 20 bytes); rounded up to 20.
        mapped_file_size_consume_queue: u64 = "mappedFileSizeConsumeQueue", 300_000 * CQ_UNIT_SIZE;
        /// Flush policy of the CommitLog.
        flush_disk_type: FlushDiskType = "flushDiskType", FlushDiskType::AsyncFlush;
        /// Async flush period of the CommitLog, ms.
        flush_interval_commit_log: u64 = "flushIntervalCommitLog", 500;
        /// Flush on a fixed period (true) or wake on writes (false).
        flush_commit_log_timed: bool = "flushCommitLogTimed", true;
        /// Pages (4 KiB) that must be dirty before an async flush.
        flush_commit_log_least_pages: u32 = "flushCommitLogLeastPages", 4;
        /// A flush ignoring the page minimum at least this often, ms.
        flush_commit_log_thorough_interval: u64 = "flushCommitLogThoroughInterval", 10_000;
        /// Flush period of ConsumeQueues, ms.
        flush_interval_consume_queue: u64 = "flushIntervalConsumeQueue", 1000;
        /// Dirty pages before a ConsumeQueue flush.
        flush_consume_queue_least_pages: u32 = "flushConsumeQueueLeastPages", 2;
        /// A ConsumeQueue flush ignoring the page minimum at least this often, ms.
        flush_consume_queue_thorough_interval: u64 = "flushConsumeQueueThoroughInterval", 60_000;
        /// How long a SYNC_FLUSH send waits for its fsync (and a SYNC_MASTER for the slave), ms.
        sync_flush_timeout: u64 = "syncFlushTimeout", 5000;
        /// Hours a CommitLog file is kept after its last write.
        file_reserved_time: u32 = "fileReservedTime", 72;
        /// Hours of the day when expired files are deleted.
        delete_when: DeleteWhen = "deleteWhen", DeleteWhen::default();
        /// Disk usage (percent) above which files are deleted early; clamped to 10..=95.
        disk_max_used_space_ratio: u32 = "diskMaxUsedSpaceRatio", 75;
        /// Disk usage (percent) above which writes are refused.
        disk_space_warning_level_ratio: u32 = "diskSpaceWarningLevelRatio", 90;
        /// Disk usage (percent) above which files are deleted even if unexpired.
        disk_space_clean_forcibly_ratio: u32 = "diskSpaceCleanForciblyRatio", 85;
        /// Allow forced cleanup when the disk is nearly full.
        clean_file_forcibly_enable: bool = "cleanFileForciblyEnable", true;
        /// Period of the cleanup task, ms.
        clean_resource_interval: u64 = "cleanResourceInterval", 10_000;
        /// Pause between two CommitLog file deletions, ms.
        delete_commit_log_files_interval: u64 = "deleteCommitLogFilesInterval", 100;
        /// Pause between two ConsumeQueue file deletions, ms.
        delete_consume_queue_files_interval: u64 = "deleteConsumeQueueFilesInterval", 100;
        /// A file still referenced this long after deletion is destroyed anyway, ms.
        destroy_maped_file_interval_forcibly: u64 = "destroyMapedFileIntervalForcibly", 120_000;
        /// Retry period for a file whose deletion hung, ms.
        redelete_hanged_file_interval: u64 = "redeleteHangedFileInterval", 120_000;
        /// Largest accepted message (4 MiB).
        max_message_size: u32 = "maxMessageSize", 4 * 1024 * 1024;
        /// Validate CRCs while recovering.
        check_crc_on_recover: bool = "checkCRCOnRecover", true;
        /// Build IndexFiles (keys, unique keys).
        message_index_enable: bool = "messageIndexEnable", true;
        /// Hash slots per IndexFile.
        max_hash_slot_num: u32 = "maxHashSlotNum", 5_000_000;
        /// Entries per IndexFile.
        max_index_num: u32 = "maxIndexNum", 5_000_000 * 4;
        /// Flush IndexFiles on every checkpoint (safer recovery of the index).
        message_index_safe: bool = "messageIndexSafe", false;
        /// Delay of each delay level.
        message_delay_level: DelayLevels = "messageDelayLevel", DelayLevels::default();
        /// Bytes a master sends to a slave per transfer (32 KiB).
        ha_transfer_batch_size: u32 = "haTransferBatchSize", 32 * 1024;
        /// Slave heartbeat (offset report) period, ms.
        ha_send_heartbeat_interval: u64 = "haSendHeartbeatInterval", 5000;
        /// A replication connection silent this long is closed, ms.
        ha_housekeeping_interval: u64 = "haHousekeepingInterval", 20_000;
        /// Bytes a slave may lag before SYNC_MASTER sends stop waiting for it (256 MiB).
        ha_slave_fallbehind_max: u64 = "haSlaveFallbehindMax", 256 * 1024 * 1024;
        /// Pull budget in bytes when the data is in memory.
        max_transfer_bytes_on_message_in_memory: u32 = "maxTransferBytesOnMessageInMemory", 256 * 1024;
        /// Pull budget in messages when the data is in memory.
        max_transfer_count_on_message_in_memory: u32 = "maxTransferCountOnMessageInMemory", 32;
        /// Pull budget in bytes when the data is on disk.
        max_transfer_bytes_on_message_in_disk: u32 = "maxTransferBytesOnMessageInDisk", 64 * 1024;
        /// Pull budget in messages when the data is on disk.
        max_transfer_count_on_message_in_disk: u32 = "maxTransferCountOnMessageInDisk", 8;
        /// Percent of RAM assumed to hold hot CommitLog data (decides "in memory").
        access_message_in_memory_max_ratio: u32 = "accessMessageInMemoryMaxRatio", 40;
        /// Maximum results of a message query.
        default_query_max_num: u32 = "defaultQueryMaxNum", 32;
        /// A put taking longer than this marks the page cache busy, ms.
        os_page_cache_busy_time_out_mills: u64 = "osPageCacheBusyTimeOutMills", 1000;
        /// Prefault new CommitLog files.
        warm_maped_file_enable: bool = "warmMapedFileEnable", false;
        /// DLedger CommitLog; not supported by ferrimq (refused when true).
        enable_d_leger_commit_log: bool = "enableDLegerCommitLog", false;
    }
}

impl StoreConfig {
    /// Resolves the store keys of `props` over the defaults and validates them.
    pub fn from_properties(props: &crate::properties::Properties) -> Result<Self, ConfigError> {
        let mut config = StoreConfig::default();
        let mut errors = Vec::new();
        config.read_keys(props, &mut errors);
        config.normalize_and_validate(&mut errors);
        ConfigError::from_list(errors).map_or(Ok(config), Err)
    }

    /// Applies RocketMQ's silent adjustments (CQ size rounding, disk ratio clamping), then
    /// checks ranges; problems go to `errors`.
    pub(crate) fn normalize_and_validate(&mut self, errors: &mut Vec<ConfigError>) {
        self.mapped_file_size_consume_queue =
            self.mapped_file_size_consume_queue.div_ceil(CQ_UNIT_SIZE) * CQ_UNIT_SIZE;
        self.disk_max_used_space_ratio = self.disk_max_used_space_ratio.clamp(10, 95);
        let size = self.mapped_file_size_commit_log;
        if !(4096..=MAX_MAPPED_FILE_SIZE).contains(&size) {
            errors.push(range("mappedFileSizeCommitLog", size, "4096..=2147483647"));
        }
        if !(CQ_UNIT_SIZE..=MAX_MAPPED_FILE_SIZE).contains(&self.mapped_file_size_consume_queue) {
            errors.push(range(
                "mappedFileSizeConsumeQueue",
                self.mapped_file_size_consume_queue,
                "20..=2147483647",
            ));
        }
        // maxMessageSize may exceed a small CommitLog file (the Java broker accepts that too,
        // e.g. 64 KiB test stores); the store refuses a record that cannot fit a file.
        if self.max_message_size == 0 {
            errors.push(range("maxMessageSize", 0, ">= 1"));
        }
        self.validate_counts(errors);
    }

    fn validate_counts(&self, errors: &mut Vec<ConfigError>) {
        for (key, value) in [
            (
                "diskSpaceWarningLevelRatio",
                self.disk_space_warning_level_ratio,
            ),
            (
                "diskSpaceCleanForciblyRatio",
                self.disk_space_clean_forcibly_ratio,
            ),
            (
                "accessMessageInMemoryMaxRatio",
                self.access_message_in_memory_max_ratio,
            ),
        ] {
            if value > 100 {
                errors.push(range(key, value.into(), "0..=100"));
            }
        }
        for (key, value) in [
            ("maxHashSlotNum", self.max_hash_slot_num),
            ("maxIndexNum", self.max_index_num),
            ("haTransferBatchSize", self.ha_transfer_batch_size),
        ] {
            if value == 0 {
                errors.push(range(key, 0, ">= 1"));
            }
        }
        if self.enable_d_leger_commit_log {
            errors.push(ConfigError::invalid(
                "enableDLegerCommitLog",
                "true",
                "DLedger is not supported by ferrimq",
            ));
        }
    }

    /// The CommitLog directory (`storePathCommitLog`, else `<root>/commitlog`).
    pub fn commit_log_dir(&self) -> PathBuf {
        self.store_path_commit_log
            .clone()
            .unwrap_or_else(|| self.root().join("commitlog"))
    }

    /// `<root>/consumequeue`.
    pub fn consume_queue_dir(&self) -> PathBuf {
        self.root().join("consumequeue")
    }

    /// `<root>/index`.
    pub fn index_dir(&self) -> PathBuf {
        self.root().join("index")
    }

    /// `<root>/checkpoint`.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.root().join("checkpoint")
    }

    /// `<root>/abort` (present while the broker runs).
    pub fn abort_path(&self) -> PathBuf {
        self.root().join("abort")
    }

    /// `<root>/lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.root().join("lock")
    }

    /// `<root>/config`: topics.json, subscriptionGroup.json, consumerOffset.json, delayOffset.json.
    pub fn config_dir(&self) -> PathBuf {
        self.root().join("config")
    }

    fn root(&self) -> &Path {
        &self.store_path_root_dir
    }

    /// `fileReservedTime` as a duration.
    pub fn file_reserved(&self) -> Duration {
        Duration::from_secs(u64::from(self.file_reserved_time) * 3600)
    }
}

fn range(key: &str, value: u64, expected: &str) -> ConfigError {
    ConfigError::invalid(
        key,
        &value.to_string(),
        format!("out of range, expected {expected}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::Properties;

    fn resolve(text: &str) -> Result<StoreConfig, ConfigError> {
        StoreConfig::from_properties(&Properties::parse(text).unwrap())
    }

    #[test]
    fn defaults_are_rocketmq_defaults() {
        let c = resolve("").unwrap();
        assert_eq!(c.mapped_file_size_commit_log, 1 << 30);
        assert_eq!(c.mapped_file_size_consume_queue, 6_000_000);
        assert_eq!(c.flush_disk_type, FlushDiskType::AsyncFlush);
        assert_eq!(c.max_message_size, 4 << 20);
        assert_eq!(c.sync_flush_timeout, 5000);
        assert_eq!(c.delete_when, DeleteWhen(vec![4]));
        assert_eq!(c.message_delay_level.0.len(), 18);
        assert_eq!(
            c.message_delay_level.delay(18),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(c.commit_log_dir(), PathBuf::from("store/commitlog"));
        assert_eq!(c.config_dir(), PathBuf::from("store/config"));
    }

    #[test]
    fn rocketmq_adjustments() {
        let c = resolve("diskMaxUsedSpaceRatio=99\nmappedFileSizeConsumeQueue=1001").unwrap();
        assert_eq!(c.disk_max_used_space_ratio, 95);
        assert_eq!(c.mapped_file_size_consume_queue, 1020);
        assert_eq!(
            resolve("diskMaxUsedSpaceRatio=1")
                .unwrap()
                .disk_max_used_space_ratio,
            10
        );
    }

    #[test]
    fn delay_levels_parse_units_and_clamp() {
        let c = resolve("messageDelayLevel=  90s 2m 1h 1d  ").unwrap();
        let d = &c.message_delay_level;
        assert_eq!(
            d.0,
            vec![
                Duration::from_secs(90),
                Duration::from_secs(120),
                Duration::from_secs(3600),
                Duration::from_secs(86_400)
            ]
        );
        assert_eq!(d.delay(99), Some(Duration::from_secs(86_400)));
        assert_eq!(d.delay(0), None);
        assert_eq!(d.render_setting().unwrap(), "90s 2m 1h 1d");
        let err = resolve("messageDelayLevel=1s 5x").unwrap_err();
        assert_eq!(
            err,
            ConfigError::invalid(
                "messageDelayLevel",
                "1s 5x",
                "bad delay level \"5x\" (expected a number followed by s, m, h or d)"
            )
        );
        assert!(resolve("messageDelayLevel=").is_err());
        assert!(resolve("messageDelayLevel=0s").is_err());
        assert!(resolve("messageDelayLevel=5\\u00e9").is_err());
    }

    #[test]
    fn delete_when_hours() {
        assert_eq!(
            resolve("deleteWhen=04;16").unwrap().delete_when,
            DeleteWhen(vec![4, 16])
        );
        assert!(resolve("deleteWhen=24").is_err());
        assert_eq!(DeleteWhen(vec![4, 16]).to_string(), "04;16");
    }

    #[test]
    fn every_problem_is_reported_with_key_and_value() {
        let err = resolve("flushDiskType=SOMETIMES\nmaxIndexNum=0\nenableDLegerCommitLog=true")
            .unwrap_err();
        let ConfigError::Many(list) = err else {
            panic!("expected several problems, got {err}")
        };
        assert_eq!(
            list[0],
            ConfigError::invalid(
                "flushDiskType",
                "SOMETIMES",
                "expected ASYNC_FLUSH or SYNC_FLUSH"
            )
        );
        assert_eq!(
            list[1],
            ConfigError::invalid("maxIndexNum", "0", "out of range, expected >= 1")
        );
        assert_eq!(
            list[2],
            ConfigError::invalid(
                "enableDLegerCommitLog",
                "true",
                "DLedger is not supported by ferrimq"
            )
        );
    }

    #[test]
    fn file_and_message_sizes() {
        let small = resolve("mappedFileSizeCommitLog=65536").unwrap();
        assert_eq!(
            (small.mapped_file_size_commit_log, small.max_message_size),
            (65536, 4 << 20)
        );
        assert_eq!(
            resolve("maxMessageSize=0").unwrap_err(),
            range("maxMessageSize", 0, ">= 1")
        );
        assert!(resolve("mappedFileSizeCommitLog=1024").is_err());
        assert!(resolve("mappedFileSizeCommitLog=4294967296").is_err());
    }

    #[test]
    fn explicit_commit_log_path_wins() {
        let c = resolve("storePathRootDir=/data/s\nstorePathCommitLog=/fast/cl").unwrap();
        assert_eq!(c.commit_log_dir(), PathBuf::from("/fast/cl"));
        assert_eq!(c.index_dir(), PathBuf::from("/data/s/index"));
        assert_eq!(c.file_reserved(), Duration::from_secs(72 * 3600));
    }
}
