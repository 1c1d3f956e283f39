//! One IndexFile: a disk hash table from `topic#key` to CommitLog offsets (reference §7.3).
//!
//! Layout: a 40-byte header (beginTimestamp, endTimestamp, beginPhyOffset, endPhyOffset,
//! hashSlotCount, indexCount), `slots` 4-byte hash slots holding the newest entry number of
//! the slot, then `max_index` 20-byte entries (keyHash, phyOffset, timeDiff seconds,
//! prevIndex) chained newest-first. Entry 0 is never used, so `indexCount` starts at 1.
//! Byte for byte what the Java broker writes, so its files are readable here and vice versa.
//!
//! Concurrency: the dispatcher is the one writer; queries read. The mapping sits behind an
//! `RwLock`, so a query sees either none or all of an entry. A file marked deleted is unlinked
//! when the last `Arc` drops.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::{MmapMut, UncheckedAdvice};

use crate::error::{Result, StoreError};
use crate::flush::OS_PAGE_SIZE;
use crate::mapped_file::sync_dir;
use crate::record::java_string_hash;

/// Header length in bytes.
pub const HEADER_SIZE: usize = 40;
/// Hash slot length in bytes.
pub const SLOT_SIZE: usize = 4;
/// Index entry length in bytes.
pub const ENTRY_SIZE: usize = 20;

/// Bytes of the newest entries that stay mapped after a flush (see [`IndexFile::flush`]).
const KEEP_ENTRY_BYTES: usize = 1 << 20;

/// The decoded 40-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexHeader {
    /// Store timestamp of the first entry (ms).
    pub begin_timestamp: i64,
    /// Store timestamp of the last entry (ms).
    pub end_timestamp: i64,
    /// CommitLog offset of the first entry.
    pub begin_phy_offset: i64,
    /// CommitLog offset of the last entry.
    pub end_phy_offset: i64,
    /// Slots in use.
    pub hash_slot_count: i32,
    /// Next entry number (1 when the file is empty).
    pub index_count: i32,
}

impl IndexHeader {
    fn decode(b: &[u8]) -> Self {
        IndexHeader {
            begin_timestamp: be_i64(b, 0),
            end_timestamp: be_i64(b, 8),
            begin_phy_offset: be_i64(b, 16),
            end_phy_offset: be_i64(b, 24),
            hash_slot_count: be_i32(b, 32),
            index_count: be_i32(b, 36).max(1),
        }
    }

    fn encode(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.begin_timestamp.to_be_bytes());
        b[8..16].copy_from_slice(&self.end_timestamp.to_be_bytes());
        b[16..24].copy_from_slice(&self.begin_phy_offset.to_be_bytes());
        b[24..32].copy_from_slice(&self.end_phy_offset.to_be_bytes());
        b[32..36].copy_from_slice(&self.hash_slot_count.to_be_bytes());
        b[36..40].copy_from_slice(&self.index_count.to_be_bytes());
    }

    /// True when the file holds at least one entry.
    pub fn has_entries(&self) -> bool {
        self.index_count > 1
    }
}

/// RocketMQ's index key hash: `abs(hashCode)`, 0 when that is still negative (`i32::MIN`).
pub fn key_hash(key: &str) -> i32 {
    java_string_hash(key).checked_abs().unwrap_or(0)
}

/// The index key of a user key or unique key: `topic#key`.
pub fn index_key(topic: &str, key: &str) -> String {
    let mut s = String::with_capacity(topic.len() + 1 + key.len());
    s.push_str(topic);
    s.push('#');
    s.push_str(key);
    s
}

/// One index file.
#[derive(Debug)]
pub struct IndexFile {
    path: PathBuf,
    slots: u32,
    max_index: u32,
    _file: File,
    map: RwLock<MmapMut>,
    delete_on_drop: AtomicBool,
    dirty: AtomicBool,
}

impl IndexFile {
    /// Byte size of a file with `slots` slots and `max_index` entries.
    pub fn byte_size(slots: u32, max_index: u32) -> u64 {
        HEADER_SIZE as u64 + slots as u64 * SLOT_SIZE as u64 + max_index as u64 * ENTRY_SIZE as u64
    }

