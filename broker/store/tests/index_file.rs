//! IndexFiles: the Java byte layout, hash chains, time ranges, rolling, recovery and expiry.

use std::path::Path;
use std::sync::Arc;

use ferrimq_store::index::{IndexFile, IndexService, RecordKeys, index_key, key_hash};
use ferrimq_store::record::sys_flag;

const T0: i64 = 1_700_000_000_000;

fn props(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}\u{1}{v}"))
        .collect::<Vec<_>>()
        .join("\u{2}")
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn key_hash_is_abs_java_hash_code() {
    // "T#a".hashCode() = ((84 * 31) + 35) * 31 + 97
    assert_eq!(key_hash("T#a"), 81_906);
    assert_eq!(index_key("T", "a"), "T#a");
    // "polygenelubricants".hashCode() == i32::MIN: abs overflows, RocketMQ uses 0.
    assert_eq!(key_hash("polygenelubricants"), 0);
    // A negative hash code is made positive: "zzzzzz".hashCode() = -685785664.
    assert_eq!(key_hash("zzzzzz"), 685_785_664);
}

#[test]
fn bytes_on_disk_follow_the_java_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20231114221320000");
    let f = IndexFile::create(&path, 8, 4, None).unwrap();
    assert!(f.put_key("T#a", 4096, T0));
    assert!(f.put_key("T#a", 8192, T0 + 2_500));
    f.flush().unwrap();
    let raw = std::fs::read(&path).unwrap();
    assert_eq!(raw.len(), 40 + 8 * 4 + 4 * 20);
    assert_eq!(be_i64(&raw, 0), T0, "beginTimestamp");
    assert_eq!(be_i64(&raw, 8), T0 + 2_500, "endTimestamp");
    assert_eq!(be_i64(&raw, 16), 4096, "beginPhyOffset");
    assert_eq!(be_i64(&raw, 24), 8192, "endPhyOffset");
    assert_eq!(be_i32(&raw, 32), 1, "hashSlotCount");
    assert_eq!(be_i32(&raw, 36), 3, "indexCount");
    let slot = 40 + (81_906 % 8) * 4;
    assert_eq!(be_i32(&raw, slot), 2, "slot points at the newest entry");
    let e1 = 40 + 8 * 4 + 20;
    assert_eq!(
        (
            be_i32(&raw, e1),
            be_i64(&raw, e1 + 4),
            be_i32(&raw, e1 + 12),
            be_i32(&raw, e1 + 16)
        ),
        (81_906, 4096, 0, 0)
    );
    let e2 = e1 + 20;
    assert_eq!(
        (
            be_i32(&raw, e2),
            be_i64(&raw, e2 + 4),
            be_i32(&raw, e2 + 12),
            be_i32(&raw, e2 + 16)
        ),
        (81_906, 8192, 2, 1),
        "timeDiff in whole seconds, prevIndex chains to entry 1"
    );
    assert!(!f.is_full());
    assert!(f.put_key("T#b", 9000, T0 + 3_000));
    assert!(f.is_full(), "indexCount reached maxIndexNum");
    assert!(!f.put_key("T#c", 9100, T0 + 3_000));
}

