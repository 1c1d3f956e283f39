//! The persisted metadata files (`config/*.json`): crash safety of the atomic write, `.bak`
//! fallback, files written by the Java broker, and files we write that keep Java's form.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ferrimq_config::{Perm, TopicConfig, TopicFilterType};
use ferrimq_store::metadata::json_file::Source;
use ferrimq_store::metadata::{
    ConsumerOffsetTable, DelayOffsetTable, JsonFile, Metadata, MetadataError,
    SubscriptionGroupTable, TopicTable,
};
use ferrimq_store::seam::{FileSeam, SharedSeam, real_files};

fn fixture(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/java_config")
        .join(dir)
}

/// Copies a fixture directory so tests can write next to the files.
fn copy_fixture(dir: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(fixture(dir)).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}

/// A seam that fails the fsync of paths ending with `suffix`: the process "dies" there, before
/// anything after that step happens.
#[derive(Debug)]
struct CrashAt {
    suffix: String,
    hits: Mutex<Vec<PathBuf>>,
}

impl FileSeam for CrashAt {
    fn before_sync(&self, path: &Path) -> io::Result<()> {
        if path.to_string_lossy().ends_with(&self.suffix) {
            self.hits.lock().unwrap().push(path.to_owned());
            return Err(io::Error::other("simulated crash"));
        }
        Ok(())
    }
}

fn crash_at(suffix: impl Into<String>) -> (Arc<CrashAt>, SharedSeam) {
    let seam = Arc::new(CrashAt {
        suffix: suffix.into(),
        hits: Mutex::new(Vec::new()),
    });
    (seam.clone(), seam)
}

#[test]
fn crash_between_temp_write_and_rename_keeps_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let table = TopicTable::open(dir.path(), real_files()).unwrap();
    table.upsert(TopicConfig::new("Old"));
    table.persist().unwrap();

    let (crash, seam) = crash_at(".tmp");
    let doomed = TopicTable::open(dir.path(), seam).unwrap();
    doomed.upsert(TopicConfig::new("New"));
    let err = doomed.persist().unwrap_err();
    assert!(
        matches!(err, MetadataError::Io { ref path, .. } if path.ends_with("topics.json.tmp")),
        "{err}"
    );
    assert_eq!(crash.hits.lock().unwrap().len(), 1);

    let after = TopicTable::open(dir.path(), real_files()).unwrap();
    assert_eq!(after.loaded_from(), Some(Source::Main));
    assert_eq!(after.names(), vec!["Old".to_owned()]);
    // The next successful persist replaces the leftover temp file.
    after.upsert(TopicConfig::new("Newer"));
    after.persist().unwrap();
    assert!(!dir.path().join("topics.json.tmp").exists());
    assert_eq!(TopicTable::open(dir.path(), real_files()).unwrap().len(), 2);
}

#[test]
fn crash_before_directory_sync_has_the_new_version_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let table = DelayOffsetTable::open(dir.path(), real_files()).unwrap();
    table.update(1, 5);
    table.persist().unwrap();
    // Fail the directory fsync: the rename already happened, only its durability is unknown.
    let (crash, seam) = crash_at(dir.path().to_string_lossy());
    let doomed = DelayOffsetTable::open(dir.path(), seam).unwrap();
    doomed.update(1, 6);
    assert!(doomed.persist().is_err());
    assert_eq!(
        crash.hits.lock().unwrap().as_slice(),
        [dir.path().to_owned()]
    );
    let after = DelayOffsetTable::open(dir.path(), real_files()).unwrap();
    assert_eq!(after.get(1), Some(6));
    let backup = fs::read_to_string(dir.path().join("delayOffset.json.bak")).unwrap();
    assert!(backup.contains("1:5"), "{backup}");
}