    /// Creates a new, empty file whose header starts where the previous file ended (as
    /// RocketMQ does), so time-range checks stay meaningful before the first put.
    pub fn create(
        path: &Path,
        slots: u32,
        max_index: u32,
        prev: Option<IndexHeader>,
    ) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        file.set_len(Self::byte_size(slots, max_index))
            .map_err(|e| StoreError::io(path, e))?;
        file.sync_all().map_err(|e| StoreError::io(path, e))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        let me = Self::map(path, file, slots, max_index)?;
        let mut h = IndexHeader {
            index_count: 1,
            ..IndexHeader::default()
        };
        if let Some(p) = prev {
            h.begin_phy_offset = p.end_phy_offset;
            h.end_phy_offset = p.end_phy_offset;
            h.begin_timestamp = p.end_timestamp;
            h.end_timestamp = p.end_timestamp;
        }
        me.write_header(&h);
        Ok(me)
    }

    /// Opens an existing file, which must have the size the slot and entry counts imply.
    pub fn open(path: &Path, slots: u32, max_index: u32) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        let actual = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        let expected = Self::byte_size(slots, max_index);
        if actual != expected {
            return Err(StoreError::WrongFileSize {
                path: path.to_path_buf(),
                actual,
                expected,
            });
        }
        Self::map(path, file, slots, max_index)
    }

    fn map(path: &Path, file: File, slots: u32, max_index: u32) -> Result<Self> {
        // SAFETY: the file is owned by this store (the lock file keeps other brokers out) and
        // is only accessed through this mapping, behind the RwLock, while mapped.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| StoreError::io(path, e))?;
        Ok(IndexFile {
            path: path.to_path_buf(),
            slots,
            max_index,
            _file: file,
            map: RwLock::new(map),
            delete_on_drop: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
        })
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header as currently written.
    pub fn header(&self) -> IndexHeader {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        IndexHeader::decode(&map[..HEADER_SIZE])
    }

    fn write_header(&self, h: &IndexHeader) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        h.encode(&mut map[..HEADER_SIZE]);
    }

    /// True when no entry can be added.
    pub fn is_full(&self) -> bool {
        self.header().index_count as u32 >= self.max_index
    }

    fn slot_pos(&self, hash: i32) -> usize {
        HEADER_SIZE + (hash as u32 % self.slots) as usize * SLOT_SIZE
    }

    fn entry_pos(&self, index: i32) -> usize {
        HEADER_SIZE + self.slots as usize * SLOT_SIZE + index as usize * ENTRY_SIZE
    }

    /// Adds `key` -> `phy_offset`. Returns `false` (nothing written) when the file is full.
    pub fn put_key(&self, key: &str, phy_offset: i64, store_timestamp: i64) -> bool {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let mut h = IndexHeader::decode(&map[..HEADER_SIZE]);
        if h.index_count as u32 >= self.max_index {
            return false;
        }
        let hash = key_hash(key);
        let slot = self.slot_pos(hash);
        let mut prev = be_i32(&map, slot);
        if prev <= 0 || prev > h.index_count {
            prev = 0;
        }
        if !h.has_entries() {
            h.begin_timestamp = store_timestamp;
            h.begin_phy_offset = phy_offset;
        }
        let diff = if h.begin_timestamp <= 0 {
            0
        } else {
            ((store_timestamp - h.begin_timestamp) / 1000).clamp(0, i32::MAX as i64) as i32
        };
        let pos = self.entry_pos(h.index_count);
        map[pos..pos + 4].copy_from_slice(&hash.to_be_bytes());
        map[pos + 4..pos + 12].copy_from_slice(&phy_offset.to_be_bytes());
        map[pos + 12..pos + 16].copy_from_slice(&diff.to_be_bytes());
        map[pos + 16..pos + 20].copy_from_slice(&prev.to_be_bytes());
        map[slot..slot + 4].copy_from_slice(&h.index_count.to_be_bytes());
        if prev == 0 {
            h.hash_slot_count += 1;
        }
        h.index_count += 1;
        h.end_phy_offset = phy_offset;
        h.end_timestamp = store_timestamp;
        h.encode(&mut map[..HEADER_SIZE]);
        self.dirty.store(true, Ordering::Release);
        true
    }

    /// RocketMQ's `isTimeMatched`: the file's time span overlaps `[begin, end]`.
    pub fn is_time_matched(&self, begin: i64, end: i64) -> bool {
        let h = self.header();
        (begin < h.begin_timestamp && end > h.end_timestamp)
            || (begin >= h.begin_timestamp && begin <= h.end_timestamp)
            || (end >= h.begin_timestamp && end <= h.end_timestamp)
    }

    /// Appends to `out` the CommitLog offsets stored for `key` whose store time lies in
    /// `[begin, end]`, newest first, until `out` holds `max` offsets.
    pub fn select(&self, key: &str, max: usize, begin: i64, end: i64, out: &mut Vec<i64>) {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let h = IndexHeader::decode(&map[..HEADER_SIZE]);
        let hash = key_hash(key);
        let mut next = be_i32(&map, self.slot_pos(hash));
        if next <= 0 || next > h.index_count || !h.has_entries() {
            return;
        }
        while out.len() < max {
            let pos = self.entry_pos(next);
            let (hash_read, phy, diff, prev) = (
                be_i32(&map, pos),
                be_i64(&map, pos + 4),
                be_i32(&map, pos + 12),
                be_i32(&map, pos + 16),
            );
            if diff < 0 {
                break;
            }
            let time = h.begin_timestamp + diff as i64 * 1000;
            if hash_read == hash && time >= begin && time <= end {
                out.push(phy);
            }
            if prev <= 0 || prev > h.index_count || prev == next || time < begin {
                break;
            }
            next = prev;
        }
    }

    /// Makes the file durable (a no-op when nothing was put since the last flush), then
    /// releases this process's mapping of the entries older than the newest
    /// [`KEEP_ENTRY_BYTES`] (they stay in the page cache).
    pub fn flush(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.flush().map_err(|e| {
            self.dirty.store(true, Ordering::Release);
            StoreError::io(&self.path, e)
        })?;
        let written = self.entry_pos(IndexHeader::decode(&map[..HEADER_SIZE]).index_count);
        release_entries_before(
            &map,
            self.entry_pos(0),
            written.saturating_sub(KEEP_ENTRY_BYTES),
        );
        Ok(())
    }

    /// Marks the file for deletion; it is unlinked when the last reference drops.
    pub fn mark_deleted(&self) {
        self.delete_on_drop.store(true, Ordering::Release);
    }
}

