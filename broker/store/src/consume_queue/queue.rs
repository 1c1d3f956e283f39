//! One ConsumeQueue: the ordered index of a (topic, queueId) into the CommitLog.
//!
//! Files live in `<root>/consumequeue/<topic>/<queueId>/`, each `file_size` bytes (a multiple of
//! [`UNIT_SIZE`]) and named by its starting byte offset; logical offset `n` is at byte `n * 20`.
//! Only the dispatcher writes (idempotently: a unit already present is skipped, a gap is filled
//! with blank units); pulls read concurrently through `Arc<MappedFile>` clones, so cleanup can
//! drop a file while a reader still holds it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::consume_queue::unit::{CqUnit, UNIT_SIZE};
use crate::error::{Result, StoreError};
use crate::flush::OS_PAGE_SIZE;
use crate::mapped_file::{self, MappedFile};
use crate::seam::SharedSeam;

/// What [`ConsumeQueue::put`] did with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The unit was written.
    Written,
    /// A unit already sits at that logical offset (re-dispatch after recovery); nothing written.
    AlreadyPresent,
    /// A different unit sat at that offset (garbage that looked valid); the queue was cut
    /// there and the unit written. Only [`ConsumeQueue::put_repairing`] does this.
    Repaired,
}

/// Units read from one queue file, starting at a logical offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRun {
    /// Logical offset of `units[0]`.
    pub start: u64,
    /// The units, in order (may contain blanks).
    pub units: Vec<CqUnit>,
}

/// A ConsumeQueue for one (topic, queueId).
#[derive(Debug)]
pub struct ConsumeQueue {
    topic: String,
    queue_id: i32,
    dir: PathBuf,
    file_size: usize,
    seam: SharedSeam,
    files: RwLock<Vec<Arc<MappedFile>>>,
    min_logical: AtomicU64,
    write_lock: Mutex<()>,
}

