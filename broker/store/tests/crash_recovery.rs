//! Recovery after a simulated power loss. A recording seam notes, per file, the prefix the
//! store reported durable; a crash image keeps exactly that prefix and replaces the rest with
//! zeros, garbage or a partial record. Every acknowledged SYNC_FLUSH append must survive, and
//! nothing after a torn record may be served.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrimq_store::checkpoint::{AbortMarker, Checkpoint};
use ferrimq_store::commitlog::{
    AppendResult, CommitLog, CommitLogConfig, RecoveryMode, RecoveryOutcome, TailState,
};
use ferrimq_store::flush::{FlushPolicy, FlushStatus};
use ferrimq_store::record::{MessageRecord, MessageView};
use ferrimq_store::seam::{SharedSeam, real_files};
use support::{Lost, RecordingSeam, crash_image, durable_end, spoil};

const FILE_SIZE: usize = 64 * 1024;
const NEVER: FlushPolicy = FlushPolicy::Async {
    interval: Duration::from_secs(3600),
    min_pages: 4,
    thorough_interval: Duration::from_secs(3600),
};

fn config(dir: &Path, flush: FlushPolicy, preallocate: bool) -> CommitLogConfig {
    CommitLogConfig {
        file_size: FILE_SIZE,
        max_message_size: 16 * 1024,
        flush,
        preallocate,
        ..CommitLogConfig::new(dir.join("commitlog"))
    }
}

fn open(
    dir: &Path,
    flush: FlushPolicy,
    seam: SharedSeam,
    mode: RecoveryMode,
) -> (CommitLog, RecoveryOutcome) {
    CommitLog::open(config(dir, flush, true), seam, mode).unwrap()
}

fn msg(id: &str, size: usize) -> MessageRecord {
    let mut body = id.as_bytes().to_vec();
    body.resize(size, b'x');
    MessageRecord::builder("CrashTopic", body)
        .property("UNIQ_KEY", id)
        .build()
        .unwrap()
}

const ABNORMAL: RecoveryMode = RecoveryMode::Abnormal {
    checkpoint_timestamp: 0,
};

/// Reopens `image` after a crash; returns the ids of every served record, by offset.
fn recover(image: &Path) -> (BTreeMap<u64, String>, RecoveryOutcome) {
    let (log, outcome) = open(image, NEVER, real_files(), ABNORMAL);
    let mut served = BTreeMap::new();
    for rec in log.cursor(log.min_offset()) {
        let rec = rec.unwrap();
        let v = MessageView::new(&rec.bytes).unwrap();
        served.insert(rec.offset, v.uniq_key().unwrap().to_owned());
    }
    assert_eq!(log.max_offset(), outcome.max_offset);
    (served, outcome)
}

#[test]
fn acknowledged_sync_appends_survive_a_power_loss_mid_flight() {
    let dir = tempfile::tempdir().unwrap();
    let seam = Arc::new(RecordingSeam::default());
    let (log, _) = open(
        dir.path(),
        FlushPolicy::SYNC_DEFAULT,
        seam.clone(),
        ABNORMAL,
    );
    let log = Arc::new(log);
    let ack_seq = Arc::new(AtomicU64::new(0));
    let acks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (log, ack_seq, acks) = (log.clone(), ack_seq.clone(), acks.clone());
            std::thread::spawn(move || {
                for i in 0..150 {
                    let id = format!("t{t}-{i}");
                    let put = log.append(&msg(&id, 200 + (i * 53) % 1500)).unwrap();
                    assert_eq!(put.flush.unwrap().wait().unwrap(), FlushStatus::Durable);
                    let seq = ack_seq.fetch_add(1, Ordering::SeqCst);
                    acks.lock().unwrap().push((seq, id, put.physical_offset));
                }
            })
        })
        .collect();
    // Power is lost while the writers are busy: acks counted before the snapshot must survive.
    // Wait for acks rather than a fixed time: fsync speed differs wildly between machines.
    while ack_seq.load(Ordering::SeqCst) < 40 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let acked_before = ack_seq.load(Ordering::SeqCst);
    let marks = seam.snapshot();
    for w in writers {
        w.join().unwrap();
    }
    let durable = durable_end(dir.path(), &marks, FILE_SIZE as u64);
    let must_survive: Vec<(String, u64)> = acks
        .lock()
        .unwrap()
        .iter()
        .filter(|(seq, _, _)| *seq < acked_before)
        .map(|(_, id, off)| (id.clone(), *off))
        .collect();
    assert!(!must_survive.is_empty());
    for lost in [Lost::Zeros, Lost::Garbage] {
        let image = tempfile::tempdir().unwrap();
        crash_image(dir.path(), image.path(), &marks, lost);
        let (served, outcome) = recover(image.path());
        assert_eq!(
            outcome.max_offset, durable,
            "{lost:?}: valid data ends at the durable prefix"
        );
        for (id, off) in &must_survive {
            assert_eq!(
                served.get(off),
                Some(id),
                "{lost:?}: acknowledged {id} lost"
            );
        }
        assert!(
            served.keys().all(|off| *off < durable),
            "nothing past the durable prefix"
        );
        if lost == Lost::Garbage && durable % FILE_SIZE as u64 != 0 {
            assert!(
                matches!(outcome.tail, TailState::Torn { offset, .. } if offset == durable),
                "{:?}",
                outcome.tail
            );
        }
    }
}

