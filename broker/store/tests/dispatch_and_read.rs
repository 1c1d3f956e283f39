//! The store facade end to end: appends across many topics, queues and CommitLog files are
//! dispatched and read back exactly by logical offset, with tag filters, every reachable
//! status of reference §3.2, offsets by time, queries by key and unique key, and waiting.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrimq_store::dispatch::{Arrival, DispatchListener};
use ferrimq_store::read::{AcceptAll, GetMessageStatus as S, MessageFilter};
use ferrimq_store::record::{MessageRecord, MessageView, java_string_hash};
use ferrimq_store::store::{MessageStore, StoreConfig, StoreHooks};

const WAIT: Duration = Duration::from_secs(10);

/// Small files everywhere; ConsumeQueue files of `cq_units` units.
fn config_cq(dir: &Path, cq_units: usize) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.mapped_file_size_commit_log = 16 * 1024;
    c.max_message_size = 4 * 1024;
    c.mapped_file_size_consume_queue = cq_units * 20;
    c.max_hash_slot_num = 64;
    c.max_index_num = 100;
    c
}

fn config(dir: &Path) -> StoreConfig {
    config_cq(dir, 64)
}

fn msg(topic: &str, queue: i32, i: usize, tag: Option<&str>) -> MessageRecord {
    let body = format!("{topic}/{queue}/{i}/").repeat(1 + i % 40);
    let mut b = MessageRecord::builder(topic, body.into_bytes())
        .queue_id(queue)
        .property("KEYS", format!("key-{i} all-{topic}"))
        .property("UNIQ_KEY", format!("UNIQ{topic}{i:08}"));
    if let Some(t) = tag {
        b = b.property("TAGS", t);
    }
    b.build().unwrap()
}

fn tag_of(i: usize) -> Option<&'static str> {
    [Some("A"), Some("B"), None][i % 3]
}

/// Bodies (with their message number) per (topic, queue), in queue order.
type Expected = BTreeMap<(String, i32), Vec<(usize, Vec<u8>)>>;

/// Appends `n` messages round-robin over 3 topics x 4 queues; returns the expected bodies per
/// (topic, queue) in queue order and the last end offset.
fn fill(store: &MessageStore, n: usize) -> (Expected, u64) {
    let mut expected = Expected::new();
    let mut end = 0;
    for i in 0..n {
        let topic = ["TopicA", "TopicB", "%RETRY%g"][i % 3];
        let queue = (i / 3 % 4) as i32;
        let m = msg(topic, queue, i, tag_of(i));
        let r = store.append(&m).unwrap();
        let list = expected.entry((topic.to_string(), queue)).or_default();
        assert_eq!(r.queue_offset, list.len() as i64);
        list.push((i, m.body().to_vec()));
        end = r.physical_offset + r.size as u64;
    }
    (expected, end)
}

struct Tag(i64);
impl MessageFilter for Tag {
    fn matches_tags_code(&self, code: i64) -> bool {
        code == self.0
    }
}

#[test]
fn reads_back_every_queue_exactly_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config_cq(dir.path(), 8)).unwrap();
    let (expected, end) = fill(&store, 600);
    assert!(
        store.commit_log().mapped_files().len() >= 8,
        "spans many CommitLog files"
    );
    assert!(store.wait_dispatched(end, WAIT));
    for ((topic, queue), msgs) in &expected {
        assert_eq!(store.max_offset_in_queue(topic, *queue), msgs.len() as u64);
        assert_eq!(store.min_offset_in_queue(topic, *queue), 0);
        let mut offset = 0u64;
        let mut seen = Vec::new();
        while offset < msgs.len() as u64 {
            let r = store.get_message(topic, *queue, offset, 7, None, &AcceptAll);
            assert_eq!(r.status, S::Found, "{topic}/{queue}@{offset}");
            assert!(r.count() <= 7 && r.count() > 0);
            assert_eq!(r.next_begin_offset, offset + r.count() as u64);
            for (rec, qo) in r.messages.iter().zip(&r.queue_offsets) {
                let v = MessageView::new(rec).unwrap();
                assert_eq!(
                    (v.topic(), v.queue_id(), v.queue_offset() as u64),
                    (topic.as_str(), *queue, *qo)
                );
                seen.push(v.body().to_vec());
            }
            offset = r.next_begin_offset;
        }
        let want: Vec<Vec<u8>> = msgs.iter().map(|(_, b)| b.clone()).collect();
        assert_eq!(seen, want, "{topic}/{queue}");
    }
    store.shutdown().unwrap();
}

