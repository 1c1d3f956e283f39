//! Recovery of ConsumeQueues and index files after crashes: a torn or garbage CQ tail and a
//! stale index are repaired by re-dispatch from the CommitLog; CQ units ahead of a truncated
//! CommitLog are cut back; power losses just after and well after a checkpoint.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferrimq_store::flush::FlushPolicy;
use ferrimq_store::read::{AcceptAll, GetMessageStatus as S};
use ferrimq_store::record::{MessageRecord, MessageView};
use ferrimq_store::store::{MessageStore, StoreConfig, StoreHooks};
use support::{Lost, RecordingSeam, Watermarks, copy_dir, spoil};

const WAIT: Duration = Duration::from_secs(10);

fn config(dir: &Path, flush: FlushPolicy) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.mapped_file_size_commit_log = 16 * 1024;
    c.max_message_size = 4 * 1024;
    c.mapped_file_size_consume_queue = 12 * 20;
    c.max_hash_slot_num = 32;
    c.max_index_num = 40;
    c.flush_disk_type = flush;
    c.flush_interval_consume_queue = Duration::from_secs(3600);
    c.preallocate_commit_log = false;
    c
}

fn append(store: &MessageStore, from: usize, n: usize) -> u64 {
    let mut end = 0;
    for i in from..from + n {
        let m = MessageRecord::builder("Q", format!("m{i}-").repeat(i % 30 + 1).into_bytes())
            .queue_id((i % 2) as i32)
            .property("KEYS", format!("key{i}"))
            .build()
            .unwrap();
        let r = store.append(&m).unwrap();
        if let Some(w) = r.flush {
            w.wait().unwrap();
        }
        end = r.physical_offset + r.size as u64;
    }
    assert!(store.wait_dispatched(end, WAIT));
    end
}

/// (queue, queue offset) -> body, read through the ConsumeQueues.
fn contents(store: &MessageStore) -> BTreeMap<(i32, u64), String> {
    let mut out = BTreeMap::new();
    for q in 0..2 {
        let mut off = 0;
        loop {
            let r = store.get_message("Q", q, off, 32, None, &AcceptAll);
            if r.status != S::Found {
                break;
            }
            for (m, qo) in r.messages.iter().zip(&r.queue_offsets) {
                let body = MessageView::new(m).unwrap().body().to_vec();
                out.insert((q, *qo), String::from_utf8(body).unwrap());
            }
            off = r.next_begin_offset;
        }
    }
    out
}

fn expected(n: usize) -> BTreeMap<(i32, u64), String> {
    (0..n)
        .map(|i| {
            (
                ((i % 2) as i32, (i / 2) as u64),
                format!("m{i}-").repeat(i % 30 + 1),
            )
        })
        .collect()
}

/// A power loss at `marks`: copies the store, then drops every byte of the CommitLog and the
/// ConsumeQueues that was not reported durable (index files and the checkpoint are copied as
/// they are: the index is not seam-tracked, so it is as stale as it can get).
fn crash_image(src: &Path, dst: &Path, marks: &Watermarks, lost: Lost) {
    copy_dir(src, dst);
    spoil_tree(src, dst, &dst.join("commitlog"), marks, lost);
    spoil_tree(src, dst, &dst.join("consumequeue"), marks, lost);
}

fn spoil_tree(src: &Path, dst: &Path, dir: &Path, marks: &Watermarks, lost: Lost) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            spoil_tree(src, dst, &path, marks, lost);
            continue;
        }
        let original = src.join(path.strip_prefix(dst).unwrap());
        match marks.get(&original) {
            None => std::fs::remove_file(&path).unwrap(),
            Some(wm) => {
                let mut bytes = std::fs::read(&path).unwrap();
                spoil(&mut bytes, *wm as usize, lost);
                std::fs::write(&path, bytes).unwrap();
            }
        }
    }
}

fn open_seamed(dir: &Path) -> (MessageStore, Arc<RecordingSeam>) {
    let seam = Arc::new(RecordingSeam::default());
    let hooks = StoreHooks {
        seam: seam.clone(),
        ..StoreHooks::default()
    };
    (
        MessageStore::open_with(config(dir, FlushPolicy::SYNC_DEFAULT), hooks).unwrap(),
        seam,
    )
}