/// A file laid out by hand the way the Java broker writes it is read back.
#[test]
fn reads_a_file_written_by_java() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20231114221320000");
    let (slots, max) = (4usize, 4usize);
    let mut raw = vec![0u8; 40 + slots * 4 + max * 20];
    let put64 =
        |b: &mut Vec<u8>, at: usize, v: i64| b[at..at + 8].copy_from_slice(&v.to_be_bytes());
    let put32 =
        |b: &mut Vec<u8>, at: usize, v: i32| b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    put64(&mut raw, 0, T0);
    put64(&mut raw, 8, T0 + 60_000);
    put64(&mut raw, 16, 100);
    put64(&mut raw, 24, 300);
    put32(&mut raw, 32, 1);
    put32(&mut raw, 36, 3);
    let h = key_hash("TopicTest#KEY1");
    put32(&mut raw, 40 + (h as usize % slots) * 4, 2);
    let e = |i: usize| 40 + slots * 4 + i * 20;
    for (i, phy, diff, prev) in [(1, 100i64, 0, 0), (2, 300, 60, 1)] {
        put32(&mut raw, e(i), h);
        put64(&mut raw, e(i) + 4, phy);
        put32(&mut raw, e(i) + 12, diff);
        put32(&mut raw, e(i) + 16, prev);
    }
    std::fs::write(&path, &raw).unwrap();
    let svc = IndexService::load(dir.path(), slots as u32, max as u32).unwrap();
    let r = svc.query("TopicTest", "KEY1", 32, T0, T0 + 60_000);
    assert_eq!(r.phy_offsets, vec![300, 100]);
    assert_eq!(
        (r.last_update_timestamp, r.last_update_phy_offset),
        (T0 + 60_000, 300)
    );
    let r = svc.query("TopicTest", "KEY1", 32, T0 + 1_000, T0 + 60_000);
    assert_eq!(r.phy_offsets, vec![300], "entry 1 is before the range");
    assert_eq!(svc.covered_to(), Some(300));
}

fn service(dir: &Path, slots: u32, max: u32) -> IndexService {
    IndexService::load(dir, slots, max).unwrap()
}

#[test]
fn keys_and_unique_keys_are_indexed_and_chained_through_one_slot() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 1, 100);
    for i in 0..10i64 {
        let p = props(&[
            ("KEYS", &format!("k{} shared", i % 3)),
            ("UNIQ_KEY", &format!("U{i}")),
        ]);
        svc.build(
            "T",
            RecordKeys::from_properties(&p),
            i * 1000,
            T0 + i * 1000,
            0,
        )
        .unwrap();
    }
    let half = props(&[("KEYS", "shared")]);
    svc.build(
        "T",
        RecordKeys::from_properties(&half),
        20_000,
        T0,
        sys_flag::TRANSACTION_PREPARED,
    )
    .unwrap();
    svc.build(
        "T",
        RecordKeys::from_properties(&half),
        21_000,
        T0,
        sys_flag::TRANSACTION_ROLLBACK,
    )
    .unwrap();
    let all = T0 + 100_000;
    assert_eq!(
        svc.query("T", "k1", 32, 0, all).phy_offsets,
        vec![7000, 4000, 1000]
    );
    assert_eq!(svc.query("T", "U4", 32, 0, all).phy_offsets, vec![4000]);
    assert_eq!(
        svc.query("Other", "U4", 32, 0, all).phy_offsets,
        Vec::<i64>::new()
    );
    let shared = svc.query("T", "shared", 32, 0, all).phy_offsets;
    assert_eq!(
        shared,
        (0..10).rev().map(|i| i * 1000).collect::<Vec<_>>(),
        "tx halves not indexed"
    );
    assert_eq!(
        svc.query("T", "shared", 3, 0, all).phy_offsets,
        vec![9000, 8000, 7000]
    );
    assert_eq!(
        svc.query("T", "shared", 32, T0 + 3000, T0 + 5000)
            .phy_offsets,
        vec![5000, 4000, 3000]
    );
    // Re-dispatching an already indexed record adds nothing.
    svc.build(
        "T",
        RecordKeys::from_properties(&props(&[("KEYS", "k1")])),
        7000,
        T0 + 7000,
        0,
    )
    .unwrap();
    assert_eq!(
        svc.query("T", "k1", 32, 0, all).phy_offsets,
        vec![7000, 4000, 1000]
    );
}

#[test]
fn full_files_roll_and_queries_span_them() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 4, 4); // 3 entries per file
    for i in 0..8i64 {
        svc.build(
            "T",
            RecordKeys::from_properties(&props(&[("KEYS", "k")])),
            i * 10,
            T0 + i * 1000,
            0,
        )
        .unwrap();
    }
    let files = svc.files();
    assert_eq!(files.len(), 3);
    assert_eq!(files[1].header().begin_phy_offset, 30);
    assert_eq!(files[2].header().end_phy_offset, 70);
    let names: Vec<_> = files
        .iter()
        .map(|f| f.path().file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names[0], "20231114221320000");
    assert_eq!(
        names[1], "20231114221323000",
        "named after the store time that needed it"
    );
    let r = svc.query("T", "k", 32, 0, T0 + 10_000);
    assert_eq!(r.phy_offsets, vec![70, 60, 50, 40, 30, 20, 10, 0]);
    assert_eq!(r.last_update_phy_offset, 70);
    drop(svc);
    let svc = service(dir.path(), 4, 4);
    assert_eq!(
        svc.query("T", "k", 2, 0, T0 + 10_000).phy_offsets,
        vec![70, 60]
    );
}

