//! The index builder: a second background thread that follows the dispatcher and writes the
//! index entries (KEYS, UNIQ_KEY) of what the dispatcher has already put in ConsumeQueues.
//!
//! Why a thread of its own: every key lands in a random hash-slot page of a large memory-mapped
//! index file, and on a busy disk the page fault behind such a write can block for hundreds of
//! milliseconds (measured: 262 ms and 778 ms for a single record while other processes wrote to
//! the same disk). On the dispatcher thread those stalls held back ConsumeQueue writes and the
//! arrival notifications that answer long-polling pulls, so consumers stalled while sends stayed
//! fast. Here they only delay key queries. Crash recovery is unaffected: it derives the index's
//! redo point on its own (`IndexService::recover`) and re-dispatches synchronously.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{BATCH_RECORDS, ERROR_BACKOFF, Picked, Progress, index_one};
use crate::commitlog::CommitLog;
use crate::error::{Result, StoreError};
use crate::index::IndexService;
use crate::record::MessageView;

/// Longest wait for the dispatcher before re-checking the stop flag.
const IDLE_WAIT: Duration = Duration::from_millis(50);
/// Pause between passes while the dispatcher keeps advancing: the index only serves key
/// queries, so it follows in steps instead of being woken after every dispatched batch.
const BUSY_NAP: Duration = Duration::from_millis(2);

/// Handle on the index thread.
pub(super) struct Indexer {
    indexed: Arc<Progress>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the index thread reads and writes.
struct IndexWork {
    log: Arc<CommitLog>,
    index: Arc<IndexService>,
    /// The dispatcher's progress: the index never runs ahead of it.
    dispatched: Arc<Progress>,
    indexed: Arc<Progress>,
    stop: Arc<AtomicBool>,
}

impl Indexer {
    /// Starts indexing from `from`, following `dispatched`.
    pub(super) fn start(
        from: u64,
        log: Arc<CommitLog>,
        index: Arc<IndexService>,
        dispatched: Arc<Progress>,
    ) -> Result<Self> {
        let indexed = Arc::new(Progress::at(from));
        let stop = Arc::new(AtomicBool::new(false));
        let work = IndexWork {
            log,
            index,
            dispatched,
            indexed: indexed.clone(),
            stop: stop.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("store-index".into())
            .spawn(move || run(work, from))
            .map_err(|e| StoreError::io("store-index thread", e))?;
        Ok(Indexer {
            indexed,
            stop,
            thread: Mutex::new(Some(handle)),
        })
    }

    /// Blocks until records up to `offset` are indexed or `deadline` passes.
    pub(super) fn wait_indexed(&self, offset: u64, deadline: Instant) -> bool {
        self.indexed.wait_for(offset, deadline)
    }

    /// Indexes everything dispatched so far, then stops. Call after the dispatcher thread ended.
    pub(super) fn shutdown(&self, dispatched: &Progress) {
        self.stop.store(true, Ordering::Release);
        dispatched.nudge();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

fn run(work: IndexWork, mut from: u64) {
    // True while the last pass found records: then nap instead of waiting to be woken.
    let mut busy = false;
    loop {
        let stopping = work.stop.load(Ordering::Acquire);
        let target = if busy {
            work.dispatched.get()
        } else {
            work.dispatched.wait_past(from, IDLE_WAIT)
        };
        from = from.max(work.log.min_offset());
        if target <= from {
            if stopping {
                return;
            }
            if std::mem::take(&mut busy) {
                std::thread::sleep(BUSY_NAP);
            }
            continue;
        }
        match index_batch(&work, from, target) {
            Ok(next) => {
                from = next;
                busy = true;
                work.indexed.publish(from);
            }
            Err(e) => {
                tracing::error!(error = %e, offset = from, "indexing failed; retrying");
                if stopping {
                    return;
                }
                std::thread::sleep(ERROR_BACKOFF);
            }
        }
    }
}

/// Indexes up to [`BATCH_RECORDS`] records from `from`, stopping at `target`; returns the next
/// offset.
fn index_batch(work: &IndexWork, from: u64, target: u64) -> Result<u64> {
    let mut cursor = work.log.cursor(from);
    let mut records = 0;
    while records < BATCH_RECORDS && cursor.offset() < target {
        let Some(rec) = cursor.next_record()? else {
            break;
        };
        let view = MessageView::new(&rec.bytes)
            .map_err(|e| StoreError::corrupt("commitlog", rec.offset, e.to_string()))?;
        let picked = Picked::from_properties(view.properties_str());
        index_one(&work.index, view.topic(), &picked, rec.offset, &view)?;
        records += 1;
    }
    Ok(cursor.offset())
}