#[test]
fn power_loss_after_the_checkpoint_drops_unflushed_units_and_rebuilds_them() {
    for lost in [Lost::Zeros, Lost::Garbage] {
        let live = tempfile::tempdir().unwrap();
        let (store, seam) = open_seamed(live.path());
        append(&store, 0, 60);
        store.flush_logics().unwrap(); // checkpoint: queues durable up to message 59
        append(&store, 60, 60); // CommitLog durable (SYNC_FLUSH), queue units not
        let marks = seam.snapshot();
        let image = tempfile::tempdir().unwrap();
        crash_image(live.path(), image.path(), &marks, lost);
        drop(store);

        let store = MessageStore::open(config(image.path(), FlushPolicy::ASYNC_DEFAULT)).unwrap();
        let rep = store.open_report().clone();
        assert!(rep.abnormal);
        // Garbage units are either invalid (torn) or point past the CommitLog end (dirty).
        let cut = rep.torn_queue_units + rep.dirty_queue_units;
        assert!(cut > 0 || lost == Lost::Zeros, "{lost:?}: {rep:?}");
        assert_eq!(
            contents(&store),
            expected(120),
            "{lost:?}: every unit rebuilt"
        );
        assert_eq!(store.max_offset_in_queue("Q", 0), 60);
        let q = store.query_message("Q", "key119", 32, 0, i64::MAX);
        assert_eq!(q.messages.len(), 1, "{lost:?}");
        let q = store.query_message("Q", "key3", 32, 0, i64::MAX);
        assert_eq!(q.messages.len(), 1, "{lost:?}: no duplicate entries");
        store.shutdown().unwrap();
    }
}

#[test]
fn power_loss_right_at_the_checkpoint_cuts_queues_and_a_stale_index_back() {
    let live = tempfile::tempdir().unwrap();
    let (store, seam) = open_seamed(live.path());
    append(&store, 0, 60);
    store.flush_logics().unwrap();
    let marks = seam.snapshot(); // power lost here...
    std::thread::sleep(Duration::from_millis(5));
    append(&store, 60, 60); // ...so none of this survives, except in the (stale) index
    let image = tempfile::tempdir().unwrap();
    crash_image(live.path(), image.path(), &marks, Lost::Zeros);
    drop(store);

    let store = MessageStore::open(config(image.path(), FlushPolicy::ASYNC_DEFAULT)).unwrap();
    assert!(store.open_report().abnormal);
    assert_eq!(contents(&store), expected(60));
    assert_eq!(store.max_offset_in_queue("Q", 1), 30);
    assert!(
        store
            .query_message("Q", "key100", 32, 0, i64::MAX)
            .messages
            .is_empty(),
        "stale entry gone"
    );
    assert_eq!(
        store
            .query_message("Q", "key59", 32, 0, i64::MAX)
            .messages
            .len(),
        1
    );
    assert_eq!(
        store
            .query_message("Q", "key0", 32, 0, i64::MAX)
            .messages
            .len(),
        1
    );
    let r = store
        .append(
            &MessageRecord::builder("Q", &b"again"[..])
                .queue_id(1)
                .build()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        r.queue_offset, 30,
        "queue offsets follow the recovered queues"
    );
}

#[test]
fn garbage_queue_tail_after_a_crash_is_repaired_by_redispatch() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path(), FlushPolicy::ASYNC_DEFAULT)).unwrap();
    append(&store, 0, 50);
    drop(store); // crash: abort marker stays
    // Queue 0 holds 25 units: 12 + 12 + 1 over three files. Tear the second file mid-unit.
    let q0 = dir.path().join("consumequeue/Q/0/00000000000000000240");
    let mut bytes = std::fs::read(&q0).unwrap();
    spoil(&mut bytes, 5 * 20 + 7, Lost::Garbage);
    std::fs::write(&q0, bytes).unwrap();

    let store = MessageStore::open(config(dir.path(), FlushPolicy::ASYNC_DEFAULT)).unwrap();
    let rep = store.open_report().clone();
    assert!(rep.abnormal);
    assert!(rep.torn_queue_units + rep.dirty_queue_units > 0, "{rep:?}");
    assert_eq!(contents(&store), expected(50));
    assert_eq!(store.max_offset_in_queue("Q", 0), 25);
}

