//! Store compatibility with the Apache RocketMQ 5.3.3 Java broker, both ways (issue 2):
//!
//! - `java_written_store_is_read_message_for_message`: the store in
//!   `tests/fixtures/java-5.3-store` (written by the Java broker through
//!   `scripts/java-compat.sh fixture`) is opened by ferrimq with the fixture's file sizes, and every
//!   message of its `manifest.jsonl` is found field for field through the ConsumeQueue, by commit-log
//!   offset, and through the IndexFile (UNIQ_KEY and KEYS).
//! - `ferrimq_written_store_is_served_by_java_broker`: a store written by ferrimq (several CommitLog
//!   files, a batch, a zlib-compressed record, `config/topics.json` from ferrimq's metadata) is served
//!   by the Java broker through `scripts/java-compat.sh serve`, and the official consumer must read
//!   back exactly what was appended. It needs Java 17 and Maven: without them it prints a notice and
//!   passes, unless `FERRIMQ_REQUIRE_JAVA=1` (set by `scripts/test.sh`), which makes that a failure.

mod java_compat_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use ferrimq_store::read::{AcceptAll, GetMessageStatus};
use ferrimq_store::record::{MessageView, Properties, msg_id};
use ferrimq_store::store::{MessageStore, StoreConfig};
use java_compat_support::{ManifestEntry, base64_decode, copy_dir, load_manifest};

/// The settings the fixture was written with (see its README.md and broker.conf). The Java broker
/// keeps its 4 MiB `maxMessageSize` with 64 KiB files; ferrimq requires a record plus the 8-byte
/// end marker to fit in one file, so it gets the largest such size.
fn small_config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(root);
    c.mapped_file_size_commit_log = 65_536;
    c.max_message_size = 65_536 - 8;
    c.mapped_file_size_consume_queue = 1_200;
    c.max_hash_slot_num = 64;
    c.max_index_num = 256;
    c
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java-5.3-store")
}

/// Reads `count` records of a queue from offset 0 through the ConsumeQueue.
fn read_queue(
    store: &MessageStore,
    topic: &str,
    queue: i32,
    count: usize,
) -> Result<Vec<bytes::Bytes>> {
    let mut out = Vec::new();
    while out.len() < count {
        let r = store.get_message(topic, queue, out.len() as u64, 32, None, &AcceptAll);
        ensure!(
            r.status == GetMessageStatus::Found,
            "{topic}/{queue} at {}: {:?}",
            out.len(),
            r.status
        );
        ensure!(
            !r.messages.is_empty(),
            "{topic}/{queue} at {}: found nothing",
            out.len()
        );
        for (i, off) in r.queue_offsets.iter().enumerate() {
            ensure!(
                *off == (out.len() + i) as u64,
                "{topic}/{queue}: offset {off} out of order"
            );
        }
        out.extend(r.messages);
    }
    Ok(out)
}

