//! A fixed-size, memory-mapped store file with one writer and many readers.
//!
//! CommitLog files and ConsumeQueue files are all `MappedFile`s. A CommitLog file is fully
//! allocated on creation (`posix_fallocate`) so that a full disk shows up as
//! [`StoreError::DiskFull`] when the file is created instead of as `SIGBUS` when a page is first
//! touched. ConsumeQueue files are sparse ([`MappedFile::create_sparse`]): one per queue, mostly
//! empty, and reserving them all would cost gigabytes for a broker with thousands of queues.
//!
//! Concurrency: bytes below `wrote` are immutable and readable by anyone; bytes at and above
//! `wrote` belong to the single writer holding `write_lock`. `wrote` is published with
//! `Release` after the bytes are in place, and read with `Acquire`.
//! Durability: `flushed` is the prefix known to be on disk; [`MappedFile::flush`] advances it and
//! reports to the [`FileSeam`](crate::seam::FileSeam).
//! Deletion: a file marked deleted is unlinked when the last `Arc` drops, so a reader holding a
//! slice (e.g. a pull response being written to a socket) never sees it vanish.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Result, StoreError};
use crate::seam::SharedSeam;

/// The 20-digit zero-padded decimal name RocketMQ gives a file starting at `offset`.
pub fn file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// Parses a 20-digit file name back into its starting offset.
pub fn parse_file_name(name: &str) -> Option<u64> {
    if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// Fsyncs a directory so a newly created or removed entry survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| StoreError::io(dir, e))?;
    d.sync_all().map_err(|e| StoreError::io(dir, e))
}

/// How a new file's blocks are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allocation {
    /// Every block reserved up front (`posix_fallocate`): a full disk fails the creation.
    Reserved,
    /// Sized with `ftruncate` only: blocks are allocated as pages are first written.
    Sparse,
}

/// One memory-mapped store file. See the module docs for the concurrency contract.
pub struct MappedFile {
    path: PathBuf,
    base_offset: u64,
    size: usize,
    file: File,
    map: MmapRaw,
    wrote: AtomicUsize,
    flushed: AtomicUsize,
    write_lock: Mutex<()>,
    flush_lock: Mutex<()>,
    delete_on_drop: AtomicBool,
    seam: SharedSeam,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("wrote", &self.wrote_position())
            .field("flushed", &self.flushed_position())
            .finish()
    }
}

impl MappedFile {
    /// Creates `dir/<20-digit base_offset>` of exactly `size` bytes, allocated and synced
    /// (file and directory entry) before it is mapped.
    pub fn create(
        dir: &Path,
        base_offset: u64,
        size: usize,
        seam: SharedSeam,
    ) -> Result<Arc<Self>> {
        Self::create_with(dir, base_offset, size, seam, Allocation::Reserved)
    }

    /// Like [`MappedFile::create`] but the file is sparse: only the pages actually written take
    /// disk blocks. For ConsumeQueue files (20 bytes per message, 6 MB per file by default):
    /// thousands of queues each holding a few units would otherwise reserve gigabytes, which
    /// Java's broker does not do either (it maps the file without writing it). The price: the
    /// writer must call [`MappedFile::reserve`] before writing into a fresh page, so a full disk is
    /// still a typed error rather than `SIGBUS`.
    pub fn create_sparse(
        dir: &Path,
        base_offset: u64,
        size: usize,
        seam: SharedSeam,
    ) -> Result<Arc<Self>> {
        Self::create_with(dir, base_offset, size, seam, Allocation::Sparse)
    }