#[test]
fn tag_filter_skips_units_and_counts_them_in_next_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let mut end = 0;
    for i in 0..30 {
        let r = store.append(&msg("Tags", 1, i, tag_of(i))).unwrap();
        end = r.physical_offset + r.size as u64;
    }
    assert!(store.wait_dispatched(end, WAIT));
    let a = Tag(i64::from(java_string_hash("A")));
    let r = store.get_message("Tags", 1, 0, 32, None, &a);
    assert_eq!(r.status, S::Found);
    assert_eq!(r.queue_offsets, (0..30).step_by(3).collect::<Vec<u64>>());
    assert_eq!(r.next_begin_offset, 30, "all units scanned");
    let r = store.get_message("Tags", 1, 1, 3, None, &a);
    assert_eq!(
        (r.queue_offsets.clone(), r.next_begin_offset),
        (vec![3, 6, 9], 10)
    );
    let none = Tag(12345);
    let r = store.get_message("Tags", 1, 2, 32, None, &none);
    assert_eq!(
        (r.status, r.next_begin_offset, r.count()),
        (S::NoMatchedMessage, 30, 0)
    );
    let r = store.get_message("Tags", 1, 0, 32, Some(1), &AcceptAll);
    assert_eq!(r.count(), 1, "max bytes still returns the first message");
}

#[test]
fn offset_statuses_and_removed_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let (expected, end) = fill(&store, 300);
    assert!(store.wait_dispatched(end, WAIT));
    let n = expected[&("TopicB".to_string(), 2)].len() as u64;
    let r = store.get_message("Nope", 0, 5, 32, None, &AcceptAll);
    assert_eq!(
        (r.status, r.next_begin_offset, r.min_offset, r.max_offset),
        (S::NoMatchedLogicQueue, 0, 0, 0)
    );
    store.consume_queues().get_or_create("Empty", 0).unwrap();
    let r = store.get_message("Empty", 0, 3, 32, None, &AcceptAll);
    assert_eq!((r.status, r.next_begin_offset), (S::NoMessageInQueue, 0));
    let r = store.get_message("TopicB", 2, n, 32, None, &AcceptAll);
    assert_eq!(
        (r.status, r.next_begin_offset, r.max_offset),
        (S::OffsetOverflowOne, n, n)
    );
    let r = store.get_message("TopicB", 2, n + 5, 32, None, &AcceptAll);
    assert_eq!(
        (r.status, r.next_begin_offset),
        (S::OffsetOverflowBadly, 0),
        "min is 0"
    );
    // CommitLog files deleted under the queue's feet: units point at removed data.
    let removed = store.commit_log().delete_expired_files(2, |_| true);
    assert_eq!(removed.len(), 2);
    let r = store.get_message("TopicB", 2, 0, 4, None, &AcceptAll);
    assert_eq!(r.status, S::Found, "skips to the first file still present");
    let first = MessageView::new(&r.messages[0]).unwrap();
    assert!(first.physical_offset() as u64 >= store.commit_log_min_offset());
    let r = store.get_message("TopicB", 2, 0, 1, None, &Tag(777));
    assert_eq!(r.status, S::NoMatchedMessage);
    // Cleanup trims the queues in step: low offsets are now too small.
    store.clean_now().unwrap();
    let min = store.min_offset_in_queue("TopicB", 2);
    assert!(min > 0);
    let r = store.get_message("TopicB", 2, 0, 4, None, &AcceptAll);
    assert_eq!(
        (r.status, r.next_begin_offset, r.min_offset),
        (S::OffsetTooSmall, min, min)
    );
    let r = store.get_message("TopicB", 2, n + 5, 32, None, &AcceptAll);
    assert_eq!(
        (r.status, r.next_begin_offset),
        (S::OffsetOverflowBadly, n),
        "min > 0: max"
    );
}

