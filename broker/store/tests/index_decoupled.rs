//! Index building runs behind the dispatcher on its own thread: an index that cannot be written
//! (here: its directory replaced by a plain file, so rolling to a new index file fails) must not
//! hold back ConsumeQueue units or the arrival notifications that wake long-polling pulls.
//! Before the split, one slow or failing index write stalled every consumer (issue 3: e2e p99
//! of 0.3-1.4 s while sends stayed fast).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrimq_store::dispatch::{Arrival, DispatchListener};
use ferrimq_store::read::{AcceptAll, GetMessageStatus};
use ferrimq_store::record::MessageRecord;
use ferrimq_store::store::{MessageStore, StoreConfig, StoreHooks};

const MESSAGES: usize = 60;

#[derive(Default)]
struct Arrivals(Mutex<Vec<(i32, u64)>>);

impl DispatchListener for Arrivals {
    fn on_arrivals(&self, arrivals: &[Arrival<'_>]) {
        let mut seen = self.0.lock().unwrap();
        seen.extend(arrivals.iter().map(|a| (a.queue_id, a.max_offset)));
    }
}

fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.mapped_file_size_commit_log = 64 * 1024;
    c.max_message_size = 4 * 1024;
    c.mapped_file_size_consume_queue = 1024 * 20;
    // Three keys per message fill an index file after a few dozen messages.
    c.max_hash_slot_num = 16;
    c.max_index_num = 40;
    c
}

fn message(i: usize) -> MessageRecord {
    MessageRecord::builder("Decoupled", format!("body-{i}").into_bytes())
        .queue_id(0)
        .property("KEYS", format!("key-{i} other-{i}"))
        .property("UNIQ_KEY", format!("UNIQ{i:08}"))
        .build()
        .unwrap()
}

#[test]
fn a_failing_index_holds_back_neither_queues_nor_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let arrivals = Arc::new(Arrivals::default());
    let hooks = StoreHooks {
        listener: Some(arrivals.clone()),
        ..StoreHooks::default()
    };
    let root = dir.path().join("store");
    let store = MessageStore::open_with(config(&root), hooks).unwrap();
    let index_dir = root.join("index");
    if index_dir.exists() {
        std::fs::remove_dir_all(&index_dir).unwrap();
    }
    std::fs::write(&index_dir, b"not a directory").unwrap();
    let mut end = 0;
    for i in 0..MESSAGES {
        let r = store.append(&message(i)).unwrap();
        end = r.physical_offset + r.size as u64;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.dispatched_offset() < end && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(store.dispatched_offset(), end, "queues kept up");
    assert_eq!(store.max_offset_in_queue("Decoupled", 0), MESSAGES as u64);
    let r = store.get_message("Decoupled", 0, MESSAGES as u64 - 1, 32, None, &AcceptAll);
    assert_eq!((r.status, r.count()), (GetMessageStatus::Found, 1));
    let heard = arrivals.0.lock().unwrap().clone();
    let want: Vec<(i32, u64)> = (1..=MESSAGES as u64).map(|o| (0, o)).collect();
    assert_eq!(heard, want, "every arrival announced");
    assert!(
        !store.wait_dispatched(end, Duration::from_millis(200)),
        "wait_dispatched also waits for the index, which cannot progress"
    );
}