/// Appends `n` messages under ASYNC_FLUSH; returns their results.
fn append_n(log: &CommitLog, prefix: &str, n: usize, size: usize) -> Vec<(String, AppendResult)> {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}{i}");
            let put = log.append(&msg(&id, size + i * 7)).unwrap();
            (id, put)
        })
        .collect()
}

#[test]
fn crash_at_every_point_of_an_unflushed_tail() {
    let dir = tempfile::tempdir().unwrap();
    let seam = Arc::new(RecordingSeam::default());
    let (log, _) = open(dir.path(), NEVER, seam.clone(), ABNORMAL);
    let flushed = append_n(&log, "a", 12, 700);
    log.flush_all().unwrap();
    let marks = seam.snapshot();
    let durable = durable_end(dir.path(), &marks, FILE_SIZE as u64);
    assert_eq!(durable, log.max_offset());
    let unflushed = append_n(&log, "b", 6, 900);
    let ends: Vec<u64> = unflushed
        .iter()
        .map(|(_, p)| p.physical_offset + p.size as u64)
        .collect();
    let tail_end = *ends.last().unwrap();
    let file0 = dir.path().join("commitlog").join(format!("{:020}", 0));
    let full = std::fs::read(&file0).unwrap();
    let mut cut = durable;
    while cut <= tail_end {
        let lost = if cut % 2 == 0 {
            Lost::Zeros
        } else {
            Lost::Garbage
        };
        let image = tempfile::tempdir().unwrap();
        crash_image(dir.path(), image.path(), &marks, Lost::Zeros);
        // The first `cut - durable` unflushed bytes made it to disk, the rest did not.
        let mut bytes = full.clone();
        spoil(&mut bytes, cut as usize, lost);
        std::fs::write(
            image.path().join("commitlog").join(format!("{:020}", 0)),
            bytes,
        )
        .unwrap();
        let (served, outcome) = recover(image.path());
        let complete = ends.iter().filter(|e| **e <= cut).count();
        let expect_end = if complete == 0 {
            durable
        } else {
            ends[complete - 1]
        };
        assert_eq!(outcome.max_offset, expect_end, "cut at {cut}");
        let mut expected: BTreeMap<u64, String> = flushed
            .iter()
            .chain(&unflushed[..complete])
            .map(|(id, p)| (p.physical_offset, id.clone()))
            .collect();
        assert_eq!(served, std::mem::take(&mut expected), "cut at {cut}");
        let torn = cut != expect_end;
        assert_eq!(
            matches!(outcome.tail, TailState::Torn { .. }),
            torn,
            "cut at {cut}: {:?}",
            outcome.tail
        );
        cut += 97;
    }
}

#[test]
fn crash_at_a_file_seam() {
    let dir = tempfile::tempdir().unwrap();
    let seam = Arc::new(RecordingSeam::default());
    let log = CommitLog::open(config(dir.path(), NEVER, false), seam.clone(), ABNORMAL)
        .unwrap()
        .0;
    let mut acked = Vec::new();
    while log.max_offset() + 3000 < FILE_SIZE as u64 {
        acked.extend(append_n(&log, &format!("f{}-", acked.len()), 1, 2000));
    }
    log.flush_all().unwrap();
    let marks = seam.snapshot();
    let blank_at = log.max_offset();
    // This one does not fit: the blank marker closes file 0 and the record opens file 1.
    let (_, late) = append_n(&log, "late", 1, 4000).pop().unwrap();
    assert_eq!(late.physical_offset, FILE_SIZE as u64);
    let file1 = format!("{:020}", FILE_SIZE);
    let expected: BTreeMap<u64, String> = acked
        .iter()
        .map(|(id, p)| (p.physical_offset, id.clone()))
        .collect();

    // A: the blank marker is durable, file 1 was never created.
    let a = tempfile::tempdir().unwrap();
    support::copy_dir(dir.path(), a.path());
    std::fs::remove_file(a.path().join("commitlog").join(&file1)).unwrap();
    let (served, outcome) = recover(a.path());
    assert_eq!(
        (outcome.max_offset, outcome.tail.clone()),
        (FILE_SIZE as u64, TailState::FileEnd)
    );
    assert_eq!(served, expected);
    let (log_a, _) = open(a.path(), NEVER, real_files(), ABNORMAL);
    assert_eq!(
        log_a.append(&msg("next", 100)).unwrap().physical_offset,
        FILE_SIZE as u64
    );

    // B: the marker is durable, file 1 exists but none of its bytes are.
    let b = tempfile::tempdir().unwrap();
    support::copy_dir(dir.path(), b.path());
    std::fs::write(
        b.path().join("commitlog").join(&file1),
        vec![0u8; FILE_SIZE],
    )
    .unwrap();
    let (served, outcome) = recover(b.path());
    assert_eq!(
        (outcome.max_offset, outcome.tail),
        (FILE_SIZE as u64, TailState::Clean)
    );
    assert_eq!(served, expected);

    // C: neither the marker nor file 1 made it.
    let c = tempfile::tempdir().unwrap();
    crash_image(dir.path(), c.path(), &marks, Lost::Zeros);
    assert!(!c.path().join("commitlog").join(&file1).exists());
    let (served, outcome) = recover(c.path());
    assert_eq!(
        (outcome.max_offset, outcome.tail),
        (blank_at, TailState::Clean)
    );
    assert_eq!(served, expected);
}