#[test]
fn message_was_removing_when_every_unit_points_at_deleted_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config_cq(dir.path(), 8)).unwrap();
    let (_, end) = fill(&store, 300);
    assert!(store.wait_dispatched(end, WAIT));
    let files = store.commit_log().mapped_files().len();
    store.commit_log().delete_expired_files(files - 1, |_| true);
    // Queue TopicA/0's first CQ file (8 units) points only into deleted files.
    let r = store.get_message("TopicA", 0, 0, 4, None, &AcceptAll);
    assert_eq!((r.status, r.count()), (S::MessageWasRemoving, 0));
    assert_eq!(r.next_begin_offset, 8, "scanned the whole CQ file");
}

#[test]
fn offset_by_timestamp_and_earliest_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let mut end = 0;
    for i in 0..20 {
        let r = store.append(&msg("Timed", 0, i, None)).unwrap();
        end = r.physical_offset + r.size as u64;
        std::thread::sleep(Duration::from_millis(3));
    }
    assert!(store.wait_dispatched(end, WAIT));
    let times: Vec<i64> = (0..20)
        .map(|o| store.message_store_time("Timed", 0, o).unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "distinct store times"
    );
    for (o, t) in times.iter().enumerate() {
        assert_eq!(store.offset_by_timestamp("Timed", 0, *t), o as u64);
        assert_eq!(
            store.offset_by_timestamp("Timed", 0, t + 1),
            o as u64,
            "nearer is {o}"
        );
    }
    assert_eq!(store.offset_by_timestamp("Timed", 0, 0), 0);
    assert_eq!(store.offset_by_timestamp("Timed", 0, i64::MAX), 19);
    assert_eq!(store.offset_by_timestamp("Nope", 0, 5), 0);
    assert_eq!(store.earliest_message_time("Timed", 0), Some(times[0]));
    assert_eq!(store.earliest_message_time("Nope", 0), None);
}

#[test]
fn query_by_key_and_unique_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let mut offsets = Vec::new();
    let mut end = 0;
    for i in 0..150 {
        let topic = ["TopicA", "TopicB", "%RETRY%g"][i % 3];
        let r = store.append(&msg(topic, 0, i, None)).unwrap();
        offsets.push(r.physical_offset);
        end = r.physical_offset + r.size as u64;
    }
    assert!(store.wait_dispatched(end, WAIT));
    let all = (0, i64::MAX);
    let r = store.query_message("TopicA", "key-42", 32, all.0, all.1);
    assert_eq!(r.messages.len(), 1);
    let v = MessageView::new(&r.messages[0]).unwrap();
    assert_eq!(v.physical_offset() as u64, offsets[42]);
    assert_eq!(
        store
            .query_message("TopicB", "key-42", 32, all.0, all.1)
            .messages
            .len(),
        0
    );
    let r = store.query_message("TopicB", "all-TopicB", 10, all.0, all.1);
    let got: Vec<u64> = r
        .messages
        .iter()
        .map(|m| MessageView::new(m).unwrap().physical_offset() as u64)
        .collect();
    let want: Vec<u64> = (0..150)
        .rev()
        .filter(|i| i % 3 == 1)
        .take(10)
        .map(|i| offsets[i])
        .collect();
    assert_eq!(got, want, "newest first, capped at max_num");
    assert!(
        r.index_last_update_phy_offset as u64 >= offsets[149] - 1
            && r.index_last_update_timestamp > 0
    );
    let r = store.query_by_unique_key("%RETRY%g", "UNIQ%RETRY%g00000101", all.0, all.1);
    assert_eq!(r.messages.len(), 1);
    assert_eq!(
        MessageView::new(&r.messages[0]).unwrap().physical_offset() as u64,
        offsets[101]
    );
    let r = store.query_message("TopicA", "key-42", 32, 0, 1);
    assert!(r.messages.is_empty(), "outside the time range");
    let by_offset = store.get_message_by_offset(offsets[7]).unwrap().unwrap();
    assert_eq!(
        MessageView::new(&by_offset.bytes).unwrap().uniq_key(),
        Some("UNIQTopicB00000007")
    );
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, i32, u64, i64)>>);