    fn create_with(
        dir: &Path,
        base_offset: u64,
        size: usize,
        seam: SharedSeam,
        allocation: Allocation,
    ) -> Result<Arc<Self>> {
        if !dir.is_dir() {
            return Err(StoreError::MissingDirectory {
                path: dir.to_path_buf(),
            });
        }
        let path = dir.join(file_name(base_offset));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let sized = match allocation {
            Allocation::Reserved => allocate(&file, &path, size),
            // On tmpfs even reading a hole through a shared mapping allocates a page, so a
            // recovery scan of a sparse file on a full tmpfs would die of SIGBUS: reserve there.
            Allocation::Sparse if on_tmpfs(&file) => allocate(&file, &path, size),
            Allocation::Sparse => file
                .set_len(size as u64)
                .map_err(|e| StoreError::io(&path, e)),
        };
        if let Err(e) = sized {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        file.sync_all().map_err(|e| StoreError::io(&path, e))?;
        sync_dir(dir)?;
        seam.created(&path);
        Self::map(path, file, base_offset, size, seam)
    }

    /// Opens an existing file, which must be exactly `size` bytes long. Positions start at 0;
    /// recovery sets them with [`MappedFile::set_recovered_position`].
    pub fn open(path: &Path, base_offset: u64, size: usize, seam: SharedSeam) -> Result<Arc<Self>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        let actual = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        if actual != size as u64 {
            return Err(StoreError::WrongFileSize {
                path: path.to_path_buf(),
                actual,
                expected: size as u64,
            });
        }
        Self::map(path.to_path_buf(), file, base_offset, size, seam)
    }

