//! Runs ahead of the writer and pre-faults the next few megabytes of the CommitLog.
//!
//! The first write to each page of a fresh mapped file costs a page fault plus the kernel
//! zero-filling the page, which dominates the append path for 1 KB messages. This thread does
//! that work for a window ahead of the write position on the other core, so the appending
//! thread mostly finds its pages mapped. It never blocks the writer: it only reads the write
//! position, and when it falls behind it skips ahead.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::mapped_file_queue::MappedFileQueue;

/// Bytes pre-faulted ahead of the write position.
const WINDOW: u64 = 32 << 20;
/// Bytes pre-faulted per call.
const CHUNK: u64 = 2 << 20;

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
    while !s.stop.load(Ordering::Acquire) {
        let writer = s.write_pos.load(Ordering::Relaxed);
        warmed = warmed.max(writer);
        if warmed >= writer + WINDOW {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let Some(queue) = files.upgrade() else { return };
        let Some(file) = queue.find(warmed) else {
            // The next file does not exist yet.
            drop(queue);
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let pos = warmed - file.base_offset();
        let len = CHUNK.min(file.size() as u64 - pos);
        if !file.prefault(pos as usize, len as usize) {
            return; // unsupported kernel: nothing to gain
        }
        warmed += len;
    }
}