impl ConsumeQueue {
    /// Opens the queue stored in `dir` (which may not exist yet: the queue is then empty and the
    /// directory is created on the first put). Positions are unknown until [`Self::recover`].
    pub fn open(
        dir: PathBuf,
        topic: &str,
        queue_id: i32,
        file_size: usize,
        seam: SharedSeam,
    ) -> Result<Self> {
        if file_size < UNIT_SIZE || file_size % UNIT_SIZE != 0 {
            return Err(StoreError::InvalidConfig(format!(
                "mappedFileSizeConsumeQueue {file_size} is not a positive multiple of 20"
            )));
        }
        let files = load_files(&dir, file_size, &seam)?;
        let min = files
            .first()
            .map_or(0, |f| f.base_offset() / UNIT_SIZE as u64);
        Ok(ConsumeQueue {
            topic: topic.to_string(),
            queue_id,
            dir,
            file_size,
            seam,
            files: RwLock::new(files),
            min_logical: AtomicU64::new(min),
            write_lock: Mutex::new(()),
        })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The queue id.
    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes per queue file.
    pub fn file_size(&self) -> usize {
        self.file_size
    }

    pub(crate) fn files(&self) -> Vec<Arc<MappedFile>> {
        self.files.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn replace_files(&self, files: Vec<Arc<MappedFile>>) {
        *self.files.write().unwrap_or_else(|p| p.into_inner()) = files;
    }

    pub(crate) fn lock_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_min_logical(&self, min: u64) {
        self.min_logical.store(min, Ordering::Release);
    }

    /// Smallest logical offset still readable.
    pub fn min_offset(&self) -> u64 {
        self.min_logical.load(Ordering::Acquire)
    }

    /// Next logical offset to be written (RocketMQ's queue "max offset").
    pub fn max_offset(&self) -> u64 {
        let files = self.files.read().unwrap_or_else(|p| p.into_inner());
        files.last().map_or(self.min_offset(), |f| {
            (f.base_offset() + f.wrote_position() as u64) / UNIT_SIZE as u64
        })
    }

    /// Logical offset of the first unit of the file after the one holding `logical`
    /// (RocketMQ's `rollNextFile`), used when a lookup finds no file.
    pub fn roll_next_file(&self, logical: u64) -> u64 {
        let per_file = (self.file_size / UNIT_SIZE) as u64;
        logical + per_file - logical % per_file
    }

    /// Writes `unit` at logical offset `logical`. Re-putting an offset that is already
    /// present is a no-op; a gap before `logical` is filled with blank units.
    pub fn put(&self, logical: u64, unit: CqUnit) -> Result<PutOutcome> {
        self.put_inner(logical, unit, false)
    }

    /// Like [`ConsumeQueue::put`], but when a *different* unit sits at `logical` the queue is
    /// cut there and `unit` written: recovery's re-dispatch uses it so the CommitLog overrides
    /// garbage that passed the unit validity check. It rewrites bytes below the write
    /// position, so it must only run before readers exist (during recovery).
    pub fn put_repairing(&self, logical: u64, unit: CqUnit) -> Result<PutOutcome> {
        self.put_inner(logical, unit, true)
    }

    fn put_inner(&self, logical: u64, unit: CqUnit, repair: bool) -> Result<PutOutcome> {
        let _w = self.lock_writer();
        let expected = logical * UNIT_SIZE as u64;
        let current = {
            let files = self.files.read().unwrap_or_else(|p| p.into_inner());
            files
                .last()
                .map(|f| f.base_offset() + f.wrote_position() as u64)
        };
        match current {
            None => self.start_at(expected)?,
            Some(cur) if expected < cur => {
                if !repair || self.get(logical).is_none_or(|u| u == unit) {
                    return Ok(PutOutcome::AlreadyPresent);
                }
                self.cut_for_repair(logical)?;
                self.append_unit(&unit)?;
                return Ok(PutOutcome::Repaired);
            }
            Some(cur) if expected > cur => {
                tracing::warn!(topic = %self.topic, queue_id = self.queue_id, from = cur / 20,
                    to = logical, "consume queue gap filled with blank units");
                for _ in 0..(expected - cur) / UNIT_SIZE as u64 {
                    self.append_unit(&CqUnit::BLANK)?;
                }
            }
            Some(_) => {}
        }
        self.append_unit(&unit)?;
        Ok(PutOutcome::Written)
    }

    /// First put into an empty queue: create the file holding `expected` and pre-fill it with
    /// blank units up to there.
    fn start_at(&self, expected: u64) -> Result<()> {
        let base = expected - expected % self.file_size as u64;
        let file = self.create_file(base)?;
        let blanks = (expected - base) as usize / UNIT_SIZE;
        if blanks > 0 {
            file.reserve(0, blanks * UNIT_SIZE)?;
            let blank = CqUnit::BLANK.encode();
            file.append_with(blanks * UNIT_SIZE, |dst| {
                for chunk in dst.chunks_exact_mut(UNIT_SIZE) {
                    chunk.copy_from_slice(&blank);
                }
            });
        }
        self.set_min_logical(expected / UNIT_SIZE as u64);
        Ok(())
    }

    /// Drops every unit from `logical` on (its file is kept, later files are deleted).
    fn cut_for_repair(&self, logical: u64) -> Result<()> {
        let Some(file) = self.file_for(logical) else {
            return Ok(());
        };
        tracing::warn!(topic = %self.topic, queue_id = self.queue_id, logical,
            "consume queue unit disagrees with the commit log; rewriting from here");
        let pos = (logical * UNIT_SIZE as u64 - file.base_offset()) as usize;
        file.set_recovered_position(pos, file.wrote_position())?;
        let mut files = self.files.write().unwrap_or_else(|p| p.into_inner());
        while files
            .last()
            .is_some_and(|f| f.base_offset() > file.base_offset())
        {
            if let Some(f) = files.pop() {
                f.mark_deleted();
            }
        }
        Ok(())
    }

    fn append_unit(&self, unit: &CqUnit) -> Result<()> {
        let last = {
            let files = self.files.read().unwrap_or_else(|p| p.into_inner());
            files.last().cloned()
        };
        let file = match last {
            Some(f) if !f.is_full() => f,
            Some(f) => self.create_file(f.base_offset() + self.file_size as u64)?,
            None => self.create_file(0)?,
        };
        let bytes = unit.encode();
        reserve_fresh_page(&file, bytes.len())?;
        file.append(&bytes).ok_or_else(|| {
            StoreError::corrupt(
                file.path(),
                file.wrote_position() as u64,
                "unit does not fit",
            )
        })?;
        Ok(())
    }

    fn create_file(&self, base: u64) -> Result<Arc<MappedFile>> {
        if !self.dir.is_dir() {
            std::fs::create_dir_all(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
            if let Some(parent) = self.dir.parent() {
                mapped_file::sync_dir(parent)?;
                if let Some(root) = parent.parent() {
                    mapped_file::sync_dir(root)?;
                }
            }
        }
        let file = MappedFile::create_sparse(&self.dir, base, self.file_size, self.seam.clone())?;
        file.random_access();
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(file.clone());
        Ok(file)
    }

    /// The unit at `logical`, if written and still present.
    pub fn get(&self, logical: u64) -> Option<CqUnit> {
        let run = self.read_units(logical, 1)?;
        run.units.first().copied()
    }

    /// Up to `max` units from `logical` on, within the file that holds `logical` (RocketMQ reads
    /// one file's buffer per pull). `None` when no file holds that offset or it is not written.
    pub fn read_units(&self, logical: u64, max: usize) -> Option<UnitRun> {
        let file = self.file_for(logical)?;
        let pos = (logical * UNIT_SIZE as u64 - file.base_offset()) as usize;
        let avail = file.wrote_position().saturating_sub(pos) / UNIT_SIZE;
        let n = avail.min(max);
        if n == 0 {
            return None;
        }
        let bytes = file.read(pos, n * UNIT_SIZE)?;
        let units = bytes.chunks_exact(UNIT_SIZE).map(CqUnit::decode).collect();
        Some(UnitRun {
            start: logical,
            units,
        })
    }

    fn file_for(&self, logical: u64) -> Option<Arc<MappedFile>> {
        let byte = logical.checked_mul(UNIT_SIZE as u64)?;
        let files = self.files.read().unwrap_or_else(|p| p.into_inner());
        let first = files.first()?;
        if byte < first.base_offset() {
            return None;
        }
        let idx = ((byte - first.base_offset()) / self.file_size as u64) as usize;
        let f = files.get(idx)?;
        let inside = byte >= f.base_offset() && byte < f.base_offset() + self.file_size as u64;
        inside.then(|| f.clone())
    }

    /// CommitLog offset just past the last real (non-blank) unit, or `None` when the queue
    /// holds none. The dispatcher resumes from the highest of these after a restart.
    pub fn max_physic_end(&self) -> Option<u64> {
        let files = self.files();
        for f in files.iter().rev() {
            let mut pos = f.wrote_position();
            while pos >= UNIT_SIZE {
                pos -= UNIT_SIZE;
                let unit = CqUnit::decode(f.read(pos, UNIT_SIZE)?);
                if !unit.is_blank() {
                    return Some(unit.end_offset());
                }
            }
        }
        None
    }

    /// Makes written units durable: every filled file, and the active file once at least
    /// `min_pages` 4 KiB pages of it are dirty (`0`: every written unit). Returns true when
    /// nothing written is left unsynced.
    pub fn flush(&self, min_pages: usize) -> Result<bool> {
        let files = self.files();
        let mut all = true;
        for (i, f) in files.iter().enumerate().rev() {
            let (wrote, flushed) = (f.wrote_position(), f.flushed_position());
            if flushed >= wrote {
                break;
            }
            let active = i + 1 == files.len() && wrote < f.size();
            if active && wrote / OS_PAGE_SIZE - flushed / OS_PAGE_SIZE < min_pages {
                all = false;
                continue;
            }
            f.flush()?;
        }
        Ok(all)
    }

    /// Sets the minimum logical offset to the first real unit pointing at or above
    /// `commit_log_min` (RocketMQ's `correctMinOffset`). When the first file holds none, the
    /// minimum becomes the end of that file's written units.
    pub fn correct_min_offset(&self, commit_log_min: u64) {
        let Some(first) = self.files().first().cloned() else {
            return;
        };
        let wrote = first.wrote_position();
        let mut pos = 0;
        while pos + UNIT_SIZE <= wrote {
            let Some(b) = first.read(pos, UNIT_SIZE) else {
                break;
            };
            let unit = CqUnit::decode(b);
            if !unit.is_blank() && unit.commit_log_offset as u64 >= commit_log_min {
                break;
            }
            pos += UNIT_SIZE;
        }
        self.set_min_logical((first.base_offset() + pos as u64) / UNIT_SIZE as u64);
    }
}

fn load_files(dir: &Path, file_size: usize, seam: &SharedSeam) -> Result<Vec<Arc<MappedFile>>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        match name.to_str().and_then(mapped_file::parse_file_name) {
            Some(base) if base % UNIT_SIZE as u64 == 0 => bases.push(base),
            _ => {
                tracing::warn!(path = %entry.path().display(), "ignoring stray file in consume queue dir")
            }
        }
    }
    bases.sort_unstable();
    let mut files: Vec<Arc<MappedFile>> = Vec::with_capacity(bases.len());
    for base in bases {
        if let Some(prev) = files.last() {
            if prev.base_offset() + file_size as u64 != base {
                return Err(StoreError::corrupt(
                    dir.join(mapped_file::file_name(base)),
                    base,
                    "consume queue files are not contiguous",
                ));
            }
        }
        let path = dir.join(mapped_file::file_name(base));
        let file = MappedFile::open(&path, base, file_size, seam.clone())?;
        file.random_access();
        files.push(file);
    }
    Ok(files)
}

/// Files are sparse: before a unit reaches into a page nothing was written to yet, allocate its
/// blocks, so a full disk is a [`crate::error::StoreError::DiskFull`] and not `SIGBUS`. Pages
/// holding written bytes are allocated already (also after recovery), so one `fallocate` per
/// 4 KiB page (~200 units) suffices.
fn reserve_fresh_page(file: &MappedFile, len: usize) -> Result<()> {
    const PAGE: usize = 4096;
    let pos = file.wrote_position();
    if pos == 0 || (pos - 1) / PAGE != (pos + len - 1) / PAGE {
        file.reserve(pos, len)?;
    }
    Ok(())
}
