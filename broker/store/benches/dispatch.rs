//! Dispatch throughput (a plain binary, not a timed test). Prints:
//! 1. one writer appending 1 KB messages (ASYNC_FLUSH, TAGS + KEYS + UNIQ_KEY, 16 queues)
//!    while the dispatcher builds ConsumeQueues and the index: append rate, dispatch rate, and
//!    how far dispatch lags when the writer stops;
//! 2. the same CommitLog re-dispatched from scratch at open (ConsumeQueues and index deleted):
//!    dispatch rate alone.
//!
//! Run: `cargo bench -p ferrimq-store --bench dispatch`. Knobs (env): `BENCH_DIR` (default: a
//! temp dir), `DISPATCH_COUNT` (1,000,000).

use std::path::Path;
use std::time::{Duration, Instant};

use ferrimq_store::record::MessageRecord;
use ferrimq_store::store::{MessageStore, StoreConfig};

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(root);
    c.mapped_file_size_commit_log = 256 << 20;
    c
}

fn messages() -> Vec<MessageRecord> {
    (0..16)
        .map(|q| {
            MessageRecord::builder("BenchTopic", vec![b'd'; 1024])
                .queue_id(q)
                .born_host("127.0.0.1:50000".parse().unwrap())
                .store_host("127.0.0.1:10911".parse().unwrap())
                .property("TAGS", ["TagA", "TagB"][q as usize % 2])
                .property("KEYS", format!("order-{q}"))
                .property("UNIQ_KEY", format!("7F00000100002A9F00000000000000{q:02X}"))
                .build()
                .unwrap()
        })
        .collect()
}

/// CPU seconds (user + system) used so far by the thread named `name` of this process, or by
/// the whole process when `name` is `None` (from /proc; 0 when unavailable).
fn cpu_secs(name: Option<&str>) -> f64 {
    let ticks = |stat: &str| -> u64 {
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let f: Vec<&str> = after.split_whitespace().collect();
        f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
    };
    let Some(name) = name else {
        return ticks(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default()) as f64
            / 100.0;
    };
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .map(|t| ticks(&std::fs::read_to_string(t.path().join("stat")).unwrap_or_default()))
        .sum::<u64>() as f64
        / 100.0
}

fn live(root: &Path, n: u64) -> u64 {
    let store = MessageStore::open(config(root)).unwrap();
    let msgs = messages();
    let start = Instant::now();
    let mut end = 0;
    for i in 0..n {
        let r = store.append(&msgs[i as usize % msgs.len()]).unwrap();
        end = r.physical_offset + r.size as u64;
    }
    let appended = start.elapsed().as_secs_f64();
    let lag_bytes = end - store.dispatched_offset();
    assert!(store.wait_dispatched(end, Duration::from_secs(600)));
    let dispatched = start.elapsed().as_secs_f64();
    let dispatch_cpu = cpu_secs(Some("store-dispatch"));
    println!(
        "live       : {n} appends of 1 KB in {appended:.2} s = {:.0} appends/s; all dispatched after {dispatched:.2} s = {:.0} msgs/s; lag when the writer stopped: {lag_bytes} B ({:.0} msgs)",
        n as f64 / appended,
        n as f64 / dispatched,
        lag_bytes as f64 / (end as f64 / n as f64),
    );
    println!(
        "             dispatcher thread CPU: {dispatch_cpu:.2} s = {:.0} msgs per CPU-second",
        n as f64 / dispatch_cpu
    );
    assert_eq!(store.max_offset_in_queue("BenchTopic", 0), n.div_ceil(16));
    store.shutdown().unwrap();
    end
}

fn rebuild(root: &Path, n: u64, end: u64) {
    std::fs::remove_dir_all(root.join("consumequeue")).unwrap();
    std::fs::remove_dir_all(root.join("index")).unwrap();
    let (start, cpu0) = (Instant::now(), cpu_secs(None));
    let store = MessageStore::open(config(root)).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_secs(None) - cpu0;
    let rep = store.open_report();
    assert_eq!((rep.redispatched_from, rep.redispatched_to), (0, end));
    println!(
        "rebuild    : re-dispatched {n} messages ({:.0} MB) at open in {secs:.2} s = {:.0} msgs/s ({cpu:.2} CPU-s = {:.0} msgs per CPU-second)",
        end as f64 / 1e6,
        n as f64 / secs,
        n as f64 / cpu,
    );
    store.shutdown().unwrap();
}

fn main() {
    let n: u64 = std::env::var("DISPATCH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let base = std::env::var("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(base).unwrap();
    let end = live(dir.path(), n);
    rebuild(dir.path(), n, end);
}