impl Drop for IndexFile {
    fn drop(&mut self) {
        if self.delete_on_drop.load(Ordering::Acquire) {
            match std::fs::remove_file(&self.path) {
                Ok(()) => tracing::info!(path = %self.path.display(), "deleted index file"),
                Err(e) => tracing::warn!(path = %self.path.display(), error = %e, "delete failed"),
            }
        }
    }
}

/// Whole pages of `[from, to)` in `map` stop counting in this process's resident memory
/// (`MADV_DONTNEED`). Entries are appended in order and, once flushed, only read by key
/// queries, which map a page again with a minor fault; without this a busy index file would
/// keep up to its full 400 MB resident.
fn release_entries_before(map: &MmapMut, from: usize, to: usize) {
    let start = from.next_multiple_of(OS_PAGE_SIZE);
    let end = to - to % OS_PAGE_SIZE;
    if end <= start {
        return;
    }
    // SAFETY: `map` is a MAP_SHARED mapping of the index file (`MmapMut::map_mut`) and the
    // range lies inside it. For a shared file mapping MADV_DONTNEED only drops page-table
    // entries: the bytes stay in the page cache (the range was just flushed, and a dirty page
    // would keep its dirty state there), so every later access reads the same contents. The
    // caller holds the read lock, so no entry is being written meanwhile.
    let advised =
        unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start) };
    if let Err(e) = advised {
        tracing::debug!(error = %e, "index pages not released");
    }
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(x)
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}
