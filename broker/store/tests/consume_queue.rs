//! ConsumeQueue files: layout, idempotent puts, gaps, file rolls, recovery, truncation and
//! expiry, exercised directly on the queue (no CommitLog involved).

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use ferrimq_store::consume_queue::{ConsumeQueue, ConsumeQueueTable, CqUnit, PutOutcome};
use ferrimq_store::seam::real_files;

/// 4 units per file.
const FILE: usize = 80;

fn unit(i: u64) -> CqUnit {
    CqUnit {
        commit_log_offset: (i * 100) as i64,
        size: 100,
        tags_code: i as i64 - 3,
    }
}

fn open(dir: &Path) -> ConsumeQueue {
    ConsumeQueue::open(dir.join("T").join("1"), "T", 1, FILE, real_files()).unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("T").join("1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn units_roll_across_files_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    for i in 0..10 {
        assert_eq!(cq.put(i, unit(i)).unwrap(), PutOutcome::Written);
    }
    assert_eq!((cq.min_offset(), cq.max_offset()), (0, 10));
    assert_eq!(
        files_in(dir.path()),
        [
            "00000000000000000000",
            "00000000000000000080",
            "00000000000000000160"
        ]
    );
    let run = cq.read_units(2, 32).unwrap();
    assert_eq!(
        run.units,
        vec![unit(2), unit(3)],
        "a read stops at the file end"
    );
    assert_eq!(cq.max_physic_end(), Some(1000));
    cq.flush(0).unwrap();
    drop(cq);

    let raw = std::fs::read(dir.path().join("T/1/00000000000000000080")).unwrap();
    assert_eq!(raw.len(), FILE);
    assert_eq!(
        &raw[0..20],
        &unit(4).encode(),
        "big-endian unit at byte 0 of file 2"
    );

    let cq = open(dir.path());
    assert_eq!(cq.recover().unwrap(), 0);
    assert_eq!((cq.min_offset(), cq.max_offset()), (0, 10));
    for i in 0..10 {
        assert_eq!(cq.get(i), Some(unit(i)), "unit {i}");
    }
    assert_eq!(cq.get(10), None);
    assert_eq!(cq.put(10, unit(10)).unwrap(), PutOutcome::Written);
    assert_eq!(cq.get(10), Some(unit(10)));
}

#[test]
fn first_put_mid_sequence_prefills_blank_units() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    cq.put(10, unit(10)).unwrap();
    assert_eq!(files_in(dir.path()), ["00000000000000000160"]);
    assert_eq!((cq.min_offset(), cq.max_offset()), (10, 11));
    assert_eq!(cq.get(8), Some(CqUnit::BLANK));
    assert_eq!(cq.get(9), Some(CqUnit::BLANK));
    let raw = std::fs::read(dir.path().join("T/1/00000000000000000160")).unwrap();
    assert_eq!(
        &raw[0..20],
        &[
            0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0
        ]
    );
    drop(cq);
    let cq = open(dir.path());
    cq.recover().unwrap();
    cq.correct_min_offset(0);
    assert_eq!(
        (cq.min_offset(), cq.max_offset()),
        (10, 11),
        "blank head is skipped on reload"
    );
}

#[test]
fn re_put_is_skipped_and_gaps_are_blank_filled() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    for i in 0..3 {
        cq.put(i, unit(i)).unwrap();
    }
    let other = CqUnit {
        commit_log_offset: 7,
        size: 7,
        tags_code: 7,
    };
    assert_eq!(cq.put(1, other).unwrap(), PutOutcome::AlreadyPresent);
    assert_eq!(cq.get(1), Some(unit(1)));
    cq.put(6, unit(6)).unwrap();
    assert_eq!(cq.max_offset(), 7);
    for i in 3..6 {
        assert_eq!(cq.get(i), Some(CqUnit::BLANK), "gap unit {i}");
    }
    assert_eq!(cq.get(6), Some(unit(6)));
}

fn scribble(path: &Path, at: u64, bytes: &[u8]) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn torn_tail_is_cut_and_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    for i in 0..6 {
        cq.put(i, unit(i)).unwrap();
    }
    cq.flush(0).unwrap();
    drop(cq);
    // Unit 6 half written (negative offset) with garbage behind it.
    let f2 = dir.path().join("T/1/00000000000000000080");
    scribble(&f2, 40, &[0xFF; 30]);
    let cq = open(dir.path());
    assert_eq!(cq.recover().unwrap(), 2, "two non-zero chunks dropped");
    assert_eq!(cq.max_offset(), 6);
    let raw = std::fs::read(&f2).unwrap();
    assert!(raw[40..].iter().all(|&b| b == 0), "garbage zeroed on disk");
    cq.put(6, unit(6)).unwrap();
    assert_eq!(cq.get(6), Some(unit(6)));
}

