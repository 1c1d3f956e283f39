//! Deleting old data: CommitLog files past `fileReservedTime`, and the ConsumeQueue and index
//! files that only point into what was deleted.
//!
//! As in RocketMQ's `CleanCommitLogService`, a pass deletes CommitLog files oldest first (never
//! the one being written, at most [`CleanupConfig::delete_files_batch_max`] per pass, stopping
//! at the first file it keeps):
//! * at one of the `deleteWhen` hours (`"04"`, `;`-separated), or at any hour while the store
//!   partition is fuller than `diskMaxUsedSpaceRatio` % (75): files whose last modification is
//!   older than `fileReservedTime` hours (72);
//! * while usage is above `diskSpaceCleanForciblyRatio` (85 %) and `cleanFileForciblyEnable`
//!   is on: the oldest files even if they have not expired.
//!
//! Above `diskSpaceWarningLevelRatio` (90 %) the pass raises the disk-full flag that makes
//! appends fail (RocketMQ refuses puts); the flag drops once usage is at or below the forcibly
//! ratio (between the two it keeps its state, as in RocketMQ).
//! After CommitLog deletion, ConsumeQueue files whose last unit points below the new CommitLog
//! minimum and index files whose `endPhyOffset` is below it are deleted in step. Files still
//! held by a reader are unlinked only when the reader drops them (see `mapped_file`).
//! Hours are UTC. The clock and the disk probe are injectable for deterministic tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::commitlog::CommitLog;
use crate::consume_queue::ConsumeQueueTable;
use crate::error::{Result, StoreError};
use crate::index::IndexService;
use crate::index::name::hour_of_day;

/// Wall clock in milliseconds since the epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now_millis(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// How full the partition holding a path is.
pub trait DiskUsageProbe: Send + Sync + std::fmt::Debug {
    /// Used fraction (0.0..=1.0) of the filesystem holding `path`, `None` if unknown.
    fn used_ratio(&self, path: &Path) -> Option<f64>;
}

/// The real probe: `statvfs(2)`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StatvfsProbe;

impl DiskUsageProbe for StatvfsProbe {
    fn used_ratio(&self, path: &Path) -> Option<f64> {
        let st = rustix::fs::statvfs(path).ok()?;
        let total = st.f_blocks as f64;
        if total <= 0.0 {
            return None;
        }
        Some((total - st.f_bfree as f64) / total)
    }
}

/// Cleanup settings (RocketMQ names in snake_case).
#[derive(Debug, Clone, PartialEq)]
pub struct CleanupConfig {
    /// `fileReservedTime`: hours a CommitLog file is kept (72).
    pub file_reserved_time: u64,
    /// `deleteWhen`: hours of the day at which expired files are deleted ("04").
    pub delete_when: String,
    /// `diskMaxUsedSpaceRatio`: percent of the partition above which files are deleted early
    /// (75, bounded to 10..=95).
    pub disk_max_used_space_ratio: u32,
    /// `diskSpaceWarningLevelRatio`: usage above which appends are refused (0.90).
    pub disk_space_warning_level_ratio: f64,
    /// `diskSpaceCleanForciblyRatio`: usage above which unexpired files are deleted (0.85).
    pub disk_space_clean_forcibly_ratio: f64,
    /// `cleanFileForciblyEnable` (true).
    pub clean_file_forcibly_enable: bool,
    /// RocketMQ's `DELETE_FILES_BATCH_MAX`: CommitLog files deleted per pass (10).
    pub delete_files_batch_max: usize,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        CleanupConfig {
            file_reserved_time: 72,
            delete_when: "04".to_string(),
            disk_max_used_space_ratio: 75,
            disk_space_warning_level_ratio: 0.90,
            disk_space_clean_forcibly_ratio: 0.85,
            clean_file_forcibly_enable: true,
            delete_files_batch_max: 10,
        }
    }
}

impl CleanupConfig {
    fn max_used_ratio(&self) -> f64 {
        f64::from(self.disk_max_used_space_ratio.clamp(10, 95)) / 100.0
    }

    fn is_delete_hour(&self, now_ms: i64) -> bool {
        let hour = hour_of_day(now_ms);
        self.delete_when
            .split(';')
            .filter_map(|h| h.trim().parse::<u32>().ok())
            .any(|h| h == hour)
    }
}