impl DispatchListener for Recorder {
    fn on_arrivals(&self, arrivals: &[Arrival<'_>]) {
        let mut v = self.0.lock().unwrap();
        for a in arrivals {
            assert!(a.properties.contains("UNIQ_KEY"));
            v.push((a.topic.to_string(), a.queue_id, a.max_offset, a.tags_code));
        }
    }
}

#[test]
fn readers_wait_for_data_and_listeners_hear_every_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Arc::new(Recorder::default());
    let hooks = StoreHooks {
        listener: Some(rec.clone()),
        ..StoreHooks::default()
    };
    let store = Arc::new(MessageStore::open_with(config(dir.path()), hooks).unwrap());
    let r = store.get_message("Wait", 0, 0, 32, None, &AcceptAll);
    assert_eq!(r.status, S::NoMatchedLogicQueue);
    let s2 = store.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        let mut end = 0;
        for i in 0..50 {
            let r = s2
                .append(&msg("Wait", (i % 2) as i32, i, tag_of(i)))
                .unwrap();
            end = r.physical_offset + r.size as u64;
        }
        end
    });
    // Wait for the first message without knowing its size: any progress past 0.
    assert!(store.wait_dispatched(1, WAIT));
    let end = writer.join().unwrap();
    assert!(store.wait_dispatched(end, WAIT));
    assert!(
        !store.wait_dispatched(end + 1, Duration::from_millis(20)),
        "times out"
    );
    let r = store.get_message("Wait", 1, 0, 32, None, &AcceptAll);
    assert_eq!((r.status, r.count()), (S::Found, 25));
    let got = rec.0.lock().unwrap().clone();
    let want: Vec<(String, i32, u64, i64)> = (0..50)
        .map(|i| {
            let code = tag_of(i).map_or(0, |t| i64::from(java_string_hash(t)));
            ("Wait".to_string(), (i % 2) as i32, (i / 2 + 1) as u64, code)
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn prepared_and_rollback_records_get_no_queue_unit() {
    use ferrimq_store::record::sys_flag;
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let mut end = 0;
    for (i, flag) in [
        0,
        sys_flag::TRANSACTION_PREPARED,
        sys_flag::TRANSACTION_COMMIT,
        sys_flag::TRANSACTION_ROLLBACK,
    ]
    .into_iter()
    .enumerate()
    {
        let m = MessageRecord::builder("Tx", format!("m{i}").into_bytes())
            .sys_flag(flag)
            .property("KEYS", "txkey")
            .build()
            .unwrap();
        let r = store.append(&m).unwrap();
        end = r.physical_offset + r.size as u64;
    }
    assert!(store.wait_dispatched(end, WAIT));
    let r = store.get_message("Tx", 0, 0, 32, None, &AcceptAll);
    let bodies: Vec<Vec<u8>> = r
        .messages
        .iter()
        .map(|m| MessageView::new(m).unwrap().body().to_vec())
        .collect();
    assert_eq!(bodies, vec![b"m0".to_vec(), b"m2".to_vec()]);
    assert_eq!(
        store
            .query_message("Tx", "txkey", 32, 0, i64::MAX)
            .messages
            .len(),
        2
    );
}

#[test]
fn schedule_topic_units_carry_the_delivery_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let m = MessageRecord::builder("SCHEDULE_TOPIC_XXXX", &b"later"[..])
        .queue_id(2)
        .property("DELAY", "3")
        .property("TAGS", "ignored")
        .build()
        .unwrap();
    let r = store.append(&m).unwrap();
    assert!(store.wait_dispatched(r.physical_offset + r.size as u64, WAIT));
    let unit = store
        .consume_queues()
        .get("SCHEDULE_TOPIC_XXXX", 2)
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(unit.tags_code, r.store_timestamp + 10_000, "level 3 = 10 s");
}