#[test]
fn all_zero_unit_ends_recovery_and_later_files_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    for i in 0..9 {
        cq.put(i, unit(i)).unwrap();
    }
    drop(cq);
    // Unit 5 (file 2, slot 1) zeroed: units 6.. are unreachable; file 3 goes away.
    scribble(&dir.path().join("T/1/00000000000000000080"), 20, &[0; 20]);
    let cq = open(dir.path());
    cq.recover().unwrap();
    assert_eq!(cq.max_offset(), 5);
    assert_eq!(cq.get(5), None);
    assert_eq!(
        files_in(dir.path()),
        ["00000000000000000000", "00000000000000000080"]
    );
}

#[test]
fn units_beyond_the_commit_log_end_are_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    for i in 0..10 {
        cq.put(i, unit(i)).unwrap();
    }
    // CommitLog recovered to 550: units at 600.. point past it.
    assert_eq!(cq.truncate_dirty(550).unwrap(), 4);
    assert_eq!(cq.max_offset(), 6);
    assert_eq!(cq.max_physic_end(), Some(600));
    assert_eq!(files_in(dir.path()).len(), 2, "the third file is gone");
    // Cut exactly at a file start: the emptied file is deleted too.
    assert_eq!(cq.truncate_dirty(400).unwrap(), 2);
    assert_eq!(cq.max_offset(), 4);
    assert_eq!(files_in(dir.path()), ["00000000000000000000"]);
    cq.put(4, unit(4)).unwrap();
    assert_eq!(cq.get(4), Some(unit(4)));
    // Everything dirty: the queue is empty and starts again where it was cut.
    assert_eq!(cq.truncate_dirty(0).unwrap(), 5);
    assert_eq!((cq.min_offset(), cq.max_offset()), (0, 0));
    cq.put(0, unit(0)).unwrap();
    assert_eq!(cq.max_offset(), 1);
}

#[test]
fn expired_files_are_deleted_and_min_offset_follows() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    for i in 0..10 {
        cq.put(i, unit(i)).unwrap();
    }
    let held = cq.read_units(0, 4).unwrap();
    // CommitLog min is 450: file 1 (offsets 0..300) is expired, file 2 holds 400..700.
    assert_eq!(cq.delete_expired(450).unwrap(), 1);
    assert_eq!(cq.min_offset(), 5, "first unit pointing at or above 450");
    assert_eq!(cq.get(0), None);
    assert_eq!(held.units[0], unit(0), "copied units stay valid");
    // Never the last file, even when all of it is expired.
    assert_eq!(cq.delete_expired(10_000).unwrap(), 1);
    assert_eq!(files_in(dir.path()), ["00000000000000000160"]);
    assert_eq!((cq.min_offset(), cq.max_offset()), (10, 10));
}

#[test]
fn table_loads_every_topic_and_queue() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("consumequeue");
    {
        let t = ConsumeQueueTable::load(&root, FILE, real_files()).unwrap();
        for (topic, q, n) in [("A", 0, 3u64), ("A", 3, 1), ("B%x", 0, 5)] {
            let cq = t.get_or_create(topic, q).unwrap();
            for i in 0..n {
                cq.put(i, unit(i)).unwrap();
            }
        }
        assert!(t.get("C", 0).is_none());
    }
    std::fs::write(root.join("A").join("junk"), b"x").unwrap();
    let t = ConsumeQueueTable::load(&root, FILE, real_files()).unwrap();
    for q in t.all() {
        q.recover().unwrap();
    }
    let mut max = t.max_offsets();
    max.sort();
    assert_eq!(
        max,
        vec![
            ("A".to_string(), 0, 3),
            ("A".to_string(), 3, 1),
            ("B%x".to_string(), 0, 5)
        ]
    );
}

#[test]
fn repairing_put_rewrites_a_disagreeing_unit_and_cuts_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let cq = open(dir.path());
    for i in 0..10 {
        cq.put(i, unit(i)).unwrap();
    }
    assert_eq!(
        cq.put_repairing(3, unit(3)).unwrap(),
        PutOutcome::AlreadyPresent
    );
    let fixed = CqUnit {
        commit_log_offset: 333,
        size: 33,
        tags_code: 3,
    };
    assert_eq!(
        cq.put(5, fixed).unwrap(),
        PutOutcome::AlreadyPresent,
        "plain put never rewrites"
    );
    assert_eq!(cq.put_repairing(5, fixed).unwrap(), PutOutcome::Repaired);
    assert_eq!(cq.get(5), Some(fixed));
    assert_eq!(cq.max_offset(), 6, "units after the repaired one are cut");
    assert_eq!(files_in(dir.path()).len(), 2);
    assert_eq!(cq.put_repairing(6, unit(6)).unwrap(), PutOutcome::Written);
    assert_eq!(cq.get(6), Some(unit(6)));
}

#[test]
fn a_file_size_that_is_not_whole_units_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = ConsumeQueueTable::load(&dir.path().join("cq"), 30, real_files()).unwrap_err();
    assert!(
        matches!(err, ferrimq_store::StoreError::InvalidConfig(_)),
        "{err}"
    );
    let err = ConsumeQueue::open(dir.path().join("q"), "T", 0, 0, real_files()).unwrap_err();
    assert!(
        matches!(err, ferrimq_store::StoreError::InvalidConfig(_)),
        "{err}"
    );
}
