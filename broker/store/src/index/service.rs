//! The IndexService: every IndexFile of the store, newest last.
//!
//! The dispatcher calls [`IndexService::build`] for each record: one entry per space-separated
//! KEYS value and one for UNIQ_KEY, each under `topic#key`; prepared and rollback transaction
//! records are not indexed. When the newest file is full a new one is created, named after the
//! store time of the record that needed it. Queries walk files newest first.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Result, StoreError};
use crate::index::file::{IndexFile, IndexHeader, index_key};
use crate::index::name;
use crate::record::properties::{self, KEYS, UNIQ_KEY};
use crate::record::sys_flag;

/// RocketMQ's `maxMsgsNumBatch`: at most this many offsets per query.
pub const MAX_QUERY_RESULTS: usize = 64;

/// Result of [`IndexService::query`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexQueryResult {
    /// CommitLog offsets found, newest first per file.
    pub phy_offsets: Vec<i64>,
    /// `endTimestamp` of the newest index file (the response's `indexLastUpdateTimestamp`).
    pub last_update_timestamp: i64,
    /// `endPhyOffset` of the newest index file (`indexLastUpdatePhyoffset`).
    pub last_update_phy_offset: i64,
}

/// All index files.
#[derive(Debug)]
pub struct IndexService {
    dir: PathBuf,
    slots: u32,
    max_index: u32,
    files: RwLock<Vec<Arc<IndexFile>>>,
    writer: Mutex<Writer>,
}

/// The index keys of one record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordKeys<'a> {
    /// The UNIQ_KEY property.
    pub uniq_key: Option<&'a str>,
    /// The KEYS property (space-separated keys).
    pub keys: Option<&'a str>,
}