/// Builds 4 full files and part of a 5th, with strictly increasing store timestamps.
fn four_files(dir: &Path) -> Vec<(u64, i64)> {
    let (log, _) = open(dir, NEVER, real_files(), ABNORMAL);
    let mut firsts = Vec::new();
    let mut i = 0;
    while log.max_offset() < 4 * FILE_SIZE as u64 + 5000 {
        std::thread::sleep(Duration::from_millis(2));
        let put = log.append(&msg(&format!("m{i}"), 3000)).unwrap();
        if put.physical_offset % FILE_SIZE as u64 == 0 {
            firsts.push((put.physical_offset, put.store_timestamp));
        }
        i += 1;
    }
    log.flush_all().unwrap();
    firsts
}

#[test]
fn the_checkpoint_sets_where_abnormal_recovery_starts() {
    let dir = tempfile::tempdir().unwrap();
    let firsts = four_files(dir.path());
    assert_eq!(firsts.len(), 5);
    // Before any checkpoint was written: the crash is detected, everything is rescanned.
    let abort = AbortMarker::create(dir.path()).unwrap();
    drop(abort);
    let abort = AbortMarker::create(dir.path()).unwrap();
    let cp = Checkpoint::open(&dir.path().join("checkpoint")).unwrap();
    let mode = RecoveryMode::decide(abort.was_present(), &cp.data(), false);
    assert_eq!(
        mode,
        RecoveryMode::Abnormal {
            checkpoint_timestamp: 0
        }
    );
    let (_, outcome) = recover_in(dir.path(), mode);
    assert_eq!(outcome.scanned_from, 0);
    let total = outcome.records_scanned;

    // After a checkpoint whose min timestamp (less 3 s) is file 2's first record: start there.
    cp.update(|d| {
        d.physic_msg_timestamp = firsts[2].1 + 3000;
        d.logics_msg_timestamp = firsts[2].1 + 3000;
        d.index_msg_timestamp = 0;
    });
    cp.flush().unwrap();
    let data = Checkpoint::open(&dir.path().join("checkpoint"))
        .unwrap()
        .data();
    let mode = RecoveryMode::decide(true, &data, false);
    let (_, outcome) = recover_in(dir.path(), mode);
    assert_eq!(outcome.scanned_from, 2 * FILE_SIZE as u64);
    assert!(outcome.records_scanned < total);
    assert_eq!(
        outcome.max_offset,
        recover_in(dir.path(), ABNORMAL).1.max_offset
    );
    // The index timestamp counts only when the index is kept.
    let mode = RecoveryMode::decide(true, &data, true);
    assert_eq!(recover_in(dir.path(), mode).1.scanned_from, 0);

    // A clean shutdown starts from the newest file holding a record.
    let (_, outcome) = recover_in(dir.path(), RecoveryMode::Normal);
    assert_eq!(outcome.scanned_from, 4 * FILE_SIZE as u64);

    // The newest file's first record is torn: walk back one file, and cut there.
    let last = dir
        .path()
        .join("commitlog")
        .join(format!("{:020}", 4 * FILE_SIZE));
    let mut bytes = std::fs::read(&last).unwrap();
    spoil(&mut bytes[..], 100, Lost::Garbage);
    std::fs::write(&last, bytes).unwrap();
    let far = RecoveryMode::Abnormal {
        checkpoint_timestamp: i64::MAX,
    };
    let (log, outcome) = recover_in(dir.path(), far);
    assert_eq!(outcome.scanned_from, 3 * FILE_SIZE as u64);
    assert_eq!(outcome.max_offset, 4 * FILE_SIZE as u64);
    assert!(
        matches!(outcome.tail, TailState::Torn { offset, .. } if offset == 4 * FILE_SIZE as u64)
    );
    let served: Vec<u64> = log.cursor(0).map(|r| r.unwrap().offset).collect();
    assert!(served.iter().all(|off| *off < 4 * FILE_SIZE as u64));
    assert_eq!(
        served.len() as u64,
        total - 2,
        "the two records of the newest file are gone"
    );
}

fn recover_in(dir: &Path, mode: RecoveryMode) -> (CommitLog, RecoveryOutcome) {
    open(dir, NEVER, real_files(), mode)
}
