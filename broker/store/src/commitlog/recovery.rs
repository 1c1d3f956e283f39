//! CommitLog recovery: find where valid data ends, truncate everything after it.
//!
//! The scan starts from a known good point instead of the first file, so restarting over
//! gigabytes of CommitLog reads at most about one file:
//! - [`RecoveryMode::Normal`] (clean shutdown, no `abort` file): the newest file whose first
//!   record is valid; everything before it was flushed at shutdown.
//! - [`RecoveryMode::Abnormal`] (the `abort` file was present): walking back from the newest
//!   file, the first one whose first record is valid and was stored at or before the
//!   checkpoint's min flush timestamp (RocketMQ's rule: that data was durable, and so was every
//!   byte before it). Without such a file the scan starts at the first file.
//!
//! From there every record is validated (size bounds, magic, body CRC, PHYSICALOFFSET equals
//! its position); blank markers move to the next file. The first invalid record ends the valid
//! data: the tail of its file is zeroed and later files are deleted. A torn tail is the
//! expected outcome of a crash, reported in [`RecoveryOutcome`], not an error.

use std::path::PathBuf;
use std::sync::Arc;

use super::mapped_file_queue::{MappedFileQueue, RemovedFile};
use crate::checkpoint::CheckpointData;
use crate::error::{Result, StoreError};
use crate::mapped_file::MappedFile;
use crate::record::view::{DecodeChecks, decode};
use crate::record::{BLANK_MARKER_LEN, Decoded, RecordError};

/// How the store was last shut down (the facade decides from the `abort` marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Clean shutdown: every byte was flushed.
    Normal,
    /// Crash: start no later than data stored at `checkpoint_timestamp` (ms; the checkpoint's
    /// min flush timestamp, see [`CheckpointData::min_timestamp`]).
    Abnormal {
        /// Store timestamp known to be durable, with RocketMQ's safety margin applied.
        checkpoint_timestamp: i64,
    },
}

impl RecoveryMode {
    /// The mode for a store whose `abort` marker was (or was not) present at start, given the
    /// checkpoint's contents (`with_index`: the index timestamp also bounds the start point).
    pub fn decide(abort_was_present: bool, checkpoint: &CheckpointData, with_index: bool) -> Self {
        if abort_was_present {
            RecoveryMode::Abnormal {
                checkpoint_timestamp: checkpoint.min_timestamp(with_index),
            }
        } else {
            RecoveryMode::Normal
        }
    }
}

/// Why the valid data ends where it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailState {
    /// The store is empty.
    Empty,
    /// Valid data is followed by never-written (zero) bytes: a clean end.
    Clean,
    /// The newest file ends with a blank marker and the next file was never created.
    FileEnd,
    /// Bytes that are not a valid record follow the valid data (a crash mid-write, or
    /// corruption); they and everything after them were discarded.
    Torn {
        /// File holding the bad bytes.
        path: PathBuf,
        /// Global offset of the bad record.
        offset: u64,
        /// What was wrong with it.
        reason: RecordError,
    },
}

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryOutcome {
    /// The mode used.
    pub mode: RecoveryMode,
    /// Global offset the scan started at.
    pub scanned_from: u64,
    /// End of valid data: the CommitLog's max offset after recovery.
    pub max_offset: u64,
    /// Records validated by the scan.
    pub records_scanned: u64,
    /// Store timestamp of the last valid record scanned (0 if none).
    pub last_store_timestamp: i64,
    /// Why the valid data ends there.
    pub tail: TailState,
    /// Files deleted because they lay after the end of valid data.
    pub removed_files: Vec<RemovedFile>,
}

/// Recovers `files` in place. See the module docs.
pub fn recover(
    files: &MappedFileQueue,
    mode: RecoveryMode,
    max_message_size: usize,
    check_crc: bool,
) -> Result<RecoveryOutcome> {
    let all = files.files();
    let Some(first) = all.first() else {
        return Ok(RecoveryOutcome {
            mode,
            scanned_from: 0,
            max_offset: 0,
            records_scanned: 0,
            last_store_timestamp: 0,
            tail: TailState::Empty,
            removed_files: Vec::new(),
        });
    };
    let checks = |position| DecodeChecks {
        max_size: max_message_size,
        crc: check_crc,
        position: Some(position),
    };
    let start = start_index(&all, mode, |f| {
        first_record_timestamp(f, checks(f.base_offset()))
    });
    let scanned_from = all
        .get(start)
        .map_or(first.base_offset(), |f| f.base_offset());
    let scan = scan_from(&all[start..], &checks);
    refuse_if_data_follows(&all, &scan, &checks)?;
    let removed_files = files.truncate_after(scan.end)?;
    let outcome = RecoveryOutcome {
        mode,
        scanned_from,
        max_offset: scan.end,
        records_scanned: scan.records,
        last_store_timestamp: scan.last_timestamp,
        tail: scan.tail,
        removed_files,
    };
    tracing::info!(?outcome.tail, outcome.max_offset, outcome.scanned_from, "commit log recovered");
    Ok(outcome)
}