impl<'a> RecordKeys<'a> {
    /// Picks UNIQ_KEY and KEYS out of an encoded properties string (last occurrence wins).
    pub fn from_properties(properties_str: &'a str) -> Self {
        RecordKeys {
            uniq_key: properties::lookup(properties_str, UNIQ_KEY),
            keys: properties::lookup(properties_str, KEYS),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &'a str> {
        let user = self.keys.into_iter().flat_map(|k| k.split(' '));
        self.uniq_key
            .into_iter()
            .chain(user)
            .filter(|k| !k.is_empty())
    }
}

/// The dispatcher's side of the service.
#[derive(Debug, Default)]
struct Writer {
    /// CommitLog offset of the last record indexed; records at or below it are skipped, which
    /// makes re-dispatch after recovery idempotent.
    last_indexed: Option<i64>,
    /// The file being filled.
    current: Option<Arc<IndexFile>>,
    /// Reused buffer for `topic#key`.
    key: String,
}

impl IndexService {
    /// Opens every index file in `dir` (created if missing).
    pub fn load(dir: &Path, slots: u32, max_index: u32) -> Result<Self> {
        if slots == 0 || max_index < 2 {
            return Err(StoreError::InvalidConfig(format!(
                "maxHashSlotNum {slots} / maxIndexNum {max_index}: need at least 1 slot and 2 entries"
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(dir, e))?;
            match entry.file_name().to_str() {
                Some(n) if name::is_index_name(n) => names.push(n.to_string()),
                _ => {
                    tracing::warn!(path = %entry.path().display(), "ignoring stray file in index dir")
                }
            }
        }
        names.sort();
        let mut files = Vec::with_capacity(names.len());
        for n in names {
            files.push(Arc::new(IndexFile::open(&dir.join(n), slots, max_index)?));
        }
        let writer = Writer {
            last_indexed: last_indexed(&files),
            current: files.last().cloned(),
            key: String::new(),
        };
        Ok(IndexService {
            dir: dir.to_path_buf(),
            slots,
            max_index,
            files: RwLock::new(files),
            writer: Mutex::new(writer),
        })
    }

    /// Every file, oldest first.
    pub fn files(&self) -> Vec<Arc<IndexFile>> {
        self.files.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drops files that may refer to records the CommitLog no longer has (`endPhyOffset` at or
    /// beyond `commit_log_max`) or, after a crash, that were written past the checkpoint's
    /// `indexMsgTimestamp` (`safe_timestamp`). Returns the CommitLog offset from which records
    /// must be re-indexed (`None`: nothing was dropped and the index is complete up to the
    /// last record it holds, see [`IndexService::covered_to`]).
    pub fn recover(&self, commit_log_max: u64, safe_timestamp: Option<i64>) -> Option<u64> {
        let mut files = self.files.write().unwrap_or_else(|p| p.into_inner());
        let mut redo_from: Option<u64> = None;
        while let Some(last) = files.last() {
            let h = last.header();
            let stale = h.has_entries()
                && (h.end_phy_offset as u64 >= commit_log_max
                    || safe_timestamp.is_some_and(|t| h.end_timestamp > t));
            if !stale {
                break;
            }
            tracing::warn!(path = %last.path().display(), "index file is stale; rebuilding it");
            let begin = h.begin_phy_offset.max(0) as u64;
            redo_from = Some(redo_from.map_or(begin, |r| r.min(begin)));
            last.mark_deleted();
            files.pop();
        }
        let mut w = self.lock_writer();
        w.last_indexed = last_indexed(&files);
        w.current = files.last().cloned();
        redo_from
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// CommitLog offset of the last record indexed, if any.
    pub fn covered_to(&self) -> Option<i64> {
        self.lock_writer().last_indexed
    }

    /// Indexes one record (see the module docs).
    pub fn build(
        &self,
        topic: &str,
        keys: RecordKeys<'_>,
        phy_offset: i64,
        store_timestamp: i64,
        record_sys_flag: i32,
    ) -> Result<()> {
        if sys_flag::skips_consume_queue(record_sys_flag) {
            return Ok(());
        }
        let mut w = self.lock_writer();
        if w.last_indexed.is_some_and(|l| phy_offset <= l) {
            return Ok(());
        }
        let mut key = std::mem::take(&mut w.key);
        for k in keys.iter() {
            key.clear();
            key.push_str(topic);
            key.push('#');
            key.push_str(k);
            self.put(&mut w, &key, phy_offset, store_timestamp)?;
        }
        w.key = key;
        w.last_indexed = Some(phy_offset);
        Ok(())
    }

    fn put(&self, w: &mut Writer, key: &str, phy_offset: i64, store_timestamp: i64) -> Result<()> {
        if let Some(f) = &w.current {
            if f.put_key(key, phy_offset, store_timestamp) {
                return Ok(());
            }
        }
        let file = self.roll(w.current.as_deref(), store_timestamp)?;
        w.current = Some(file.clone());
        if file.put_key(key, phy_offset, store_timestamp) {
            Ok(())
        } else {
            Err(StoreError::corrupt(
                file.path(),
                0,
                "fresh index file refused an entry",
            ))
        }
    }

    /// Creates the next file (the full one, if any, is flushed first).
    fn roll(&self, full: Option<&IndexFile>, now_ms: i64) -> Result<Arc<IndexFile>> {
        if let Some(f) = full {
            f.flush()?;
        }
        let prev: Option<IndexHeader> = full.map(|f| f.header());
        let mut stamp = now_ms;
        let path = loop {
            let p = self.dir.join(name::format_millis(stamp));
            if !p.exists() {
                break p;
            }
            stamp += 1;
        };
        let file = Arc::new(IndexFile::create(&path, self.slots, self.max_index, prev)?);
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(file.clone());
        Ok(file)
    }

    /// CommitLog offsets of records indexed under `topic#key` with a store time in
    /// `[begin, end]`, at most `max_num` (capped at [`MAX_QUERY_RESULTS`]).
    pub fn query(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin: i64,
        end: i64,
    ) -> IndexQueryResult {
        let max = max_num.min(MAX_QUERY_RESULTS);
        let key = index_key(topic, key);
        let files = self.files();
        let mut result = IndexQueryResult::default();
        if let Some(newest) = files.last() {
            let h = newest.header();
            result.last_update_timestamp = h.end_timestamp;
            result.last_update_phy_offset = h.end_phy_offset;
        }
        for f in files.iter().rev() {
            if f.is_time_matched(begin, end) {
                f.select(&key, max, begin, end, &mut result.phy_offsets);
            }
            if f.header().begin_timestamp < begin || result.phy_offsets.len() >= max {
                break;
            }
        }
        result
    }

    /// Deletes every file but the newest whose last entry points below `commit_log_min`.
    /// Returns how many were deleted.
    pub fn delete_expired(&self, commit_log_min: u64) -> usize {
        let mut files = self.files.write().unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        while files.len() > 1 && (files[0].header().end_phy_offset as u64) < commit_log_min {
            files.remove(0).mark_deleted();
            n += 1;
        }
        n
    }

    /// Flushes every file with unflushed entries. Returns the newest file's `endTimestamp`
    /// (the checkpoint's `indexMsgTimestamp`), or `None` when there is no index file.
    pub fn flush(&self) -> Result<Option<i64>> {
        let files = self.files();
        let end = files.last().map(|f| f.header().end_timestamp);
        for f in &files {
            f.flush()?;
        }
        Ok(end)
    }
}

fn last_indexed(files: &[Arc<IndexFile>]) -> Option<i64> {
    files
        .iter()
        .rev()
        .map(|f| f.header())
        .find(IndexHeader::has_entries)
        .map(|h| h.end_phy_offset)
}