/// What a disk probe concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskState {
    /// Usage is above `diskMaxUsedSpaceRatio`: expired files go at any hour.
    pub over_max_used: bool,
    /// Usage is above `diskSpaceCleanForciblyRatio`: unexpired files go too.
    pub clean_immediately: bool,
}

/// What one pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// CommitLog files removed.
    pub commit_log_files: Vec<PathBuf>,
    /// ConsumeQueue files removed.
    pub consume_queue_files: usize,
    /// Index files removed.
    pub index_files: usize,
}

/// The cleanup policy plus the disk-full flag appends check.
#[derive(Debug)]
pub struct Cleaner {
    config: CleanupConfig,
    root: PathBuf,
    clock: Arc<dyn Clock>,
    disk: Arc<dyn DiskUsageProbe>,
    disk_full: AtomicBool,
    last_ratio: std::sync::Mutex<f64>,
}

impl Cleaner {
    /// A cleaner for the store at `root`.
    pub fn new(
        config: CleanupConfig,
        root: &Path,
        clock: Arc<dyn Clock>,
        disk: Arc<dyn DiskUsageProbe>,
    ) -> Self {
        Cleaner {
            config,
            root: root.to_path_buf(),
            clock,
            disk,
            disk_full: AtomicBool::new(false),
            last_ratio: std::sync::Mutex::new(0.0),
        }
    }

    /// Fails with [`StoreError::DiskUsageTooHigh`] while the last probe saw usage above the
    /// warning level. Appends call this first.
    pub fn check_writable(&self) -> Result<()> {
        if !self.disk_full.load(Ordering::Acquire) {
            return Ok(());
        }
        let ratio = *self.last_ratio.lock().unwrap_or_else(|p| p.into_inner());
        Err(StoreError::DiskUsageTooHigh {
            path: self.root.clone(),
            used_percent: (ratio * 100.0).round() as u32,
            limit_percent: (self.config.disk_space_warning_level_ratio * 100.0).round() as u32,
        })
    }

    /// Probes the disk and updates the disk-full flag. An unknown usage counts as full, as
    /// RocketMQ's `-1` does.
    pub fn probe_disk(&self) -> DiskState {
        let ratio = self.disk.used_ratio(&self.root).unwrap_or(1.0);
        *self.last_ratio.lock().unwrap_or_else(|p| p.into_inner()) = ratio;
        let c = &self.config;
        let full = if ratio > c.disk_space_warning_level_ratio {
            Some(true)
        } else if ratio > c.disk_space_clean_forcibly_ratio {
            None
        } else {
            Some(false)
        };
        if let Some(full) = full
            && full != self.disk_full.swap(full, Ordering::AcqRel)
        {
            if full {
                tracing::error!(ratio, "disk usage above warning level; refusing appends");
            } else {
                tracing::info!(ratio, "disk usage back to normal; accepting appends");
            }
        }
        DiskState {
            over_max_used: ratio > c.max_used_ratio(),
            clean_immediately: ratio > c.disk_space_clean_forcibly_ratio,
        }
    }

    /// One pass: delete CommitLog files as the module docs say, then trim queues and index.
    pub fn run_once(
        &self,
        commit_log: &CommitLog,
        queues: &ConsumeQueueTable,
        index: Option<&IndexService>,
    ) -> Result<CleanupReport> {
        let now = self.clock.now_millis();
        let disk = self.probe_disk();
        let time_up = self.config.is_delete_hour(now);
        let mut report = CleanupReport::default();
        if disk.over_max_used || time_up {
            let at_once = self.config.clean_file_forcibly_enable && disk.clean_immediately;
            let keep_ms = self.config.file_reserved_time as i64 * 3_600_000;
            let removed = commit_log
                .delete_expired_files(self.config.delete_files_batch_max, |f| {
                    at_once || modified_millis(f.path()).is_some_and(|m| now >= m + keep_ms)
                });
            for r in &removed {
                tracing::info!(path = %r.path.display(), at_once, "deleted commit log file");
            }
            report.commit_log_files = removed.into_iter().map(|r| r.path).collect();
        }
        let min = commit_log.min_offset();
        for q in queues.all() {
            report.consume_queue_files += q.delete_expired(min)?;
        }
        report.index_files = index.map_or(0, |i| i.delete_expired(min));
        Ok(report)
    }
}

fn modified_millis(path: &Path) -> Option<i64> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(m.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}