/// A crash can only tear the end of the log: if a later file still starts with a valid record,
/// the bad bytes are corruption in the middle, and truncating would delete data that was
/// acknowledged. Refuse to open instead, naming the file and offset.
fn refuse_if_data_follows(
    all: &[Arc<MappedFile>],
    scan: &Scan,
    checks: &dyn Fn(u64) -> DecodeChecks,
) -> Result<()> {
    let TailState::Torn {
        path,
        offset,
        reason,
    } = &scan.tail
    else {
        if scan.tail == TailState::Clean {
            return refuse_after_clean_gap(all, scan, checks);
        }
        return Ok(());
    };
    match all.iter().find(|f| {
        f.base_offset() > *offset && first_record_timestamp(f, checks(f.base_offset())).is_some()
    }) {
        Some(later) => Err(corrupt_middle(path, *offset, &reason.to_string(), later)),
        None => Ok(()),
    }
}

/// Same rule when the valid data stops at zero bytes in a file that is followed by data.
fn refuse_after_clean_gap(
    all: &[Arc<MappedFile>],
    scan: &Scan,
    checks: &dyn Fn(u64) -> DecodeChecks,
) -> Result<()> {
    let Some(holder) = all
        .iter()
        .find(|f| f.base_offset() <= scan.end && scan.end < f.base_offset() + f.size() as u64)
    else {
        return Ok(());
    };
    match all.iter().find(|f| {
        f.base_offset() > holder.base_offset()
            && first_record_timestamp(f, checks(f.base_offset())).is_some()
    }) {
        Some(later) => Err(corrupt_middle(
            holder.path(),
            scan.end,
            "zero bytes where a record or end marker must be",
            later,
        )),
        None => Ok(()),
    }
}

fn corrupt_middle(
    path: &std::path::Path,
    offset: u64,
    reason: &str,
    later: &MappedFile,
) -> StoreError {
    StoreError::corrupt(
        path,
        offset,
        format!(
            "invalid record at global offset {offset} ({reason}) is followed by valid data in {}; \
             refusing to truncate acknowledged messages (restore the file or move the later files \
             away to accept the loss)",
            later.path().display()
        ),
    )
}

/// Store timestamp of a file's first record, if it is a valid record.
fn first_record_timestamp(f: &MappedFile, checks: DecodeChecks) -> Option<i64> {
    let bytes = f.read_raw(0, f.size())?;
    match decode(bytes, checks) {
        Ok(Decoded::Message(m)) => Some(m.store_timestamp()),
        _ => None,
    }
}

fn start_index(
    all: &[Arc<MappedFile>],
    mode: RecoveryMode,
    first_ts: impl Fn(&MappedFile) -> Option<i64>,
) -> usize {
    let limit = match mode {
        RecoveryMode::Normal => i64::MAX,
        RecoveryMode::Abnormal {
            checkpoint_timestamp,
        } => checkpoint_timestamp,
    };
    (0..all.len())
        .rev()
        .find(|&i| first_ts(&all[i]).is_some_and(|ts| ts <= limit))
        .unwrap_or(0)
}

struct Scan {
    end: u64,
    records: u64,
    last_timestamp: i64,
    tail: TailState,
}

fn scan_from(files: &[Arc<MappedFile>], checks: &dyn Fn(u64) -> DecodeChecks) -> Scan {
    let mut scan = Scan {
        end: files.first().map_or(0, |f| f.base_offset()),
        records: 0,
        last_timestamp: 0,
        tail: TailState::Clean,
    };
    for (i, f) in files.iter().enumerate() {
        if !scan_file(f, i + 1 == files.len(), checks, &mut scan) {
            break;
        }
    }
    scan
}

/// Scans one file into `scan`; true when valid data continues into the next file.
fn scan_file(
    f: &MappedFile,
    is_last: bool,
    checks: &dyn Fn(u64) -> DecodeChecks,
    scan: &mut Scan,
) -> bool {
    let bytes = f.read_raw(0, f.size()).expect("whole file is in bounds");
    let mut pos = 0usize;
    loop {
        let offset = f.base_offset() + pos as u64;
        scan.end = offset;
        // Fewer bytes than an end marker left: nothing can start here, the file is done.
        if f.size() - pos < BLANK_MARKER_LEN {
            scan.end = f.base_offset() + f.size() as u64;
            return true;
        }
        match decode(&bytes[pos..], checks(offset)) {
            Ok(Decoded::Message(m)) => {
                pos += m.total_size();
                scan.records += 1;
                scan.last_timestamp = m.store_timestamp();
            }
            Ok(Decoded::Blank { remaining }) if remaining == f.size() - pos => {
                scan.end = f.base_offset() + f.size() as u64;
                if is_last {
                    scan.tail = TailState::FileEnd;
                }
                return !is_last;
            }
            Ok(Decoded::Blank { remaining }) => {
                let max = f.size() - pos;
                let reason = RecordError::BadTotalSize {
                    size: remaining as i32,
                    max,
                };
                scan.tail = torn(f, offset, reason);
                return false;
            }
            Err(e) => {
                let head = &bytes[pos..pos + BLANK_MARKER_LEN];
                scan.tail = if is_zero(head) {
                    TailState::Clean
                } else {
                    torn(f, offset, e)
                };
                return false;
            }
        }
    }
}

fn torn(f: &MappedFile, offset: u64, reason: RecordError) -> TailState {
    TailState::Torn {
        path: f.path().to_path_buf(),
        offset,
        reason,
    }
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}
