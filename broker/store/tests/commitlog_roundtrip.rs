//! Append and read back through the CommitLog: every field, across file boundaries, the blank
//! end-of-file marker, batches, IPv6 hosts, properties, transaction records and the limits.

use std::net::SocketAddr;
use std::path::Path;

use ferrimq_store::StoreError;
use ferrimq_store::commitlog::{CommitLog, CommitLogConfig, RecoveryMode, TailState};
use ferrimq_store::flush::FlushPolicy;
use ferrimq_store::record::{
    BLANK_MAGIC, MAGIC_V1, MessageRecord, MessageView, Properties, java_string_hash, msg_id,
    sys_flag,
};
use ferrimq_store::seam::real_files;

const FILE_SIZE: usize = 64 * 1024;

fn config(dir: &Path) -> CommitLogConfig {
    CommitLogConfig {
        file_size: FILE_SIZE,
        max_message_size: 16 * 1024,
        flush: FlushPolicy::ASYNC_DEFAULT,
        preallocate: true,
        // Exercise the background pre-faulting too (off by default).
        prefault_ahead: true,
        ..CommitLogConfig::new(dir.join("commitlog"))
    }
}

fn open(dir: &Path) -> CommitLog {
    CommitLog::open(config(dir), real_files(), RecoveryMode::Normal)
        .unwrap()
        .0
}

fn message(i: usize, queue_id: i32) -> MessageRecord {
    let body: Vec<u8> = (0..(100 + i * 37 % 3000)).map(|b| (b + i) as u8).collect();
    MessageRecord::builder("TopicTest", body)
        .queue_id(queue_id)
        .flag(i as i32)
        .born_timestamp(1_700_000_000_000 + i as i64)
        .born_host("192.168.0.7:50123".parse().unwrap())
        .store_host("10.0.0.1:10911".parse().unwrap())
        .reconsume_times(i as i32 % 3)
        .property("TAGS", format!("Tag{}", i % 4))
        .property("KEYS", format!("key-{i} other"))
        .property("UNIQ_KEY", format!("UNIQ{i:028}"))
        .build()
        .unwrap()
}

#[test]
fn every_field_survives_across_file_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut puts = Vec::new();
    for i in 0..200 {
        let msg = message(i, (i % 3) as i32);
        let put = log.append(&msg).unwrap();
        assert!(put.flush.is_none(), "async flush: nothing to wait for");
        assert_eq!(put.size, msg.encoded_len());
        assert_eq!(
            put.queue_offset,
            (i / 3) as i64,
            "per-queue offsets count up"
        );
        puts.push((msg, put));
    }
    let files = log.mapped_files();
    assert!(
        files.len() >= 4,
        "200 messages of up to 3 KB span several 64 KiB files"
    );
    for (i, f) in files.iter().enumerate() {
        let name = f.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(name, format!("{:020}", i * FILE_SIZE));
    }
    for (i, (msg, put)) in puts.iter().enumerate() {
        let rec = log.read_record(put.physical_offset).unwrap().unwrap();
        assert_eq!(rec.bytes.len(), put.size);
        let v = MessageView::new(&rec.bytes).unwrap();
        assert_eq!(v.magic(), MAGIC_V1);
        assert_eq!(v.total_size(), msg.encoded_len());
        assert_eq!(v.body_crc(), crc32fast::hash(msg.body()) & 0x7FFF_FFFF);
        assert_eq!(v.queue_id(), msg.queue_id());
        assert_eq!(v.flag(), i as i32);
        assert_eq!(v.queue_offset(), put.queue_offset);
        assert_eq!(v.physical_offset() as u64, put.physical_offset);
        assert_eq!(v.sys_flag(), 0);
        assert_eq!(v.born_timestamp(), 1_700_000_000_000 + i as i64);
        assert_eq!(v.born_host(), msg.born_host());
        assert_eq!(v.store_timestamp(), put.store_timestamp);
        assert_eq!(v.store_host(), msg.store_host());
        assert_eq!(v.reconsume_times(), i as i32 % 3);
        assert_eq!(v.prepared_transaction_offset(), 0);
        assert_eq!(v.body(), &msg.body()[..]);
        assert_eq!(v.topic(), "TopicTest");
        assert_eq!(v.properties_str(), msg.properties_str());
        assert_eq!(v.tags(), Some(format!("Tag{}", i % 4).as_str()));
        assert_eq!(
            v.tags_code(),
            i64::from(java_string_hash(&format!("Tag{}", i % 4)))
        );
        assert_eq!(
            v.keys().collect::<Vec<_>>(),
            vec![format!("key-{i}").as_str(), "other"]
        );
        assert_eq!(v.uniq_key(), Some(format!("UNIQ{i:028}").as_str()));
        assert_eq!(
            msg_id::decode(&put.msg_id()).unwrap(),
            (msg.store_host(), put.physical_offset as i64)
        );
    }
    // Every full file ends with {remaining, BLANK_MAGIC} right after its last record.
    for f in &files[..files.len() - 1] {
        let last = puts
            .iter()
            .map(|(_, p)| p.physical_offset + p.size as u64)
            .filter(|end| *end > f.base_offset() && *end <= f.base_offset() + FILE_SIZE as u64)
            .max()
            .unwrap();
        let pos = (last - f.base_offset()) as usize;
        let marker = log.read(last, 8).unwrap();
        assert_eq!(&marker[..4], &((FILE_SIZE - pos) as i32).to_be_bytes());
        assert_eq!(&marker[4..], &BLANK_MAGIC.to_be_bytes());
        let err = log.read_record(last).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { offset, .. } if *offset == pos as u64),
            "{err}"
        );
    }
    // The cursor yields exactly the appended records, hopping over the markers.
    let seen: Vec<u64> = log.cursor(0).map(|r| r.unwrap().offset).collect();
    let expected: Vec<u64> = puts.iter().map(|(_, p)| p.physical_offset).collect();
    assert_eq!(seen, expected);
    let mut cur = log.cursor(0);
    while cur.next_record().unwrap().is_some() {}
    assert_eq!(cur.offset(), log.max_offset());
    assert_eq!(log.read_record(log.max_offset()).unwrap(), None);
    assert_eq!(log.queue_offset("TopicTest", 0), 67);
    assert_eq!(log.queue_offset("TopicTest", 2), 66);
}

