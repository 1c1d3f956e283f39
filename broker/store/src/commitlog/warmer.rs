//! Runs ahead of the writer and pre-faults the next few megabytes of the CommitLog; once a
//! quarter second, releases this process's mapping of pages far behind it.
//!
//! The first write to each page of a fresh mapped file costs a page fault plus the kernel
//! zero-filling the page, which dominates the append path for 1 KB messages. This thread does
//! that work for a window ahead of the write position on the other core, so the appending
//! thread mostly finds its pages mapped. It never blocks the writer: it only reads the write
//! position, and when it falls behind it skips ahead.
//!
//! Behind the writer, pages stay mapped after they were written, so resident memory (VmRSS) would
//! grow with everything the broker ever wrote or served. Once flushed and more than [`KEEP`]
//! behind the writer they are released ([`MappedFile::release`]): they stay in the page cache,
//! which is where consumers read them from, and a read maps a page again with a minor fault. The
//! recent tail, which caught-up consumers read, stays mapped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::mapped_file_queue::MappedFileQueue;
use crate::flush::FlushTarget;

/// Bytes pre-faulted ahead of the write position.
const WINDOW: u64 = 32 << 20;
/// Bytes pre-faulted per call.
const CHUNK: u64 = 2 << 20;
/// Bytes behind the writer that stay mapped.
const KEEP: u64 = 16 << 20;
/// Time between two release passes.
const RELEASE_EVERY: Duration = Duration::from_millis(250);

/// Handle of the warmer thread; stops it on drop.
#[derive(Debug)]
pub(super) struct Warmer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    write_pos: AtomicU64,
    stop: AtomicBool,
}

impl Warmer {
    /// Starts warming `files` from `start`.
    pub(super) fn start(files: Weak<MappedFileQueue>, start: u64) -> Self {
        let shared = Arc::new(Shared {
            write_pos: AtomicU64::new(start),
            stop: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("cl-warmer".into())
            .spawn(move || run(&s, &files))
            .ok();
        Warmer { shared, thread }
    }

    /// Tells the warmer where the writer is (cheap: one relaxed store).
    pub(super) fn writer_at(&self, offset: u64) {
        self.shared.write_pos.store(offset, Ordering::Relaxed);
    }
}

impl Drop for Warmer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(s: &Shared, files: &Weak<MappedFileQueue>) {
    let mut warmed = s.write_pos.load(Ordering::Relaxed);
    let mut prefault = true;
    let mut next_release = Instant::now() + RELEASE_EVERY;
    while !s.stop.load(Ordering::Acquire) {
        let Some(queue) = files.upgrade() else { return };
        let writer = s.write_pos.load(Ordering::Relaxed);
        if Instant::now() >= next_release {
            release_behind(&queue, writer);
            next_release = Instant::now() + RELEASE_EVERY;
        }
        warmed = warmed.max(writer);
        let file = (prefault && warmed < writer + WINDOW)
            .then(|| queue.find(warmed))
            .flatten();
        drop(queue);
        let Some(file) = file else {
            // Far enough ahead, the next file does not exist yet, or no prefaulting here.
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let pos = warmed - file.base_offset();
        let len = CHUNK.min(file.size() as u64 - pos);
        // An unsupported kernel: nothing to gain from prefaulting, keep only releasing.
        prefault = file.prefault(pos as usize, len as usize);
        warmed += len;
    }
}

/// Releases the mapping of every flushed page more than [`KEEP`] behind `writer`.
fn release_behind(queue: &MappedFileQueue, writer: u64) {
    let end = queue.flushed_offset().min(writer.saturating_sub(KEEP));
    for file in queue.files() {
        let base = file.base_offset();
        if base >= end {
            break;
        }
        let len = (end - base).min(file.size() as u64);
        file.release(0, len as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = status
            .lines()
            .find(|l| l.starts_with("RssFile:"))
            .expect("RssFile line");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn flushed_pages_far_behind_the_writer_are_released_and_still_readable() {
        let dir = tempfile::tempdir().unwrap();
        let size = 128 << 20;
        let seam = crate::seam::real_files();
        let queue = MappedFileQueue::load(dir.path(), size, seam, false).unwrap();
        let file = queue.create_next(0).unwrap();
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..100 {
            file.append(&chunk).expect("room");
        }
        queue.flush(0).unwrap();
        let before = resident_kib();
        release_behind(&queue, 100 << 20);
        let after = resident_kib();
        // 100 MiB written, all but the last 16 MiB released: at least ~84 MiB fewer pages.
        assert!(
            before.saturating_sub(after) >= 64 * 1024,
            "RssFile {before} KiB -> {after} KiB"
        );
        assert_eq!(file.read(5 << 20, 16), Some(&[7u8; 16][..]));
    }
}
