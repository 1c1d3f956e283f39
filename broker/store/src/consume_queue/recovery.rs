//! Bringing a ConsumeQueue back to a consistent state after a restart, and shrinking it.
//!
//! * [`ConsumeQueue::recover`] finds the end of the valid units (RocketMQ: offset >= 0 and
//!   size > 0), zeroes the torn or garbage tail and drops later files.
//! * [`ConsumeQueue::truncate_dirty`] cuts units that point at or beyond the CommitLog's
//!   recovered end (the CommitLog lost its tail, the queue must not refer to it).
//! * [`ConsumeQueue::delete_expired`] drops whole files whose units all point below the
//!   CommitLog's minimum offset (cleanup runs it after deleting CommitLog files).

use std::sync::Arc;

use crate::consume_queue::queue::ConsumeQueue;
use crate::consume_queue::unit::{CqUnit, UNIT_SIZE};
use crate::error::Result;
use crate::mapped_file::MappedFile;

/// How many trailing files recovery scans; earlier files are known full (as in RocketMQ).
const RECOVER_FILES: usize = 3;

impl ConsumeQueue {
    /// Scans the last files for the end of valid units and sets the write position there.
    /// Returns the number of units dropped from a torn or garbage tail (counting only
    /// non-zero chunks), for logging and tests.
    pub fn recover(&self) -> Result<u64> {
        let _w = self.lock_writer();
        let files = self.files();
        if files.is_empty() {
            return Ok(0);
        }
        let start = files.len().saturating_sub(RECOVER_FILES);
        for f in &files[..start] {
            f.set_recovered_position(f.size(), 0)?;
        }
        for (i, f) in files.iter().enumerate().skip(start) {
            let end = scan_valid(f, |u| u.is_valid());
            if end < f.size() || i + 1 == files.len() {
                let dropped = zero_garbage(f, end)?;
                self.drop_files_after(&files, i);
                return Ok(dropped);
            }
            f.set_recovered_position(end, 0)?;
        }
        Ok(0)
    }

    /// Removes every unit pointing at or beyond `commit_log_max` (the CommitLog's recovered
    /// end). Returns the number of units removed.
    pub fn truncate_dirty(&self, commit_log_max: u64) -> Result<u64> {
        let _w = self.lock_writer();
        let files = self.files();
        let before = self.max_offset();
        for (i, f) in files.iter().enumerate() {
            let wrote = f.wrote_position();
            let keep = scan_valid_upto(f, wrote, |u| {
                u.is_blank() || (u.commit_log_offset as u64) < commit_log_max
            });
            if keep < wrote {
                f.set_recovered_position(keep, wrote)?;
                self.cut_at(&files, i, keep);
                break;
            }
        }
        let after = self.max_offset();
        if after < self.min_offset() {
            self.set_min_logical(after);
        }
        Ok(before - after)
    }

    /// Deletes every file but the last whose last unit points below `commit_log_min`, then
    /// corrects the minimum offset. Returns the number of files deleted.
    pub fn delete_expired(&self, commit_log_min: u64) -> Result<usize> {
        let _w = self.lock_writer();
        let files = self.files();
        let mut deleted = 0;
        for f in files.iter().take(files.len().saturating_sub(1)) {
            let wrote = f.wrote_position();
            let last = wrote
                .checked_sub(UNIT_SIZE)
                .and_then(|pos| f.read(pos, UNIT_SIZE))
                .map(CqUnit::decode);
            match last {
                Some(u) if u.is_blank() || (u.commit_log_offset as u64) < commit_log_min => {
                    f.mark_deleted();
                    deleted += 1;
                }
                _ => break,
            }
        }
        if deleted > 0 {
            self.replace_files(files[deleted..].to_vec());
            tracing::info!(topic = %self.topic(), queue_id = self.queue_id(), deleted,
                "deleted expired consume queue files");
        }
        drop(_w);
        self.correct_min_offset(commit_log_min);
        Ok(deleted)
    }

    /// Keeps units before byte `keep` of file `i`; a file left empty is deleted too.
    fn cut_at(&self, files: &[Arc<MappedFile>], i: usize, keep: usize) {
        if keep > 0 {
            self.drop_files_after(files, i);
            return;
        }
        for f in &files[i..] {
            f.mark_deleted();
        }
        self.replace_files(files[..i].to_vec());
        if i == 0 {
            self.set_min_logical(files[0].base_offset() / UNIT_SIZE as u64);
        }
    }

    fn drop_files_after(&self, files: &[Arc<MappedFile>], keep_index: usize) {
        for f in &files[keep_index + 1..] {
            f.mark_deleted();
        }
        if keep_index + 1 < files.len() {
            self.replace_files(files[..=keep_index].to_vec());
        }
    }
}

/// Byte position just past the last unit satisfying `ok` from the file start, scanning the
/// whole file.
fn scan_valid(f: &MappedFile, ok: impl Fn(&CqUnit) -> bool) -> usize {
    let mut pos = 0;
    while let Some(b) = f.read_raw(pos, UNIT_SIZE) {
        if !ok(&CqUnit::decode(b)) {
            break;
        }
        pos += UNIT_SIZE;
    }
    pos
}

/// Like [`scan_valid`] but over written bytes only (`[0, wrote)`).
fn scan_valid_upto(f: &MappedFile, wrote: usize, ok: impl Fn(&CqUnit) -> bool) -> usize {
    let mut pos = 0;
    while pos + UNIT_SIZE <= wrote {
        match f.read(pos, UNIT_SIZE) {
            Some(b) if ok(&CqUnit::decode(b)) => pos += UNIT_SIZE,
            _ => break,
        }
    }
    pos
}

/// Sets the write position to `end` and zeroes the contiguous non-zero chunks after it (a torn
/// unit and any garbage behind it). Returns how many such chunks there were.
fn zero_garbage(f: &MappedFile, end: usize) -> Result<u64> {
    let mut pos = end;
    while let Some(b) = f.read_raw(pos, UNIT_SIZE) {
        if b.iter().all(|&x| x == 0) {
            break;
        }
        pos += UNIT_SIZE;
    }
    f.set_recovered_position(end, pos)?;
    let dropped = ((pos - end) / UNIT_SIZE) as u64;
    if dropped > 0 {
        tracing::warn!(path = %f.path().display(), offset = end, dropped,
            "consume queue tail was torn; truncated");
    }
    Ok(dropped)
}