#[test]
fn reopen_after_clean_shutdown_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let offsets: Vec<u64> = (0..120)
        .map(|i| log.append(&message(i, 0)).unwrap().physical_offset)
        .collect();
    let max = log.max_offset();
    log.shutdown().unwrap();
    assert!(matches!(
        log.append(&message(0, 0)),
        Err(StoreError::ShutDown)
    ));
    assert_eq!(log.flushed_offset(), max);
    drop(log);
    let (log, outcome) =
        CommitLog::open(config(dir.path()), real_files(), RecoveryMode::Normal).unwrap();
    assert_eq!(outcome.max_offset, max);
    assert_eq!(outcome.tail, TailState::Clean);
    assert!(outcome.removed_files.is_empty());
    assert_eq!(log.max_offset(), max);
    let seen: Vec<u64> = log.cursor(0).map(|r| r.unwrap().offset).collect();
    assert_eq!(seen, offsets);
    log.set_queue_offset("TopicTest", 0, 120);
    let next = log.append(&message(120, 0)).unwrap();
    assert_eq!(next.physical_offset, max);
    assert_eq!(next.queue_offset, 120);
}

#[test]
fn batch_gets_consecutive_offsets_in_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.set_queue_offset("TopicTest", 5, 40);
    // Fill most of the first file so the batch cannot fit and must move whole to the next.
    while log.max_offset() < (FILE_SIZE - 6000) as u64 {
        log.append(&message(1, 0)).unwrap();
    }
    let batch: Vec<MessageRecord> = (0..4).map(|i| message(50 + i, 5)).collect();
    let total: usize = batch.iter().map(MessageRecord::encoded_len).sum();
    assert!(total > 6000);
    let put = log.append_batch(&batch).unwrap();
    assert_eq!(put.first_queue_offset, 40);
    assert_eq!(
        put.records[0].0, FILE_SIZE as u64,
        "moved to the second file"
    );
    let mut expect = FILE_SIZE as u64;
    for (i, (off, size)) in put.records.iter().enumerate() {
        assert_eq!(*off, expect);
        let rec = log.read_record(*off).unwrap().unwrap();
        let v = MessageView::new(&rec.bytes).unwrap();
        assert_eq!(v.queue_offset(), 40 + i as i64);
        assert_eq!(v.store_timestamp(), put.store_timestamp);
        assert_eq!(v.body(), &batch[i].body()[..]);
        expect += *size as u64;
    }
    let ids = put.msg_ids();
    let offsets: Vec<i64> = ids
        .split(',')
        .map(|id| ferrimq_store::record::msg_id::decode(id).unwrap().1)
        .collect();
    let expected: Vec<i64> = put.records.iter().map(|(o, _)| *o as i64).collect();
    assert_eq!(
        offsets, expected,
        "one offsetMsgId per record, in order: {ids}"
    );
    assert_eq!(log.queue_offset("TopicTest", 5), 44);
    let mixed = vec![message(1, 1), message(2, 2)];
    assert!(matches!(
        log.append_batch(&mixed),
        Err(StoreError::IllegalMessage(_))
    ));
    assert!(matches!(
        log.append_batch(&[]),
        Err(StoreError::IllegalMessage(_))
    ));
}

