//! The ordered [`MappedFile`]s of one directory, seen as one contiguous offset space.
//!
//! Owns: loading the directory (names parsed, sorted, sizes and contiguity checked), finding the
//! file holding a global offset, rolling to the next file (optionally pre-created by a
//! background thread so an append never waits for `fallocate` + two fsyncs), truncation after a
//! recovery point, deletion of the oldest files for cleanup, and flushing (it is the
//! [`FlushTarget`] of the CommitLog's flusher).
//!
//! Deleting a file removes it from the queue and marks it deleted; it is unlinked only when the
//! last reader (`Bytes` handed out by a read) drops it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use crate::error::{Result, StoreError};
use crate::flush::{FlushTarget, OS_PAGE_SIZE};
use crate::mapped_file::{MappedFile, parse_file_name, sync_dir};
use crate::seam::SharedSeam;

/// A file removed by [`MappedFileQueue::delete_expired`] or a truncation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedFile {
    /// Its path (unlinked once no reader holds it).
    pub path: PathBuf,
    /// Global offset of its first byte.
    pub base_offset: u64,
}

/// Ordered files of one directory. See the module docs.
pub struct MappedFileQueue {
    dir: PathBuf,
    file_size: usize,
    seam: SharedSeam,
    files: RwLock<Vec<Arc<MappedFile>>>,
    flushed: AtomicU64,
    preallocator: Option<Preallocator>,
}

impl std::fmt::Debug for MappedFileQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFileQueue")
            .field("dir", &self.dir)
            .field("files", &self.read_files().len())
            .finish()
    }
}

