//! CommitLog append and recovery benchmark (a plain binary, not a timed test). Prints:
//! 1. ASYNC_FLUSH, one writer, 1 KB bodies: appends/s (target >= 800,000), two passes;
//! 2. SYNC_FLUSH, 64 writer threads each waiting for its group commit: appends/s (>= 100,000);
//!    then the same load as the server makes it: 64 tokio tasks awaiting the `FlushWait` future
//!    (current_thread runtime, then 2 workers); `sync-tasks` runs only those;
//! 3. restart after a crash with 4 GiB of CommitLog: time to recover (< 3 s), from the
//!    checkpoint and, for reference, rescanning everything.
//!
//! Run: `cargo bench -p ferrimq-store --bench append`. Knobs (env): `BENCH_DIR` (default: a
//! temp dir), `ASYNC_COUNT` (2,000,000), `SYNC_SECS` (5), `RECOVER_GIB` (4), `PREFAULT` (0; 1
//! turns on the background pre-faulting, `CommitLogConfig::prefault_ahead`, in every
//! variant), `SYNC_SETTLE` (1 s of settling after the first SYNC_FLUSH append).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferrimq_store::checkpoint::CheckpointData;
use ferrimq_store::commitlog::{CommitLog, CommitLogConfig, RecoveryMode};
use ferrimq_store::flush::{FlushPolicy, FlushStatus};
use ferrimq_store::record::MessageRecord;
use ferrimq_store::seam::{FileSeam, real_files};

/// Counts syncs, to report how many appends each group commit covered.
#[derive(Debug, Default)]
struct SyncCounter(AtomicU64);

