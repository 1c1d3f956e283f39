//! Test seams and crash images shared by the store's integration tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ferrimq_store::seam::FileSeam;

/// Records, per file, the prefix reported durable, and can fail syncs on demand.
#[derive(Debug, Default)]
pub struct RecordingSeam {
    durable: Mutex<HashMap<PathBuf, u64>>,
    /// When set, every sync fails with EIO.
    pub fail_syncs: AtomicBool,
    /// Syncs attempted (including failed ones).
    pub sync_attempts: AtomicUsize,
}

impl FileSeam for RecordingSeam {
    fn before_sync(&self, path: &Path) -> io::Result<()> {
        self.sync_attempts.fetch_add(1, Ordering::SeqCst);
        if self.fail_syncs.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc_eio()));
        }
        let _ = path;
        Ok(())
    }

    fn synced(&self, path: &Path, durable_to: u64) {
        let mut m = self.durable.lock().unwrap();
        let e = m.entry(path.to_path_buf()).or_insert(0);
        *e = (*e).max(durable_to);
    }

    fn created(&self, path: &Path) {
        self.durable
            .lock()
            .unwrap()
            .entry(path.to_path_buf())
            .or_insert(0);
    }
}

fn libc_eio() -> i32 {
    5
}

impl RecordingSeam {
    /// Durable prefix of `path` (0 for a file created but never synced).
    pub fn watermark(&self, path: &Path) -> u64 {
        self.durable.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// What to put past the durable watermark in a crash image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The never-synced bytes read back as zeros.
    Zeros,
    /// The never-synced bytes are garbage.
    Garbage,
}

/// Durable prefix per file at one instant.
pub type Watermarks = HashMap<PathBuf, u64>;

impl RecordingSeam {
    /// The durable prefixes right now: "the machine loses power at this instant".
    pub fn snapshot(&self) -> Watermarks {
        self.durable.lock().unwrap().clone()
    }
}

/// Overwrites `bytes[from..]` as `lost` says.
pub fn spoil(bytes: &mut [u8], from: usize, lost: Lost) {
    for (i, b) in bytes.iter_mut().enumerate().skip(from) {
        *b = match lost {
            Lost::Zeros => 0,
            Lost::Garbage => (i as u8).wrapping_mul(31).wrapping_add(7) | 0x41,
        };
    }
}

/// Copies the store directory `src` to `dst`, then makes `dst/commitlog` what a power loss at
/// `marks` leaves: bytes past each file's durable prefix replaced as `lost` says, files
/// unknown to `marks` (created later) removed. `marks` is keyed by the paths under `src`.
pub fn crash_image(src: &Path, dst: &Path, marks: &Watermarks, lost: Lost) {
    copy_dir(src, dst);
    let cl = dst.join("commitlog");
    for entry in std::fs::read_dir(&cl).unwrap() {
        let path = entry.unwrap().path();
        let original = src.join("commitlog").join(path.file_name().unwrap());
        let Some(wm) = marks.get(&original) else {
            std::fs::remove_file(&path).unwrap();
            continue;
        };
        let mut bytes = std::fs::read(&path).unwrap();
        spoil(&mut bytes, *wm as usize, lost);
        std::fs::write(&path, bytes).unwrap();
    }
}

/// The global offset below which every CommitLog byte is durable in `marks`.
pub fn durable_end(src: &Path, marks: &Watermarks, file_size: u64) -> u64 {
    let mut files: Vec<(u64, u64)> = marks
        .iter()
        .filter(|(p, _)| p.parent() == Some(&src.join("commitlog")))
        .map(|(p, wm)| {
            (
                p.file_name().unwrap().to_str().unwrap().parse().unwrap(),
                *wm,
            )
        })
        .collect();
    files.sort();
    let mut end = 0;
    for (base, wm) in files {
        end = base + wm;
        if wm < file_size {
            break;
        }
    }
    end
}

/// Recursive copy of a directory of regular files.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}
