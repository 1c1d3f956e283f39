//! Cleanup with an injected clock and disk probe: by time at the deleteWhen hour, by disk
//! ratio, queues and index trimmed in step, held readers keep their bytes, the file being
//! written is never deleted, and a nearly full disk refuses appends.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use ferrimq_store::StoreError;
use ferrimq_store::cleanup::{Clock, DiskUsageProbe};
use ferrimq_store::read::{AcceptAll, GetMessageStatus as S};
use ferrimq_store::record::MessageRecord;
use ferrimq_store::store::{MessageStore, StoreConfig, StoreHooks};

/// 2030-01-01T04:30:00Z: inside the default deleteWhen hour "04".
const AT_FOUR: i64 = 1_893_472_200_000;
const HOUR: i64 = 3_600_000;

#[derive(Debug)]
struct FakeClock(AtomicI64);
impl Clock for FakeClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Used ratio in per-mille.
#[derive(Debug)]
struct FakeDisk(AtomicU64);
impl DiskUsageProbe for FakeDisk {
    fn used_ratio(&self, _: &Path) -> Option<f64> {
        Some(self.0.load(Ordering::SeqCst) as f64 / 1000.0)
    }
}

struct Rig {
    store: MessageStore,
    clock: Arc<FakeClock>,
    disk: Arc<FakeDisk>,
    end: u64,
}

fn rig(dir: &Path, messages: usize) -> Rig {
    let mut c = StoreConfig::new(dir);
    c.mapped_file_size_commit_log = 8 * 1024;
    c.max_message_size = 2 * 1024;
    c.mapped_file_size_consume_queue = 10 * 20;
    c.max_hash_slot_num = 16;
    c.max_index_num = 20;
    c.preallocate_commit_log = false;
    let clock = Arc::new(FakeClock(AtomicI64::new(AT_FOUR + HOUR)));
    let disk = Arc::new(FakeDisk(AtomicU64::new(500)));
    let hooks = StoreHooks {
        clock: clock.clone(),
        disk: disk.clone(),
        ..StoreHooks::default()
    };
    let store = MessageStore::open_with(c, hooks).unwrap();
    let mut end = 0;
    for i in 0..messages {
        let m = MessageRecord::builder("Clean", vec![b'x'; 500])
            .queue_id((i % 2) as i32)
            .property("KEYS", format!("k{i}"))
            .build()
            .unwrap();
        let r = store.append(&m).unwrap();
        end = r.physical_offset + r.size as u64;
    }
    assert!(store.wait_dispatched(end, Duration::from_secs(10)));
    Rig {
        store,
        clock,
        disk,
        end,
    }
}

/// Sets the mtime of every CommitLog file: the first `old` files 100 h before the fake clock's
/// delete hour, the rest 1 h before it.
fn age_files(r: &Rig, old: usize) {
    for (i, f) in r.store.commit_log().mapped_files().iter().enumerate() {
        let age = if i < old { 100 * HOUR } else { HOUR };
        let t = UNIX_EPOCH + Duration::from_millis((AT_FOUR - age) as u64);
        std::fs::File::options()
            .write(true)
            .open(f.path())
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
}

fn file_count(r: &Rig) -> usize {
    r.store.commit_log().mapped_files().len()
}

#[test]
fn expired_files_go_only_at_the_delete_hour_and_queues_follow() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(dir.path(), 100);
    let files = file_count(&r);
    assert!(files >= 6, "{files} files");
    age_files(&r, 3);
    let report = r.store.clean_now().unwrap();
    assert!(
        report.commit_log_files.is_empty(),
        "05:30 is not a delete hour"
    );
    r.clock.0.store(AT_FOUR, Ordering::SeqCst);
    let report = r.store.clean_now().unwrap();
    assert_eq!(report.commit_log_files.len(), 3, "only the expired ones");
    assert_eq!(file_count(&r), files - 3);
    let min = r.store.commit_log_min_offset();
    assert_eq!(min, 3 * 8 * 1024);
    assert!(
        report.consume_queue_files > 0 && report.index_files > 0,
        "{report:?}"
    );
    for q in 0..2 {
        let qmin = r.store.min_offset_in_queue("Clean", q);
        let res = r.store.get_message("Clean", q, qmin, 1, None, &AcceptAll);
        assert_eq!(res.status, S::Found);
        let off = ferrimq_store::record::MessageView::new(&res.messages[0])
            .unwrap()
            .physical_offset();
        assert!(
            off as u64 >= min,
            "queue min points into the remaining CommitLog"
        );
        let below = r.store.get_message("Clean", q, 0, 1, None, &AcceptAll);
        assert_eq!(
            (below.status, below.next_begin_offset),
            (S::OffsetTooSmall, qmin)
        );
    }
    let q = r.store.query_message("Clean", "k99", 32, 0, i64::MAX);
    assert_eq!(q.messages.len(), 1, "index of live data kept");
    let again = r.store.clean_now().unwrap();
    assert!(again.commit_log_files.is_empty(), "the rest is not expired");
}