    fn map(
        path: PathBuf,
        file: File,
        base: u64,
        size: usize,
        seam: SharedSeam,
    ) -> Result<Arc<Self>> {
        let map = MmapOptions::new()
            .len(size)
            .map_raw(&file)
            .map_err(|e| StoreError::io(&path, e))?;
        Ok(Arc::new(MappedFile {
            path,
            base_offset: base,
            size,
            file,
            map,
            wrote: AtomicUsize::new(0),
            flushed: AtomicUsize::new(0),
            write_lock: Mutex::new(()),
            flush_lock: Mutex::new(()),
            delete_on_drop: AtomicBool::new(false),
            seam,
        }))
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Global offset of the file's first byte (its name).
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// File size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Bytes written (and visible to readers).
    pub fn wrote_position(&self) -> usize {
        self.wrote.load(Ordering::Acquire)
    }

    /// Bytes known to be durable.
    pub fn flushed_position(&self) -> usize {
        self.flushed.load(Ordering::Acquire)
    }

    /// Free bytes after the write position.
    pub fn remaining(&self) -> usize {
        self.size - self.wrote_position()
    }

    /// True when no byte can be appended.
    pub fn is_full(&self) -> bool {
        self.remaining() == 0
    }

    /// Appends `len` bytes produced by `fill`, which receives the (zeroed or stale) target
    /// region and must initialise all of it. Returns the in-file position written at, or `None`
    /// when fewer than `len` bytes remain.
    pub fn append_with<F: FnOnce(&mut [u8])>(&self, len: usize, fill: F) -> Option<usize> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let pos = self.wrote.load(Ordering::Relaxed);
        if self.size - pos < len {
            return None;
        }
        // SAFETY: `[pos, pos + len)` is inside the mapping (checked above) and at or above the
        // published `wrote` position, so no reader can observe it; `write_lock` makes this the
        // only writer. The slice does not outlive this call.
        let dst = unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), len) };
        fill(dst);
        self.wrote.store(pos + len, Ordering::Release);
        Some(pos)
    }

    /// Allocates disk blocks for `[pos, pos + len)` of a sparse file, so that a full disk is
    /// reported as [`StoreError::DiskFull`] before the bytes are written instead of as `SIGBUS`
    /// when the mapping first touches a page the filesystem cannot back. Blocks already
    /// allocated are left alone; filesystems without `fallocate` are not checked.
    pub fn reserve(&self, pos: usize, len: usize) -> Result<()> {
        let len = len.min(self.size.saturating_sub(pos));
        if len == 0 {
            return Ok(());
        }
        allocate_range(&self.file, &self.path, pos, len)
    }

    /// Appends `data`; see [`MappedFile::append_with`].
    pub fn append(&self, data: &[u8]) -> Option<usize> {
        self.append_with(data.len(), |dst| dst.copy_from_slice(data))
    }

    /// Borrows `len` written bytes at in-file position `pos`, or `None` if they are not (yet)
    /// written.
    pub fn read(&self, pos: usize, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        if end > self.wrote_position() {
            return None;
        }
        // SAFETY: `[pos, end)` is below the published write position, so it is initialised and
        // never written again while mapped (recovery rewinds positions only before readers
        // exist); the borrow is tied to `&self`, which keeps the mapping alive.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// Like [`MappedFile::read`] but for any bytes inside the file, written or not. Used by
    /// recovery, which scans what is on disk before positions are known.
    pub fn read_raw(&self, pos: usize, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        if end > self.size {
            return None;
        }
        // SAFETY: in bounds of the mapping; recovery runs before any writer exists.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// Zero-copy view of written bytes that keeps this file mapped while the `Bytes` lives.
    pub fn bytes(self: &Arc<Self>, pos: usize, len: usize) -> Option<Bytes> {
        self.read(pos, len)?;
        Some(Bytes::from_owner(MappedSlice {
            file: Arc::clone(self),
            pos,
            len,
        }))
    }

    /// Makes every written byte durable (msync), reporting to the seam. Returns the new flushed
    /// position. An error here means the bytes may not be on disk: callers must poison.
    pub fn flush(&self) -> Result<usize> {
        let _guard = self.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        let wrote = self.wrote_position();
        let flushed = self.flushed.load(Ordering::Acquire);
        if wrote <= flushed {
            return Ok(flushed);
        }
        self.seam
            .before_sync(&self.path)
            .map_err(|e| StoreError::io(&self.path, e))?;
        self.map
            .flush_range(flushed, wrote - flushed)
            .map_err(|e| StoreError::io(&self.path, e))?;
        self.flushed.store(wrote, Ordering::Release);
        self.seam.synced(&self.path, wrote as u64);
        Ok(wrote)
    }

    /// Sets both positions after recovery validated `[0, pos)`. Bytes from `pos` to
    /// `zero_to` are zeroed (and synced) so a later recovery never mistakes stale bytes past
    /// the truncation point for records. Zeroing uses `fallocate(FALLOC_FL_ZERO_RANGE)` where
    /// the filesystem has it (a metadata operation that keeps the blocks allocated, so zeroing
    /// the tail of a 1 GiB file is cheap), otherwise it writes zeros through the mapping.
    pub fn set_recovered_position(&self, pos: usize, zero_to: usize) -> Result<()> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let zero_to = zero_to.min(self.size);
        if zero_to > pos {
            if zero_range(&self.file, pos, zero_to - pos) {
                self.file
                    .sync_data()
                    .map_err(|e| StoreError::io(&self.path, e))?;
            } else {
                // SAFETY: in bounds; recovery runs before readers exist and holds the write lock.
                unsafe { std::ptr::write_bytes(self.map.as_mut_ptr().add(pos), 0, zero_to - pos) };
                self.map
                    .flush_range(pos, zero_to - pos)
                    .map_err(|e| StoreError::io(&self.path, e))?;
            }
        }
        self.wrote.store(pos, Ordering::Release);
        self.flushed.store(pos, Ordering::Release);
        Ok(())
    }

    /// Asks the kernel to read the file ahead and fault it in (cheap hint, no error path).
    pub fn will_need(&self) {
        let _ = self.map.advise(memmap2::Advice::WillNeed);
    }

    /// Turns off read-ahead on page faults (`MADV_RANDOM`). For ConsumeQueue files, written 20
    /// bytes at a time at thousands of places: without it the first touch of a hole in a sparse
    /// file reads ahead (and zero-fills) a large window around it, which with 1,000 topics cost
    /// ~40 % of the broker's CPU in a profile. Cheap hint, no error path.
    pub fn random_access(&self) {
        let _ = self.map.advise(memmap2::Advice::Random);
    }

    /// Faults `[pos, pos + len)` into this process's page tables as if written
    /// (`MADV_POPULATE_WRITE`), so the writer does not take a page fault (and the kernel's
    /// zero-fill of a fresh page) on its first touch. Content is not changed. Meant for a
    /// background thread running ahead of the writer; false where the kernel lacks it.
    pub fn prefault(&self, pos: usize, len: usize) -> bool {
        let len = len.min(self.size.saturating_sub(pos));
        len > 0
            && self
                .map
                .advise_range(memmap2::Advice::PopulateWrite, pos, len)
                .is_ok()
    }

    /// Drops this process's page-table entries for `[pos, pos + len)` (`MADV_DONTNEED`), so
    /// pages the broker wrote long ago stop counting in its resident memory. The bytes are not
    /// touched: this is a shared file mapping, so the pages stay in the kernel's page cache
    /// (dirty ones are still written back) and the next access maps them again with a minor
    /// fault. False when the kernel refuses.
    pub fn release(&self, pos: usize, len: usize) -> bool {
        let len = len.min(self.size.saturating_sub(pos));
        if len == 0 {
            return true;
        }
        // SAFETY: `self.map` is a MAP_SHARED mapping of `self.file` (see `open`). For such a
        // mapping MADV_DONTNEED only unmaps pages: their contents live on in the page cache, so
        // every later read through the mapping (including through slices handed out before
        // this call) sees the same bytes, and a dirty page's dirty state moves to the page
        // cache. No memory is freed under a live reference; the range is inside the map.
        let advised = unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, pos, len)
        };
        advised.is_ok()
    }

    /// Marks the file for deletion; it is unlinked when the last reference drops.
    pub fn mark_deleted(&self) {
        self.delete_on_drop.store(true, Ordering::Release);
    }

    /// True once [`MappedFile::mark_deleted`] was called.
    pub fn is_marked_deleted(&self) -> bool {
        self.delete_on_drop.load(Ordering::Acquire)
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if self.delete_on_drop.load(Ordering::Acquire) {
            match std::fs::remove_file(&self.path) {
                Ok(()) => tracing::info!(path = %self.path.display(), "deleted store file"),
                Err(e) => tracing::warn!(path = %self.path.display(), error = %e, "delete failed"),
            }
        }
    }
}

