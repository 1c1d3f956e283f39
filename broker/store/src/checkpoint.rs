//! The store's root-level state files: `checkpoint`, the `abort` marker and the `lock` file.
//!
//! - [`Checkpoint`]: 4 KiB, big-endian: physicMsgTimestamp @0, logicsMsgTimestamp @8,
//!   indexMsgTimestamp @16, masterFlushedOffset @24, confirmPhyOffset @32 (RocketMQ 5.x layout).
//!   [`Checkpoint::flush`] writes the page then fsyncs it. Abnormal recovery starts no later
//!   than [`CheckpointData::min_timestamp`].
//! - [`AbortMarker`]: created (and its directory entry synced) when the store opens, removed on
//!   a clean shutdown; finding it at start means the last run crashed.
//! - [`StoreLock`]: an exclusive `flock` on `lock`, so two processes never open one store.
//!
//! The checkpoint uses plain positioned writes, not a mapping: it is written about once a
//! second and must be synced explicitly anyway.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Result, StoreError};
use crate::mapped_file::sync_dir;

/// Size of the checkpoint file.
pub const CHECKPOINT_FILE_SIZE: usize = 4096;
/// Bytes of the checkpoint that carry data.
const CHECKPOINT_DATA_LEN: usize = 40;
/// RocketMQ's safety margin: abnormal recovery starts 3 s before the min flush timestamp.
pub const RECOVERY_MARGIN_MS: i64 = 3000;

/// The values the checkpoint holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointData {
    /// STORETIMESTAMP of the newest CommitLog record known durable.
    pub physic_msg_timestamp: i64,
    /// STORETIMESTAMP of the newest record whose ConsumeQueue unit is durable.
    pub logics_msg_timestamp: i64,
    /// STORETIMESTAMP of the newest record whose index entries are durable.
    pub index_msg_timestamp: i64,
    /// 5.x: master's flushed offset (replication).
    pub master_flushed_offset: i64,
    /// 5.x: confirmed CommitLog offset (replication).
    pub confirm_phy_offset: i64,
}

impl CheckpointData {
    fn encode(&self) -> [u8; CHECKPOINT_DATA_LEN] {
        let mut b = [0u8; CHECKPOINT_DATA_LEN];
        let fields = [
            self.physic_msg_timestamp,
            self.logics_msg_timestamp,
            self.index_msg_timestamp,
            self.master_flushed_offset,
            self.confirm_phy_offset,
        ];
        for (i, v) in fields.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
        }
        b
    }

    fn decode(b: &[u8; CHECKPOINT_DATA_LEN]) -> Self {
        let at = |i: usize| i64::from_be_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        CheckpointData {
            physic_msg_timestamp: at(0),
            logics_msg_timestamp: at(1),
            index_msg_timestamp: at(2),
            master_flushed_offset: at(3),
            confirm_phy_offset: at(4),
        }
    }

    /// The timestamp abnormal recovery may start from: the smaller of the CommitLog and
    /// ConsumeQueue timestamps (and the index one when `with_index`), minus 3 s, as RocketMQ.
    pub fn min_timestamp(&self, with_index: bool) -> i64 {
        let mut min = self.physic_msg_timestamp.min(self.logics_msg_timestamp);
        if with_index {
            min = min.min(self.index_msg_timestamp);
        }
        (min - RECOVERY_MARGIN_MS).max(0)
    }
}

/// The `checkpoint` file. See the module docs.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    file: File,
    data: Mutex<CheckpointData>,
}

impl Checkpoint {
    /// Opens `path`, or creates it (4 KiB of zeros, synced with its directory entry).
    pub fn open(path: &Path) -> Result<Self> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::io(path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        let mut raw = [0u8; CHECKPOINT_DATA_LEN];
        if len >= CHECKPOINT_DATA_LEN as u64 {
            file.read_exact_at(&mut raw, 0)
                .map_err(|e| StoreError::io(path, e))?;
        } else if existed && len != 0 {
            return Err(StoreError::WrongFileSize {
                path: path.to_path_buf(),
                actual: len,
                expected: CHECKPOINT_FILE_SIZE as u64,
            });
        }
        if len < CHECKPOINT_FILE_SIZE as u64 {
            file.set_len(CHECKPOINT_FILE_SIZE as u64)
                .map_err(|e| StoreError::io(path, e))?;
            file.sync_all().map_err(|e| StoreError::io(path, e))?;
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
        }
        Ok(Checkpoint {
            path: path.to_path_buf(),
            file,
            data: Mutex::new(CheckpointData::decode(&raw)),
        })
    }