#[test]
fn disk_usage_above_the_max_ratio_deletes_expired_files_at_any_hour() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(dir.path(), 100);
    let files = file_count(&r);
    age_files(&r, 2);
    r.disk.0.store(800, Ordering::SeqCst); // 80% > diskMaxUsedSpaceRatio 75, clock at 05:30
    let report = r.store.clean_now().unwrap();
    assert_eq!(
        report.commit_log_files.len(),
        2,
        "expired ones only, below the forcibly ratio"
    );
    assert_eq!(file_count(&r), files - 2);
    assert!(r.store.clean_now().unwrap().commit_log_files.is_empty());
}

#[test]
fn disk_usage_above_the_forcibly_ratio_deletes_unexpired_files_but_never_the_writing_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(dir.path(), 100);
    let files = file_count(&r);
    age_files(&r, 0);
    r.disk.0.store(860, Ordering::SeqCst); // 86% > diskSpaceCleanForciblyRatio 85
    let report = r.store.clean_now().unwrap();
    assert_eq!(
        report.commit_log_files.len(),
        (files - 1).min(10),
        "a batch of at most 10"
    );
    while !r.store.clean_now().unwrap().commit_log_files.is_empty() {}
    let left = r.store.commit_log().mapped_files();
    assert_eq!(left.len(), 1, "the file being written stays");
    assert!(left[0].base_offset() < r.end && r.end <= left[0].base_offset() + 8 * 1024);
    let m = MessageRecord::builder("Clean", &b"after"[..])
        .build()
        .unwrap();
    r.store.append(&m).unwrap();
}

#[test]
fn a_nearly_full_disk_refuses_appends_until_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(dir.path(), 10);
    r.disk.0.store(950, Ordering::SeqCst);
    r.store.clean_now().unwrap();
    let m = MessageRecord::builder("Clean", &b"x"[..]).build().unwrap();
    let err = r.store.append(&m).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DiskUsageTooHigh {
                used_percent: 95,
                limit_percent: 90,
                ..
            }
        ),
        "{err}"
    );
    r.disk.0.store(870, Ordering::SeqCst);
    r.store.clean_now().unwrap();
    assert!(
        r.store.append(&m).is_err(),
        "between 85% and 90% the flag keeps its state"
    );
    r.disk.0.store(600, Ordering::SeqCst);
    r.store.clean_now().unwrap();
    r.store.append(&m).unwrap();
}

#[test]
fn a_held_reader_keeps_deleted_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(dir.path(), 60);
    let held = r.store.get_message("Clean", 0, 0, 1, None, &AcceptAll);
    assert_eq!(held.status, S::Found);
    let first = r.store.commit_log().mapped_files()[0].path().to_path_buf();
    let copy = held.messages[0].to_vec();
    age_files(&r, 2);
    r.clock.0.store(AT_FOUR, Ordering::SeqCst);
    let report = r.store.clean_now().unwrap();
    assert_eq!(report.commit_log_files[0], first);
    assert!(first.exists(), "still mapped by the held response");
    assert_eq!(held.messages[0].to_vec(), copy);
    drop(held);
    assert!(!first.exists(), "unlinked once the reader is gone");
}