/// Owner handed to `Bytes::from_owner`: keeps the file mapped.
struct MappedSlice {
    file: Arc<MappedFile>,
    pos: usize,
    len: usize,
}

impl AsRef<[u8]> for MappedSlice {
    fn as_ref(&self) -> &[u8] {
        // Checked when the slice was made; written bytes stay written.
        self.file.read(self.pos, self.len).unwrap_or(&[])
    }
}

/// Zeroes `[pos, pos + len)` with `FALLOC_FL_ZERO_RANGE`; false when unsupported.
fn zero_range(file: &File, pos: usize, len: usize) -> bool {
    // SAFETY: plain syscall on a valid, owned descriptor; the kernel drops the page cache of
    // the range, and no reader of this mapping exists yet (recovery).
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
            pos as libc::off_t,
            len as libc::off_t,
        )
    };
    rc == 0
}

/// True when `file` lives on tmpfs (memory-backed; holes are not free to read there).
fn on_tmpfs(file: &File) -> bool {
    const TMPFS_MAGIC: libc::c_long = 0x0102_1994;
    let mut stat = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `fstatfs` fills the struct on success; it is only read after a zero return.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), stat.as_mut_ptr()) };
    // SAFETY: initialised by the successful call above.
    rc == 0 && unsafe { stat.assume_init() }.f_type as libc::c_long == TMPFS_MAGIC
}

fn allocate(file: &File, path: &Path, size: usize) -> Result<()> {
    allocate_range(file, path, 0, size)
}

