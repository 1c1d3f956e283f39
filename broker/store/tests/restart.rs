//! Restarting a store: after a clean shutdown and after an abnormal end (no shutdown) it
//! serves everything with the same offsets and continues the queue offsets.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ferrimq_store::StoreError;
use ferrimq_store::read::{AcceptAll, GetMessageStatus as S};
use ferrimq_store::record::{MessageRecord, MessageView};
use ferrimq_store::store::{MessageStore, StoreConfig};

const WAIT: Duration = Duration::from_secs(10);

fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.mapped_file_size_commit_log = 32 * 1024;
    c.max_message_size = 4 * 1024;
    c.mapped_file_size_consume_queue = 16 * 20;
    c.max_hash_slot_num = 32;
    c.max_index_num = 64;
    c
}

type Snapshot = BTreeMap<(String, i32), Vec<(u64, u64, Vec<u8>)>>;

fn append(store: &MessageStore, from: usize, n: usize) -> u64 {
    let mut end = 0;
    for i in from..from + n {
        let m = MessageRecord::builder(
            ["R1", "R2"][i % 2],
            format!("body-{i}").repeat(i % 50 + 1).into_bytes(),
        )
        .queue_id((i % 3) as i32)
        .property("KEYS", format!("key{i}"))
        .property("TAGS", ["a", "b"][i % 2])
        .build()
        .unwrap();
        let r = store.append(&m).unwrap();
        end = r.physical_offset + r.size as u64;
    }
    assert!(store.wait_dispatched(end, WAIT));
    end
}

/// Every message of every queue: (queue offset, physical offset, body).
fn snapshot(store: &MessageStore) -> Snapshot {
    let mut out = Snapshot::new();
    for topic in ["R1", "R2"] {
        for q in 0..3 {
            let mut off = store.min_offset_in_queue(topic, q);
            let list = out.entry((topic.to_string(), q)).or_default();
            loop {
                let r = store.get_message(topic, q, off, 32, None, &AcceptAll);
                if r.status != S::Found {
                    assert_eq!(r.status, S::OffsetOverflowOne);
                    break;
                }
                for (m, qo) in r.messages.iter().zip(&r.queue_offsets) {
                    let v = MessageView::new(m).unwrap();
                    list.push((*qo, v.physical_offset() as u64, v.body().to_vec()));
                }
                off = r.next_begin_offset;
            }
        }
    }
    out
}

fn check_continues(store: &MessageStore, before: &Snapshot) {
    let m = MessageRecord::builder("R1", &b"next"[..])
        .queue_id(2)
        .build()
        .unwrap();
    let r = store.append(&m).unwrap();
    assert_eq!(
        r.queue_offset as usize,
        before[&("R1".to_string(), 2)].len(),
        "queue offsets continue"
    );
    assert!(store.wait_dispatched(r.physical_offset + r.size as u64, WAIT));
    let got = store.get_message("R1", 2, r.queue_offset as u64, 1, None, &AcceptAll);
    assert_eq!(MessageView::new(&got.messages[0]).unwrap().body(), b"next");
}

#[test]
fn clean_shutdown_and_reopen_serves_the_same_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let end = append(&store, 0, 400);
    let before = snapshot(&store);
    assert_eq!(before.values().map(Vec::len).sum::<usize>(), 400);
    store.shutdown().unwrap();
    assert!(!dir.path().join("abort").exists());
    drop(store);

    let store = MessageStore::open(config(dir.path())).unwrap();
    let rep = store.open_report();
    assert!(!rep.abnormal);
    assert_eq!(
        (rep.redispatched_from, rep.redispatched_to),
        (end, end),
        "nothing to redo"
    );
    assert_eq!((rep.torn_queue_units, rep.dirty_queue_units), (0, 0));
    assert_eq!(snapshot(&store), before);
    assert_eq!(
        store
            .query_message("R2", "key399", 32, 0, i64::MAX)
            .messages
            .len(),
        1
    );
    check_continues(&store, &before);
    store.shutdown().unwrap();
}

#[test]
fn abnormal_reopen_serves_the_same_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let end = append(&store, 0, 400);
    let before = snapshot(&store);
    drop(store); // no shutdown: the abort marker stays
    assert!(dir.path().join("abort").exists());

    let store = MessageStore::open(config(dir.path())).unwrap();
    let rep = store.open_report().clone();
    assert!(rep.abnormal);
    assert_eq!(rep.redispatched_to, end);
    assert!(rep.redispatched_from <= end);
    assert_eq!(snapshot(&store), before);
    let keys = store.query_message("R1", "key0", 32, 0, i64::MAX);
    assert_eq!(
        keys.messages.len(),
        1,
        "re-dispatch does not duplicate index entries"
    );
    check_continues(&store, &before);
    store.shutdown().unwrap();
    drop(store);
    let store = MessageStore::open(config(dir.path())).unwrap();
    assert!(!store.open_report().abnormal);
}

#[test]
fn a_second_open_of_the_same_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let err = MessageStore::open(config(dir.path())).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    store.shutdown().unwrap();
    let err = store
        .append(&MessageRecord::builder("R1", &b"x"[..]).build().unwrap())
        .unwrap_err();
    assert!(matches!(err, StoreError::ShutDown), "{err}");
}