fn decoded_properties(view: &MessageView<'_>) -> BTreeMap<String, String> {
    let parsed = Properties::parse(view.properties_str());
    parsed
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Compares one stored record with its manifest line, field by field.
fn assert_matches(e: &ManifestEntry, record: &[u8]) -> Result<()> {
    let v = MessageView::new(record).with_context(|| format!("decode {}", e.commit_log_offset))?;
    let at = format!("{}/{}@{}", e.topic, e.queue_id, e.queue_offset);
    assert_eq!(v.topic(), e.topic, "{at}");
    assert_eq!(v.queue_id(), e.queue_id, "{at}");
    assert_eq!(v.queue_offset(), e.queue_offset as i64, "{at}");
    assert_eq!(v.physical_offset(), e.commit_log_offset as i64, "{at}");
    assert_eq!(v.total_size(), e.store_size, "{at}");
    assert_eq!(v.flag(), e.flag, "{at}");
    assert_eq!(v.sys_flag(), e.sys_flag, "{at}");
    assert_eq!(v.body_crc(), e.body_crc, "{at}");
    assert_eq!(v.born_timestamp(), e.born_timestamp, "{at}");
    assert_eq!(v.born_host().to_string(), e.born_host, "{at}");
    assert_eq!(v.store_timestamp(), e.store_timestamp, "{at}");
    assert_eq!(v.store_host().to_string(), e.store_host, "{at}");
    assert_eq!(v.reconsume_times(), e.reconsume_times, "{at}");
    assert_eq!(
        v.prepared_transaction_offset(),
        e.prepared_transaction_offset,
        "{at}"
    );
    assert_eq!(
        msg_id::encode(v.store_host(), v.physical_offset()),
        e.offset_msg_id,
        "{at}"
    );
    assert_eq!(decoded_properties(&v), e.properties, "{at}");
    assert_eq!(v.uniq_key(), e.msg_id.as_deref(), "{at}");
    assert_eq!(v.tags(), e.tags.as_deref(), "{at}");
    assert_eq!(v.property("KEYS"), e.keys.as_deref(), "{at}");
    let stored_body = base64_decode(e.stored_body.as_deref().unwrap_or(&e.body))?;
    assert_eq!(v.body(), &stored_body[..], "{at}: stored body");
    Ok(())
}

fn offsets_of(found: &[bytes::Bytes]) -> Vec<i64> {
    found
        .iter()
        .map(|b| {
            MessageView::new(b)
                .expect("indexed record")
                .physical_offset()
        })
        .collect()
}

/// The IndexFile finds the message by its UNIQ_KEY and by each of its KEYS.
fn assert_indexed(store: &MessageStore, e: &ManifestEntry) {
    let at = e.commit_log_offset as i64;
    if let Some(uniq) = &e.msg_id {
        let found = store.query_by_unique_key(&e.topic, uniq, 0, i64::MAX);
        assert!(
            offsets_of(&found.messages).contains(&at),
            "UNIQ_KEY {uniq} does not find {at}"
        );
    }
    for key in e
        .keys
        .iter()
        .flat_map(|k| k.split(' '))
        .filter(|k| !k.is_empty())
    {
        let found = store.query_message(&e.topic, key, 64, 0, i64::MAX);
        assert!(
            offsets_of(&found.messages).contains(&at),
            "key {key} does not find {at}"
        );
    }
}

#[test]
fn java_written_store_is_read_message_for_message() -> Result<()> {
    let dir = tempfile::tempdir()?;
    copy_dir(&fixture_dir(), dir.path())?;
    let manifest = load_manifest(&fixture_dir().join("manifest.jsonl"))?;
    assert_eq!(manifest.len(), 242, "fixture manifest size");
    let compressed = manifest.iter().filter(|e| e.sys_flag & 1 == 1).count();
    assert_eq!(compressed, 16, "compressed records in the fixture");

    let store = MessageStore::open(small_config(dir.path()))?;
    let mut queues: BTreeMap<(String, i32), Vec<&ManifestEntry>> = BTreeMap::new();
    for e in &manifest {
        queues
            .entry((e.topic.clone(), e.queue_id))
            .or_default()
            .push(e);
    }
    assert_eq!(queues.len(), 8, "topic queues in the fixture");
    for ((topic, queue), entries) in &queues {
        assert_eq!(
            store.min_offset_in_queue(topic, *queue),
            0,
            "{topic}/{queue} min"
        );
        assert_eq!(
            store.max_offset_in_queue(topic, *queue),
            entries.len() as u64,
            "{topic}/{queue} max"
        );
        let records = read_queue(&store, topic, *queue, entries.len())?;
        for (e, record) in entries.iter().zip(&records) {
            assert_matches(e, record)?;
        }
    }
    for e in &manifest {
        let rec = store
            .get_message_by_offset(e.commit_log_offset)?
            .context("record by offset")?;
        assert_matches(e, &rec.bytes)?;
        assert_indexed(&store, e);
    }
    let end = manifest
        .iter()
        .map(|e| e.commit_log_offset + e.store_size as u64)
        .max()
        .unwrap_or(0);
    assert_eq!(
        store.commit_log_max_offset(),
        end,
        "recovered CommitLog end"
    );
    store.shutdown()?;
    Ok(())
}

#[test]
fn ferrimq_written_store_is_served_by_java_broker() -> Result<()> {
    if !java_compat_support::java_available()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let written =
        java_compat_support::write_ferrimq_store(small_config(&dir.path().join("store")))?;
    let out = dir.path().join("served.jsonl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/java-compat.sh");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .arg("serve")
        .arg(dir.path().join("store"))
        .arg(&out)
        .env("JC_HASH_SLOTS", "64")
        .env("JC_INDEX_NUM", "256")
        .status()
        .context("run scripts/java-compat.sh serve")?;
    assert!(status.success(), "java-compat.sh serve failed: {status}");
    let served = load_manifest(&out)?;
    assert_eq!(
        served.len(),
        written.len(),
        "messages served by the Java broker"
    );
    for (got, want) in served.iter().zip(&written) {
        java_compat_support::assert_served(got, want)?;
    }
    Ok(())
}