    /// The current values (as last set, flushed or not).
    pub fn data(&self) -> CheckpointData {
        *self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the values in memory; [`Checkpoint::flush`] persists them.
    pub fn update(&self, f: impl FnOnce(&mut CheckpointData)) {
        f(&mut self.data.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Writes the values and fsyncs the file.
    pub fn flush(&self) -> Result<()> {
        let bytes = self.data().encode();
        self.file
            .write_all_at(&bytes, 0)
            .map_err(|e| StoreError::io(&self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| StoreError::io(&self.path, e))
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The `abort` marker. See the module docs.
#[derive(Debug)]
pub struct AbortMarker {
    path: PathBuf,
    was_present: bool,
}

impl AbortMarker {
    /// Notes whether `<root>/abort` exists (the last run crashed), then creates it and syncs
    /// the directory so a crash from now on is detected.
    pub fn create(root: &Path) -> Result<Self> {
        let path = root.join("abort");
        let was_present = path.exists();
        File::create(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&path, e))?;
        sync_dir(root)?;
        Ok(AbortMarker { path, was_present })
    }

    /// True when the marker was already there: the previous run did not shut down cleanly.
    pub fn was_present(&self) -> bool {
        self.was_present
    }

    /// Removes the marker after a clean shutdown (everything flushed) and syncs the directory.
    pub fn clear(self) -> Result<()> {
        std::fs::remove_file(&self.path).map_err(|e| StoreError::io(&self.path, e))?;
        sync_dir(self.path.parent().unwrap_or(Path::new(".")))
    }
}

/// An exclusive lock on `<root>/lock`, held for the store's lifetime (released on drop or
/// when the process dies).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    path: PathBuf,
}

impl StoreLock {
    /// Takes the lock, or fails with [`StoreError::Locked`] if another open store holds it.
    pub fn acquire(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|e| StoreError::io(root, e))?;
        let path = root.join("lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        // SAFETY: plain syscall on a valid, owned descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(StoreError::Locked { path });
            }
            return Err(StoreError::io(&path, err));
        }
        Ok(StoreLock { _file: file, path })
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_big_endian_at_fixed_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint");
        let cp = Checkpoint::open(&path).unwrap();
        assert_eq!(cp.data(), CheckpointData::default());
        cp.update(|d| {
            d.physic_msg_timestamp = 0x0102030405060708;
            d.logics_msg_timestamp = 20_000;
            d.index_msg_timestamp = 10_000;
            d.master_flushed_offset = 7;
            d.confirm_phy_offset = -1;
        });
        cp.flush().unwrap();
        drop(cp);
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw.len(), CHECKPOINT_FILE_SIZE);
        assert_eq!(&raw[0..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&raw[24..32], &7i64.to_be_bytes());
        assert_eq!(&raw[32..40], &[0xFF; 8]);
        let back = Checkpoint::open(&path).unwrap().data();
        assert_eq!(back.logics_msg_timestamp, 20_000);
        assert_eq!(back.min_timestamp(false), 17_000);
        assert_eq!(back.min_timestamp(true), 7_000);
        std::fs::write(&path, [0u8; 10]).unwrap();
        assert!(matches!(
            Checkpoint::open(&path).unwrap_err(),
            StoreError::WrongFileSize { actual: 10, .. }
        ));
    }

    #[test]
    fn abort_marker_detects_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let first = AbortMarker::create(dir.path()).unwrap();
        assert!(!first.was_present());
        drop(first); // a crash: never cleared
        let second = AbortMarker::create(dir.path()).unwrap();
        assert!(second.was_present());
        second.clear().unwrap();
        assert!(!dir.path().join("abort").exists());
        assert!(!AbortMarker::create(dir.path()).unwrap().was_present());
    }

    #[test]
    fn second_lock_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let held = StoreLock::acquire(dir.path()).unwrap();
        let err = StoreLock::acquire(dir.path()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Locked { path } if path.ends_with("lock")),
            "{err}"
        );
        drop(held);
        StoreLock::acquire(dir.path()).unwrap();
    }
}