#[test]
fn ipv6_hosts_and_transaction_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let born: SocketAddr = "[2001:db8::17]:40000".parse().unwrap();
    let store: SocketAddr = "[fd00::1]:10911".parse().unwrap();
    let mut props = Properties::new();
    props.insert("TRAN_MSG", "true");
    props.insert("PGROUP", "pg");
    let half = MessageRecord::builder("TxTopic", &b"half"[..])
        .sys_flag(sys_flag::TRANSACTION_PREPARED)
        .born_host(born)
        .store_host(store)
        .properties(props.clone())
        .build()
        .unwrap();
    let p1 = log.append(&half).unwrap();
    assert_eq!(p1.queue_offset, 0);
    assert_eq!(
        log.queue_offset("TxTopic", 0),
        0,
        "prepared records do not advance"
    );
    let commit = MessageRecord::builder("TxTopic", &b"commit"[..])
        .sys_flag(sys_flag::TRANSACTION_COMMIT)
        .prepared_transaction_offset(p1.physical_offset as i64)
        .born_host(born)
        .store_host("10.0.0.1:10911".parse().unwrap())
        .build()
        .unwrap();
    let p2 = log.append(&commit).unwrap();
    assert_eq!(log.queue_offset("TxTopic", 0), 1);
    let v1b = log.read_record(p1.physical_offset).unwrap().unwrap().bytes;
    let v1 = MessageView::new(&v1b).unwrap();
    assert_eq!(v1.sys_flag(), 0x4 | 0x10 | 0x20);
    assert_eq!(v1.born_host(), born);
    assert_eq!(v1.store_host(), store);
    assert!(!v1.takes_queue_offset());
    assert_eq!(v1.property("PGROUP"), Some("pg"));
    assert_eq!(Properties::parse(v1.properties_str()), props);
    assert_eq!(p1.msg_id().len(), 56);
    assert_eq!(
        msg_id::decode(&p1.msg_id()).unwrap(),
        (store, p1.physical_offset as i64)
    );
    let v2b = log.read_record(p2.physical_offset).unwrap().unwrap().bytes;
    let v2 = MessageView::new(&v2b).unwrap();
    assert_eq!(v2.sys_flag(), 0x8 | 0x10);
    assert_eq!(v2.prepared_transaction_offset(), p1.physical_offset as i64);
    assert_eq!(v2.queue_offset(), 0);
    assert!(v2.takes_queue_offset());
}

#[test]
fn limits_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let long_topic = "t".repeat(128);
    let err = MessageRecord::builder(long_topic, &b"x"[..])
        .build()
        .unwrap_err();
    assert!(matches!(err, StoreError::IllegalMessage(_)), "{err}");
    assert!(
        MessageRecord::builder("t".repeat(127), &b"x"[..])
            .build()
            .is_ok()
    );
    let err = MessageRecord::builder("T", &b"x"[..])
        .property("K", "v".repeat(32767))
        .build()
        .unwrap_err();
    assert!(matches!(err, StoreError::IllegalMessage(_)), "{err}");
    let big = MessageRecord::builder("T", vec![0u8; 16 * 1024])
        .build()
        .unwrap();
    let err = log.append(&big).unwrap_err();
    assert!(
        matches!(err, StoreError::MessageTooLarge { size, max: 16384 } if size == big.encoded_len()),
        "{err}"
    );
    assert_eq!(log.max_offset(), 0, "nothing was written");
    let bad = CommitLogConfig {
        max_message_size: FILE_SIZE,
        ..config(dir.path())
    };
    assert!(matches!(
        CommitLog::open(bad, real_files(), RecoveryMode::Normal),
        Err(StoreError::IllegalMessage(_))
    ));
}