fn allocate_range(file: &File, path: &Path, pos: usize, len: usize) -> Result<()> {
    // SAFETY: plain syscall on a valid, owned descriptor.
    let rc =
        unsafe { libc::posix_fallocate(file.as_raw_fd(), pos as libc::off_t, len as libc::off_t) };
    match rc {
        0 => Ok(()),
        libc::ENOSPC => Err(StoreError::DiskFull {
            path: path.to_path_buf(),
            needed: len as u64,
        }),
        // Filesystems without fallocate support: fall back to set_len (sparse).
        libc::EOPNOTSUPP | libc::EINVAL => file
            .set_len(
                file.metadata()
                    .map_err(|e| StoreError::io(path, e))?
                    .len()
                    .max((pos + len) as u64),
            )
            .map_err(|e| StoreError::io(path, e)),
        errno => Err(StoreError::io(
            path,
            std::io::Error::from_raw_os_error(errno),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::real_files;

    #[test]
    fn names_round_trip() {
        assert_eq!(file_name(1073741824), "00000000001073741824");
        assert_eq!(parse_file_name("00000000001073741824"), Some(1073741824));
        assert_eq!(parse_file_name("123"), None);
        assert_eq!(parse_file_name("0000000000107374182x"), None);
    }

    #[test]
    fn append_read_flush_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let f = MappedFile::create(dir.path(), 4096, 64, real_files()).unwrap();
        assert_eq!(f.append(b"hello"), Some(0));
        assert_eq!(f.append(b"world"), Some(5));
        assert_eq!(f.read(0, 10), Some(&b"helloworld"[..]));
        assert_eq!(f.read(5, 6), None, "unwritten bytes are not readable");
        assert_eq!(f.append(&[1u8; 60]), None, "does not fit");
        assert_eq!(f.flush().unwrap(), 10);
        assert_eq!(f.bytes(5, 5).unwrap(), Bytes::from_static(b"world"));
        assert_eq!(f.path().file_name().unwrap(), "00000000000000004096");
    }

    #[test]
    fn reopen_checks_size_and_delete_waits_for_readers() {
        let dir = tempfile::tempdir().unwrap();
        let f = MappedFile::create(dir.path(), 0, 64, real_files()).unwrap();
        f.append(b"abc").unwrap();
        let path = f.path().to_path_buf();
        let held = f.bytes(0, 3).unwrap();
        f.mark_deleted();
        drop(f);
        assert!(path.exists(), "a reader still holds the file");
        assert_eq!(&held[..], b"abc");
        drop(held);
        assert!(!path.exists());
        let g = MappedFile::create(dir.path(), 0, 64, real_files()).unwrap();
        drop(g);
        let err = MappedFile::open(&path, 0, 128, real_files()).unwrap_err();
        assert!(
            matches!(err, StoreError::WrongFileSize { actual: 64, .. }),
            "{err}"
        );
    }

    #[test]
    fn sparse_files_take_blocks_only_where_written() {
        use std::os::unix::fs::MetadataExt;
        const SIZE: usize = 8 << 20;
        let dir = tempfile::tempdir().unwrap();
        let sparse = MappedFile::create_sparse(dir.path(), 0, SIZE, real_files()).unwrap();
        sparse.reserve(0, 20).unwrap();
        sparse.append(&[7u8; 20]).unwrap();
        sparse.flush().unwrap();
        let meta = std::fs::metadata(sparse.path()).unwrap();
        assert_eq!(meta.len(), SIZE as u64);
        // st_blocks counts 512-byte units: one written page, far below the 8 MiB size.
        assert!(meta.blocks() * 512 <= 64 * 1024, "blocks {}", meta.blocks());
        assert_eq!(sparse.read(0, 20), Some(&[7u8; 20][..]));
        let reserved = MappedFile::create(dir.path(), SIZE as u64, SIZE, real_files()).unwrap();
        let meta = std::fs::metadata(reserved.path()).unwrap();
        assert!(
            meta.blocks() * 512 >= SIZE as u64,
            "blocks {}",
            meta.blocks()
        );
    }

    #[test]
    fn missing_directory_is_typed() {
        let err = MappedFile::create(Path::new("/nonexistent/x"), 0, 64, real_files()).unwrap_err();
        assert!(matches!(err, StoreError::MissingDirectory { .. }), "{err}");
    }
}