#[test]
fn recovery_drops_stale_files_and_reports_where_to_reindex() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 4, 4);
    for i in 0..8i64 {
        svc.build(
            "T",
            RecordKeys::from_properties(&props(&[("KEYS", "k")])),
            i * 10,
            T0 + i * 1000,
            0,
        )
        .unwrap();
    }
    drop(svc);
    // CommitLog recovered to 65: the last file (60, 70) points past it.
    let svc = service(dir.path(), 4, 4);
    assert_eq!(svc.recover(65, None), Some(60));
    assert_eq!(svc.files().len(), 2);
    assert_eq!(svc.covered_to(), Some(50));
    // After a crash, files written after the checkpoint's indexMsgTimestamp go too.
    assert_eq!(svc.recover(1_000, Some(T0 + 2_000)), Some(30));
    assert_eq!(svc.files().len(), 1);
    assert_eq!(svc.covered_to(), Some(20));
    for i in 3..8i64 {
        svc.build(
            "T",
            RecordKeys::from_properties(&props(&[("KEYS", "k")])),
            i * 10,
            T0 + i * 1000,
            0,
        )
        .unwrap();
    }
    let r = svc.query("T", "k", 32, 0, T0 + 10_000);
    assert_eq!(
        r.phy_offsets,
        vec![70, 60, 50, 40, 30, 20, 10, 0],
        "rebuilt without duplicates"
    );
    assert_eq!(svc.recover(1_000, Some(T0 + 10_000)), None, "nothing stale");
}

#[test]
fn expired_files_go_but_never_the_newest_and_held_files_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path(), 4, 4);
    for i in 0..8i64 {
        svc.build(
            "T",
            RecordKeys::from_properties(&props(&[("KEYS", "k")])),
            i * 10,
            T0 + i * 1000,
            0,
        )
        .unwrap();
    }
    let held: Arc<IndexFile> = svc.files()[0].clone();
    let held_path = held.path().to_path_buf();
    assert_eq!(svc.delete_expired(25), 1, "file 1 ends at 20 < 25");
    assert!(held_path.exists(), "a holder keeps the file");
    let mut out = Vec::new();
    held.select("T#k", 10, 0, T0 + 10_000, &mut out);
    assert_eq!(out, vec![20, 10, 0]);
    drop(held);
    assert!(!held_path.exists());
    assert_eq!(svc.delete_expired(u64::MAX), 1);
    assert_eq!(svc.files().len(), 1);
    assert_eq!(
        svc.query("T", "k", 32, 0, T0 + 10_000).phy_offsets,
        vec![70, 60]
    );
}

fn resident_file_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssFile:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A flush leaves only the newest entries mapped; old ones still answer queries.
#[test]
fn flushed_entries_stop_counting_as_resident_and_stay_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let (slots, max) = (1024u32, 1_000_000u32);
    let f = IndexFile::create(&dir.path().join("20231114221320000"), slots, max, None).unwrap();
    for i in 0..900_000i64 {
        assert!(f.put_key(&format!("T#k{i}"), i * 100, T0 + i));
    }
    let before = resident_file_kib();
    f.flush().unwrap();
    let after = resident_file_kib();
    // 900,000 entries of 20 bytes = 17.2 MiB written; all but the newest 1 MiB released.
    assert!(
        before.saturating_sub(after) >= 12 * 1024,
        "RssFile {before} KiB -> {after} KiB"
    );
    let mut out = Vec::new();
    f.select("T#k7", 4, T0, T0 + 1_000_000, &mut out);
    assert_eq!(out, vec![700], "an entry from a released page is read back");
}