impl FileSeam for SyncCounter {
    fn synced(&self, _path: &Path, _durable_to: u64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn message() -> MessageRecord {
    MessageRecord::builder("BenchTopic", vec![b'm'; 1024])
        .queue_id(3)
        .born_host("127.0.0.1:50000".parse().unwrap())
        .store_host("127.0.0.1:10911".parse().unwrap())
        .property("TAGS", "TagA")
        .property("UNIQ_KEY", "7F00000100002A9F0000000000000000")
        .build()
        .unwrap()
}

fn open(dir: &Path, flush: FlushPolicy, mode: RecoveryMode) -> CommitLog {
    let (log, _) = CommitLog::open(
        CommitLogConfig {
            flush,
            prefault_ahead: env_or("PREFAULT", 0) == 1,
            ..CommitLogConfig::new(dir.join("commitlog"))
        },
        real_files(),
        mode,
    )
    .expect("open commit log");
    log
}

fn bench_async(root: &Path, pass: &str) {
    let dir = tempfile::tempdir_in(root).unwrap();
    let log = open(dir.path(), FlushPolicy::ASYNC_DEFAULT, RecoveryMode::Normal);
    let msg = message();
    let n = env_or("ASYNC_COUNT", 2_000_000);
    let start = Instant::now();
    for _ in 0..n {
        log.append(&msg).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "async_flush  1 writer ({pass}): {n} appends of {} B in {secs:.2} s = {:.0} appends/s \
         ({:.0} MB/s)",
        msg.encoded_len(),
        n as f64 / secs,
        (n as f64 * msg.encoded_len() as f64) / secs / 1e6
    );
    log.shutdown().unwrap();
}

/// A SYNC_FLUSH CommitLog in `dir`, counting syncs.
fn open_sync(dir: &Path) -> (Arc<CommitLog>, Arc<SyncCounter>) {
    let syncs = Arc::new(SyncCounter::default());
    let config = CommitLogConfig {
        flush: FlushPolicy::SYNC_DEFAULT,
        prefault_ahead: env_or("PREFAULT", 0) == 1,
        ..CommitLogConfig::new(dir.join("commitlog"))
    };
    let log = CommitLog::open(config, syncs.clone(), RecoveryMode::Normal)
        .expect("open commit log")
        .0;
    // One append first, so the first file exists and the background pre-allocation of the
    // next one is under way; `SYNC_SETTLE` seconds (default 1) let it finish before timing.
    let put = log.append(&message()).unwrap();
    assert_eq!(put.flush.unwrap().wait().unwrap(), FlushStatus::Durable);
    std::thread::sleep(Duration::from_secs(env_or("SYNC_SETTLE", 1)));
    syncs.0.store(0, Ordering::Relaxed);
    (Arc::new(log), syncs)
}

fn report_sync(label: &str, n: u64, timed_out: u64, syncs: &SyncCounter, elapsed: f64) {
    let syncs = syncs.0.load(Ordering::Relaxed).max(1);
    println!(
        "sync_flush  {label}: {n} durable appends in {elapsed:.2} s = {:.0} appends/s \
         ({timed_out} timed out; {syncs} syncs, {:.1} appends/sync, {:.2} ms/sync)",
        n as f64 / elapsed,
        n as f64 / syncs as f64,
        elapsed * 1000.0 / syncs as f64,
    );
}

fn bench_sync(root: &Path) {
    let dir = tempfile::tempdir_in(root).unwrap();
    let (log, syncs) = open_sync(dir.path());
    let secs = env_or("SYNC_SECS", 5);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let timed_out = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let (log, stop, done, timed_out) =
                (log.clone(), stop.clone(), done.clone(), timed_out.clone());
            std::thread::spawn(move || {
                let msg = message();
                while !stop.load(Ordering::Relaxed) {
                    let put = log.append(&msg).unwrap();
                    match put.flush.unwrap().wait().unwrap() {
                        FlushStatus::Durable => done.fetch_add(1, Ordering::Relaxed),
                        FlushStatus::TimedOut => timed_out.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (n, late) = (
        done.load(Ordering::Relaxed),
        timed_out.load(Ordering::Relaxed),
    );
    report_sync("64 writer threads", n, late, &syncs, elapsed);
    log.shutdown().unwrap();
}

/// SYNC_FLUSH as the server does it: 64 concurrent tasks on a tokio runtime, each appending
/// and awaiting its `FlushWait` future (no thread blocks on a condvar). `workers` = 0 is the
/// current-thread runtime.
fn bench_sync_tasks(root: &Path, workers: usize) {
    let dir = tempfile::tempdir_in(root).unwrap();
    let (log, syncs) = open_sync(dir.path());
    let secs = env_or("SYNC_SECS", 5);
    let runtime = match workers {
        0 => tokio::runtime::Builder::new_current_thread().build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .build(),
    }
    .unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let (n, late) = runtime.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let log = log.clone();
                tokio::spawn(async move {
                    let (msg, mut done, mut late) = (message(), 0u64, 0u64);
                    while Instant::now() < deadline {
                        let put = log.append(&msg).unwrap();
                        match put.flush.unwrap().await.unwrap() {
                            FlushStatus::Durable => done += 1,
                            FlushStatus::TimedOut => late += 1,
                        }
                    }
                    (done, late)
                })
            })
            .collect();
        let (mut n, mut late) = (0, 0);
        for t in tasks {
            let (d, l) = t.await.unwrap();
            (n, late) = (n + d, late + l);
        }
        (n, late)
    });
    let label = match workers {
        0 => "64 tokio tasks, current_thread".to_string(),
        n => format!("64 tokio tasks, {n} workers"),
    };
    report_sync(&label, n, late, &syncs, start.elapsed().as_secs_f64());
    log.shutdown().unwrap();
}

fn bench_recovery(root: &Path) {
    let dir = tempfile::tempdir_in(root).unwrap();
    let gib = env_or("RECOVER_GIB", 4);
    let log = open(dir.path(), FlushPolicy::ASYNC_DEFAULT, RecoveryMode::Normal);
    let msg = message();
    let target = gib << 30;
    let mut checkpoint = CheckpointData::default();
    while log.max_offset() < target {
        log.append(&msg).unwrap();
        // The broker refreshes the checkpoint about every second; take it near the end.
        if checkpoint.physic_msg_timestamp == 0 && log.max_offset() >= target - (256 << 20) {
            log.flush_all().unwrap();
            std::thread::sleep(Duration::from_millis(3100));
            checkpoint.physic_msg_timestamp = log.flushed_store_timestamp();
            checkpoint.logics_msg_timestamp = checkpoint.physic_msg_timestamp;
        }
    }
    log.flush_all().unwrap();
    let written = log.max_offset();
    drop(log); // a crash: no shutdown, the abort marker would still be there
    let mode = RecoveryMode::decide(true, &checkpoint, false);
    let start = Instant::now();
    let (log, outcome) = CommitLog::open(
        CommitLogConfig::new(dir.path().join("commitlog")),
        real_files(),
        mode,
    )
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(outcome.max_offset, written);
    println!(
        "recovery {gib} GiB (checkpoint): {secs:.3} s, scanned {} records from offset {}",
        outcome.records_scanned, outcome.scanned_from
    );
    drop(log);
    let start = Instant::now();
    let (_log, outcome) = CommitLog::open(
        CommitLogConfig::new(dir.path().join("commitlog")),
        real_files(),
        RecoveryMode::Abnormal {
            checkpoint_timestamp: 0,
        },
    )
    .unwrap();
    println!(
        "recovery {gib} GiB (no checkpoint, full rescan with CRC): {:.3} s, {} records",
        start.elapsed().as_secs_f64(),
        outcome.records_scanned
    );
}

fn main() {
    let root =
        std::env::var("BENCH_DIR").unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    let root = Path::new(&root);
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if run("async") {
        // The first pass touches page-cache memory the VM may not have backed yet (its cost
        // lands in the kernel's zero-fill); the second reuses the pages the first freed.
        bench_async(root, "first pass");
        bench_async(root, "second pass");
    }
    if run("sync") {
        bench_sync(root);
    }
    if run("sync") || run("sync-tasks") {
        bench_sync_tasks(root, 0);
        bench_sync_tasks(root, 2);
    }
    if run("recovery") {
        bench_recovery(root);
    }
}