impl MappedFileQueue {
    /// Opens every `<20-digit offset>` file of `dir` (created if missing), checking that each
    /// has `file_size` bytes and that they are contiguous. A short trailing file is a creation
    /// interrupted by a crash (files are used only once fully allocated and synced) and is
    /// removed. Positions start at 0 until recovery sets them.
    pub fn load(dir: &Path, file_size: usize, seam: SharedSeam, preallocate: bool) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let mut names = list_files(dir)?;
        drop_interrupted_creations(dir, &mut names, file_size)?;
        let mut files = Vec::with_capacity(names.len());
        for (i, (base, path)) in names.iter().enumerate() {
            if i > 0 && *base != names[i - 1].0 + file_size as u64 {
                return Err(StoreError::corrupt(
                    path,
                    *base,
                    format!(
                        "not contiguous with the previous file {}",
                        names[i - 1].1.display()
                    ),
                ));
            }
            files.push(MappedFile::open(path, *base, file_size, Arc::clone(&seam))?);
        }
        let flushed = files.first().map_or(0, |f| f.base_offset());
        let preallocator = preallocate.then(|| Preallocator::start(dir, file_size, &seam));
        Ok(MappedFileQueue {
            dir: dir.to_path_buf(),
            file_size,
            seam,
            files: RwLock::new(files),
            flushed: AtomicU64::new(flushed),
            preallocator,
        })
    }

    fn read_files(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<MappedFile>>> {
        self.files.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_files(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<MappedFile>>> {
        self.files.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Size of every file.
    pub fn file_size(&self) -> usize {
        self.file_size
    }

    /// A snapshot of the files, oldest first.
    pub fn files(&self) -> Vec<Arc<MappedFile>> {
        self.read_files().clone()
    }

    /// The newest file.
    pub fn last(&self) -> Option<Arc<MappedFile>> {
        self.read_files().last().cloned()
    }

    /// The file holding global `offset`, if it is still in the queue.
    pub fn find(&self, offset: u64) -> Option<Arc<MappedFile>> {
        let files = self.read_files();
        let first = files.first()?.base_offset();
        if offset < first {
            return None;
        }
        let i = ((offset - first) / self.file_size as u64) as usize;
        files.get(i).cloned()
    }

    /// Offset of the first byte still stored (0 when empty).
    pub fn min_offset(&self) -> u64 {
        self.read_files().first().map_or(0, |f| f.base_offset())
    }

    /// Offset just past the last written byte (0 when empty).
    pub fn max_offset(&self) -> u64 {
        self.read_files()
            .last()
            .map_or(0, |f| f.base_offset() + f.wrote_position() as u64)
    }

    /// Appends the next file (at `start` when the queue is empty) and returns it; uses the
    /// pre-created file when one is ready.
    pub fn create_next(&self, start: u64) -> Result<Arc<MappedFile>> {
        let base = self
            .last()
            .map_or(start, |f| f.base_offset() + self.file_size as u64);
        let file = match self.preallocator.as_ref().and_then(|p| p.take(base)) {
            Some(file) => file,
            None => MappedFile::create(&self.dir, base, self.file_size, Arc::clone(&self.seam))?,
        };
        self.write_files().push(Arc::clone(&file));
        if let Some(p) = &self.preallocator {
            p.request(base + self.file_size as u64);
        }
        Ok(file)
    }

    /// Keeps `[.., offset)`: files starting after `offset` are deleted, the file holding
    /// `offset` gets both positions set there with its tail zeroed, earlier files are marked
    /// full. Used by recovery, before any reader or writer exists.
    pub fn truncate_after(&self, offset: u64) -> Result<Vec<RemovedFile>> {
        let mut files = self.write_files();
        let mut removed = Vec::new();
        while files.last().is_some_and(|f| f.base_offset() > offset) {
            removed.push(remove(&files.pop().expect("non-empty")));
        }
        for f in files.iter() {
            let end = f.base_offset() + self.file_size as u64;
            if offset >= end {
                f.set_recovered_position(self.file_size, self.file_size)?;
            } else {
                let pos = (offset - f.base_offset()) as usize;
                f.set_recovered_position(pos, self.file_size)?;
            }
        }
        drop(files);
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        self.flushed.store(offset, Ordering::Release);
        Ok(removed)
    }

    /// Deletes files from the oldest on while `expired` says so, never the newest (it is being
    /// written) and at most `max` files per call. Returns what was removed.
    pub fn delete_expired(
        &self,
        max: usize,
        mut expired: impl FnMut(&MappedFile) -> bool,
    ) -> Vec<RemovedFile> {
        let mut files = self.write_files();
        let mut n = 0;
        while n < max && n + 1 < files.len() && expired(&files[n]) {
            n += 1;
        }
        let removed: Vec<RemovedFile> = files.drain(..n).map(|f| remove(&f)).collect();
        drop(files);
        if removed.is_empty() {
            return removed;
        }
        if let Err(e) = sync_dir(&self.dir) {
            tracing::warn!(error = %e, "syncing the directory after deletion failed");
        }
        removed
    }
}

fn remove(f: &Arc<MappedFile>) -> RemovedFile {
    f.mark_deleted();
    RemovedFile {
        path: f.path().to_path_buf(),
        base_offset: f.base_offset(),
    }
}

impl FlushTarget for MappedFileQueue {
    fn flush(&self, min_pages: usize) -> Result<u64> {
        let from = self.flushed.load(Ordering::Acquire);
        let files: Vec<Arc<MappedFile>> = {
            let all = self.read_files();
            let first = all.first().map_or(0, |f| f.base_offset());
            let skip = (from.saturating_sub(first) / self.file_size as u64) as usize;
            all.iter().skip(skip).cloned().collect()
        };
        for f in &files {
            let (wrote, flushed) = (f.wrote_position(), f.flushed_position());
            let full = wrote == f.size();
            let dirty_pages = wrote / OS_PAGE_SIZE - flushed / OS_PAGE_SIZE;
            if wrote == flushed || (!full && min_pages > 0 && dirty_pages < min_pages) {
                if full {
                    continue;
                }
                break;
            }
            f.flush()?;
            if !full {
                break;
            }
        }
        let durable = files
            .iter()
            .find(|f| f.flushed_position() < f.size())
            .or(files.last())
            .map_or(from, |f| f.base_offset() + f.flushed_position() as u64);
        Ok(self
            .flushed
            .fetch_max(durable, Ordering::AcqRel)
            .max(durable))
    }

    fn flushed_offset(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
    }
}

fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        match name.to_str().and_then(parse_file_name) {
            Some(base) => names.push((base, entry.path())),
            None => tracing::warn!(path = %entry.path().display(), "ignoring foreign file"),
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Removes trailing files shorter than `file_size` (a crash during creation).
fn drop_interrupted_creations(
    dir: &Path,
    names: &mut Vec<(u64, PathBuf)>,
    file_size: usize,
) -> Result<()> {
    while let Some((_, path)) = names.last() {
        let len = std::fs::metadata(path)
            .map_err(|e| StoreError::io(path, e))?
            .len();
        if len >= file_size as u64 {
            break;
        }
        // A file whose creation was interrupted never received a record: it is all zeros.
        // A short file holding data was truncated by something else; deleting it would lose
        // acknowledged messages, so report it instead.
        if !is_all_zero(path)? {
            return Err(StoreError::WrongFileSize {
                path: path.clone(),
                actual: len,
                expected: file_size as u64,
            });
        }
        tracing::warn!(path = %path.display(), len, "removing a file whose creation was interrupted");
        std::fs::remove_file(path).map_err(|e| StoreError::io(path, e))?;
        names.pop();
        sync_dir(dir)?;
    }
    Ok(())
}

fn is_all_zero(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| StoreError::io(path, e))?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
}

/// Creates the next file in the background so appends do not wait for allocation.
struct Preallocator {
    shared: Arc<PreShared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct PreState {
    wanted: Option<u64>,
    ready: Option<Arc<MappedFile>>,
    creating: bool,
    stop: bool,
}

struct PreShared {
    state: Mutex<PreState>,
    cond: Condvar,
}

impl Preallocator {
    fn start(dir: &Path, file_size: usize, seam: &SharedSeam) -> Self {
        let shared = Arc::new(PreShared {
            state: Mutex::new(PreState::default()),
            cond: Condvar::new(),
        });
        let (s, dir, seam) = (Arc::clone(&shared), dir.to_path_buf(), Arc::clone(seam));
        let thread = std::thread::Builder::new()
            .name("cl-prealloc".into())
            .spawn(move || preallocate_loop(&s, &dir, file_size, &seam))
            .ok();
        Preallocator { shared, thread }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PreState> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the pre-created file if it is the one at `base`; a stale one is discarded.
    fn take(&self, base: u64) -> Option<Arc<MappedFile>> {
        let mut st = self.lock();
        st.wanted = None;
        while st.creating {
            st = self.shared.cond.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        match st.ready.take() {
            Some(f) if f.base_offset() == base => Some(f),
            Some(stale) => {
                stale.mark_deleted();
                None
            }
            None => None,
        }
    }

    fn request(&self, base: u64) {
        let mut st = self.lock();
        if st.ready.as_ref().is_none_or(|f| f.base_offset() != base) {
            st.wanted = Some(base);
            self.shared.cond.notify_all();
        }
    }
}

impl Drop for Preallocator {
    fn drop(&mut self) {
        self.lock().stop = true;
        self.shared.cond.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Taken after the join, so a creation that was in flight is included. A pre-created
        // file that never joined the queue is clutter; after a crash recovery deletes it.
        if let Some(f) = self.lock().ready.take() {
            f.mark_deleted();
        }
    }
}

fn preallocate_loop(s: &PreShared, dir: &Path, file_size: usize, seam: &SharedSeam) {
    loop {
        let base = {
            let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
            while st.wanted.is_none() && !st.stop {
                st = s.cond.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.stop {
                return;
            }
            st.creating = true;
            st.wanted.take().expect("checked")
        };
        let created = MappedFile::create(dir, base, file_size, Arc::clone(seam));
        let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
        st.creating = false;
        match created {
            Ok(file) => {
                if let Some(old) = st.ready.replace(file) {
                    old.mark_deleted();
                }
            }
            Err(e) => tracing::warn!(base, error = %e, "pre-creating the next file failed"),
        }
        drop(st);
        s.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::real_files;

    const SIZE: usize = 4096;

    fn queue(dir: &Path) -> Result<MappedFileQueue> {
        MappedFileQueue::load(dir, SIZE, real_files(), false)
    }

    #[test]
    fn load_checks_names_sizes_and_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path()).unwrap();
        for _ in 0..3 {
            q.create_next(0).unwrap().append(&[1u8; SIZE]).unwrap();
        }
        assert_eq!((q.min_offset(), q.max_offset()), (0, 3 * SIZE as u64));
        assert_eq!(
            q.find(2 * SIZE as u64 + 5).unwrap().base_offset(),
            2 * SIZE as u64
        );
        assert!(q.find(3 * SIZE as u64).is_none());
        drop(q);
        std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
        // A short trailing file is an interrupted creation: removed.
        std::fs::write(dir.path().join(format!("{:020}", 3 * SIZE)), [0u8; 10]).unwrap();
        assert_eq!(queue(dir.path()).unwrap().files().len(), 3);
        assert!(!dir.path().join(format!("{:020}", 3 * SIZE)).exists());
        // A gap is corruption.
        std::fs::remove_file(dir.path().join(format!("{:020}", SIZE))).unwrap();
        let err = queue(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { offset, .. } if offset == 2 * SIZE as u64));
        // A wrong-sized file in the middle is refused.
        std::fs::write(dir.path().join(format!("{:020}", SIZE)), [0u8; 10]).unwrap();
        let err = queue(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::WrongFileSize { actual: 10, .. }),
            "{err}"
        );
    }

    #[test]
    fn delete_expired_keeps_the_newest_and_waits_for_readers() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path()).unwrap();
        for _ in 0..4 {
            q.create_next(0).unwrap().append(&[7u8; SIZE]).unwrap();
        }
        let held = q.find(0).unwrap().bytes(0, 16).unwrap();
        let removed = q.delete_expired(10, |_| true);
        let bases: Vec<u64> = removed.iter().map(|r| r.base_offset).collect();
        assert_eq!(
            bases,
            vec![0, SIZE as u64, 2 * SIZE as u64],
            "never the newest"
        );
        assert_eq!(q.min_offset(), 3 * SIZE as u64);
        assert!(removed[0].path.exists(), "a reader still holds file 0");
        assert!(!removed[1].path.exists());
        assert_eq!(&held[..], &[7u8; 16]);
        drop(held);
        assert!(!removed[0].path.exists());
        assert!(q.delete_expired(10, |_| true).is_empty());
    }

    #[test]
    fn flush_honours_min_pages_and_rolls_over_full_files() {
        let dir = tempfile::tempdir().unwrap();
        let q = MappedFileQueue::load(dir.path(), 4 * SIZE, real_files(), false).unwrap();
        let f0 = q.create_next(0).unwrap();
        f0.append(&[1u8; 100]).unwrap();
        assert_eq!(q.flush(4).unwrap(), 0, "fewer than 4 dirty pages: no sync");
        assert_eq!(q.flush(0).unwrap(), 100);
        f0.append(&[1u8; 4 * SIZE - 100]).unwrap();
        let f1 = q.create_next(0).unwrap();
        f1.append(&[2u8; 10]).unwrap();
        assert_eq!(
            q.flush(4).unwrap(),
            4 * SIZE as u64,
            "the full file is synced regardless"
        );
        assert_eq!(q.flush(0).unwrap(), 4 * SIZE as u64 + 10);
        assert_eq!(q.flushed_offset(), 4 * SIZE as u64 + 10);
    }
}