#[test]
fn torn_or_partial_files_left_by_a_crash_never_win() {
    let dir = tempfile::tempdir().unwrap();
    let table = ConsumerOffsetTable::open(dir.path(), real_files()).unwrap();
    table.commit("T", "g", 0, 1);
    table.persist().unwrap();
    table.commit("T", "g", 0, 2);
    table.persist().unwrap();
    // A crash mid-way through writing the temp file leaves it torn; it is ignored.
    fs::write(
        dir.path().join("consumerOffset.json.tmp"),
        "{\n\t\"offsetTable\":{\n\t\t\"T@g\":{0:",
    )
    .unwrap();
    assert_eq!(
        ConsumerOffsetTable::open(dir.path(), real_files())
            .unwrap()
            .query("T", "g", 0),
        Some(2)
    );
    // A torn main file (as Java's in-place write can leave) falls back to the backup.
    let main = dir.path().join("consumerOffset.json");
    let text = fs::read_to_string(&main).unwrap();
    fs::write(&main, &text[..text.len() / 2]).unwrap();
    let recovered = ConsumerOffsetTable::open(dir.path(), real_files()).unwrap();
    assert_eq!(
        (recovered.loaded_from(), recovered.query("T", "g", 0)),
        (Some(Source::Backup), Some(1))
    );
    // Missing main file: the backup too.
    fs::remove_file(&main).unwrap();
    let recovered = ConsumerOffsetTable::open(dir.path(), real_files()).unwrap();
    assert_eq!(
        (recovered.loaded_from(), recovered.query("T", "g", 0)),
        (Some(Source::Backup), Some(1))
    );
}

#[test]
fn both_copies_unreadable_is_a_typed_error_naming_the_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("subscriptionGroup.json"),
        "{\"subscriptionGroupTable\":{\"g\":",
    )
    .unwrap();
    fs::write(dir.path().join("subscriptionGroup.json.bak"), "not json").unwrap();
    let err = SubscriptionGroupTable::open(dir.path(), real_files()).unwrap_err();
    let MetadataError::Unreadable {
        path,
        reason,
        backup,
        backup_reason,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(path, &dir.path().join("subscriptionGroup.json"));
    assert_eq!(backup, &dir.path().join("subscriptionGroup.json.bak"));
    assert!(
        reason.contains("unexpected end of input at line 1"),
        "{reason}"
    );
    assert!(
        backup_reason.contains("unexpected character 'n' at line 1 column 1"),
        "{backup_reason}"
    );
    let message = err.to_string();
    assert!(
        message.contains("subscriptionGroup.json (")
            && message.contains("subscriptionGroup.json.bak ("),
        "{message}"
    );
}

#[test]
fn java_53_broker_files_load() {
    let dir = copy_fixture("java-5.3");
    let metadata = Metadata::open(dir.path(), real_files()).unwrap();

    let topics = &metadata.topics;
    assert_eq!(topics.len(), 16);
    assert_eq!(topics.data_version().counter, 4);
    assert_eq!(topics.data_version().state_version, Some(0));
    let schedule = topics.get("SCHEDULE_TOPIC_XXXX").unwrap();
    assert_eq!(
        (
            schedule.read_queue_nums,
            schedule.write_queue_nums,
            schedule.perm
        ),
        (18, 18, Perm(6))
    );
    assert_eq!(topics.get("TBW102").unwrap().perm, Perm::ALL);
    assert!(topics.contains("%RETRY%ferrimq_compat_fixture_reader"));

    let group = metadata.groups.get("SELF_TEST_C_GROUP").unwrap();
    assert_eq!(
        (group.retry_max_times, group.consume_timeout_minute),
        (16, 15)
    );
    assert_eq!(
        group.group_retry_policy.as_ref().unwrap()["type"],
        "CUSTOMIZED"
    );
    assert_eq!(metadata.groups.names().len(), 9);

    let offsets = &metadata.consumer_offsets;
    assert_eq!(
        offsets.query("CompatEvents", "ferrimq_compat_fixture_reader", 0),
        Some(100)
    );
    assert_eq!(
        offsets.query("CompatEvents", "ferrimq_compat_fixture_reader", 1),
        Some(30)
    );
    assert_eq!(
        offsets
            .offsets("CompatOrders", "ferrimq_compat_fixture_reader")
            .unwrap()
            .len(),
        4
    );
    assert!(metadata.delay_offsets.offsets().is_empty());
}