#[test]
fn units_ahead_of_a_truncated_commit_log_are_cut_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path(), FlushPolicy::ASYNC_DEFAULT)).unwrap();
    append(&store, 0, 80);
    let r = store.get_message("Q", 0, 20, 1, None, &AcceptAll); // message 40
    let cut = MessageView::new(&r.messages[0]).unwrap().physical_offset() as u64;
    store.shutdown().unwrap();
    drop(store);
    // The CommitLog loses everything from message 40 on.
    let file_size = 16 * 1024u64;
    let base = cut - cut % file_size;
    for entry in std::fs::read_dir(dir.path().join("commitlog")).unwrap() {
        let path = entry.unwrap().path();
        let start: u64 = path.file_name().unwrap().to_str().unwrap().parse().unwrap();
        if start > base {
            std::fs::remove_file(&path).unwrap();
        } else if start == base {
            let mut bytes = std::fs::read(&path).unwrap();
            spoil(&mut bytes, (cut - base) as usize, Lost::Zeros);
            std::fs::write(&path, bytes).unwrap();
        }
    }

    let store = MessageStore::open(config(dir.path(), FlushPolicy::ASYNC_DEFAULT)).unwrap();
    let rep = store.open_report().clone();
    assert_eq!(rep.commit_log.max_offset, cut);
    assert_eq!(rep.dirty_queue_units, 40, "units of messages 40..80 cut");
    assert_eq!(contents(&store), expected(40));
    assert!(
        store
            .query_message("Q", "key50", 32, 0, i64::MAX)
            .messages
            .is_empty()
    );
    assert_eq!(
        store
            .query_message("Q", "key39", 32, 0, i64::MAX)
            .messages
            .len(),
        1
    );
    let r = store
        .append(&MessageRecord::builder("Q", &b"new"[..]).build().unwrap())
        .unwrap();
    assert_eq!((r.queue_offset, r.physical_offset), (20, cut));
    assert!(store.wait_dispatched(cut + r.size as u64, WAIT));
    let got = store.get_message("Q", 0, 20, 1, None, &AcceptAll);
    assert_eq!(MessageView::new(&got.messages[0]).unwrap().body(), b"new");
}

/// `flushConsumeQueueLeastPages`: the periodic flush leaves a queue file with fewer dirty pages
/// alone, so it must not advance the checkpoint's logics timestamp. Here queue 1's few units
/// (CommitLog file 0) are never synced while queue 0 passes the minimum and is; 3 s later (the
/// recovery margin) a power loss must still rebuild queue 1 from file 0.
#[test]
fn periodic_flushes_below_the_page_minimum_leave_units_to_recovery() {
    let live = tempfile::tempdir().unwrap();
    let seam = Arc::new(RecordingSeam::default());
    let big_queues = |mut c: StoreConfig| {
        c.mapped_file_size_consume_queue = 1000 * 20;
        c
    };
    let mut c = big_queues(config(live.path(), FlushPolicy::SYNC_DEFAULT));
    c.flush_interval_consume_queue = Duration::from_millis(10);
    c.flush_consume_queue_thorough_interval = Duration::from_secs(3600);
    let hooks = StoreHooks {
        seam: seam.clone(),
        ..StoreHooks::default()
    };
    let store = MessageStore::open_with(c, hooks).unwrap();
    let mut want = put(&store, 1, 0..10, 100);
    want.extend(put(&store, 0, 0..40, 1000)); // rolls the CommitLog on to file 2
    std::thread::sleep(Duration::from_millis(3200));
    want.extend(put(&store, 0, 40..500, 100)); // queue 0: 500 units, past 2 pages
    std::thread::sleep(Duration::from_millis(200)); // many periodic flushes
    let unit_file = |q: i32| {
        live.path()
            .join(format!("consumequeue/Q/{q}/00000000000000000000"))
    };
    assert!(seam.watermark(&unit_file(0)) >= 8192, "queue 0 synced");
    assert_eq!(
        seam.watermark(&unit_file(1)),
        0,
        "queue 1: under 2 dirty pages"
    );
    let marks = seam.snapshot();
    let image = tempfile::tempdir().unwrap();
    crash_image(live.path(), image.path(), &marks, Lost::Garbage);
    drop(store);

    let store = MessageStore::open(big_queues(config(image.path(), FlushPolicy::ASYNC_DEFAULT)));
    let store = store.unwrap();
    assert!(store.open_report().abnormal);
    assert_eq!(contents(&store), want, "every unit rebuilt");
    store.shutdown().unwrap();
}

/// Appends one message per `i` to queue `q` with a `size`-byte body; returns what
/// [`contents`] should then show for them.
fn put(
    store: &MessageStore,
    q: i32,
    ids: std::ops::Range<u64>,
    size: usize,
) -> BTreeMap<(i32, u64), String> {
    let mut want = BTreeMap::new();
    for i in ids {
        let body = format!("{q}-{i:<width$}", width = size - 2);
        let m = MessageRecord::builder("Q", body.clone().into_bytes())
            .queue_id(q)
            .build()
            .unwrap();
        let r = store.append(&m).unwrap();
        if let Some(w) = r.flush {
            w.wait().unwrap();
        }
        assert!(store.wait_dispatched(r.physical_offset + r.size as u64, WAIT));
        want.insert((q, i), body);
    }
    want
}
