//! The store written by the Apache RocketMQ 5.3.3 Java broker (tests/fixtures/java-5.3-store)
//! opened by the facade: every message is reached through the Java ConsumeQueues at its
//! manifest offset, and the Java IndexFiles answer key and unique-key queries.

mod support;

use std::path::Path;

use ferrimq_store::read::{AcceptAll, GetMessageStatus as S};
use ferrimq_store::record::MessageView;
use ferrimq_store::store::{MessageStore, StoreConfig};
use serde_json::Value;

fn fixture() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/java-5.3-store"
    ))
}

fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture().join("manifest.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn open_copy(dir: &Path) -> MessageStore {
    for sub in ["commitlog", "consumequeue", "index", "config"] {
        support::copy_dir(&fixture().join(sub), &dir.join(sub));
    }
    std::fs::copy(fixture().join("checkpoint"), dir.join("checkpoint")).unwrap();
    let mut c = StoreConfig::new(dir);
    c.mapped_file_size_commit_log = 65_536;
    c.max_message_size = 65_536 - 8;
    c.mapped_file_size_consume_queue = 1200;
    c.max_hash_slot_num = 64;
    c.max_index_num = 256;
    MessageStore::open(c).unwrap()
}

#[test]
fn java_consume_queues_reach_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_copy(dir.path());
    let rep = store.open_report();
    assert!(!rep.abnormal);
    assert_eq!(rep.dirty_queue_units + rep.torn_queue_units, 0);
    let records = manifest();
    assert_eq!(records.len(), 242);
    for m in &records {
        let (topic, q) = (
            m["topic"].as_str().unwrap(),
            m["queueId"].as_i64().unwrap() as i32,
        );
        let off = m["queueOffset"].as_u64().unwrap();
        let r = store.get_message(topic, q, off, 1, None, &AcceptAll);
        assert_eq!(r.status, S::Found, "{topic}/{q}@{off}");
        let v = MessageView::new(&r.messages[0]).unwrap();
        assert_eq!(
            v.physical_offset() as u64,
            m["commitLogOffset"].as_u64().unwrap()
        );
        assert_eq!(v.total_size() as u64, m["storeSize"].as_u64().unwrap());
        assert_eq!(v.queue_offset() as u64, off);
    }
    assert_eq!(store.max_offset_in_queue("CompatEvents", 0), 100);
    assert_eq!(store.max_offset_in_queue("CompatOrders", 3), 24);
    let t = records[0]["storeTimestamp"].as_i64().unwrap();
    assert_eq!(store.offset_by_timestamp("CompatBatch", 0, t), 0);
}

#[test]
fn java_index_files_answer_key_queries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_copy(dir.path());
    for m in manifest() {
        let topic = m["topic"].as_str().unwrap();
        let offset = m["commitLogOffset"].as_i64().unwrap();
        let found = |r: &ferrimq_store::store::QueryMessageResult| {
            r.messages
                .iter()
                .any(|b| MessageView::new(b).unwrap().physical_offset() == offset)
        };
        for key in m["keys"]
            .as_str()
            .unwrap_or("")
            .split(' ')
            .filter(|k| !k.is_empty())
        {
            let r = store.query_message(topic, key, 64, 0, i64::MAX);
            assert!(found(&r), "{topic} key {key} -> {offset}");
        }
        let uniq = m["msgId"].as_str().unwrap();
        let r = store.query_by_unique_key(topic, uniq, 0, i64::MAX);
        assert!(
            found(&r) || topic == "CompatBatch",
            "{topic} uniq {uniq} -> {offset}"
        );
    }
    let r = store.query_message("CompatOrders", "no-such-key", 32, 0, i64::MAX);
    assert!(r.messages.is_empty());
    assert!(r.index_last_update_timestamp > 0);
}