#[test]
fn java_49_shaped_files_load() {
    let dir = copy_fixture("handwritten-4.9");
    let metadata = Metadata::open(dir.path(), real_files()).unwrap();
    assert_eq!(
        metadata.topics.get("TopicTest").unwrap().topic_filter_type,
        TopicFilterType::SingleTag
    );
    assert_eq!(metadata.topics.data_version().state_version, None);
    let group = "please_rename_unique_group_name_4";
    assert_eq!(
        metadata.consumer_offsets.query("TopicTest", group, 1),
        Some(251)
    );
    assert_eq!(
        metadata
            .consumer_offsets
            .query(&format!("%RETRY%{group}"), group, 0),
        Some(0)
    );
    assert_eq!(
        metadata.delay_offsets.offsets(),
        [(1, 3), (2, 1), (3, 12)].into()
    );
    assert!(
        metadata.groups.names().is_empty(),
        "no subscriptionGroup.json in this fixture"
    );
}

#[test]
fn rewritten_java_files_keep_java_form_and_content() {
    let dir = copy_fixture("java-5.3");
    let before = Metadata::open(dir.path(), real_files()).unwrap();
    before.persist_all().unwrap();
    let after = Metadata::open(dir.path(), real_files()).unwrap();
    assert_eq!(after.topics.snapshot(), before.topics.snapshot());
    assert_eq!(after.groups.snapshot(), before.groups.snapshot());
    assert_eq!(
        after.consumer_offsets.snapshot(),
        before.consumer_offsets.snapshot()
    );

    let offsets = fs::read_to_string(dir.path().join("consumerOffset.json")).unwrap();
    assert!(
        offsets.contains(
            "\"CompatEvents@ferrimq_compat_fixture_reader\":{\n\t\t\t0:100,\n\t\t\t1:30\n\t\t}"
        ),
        "{offsets}"
    );
    // Unknown 5.x fields survive (forbiddenTable), the derived groupTopicMap is dropped, and
    // each file keeps the original as .bak.
    assert!(
        fs::read_to_string(dir.path().join("subscriptionGroup.json"))
            .unwrap()
            .contains("\"forbiddenTable\":{}")
    );
    assert!(!offsets.contains("groupTopicMap"), "{offsets}");
    for name in [
        "topics.json",
        "subscriptionGroup.json",
        "consumerOffset.json",
        "delayOffset.json",
    ] {
        let original = fs::read_to_string(fixture("java-5.3").join(name)).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(format!("{name}.bak"))).unwrap(),
            original,
            "{name}.bak"
        );
    }
}

#[test]
fn written_topics_json_has_the_wrapper_layout() {
    let dir = tempfile::tempdir().unwrap();
    let table = TopicTable::open(dir.path(), real_files()).unwrap();
    table.upsert(TopicConfig::with_queues("T", 2, Perm::READ_WRITE));
    table.persist().unwrap();
    let text = fs::read_to_string(dir.path().join("topics.json")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&text).expect("topics.json is standard JSON");
    assert_eq!(json["topicConfigTable"]["T"]["writeQueueNums"], 2);
    assert_eq!(
        json["topicConfigTable"]["T"]["topicFilterType"],
        "SINGLE_TAG"
    );
    assert_eq!(json["dataVersion"]["counter"], 1);
    assert!(json["dataVersion"]["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(
        text.starts_with("{\n\t\"topicConfigTable\":{\n\t\t\"T\":{\n\t\t\t\"topicName\":\"T\""),
        "{text}"
    );
}

#[test]
fn concurrent_commits_and_persists_end_with_the_latest_state() {
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(ConsumerOffsetTable::open(dir.path(), real_files()).unwrap());
    let writers: Vec<_> = (0..4)
        .map(|queue| {
            let table = table.clone();
            std::thread::spawn(move || {
                for offset in 1..=200 {
                    table.commit("T", "g", queue, offset);
                    if offset % 50 == 0 {
                        table.persist().unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    table.persist().unwrap();
    let reopened = ConsumerOffsetTable::open(dir.path(), real_files()).unwrap();
    assert_eq!(
        reopened.offsets("T", "g"),
        Some((0..4).map(|q| (q, 200)).collect())
    );
    assert_eq!(reopened.data_version().counter, 800);
}

#[test]
fn json_file_round_trips_raw_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = JsonFile::new(dir.path().join("nested/dir/kv.json"));
    file.store("{\"a\":1}").unwrap();
    let loaded = file
        .load(|t| Ok::<_, String>(t.to_owned()))
        .unwrap()
        .unwrap();
    assert_eq!(
        (loaded.value.as_str(), loaded.source),
        ("{\"a\":1}", Source::Main)
    );
}
