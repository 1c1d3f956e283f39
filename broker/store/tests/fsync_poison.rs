//! A failed fsync poisons the CommitLog: every waiter gets the error, every later append is
//! refused with `Poisoned` naming the file and the cause, and nothing is acknowledged again.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferrimq_store::StoreError;
use ferrimq_store::commitlog::{CommitLog, CommitLogConfig, RecoveryMode};
use ferrimq_store::flush::{FlushPolicy, FlushStatus};
use ferrimq_store::record::MessageRecord;
use support::RecordingSeam;

fn open(dir: &Path, flush: FlushPolicy, seam: Arc<RecordingSeam>) -> CommitLog {
    let config = CommitLogConfig {
        file_size: 64 * 1024,
        max_message_size: 16 * 1024,
        flush,
        ..CommitLogConfig::new(dir.join("commitlog"))
    };
    CommitLog::open(config, seam, RecoveryMode::Normal)
        .unwrap()
        .0
}

fn msg(i: usize) -> MessageRecord {
    MessageRecord::builder("PoisonTopic", vec![i as u8; 500])
        .build()
        .unwrap()
}

fn assert_poisoned(err: &StoreError) {
    match err {
        StoreError::Poisoned { path, reason } => {
            assert!(
                path.starts_with(path.parent().unwrap()),
                "{}",
                path.display()
            );
            assert_eq!(path.file_name().unwrap(), "00000000000000000000");
            assert!(reason.contains("Input/output error"), "{reason}");
        }
        other => panic!("expected Poisoned, got {other}"),
    }
}

#[test]
fn sync_flush_waiters_get_the_error_and_later_appends_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let seam = Arc::new(RecordingSeam::default());
    let log = Arc::new(open(dir.path(), FlushPolicy::SYNC_DEFAULT, seam.clone()));
    let ok = log.append(&msg(0)).unwrap();
    assert_eq!(ok.flush.unwrap().wait().unwrap(), FlushStatus::Durable);
    let durable = log.flushed_offset();

    seam.fail_syncs.store(true, Ordering::SeqCst);
    let waiters: Vec<_> = (0..8)
        .map(|i| {
            let log = log.clone();
            std::thread::spawn(move || match log.append(&msg(i)) {
                Ok(put) => put.flush.unwrap().wait(),
                Err(e) => Err(e),
            })
        })
        .collect();
    for w in waiters {
        let err = w.join().unwrap().unwrap_err();
        assert_poisoned(&err);
    }
    assert!(log.is_poisoned());
    // Even once the disk "recovers", the store keeps refusing: acknowledged-ness is lost.
    seam.fail_syncs.store(false, Ordering::SeqCst);
    let attempts = seam.sync_attempts.load(Ordering::SeqCst);
    let max = log.max_offset();
    assert_poisoned(&log.append(&msg(99)).unwrap_err());
    assert_poisoned(&log.append_batch(&[msg(1)]).unwrap_err());
    assert_poisoned(&log.flush_all().unwrap_err());
    assert_eq!(log.max_offset(), max, "nothing appended after poisoning");
    assert_eq!(
        log.flushed_offset(),
        durable,
        "the failed sync did not move the durable offset"
    );
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(
        seam.sync_attempts.load(Ordering::SeqCst),
        attempts,
        "no further syncs"
    );
    assert_poisoned(&log.shutdown().unwrap_err());
}

#[test]
fn async_flush_failure_poisons_too() {
    let dir = tempfile::tempdir().unwrap();
    let seam = Arc::new(RecordingSeam::default());
    let policy = FlushPolicy::Async {
        interval: Duration::from_millis(5),
        min_pages: 0,
        thorough_interval: Duration::from_secs(10),
    };
    let log = open(dir.path(), policy, seam.clone());
    seam.fail_syncs.store(true, Ordering::SeqCst);
    let put = log.append(&msg(1)).unwrap();
    assert!(put.flush.is_none());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !log.is_poisoned() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        log.is_poisoned(),
        "the periodic flush failed and poisoned the store"
    );
    assert_poisoned(&log.append(&msg(2)).unwrap_err());
}
