//! In-process master and slave stores replicating over loopback: catch-up from empty and from
//! behind, live streaming across CommitLog files, reconnect after a master restart, the
//! SYNC_MASTER waiter fed by real acknowledgements, and the refusals (slave ahead, gaps).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrimq_ha::{HaClient, HaConfig, HaServer, Outcome};
use ferrimq_store::StoreError;
use ferrimq_store::read::AcceptAll;
use ferrimq_store::record::MessageRecord;
use ferrimq_store::store::{MessageStore, StoreConfig};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(15);
const TOPICS: [&str; 2] = ["TopicA", "TopicB"];

fn open(dir: &Path, file_size: usize) -> Arc<MessageStore> {
    let mut c = StoreConfig::new(dir);
    c.mapped_file_size_commit_log = file_size;
    c.max_message_size = 8 * 1024;
    c.mapped_file_size_consume_queue = 1000 * 20;
    c.max_hash_slot_num = 256;
    c.max_index_num = 4096;
    c.preallocate_commit_log = false;
    Arc::new(MessageStore::open(c).expect("open store"))
}

fn cfg() -> HaConfig {
    HaConfig {
        heartbeat_interval: Duration::from_millis(500),
        housekeeping_interval: Duration::from_secs(3),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(400),
        ..HaConfig::default()
    }
}

/// Appends `n` messages (numbered from `from`) over 2 topics x 4 queues; returns the end.
fn fill(store: &MessageStore, from: usize, n: usize) -> u64 {
    let mut end = 0;
    for i in from..from + n {
        let body = format!("message-{i}-").repeat(1 + i % 17);
        let m = MessageRecord::builder(TOPICS[i % 2], body.into_bytes())
            .queue_id((i / 2 % 4) as i32)
            .property("UNIQ_KEY", format!("UNIQ{i:08}"))
            .property("KEYS", format!("key-{i}"))
            .build()
            .expect("valid message");
        let r = store.append(&m).expect("append");
        end = r.physical_offset + r.size as u64;
    }
    end
}

/// Every CommitLog file's written bytes, by base offset.
fn commit_log(store: &MessageStore) -> Vec<(u64, Vec<u8>)> {
    store
        .commit_log()
        .mapped_files()
        .iter()
        .map(|f| {
            let bytes = f.read(0, f.wrote_position()).expect("written").to_vec();
            (f.base_offset(), bytes)
        })
        .collect()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn converge(master: &MessageStore, slave: &MessageStore) {
    let end = master.commit_log_max_offset();
    eventually("the slave to reach the master's end", || {
        slave.commit_log_max_offset() == end
    })
    .await;
}

/// The slave's queues serve the same messages as the master's.
fn assert_same_queues(master: &MessageStore, slave: &MessageStore) {
    let end = slave.commit_log_max_offset();
    assert!(slave.wait_dispatched(end, WAIT), "slave dispatch");
    assert!(master.wait_dispatched(end, WAIT), "master dispatch");
    for topic in TOPICS {
        for q in 0..4 {
            let max = master.max_offset_in_queue(topic, q);
            assert_eq!(slave.max_offset_in_queue(topic, q), max, "{topic}/{q}");
            let min = master.min_offset_in_queue(topic, q);
            let a = master.get_message(topic, q, min, 10_000, None, &AcceptAll);
            let b = slave.get_message(topic, q, min, 10_000, None, &AcceptAll);
            assert_eq!(a.messages, b.messages, "{topic}/{q}");
        }
    }
}

fn client(
    slave: &Arc<MessageStore>,
    addr: SocketAddr,
) -> (HaClient, watch::Sender<Option<String>>) {
    let (tx, rx) = watch::channel(Some(addr.to_string()));
    (HaClient::start(Arc::clone(slave), rx, cfg()), tx)
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_catches_up_from_empty_and_follows_live_appends() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = open(md.path(), 1 << 20);
    let slave = open(sd.path(), 1 << 20);
    fill(&master, 0, 1000); // > 32 KiB: several frames
    assert!(master.commit_log_max_offset() > 3 * 32 * 1024);
    let server = HaServer::start(Arc::clone(&master), local(), cfg()).unwrap();
    let (client, _tx) = client(&slave, server.local_addr());
    converge(&master, &slave).await;
    // Live: appends signalled through the waiter's append signal.
    for round in 0..5 {
        let end = fill(&master, 1000 + round * 50, 50);
        server.waiter().notify_appended(end);
        converge(&master, &slave).await;
    }
    assert_eq!(commit_log(&master), commit_log(&slave), "byte-identical");
    assert_same_queues(&master, &slave);
    let unique = slave.query_by_unique_key("TopicA", "UNIQ00001020", 0, i64::MAX);
    assert_eq!(unique.messages.len(), 1, "index built on the slave");
    let end = master.commit_log_max_offset();
    eventually("the ack to reach the master", || {
        server
            .state()
            .first()
            .is_some_and(|s| s.acked_offset == end)
    })
    .await;
    let states = server.state();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].lag_bytes, 0);
    let cs = client.state();
    assert!(cs.connected);
    assert_eq!(cs.offset, end);
    assert_eq!(cs.master, Some(server.local_addr().to_string()));
    client.shutdown();
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_across_files_and_resumes_from_behind() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = 16 * 1024;
    let master = open(md.path(), file);
    let slave = open(sd.path(), file);
    let server = HaServer::start(Arc::clone(&master), local(), cfg()).unwrap();
    let (client, _tx) = client(&slave, server.local_addr());
    eventually("the slave to connect", || server.state().len() == 1).await;
    let end = fill(&master, 0, 300);
    server.waiter().notify_appended(end);
    converge(&master, &slave).await;
    assert!(
        master.commit_log().mapped_files().len() >= 4,
        "several files"
    );
    client.shutdown();
    eventually("the master to see the slave leave", || {
        server.state().is_empty()
    })
    .await;
    // The slave is now behind by several files.
    fill(&master, 300, 300);
    let (client, _tx) = self::client(&slave, server.local_addr());
    converge(&master, &slave).await;
    assert_eq!(
        commit_log(&master),
        commit_log(&slave),
        "byte-identical across files"
    );
    assert_same_queues(&master, &slave);
    client.shutdown();
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_slave_starts_at_the_masters_last_file() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = 16 * 1024;
    let master = open(md.path(), file);
    let slave = open(sd.path(), file);
    fill(&master, 0, 200);
    let end = master.commit_log_max_offset();
    let last_base = end - end % file as u64;
    assert!(last_base > 0);
    let server = HaServer::start(Arc::clone(&master), local(), cfg()).unwrap();
    let (client, _tx) = client(&slave, server.local_addr());
    converge(&master, &slave).await;
    assert_eq!(slave.commit_log_min_offset(), last_base);
    let master_files = commit_log(&master);
    assert_eq!(
        commit_log(&slave),
        master_files[master_files.len() - 1..].to_vec()
    );
    client.shutdown();
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_reconnects_after_a_master_restart() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = open(md.path(), 1 << 20);
    let slave = open(sd.path(), 1 << 20);
    fill(&master, 0, 100);
    let server = HaServer::start(Arc::clone(&master), local(), cfg()).unwrap();
    let addr = server.local_addr();
    let (client, _tx) = client(&slave, addr);
    converge(&master, &slave).await;
    server.shutdown();
    drop(server);
    master.shutdown().unwrap();
    drop(master);
    eventually("the slave to notice", || !client.state().connected).await;
    let master = open(md.path(), 1 << 20);
    fill(&master, 100, 100);
    let server = HaServer::start(Arc::clone(&master), addr, cfg()).unwrap();
    converge(&master, &slave).await;
    assert!(client.state().connected);
    assert_eq!(commit_log(&master), commit_log(&slave));
    assert_same_queues(&master, &slave);
    client.shutdown();
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_waits_complete_from_slave_acks() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = open(md.path(), 1 << 20);
    let slave = open(sd.path(), 1 << 20);
    let server = HaServer::start(Arc::clone(&master), local(), cfg()).unwrap();
    let end = fill(&master, 0, 1);
    let t = Duration::from_secs(5);
    assert_eq!(server.waiter().wait(end, t).await, Outcome::NoSlave);
    let (client, _tx) = client(&slave, server.local_addr());
    eventually("the slave to report", || server.waiter().slave_count() == 1).await;
    for i in 1..50 {
        let end = fill(&master, i, 1);
        let started = Instant::now();
        assert_eq!(server.waiter().wait(end, t).await, Outcome::Replicated);
        assert!(
            slave.commit_log_max_offset() >= end,
            "the slave has the bytes"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no idle-poll wait"
        );
    }
    client.shutdown();
    eventually("the master to see the slave leave", || {
        server.state().is_empty()
    })
    .await;
    let end = fill(&master, 50, 1);
    assert_eq!(server.waiter().wait(end, t).await, Outcome::NoSlave);
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_ahead_of_a_fresh_master_is_refused() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = open(md.path(), 1 << 20);
    let slave = open(sd.path(), 1 << 20);
    fill(&master, 0, 10);
    let slave_end = fill(&slave, 0, 50);
    let server = HaServer::start(Arc::clone(&master), local(), cfg()).unwrap();
    let (client, _tx) = client(&slave, server.local_addr());
    eventually("the slave to try", || client.state().connected).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(slave.commit_log_max_offset(), slave_end, "slave untouched");
    assert_eq!(
        server.waiter().acked_offset(),
        0,
        "its report acknowledges nothing"
    );
    let end = master.commit_log_max_offset();
    assert_eq!(
        server.waiter().wait(end, Duration::from_secs(1)).await,
        Outcome::NoSlave,
        "a refused slave does not count"
    );
    client.shutdown();
    server.shutdown();
}

#[test]
fn raw_appends_refuse_gaps_overlaps_and_torn_records() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = open(md.path(), 1 << 20);
    let slave = open(sd.path(), 1 << 20);
    let end = fill(&master, 0, 20);
    let chunk = master.replica_chunk(0, 1 << 20).unwrap().expect("data");
    assert_eq!(chunk.end(), end);
    // Not a file boundary for an empty slave.
    let err = slave.append_replica(100, &chunk.bytes).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::ReplicaOffset {
                expected: 0,
                got: 100,
                ..
            }
        ),
        "{err}"
    );
    // A torn record.
    let err = slave
        .append_replica(0, &chunk.bytes[..chunk.bytes.len() - 3])
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(slave.commit_log_max_offset(), 0);
    let half = master.replica_chunk(0, 1000).unwrap().expect("data");
    assert!(
        half.bytes.len() <= 1000 && half.end() < end,
        "whole records up to the batch"
    );
    slave.append_replica(0, &half.bytes).unwrap();
    // Overlap and gap.
    let err = slave.append_replica(0, &half.bytes).unwrap_err();
    assert!(
        matches!(err, StoreError::ReplicaOffset { got: 0, .. }),
        "{err}"
    );
    let rest = master
        .replica_chunk(half.end(), 1 << 20)
        .unwrap()
        .expect("rest");
    let err = slave
        .append_replica(half.end() + 1, &rest.bytes)
        .unwrap_err();
    assert!(matches!(err, StoreError::ReplicaOffset { .. }), "{err}");
    let r = slave.append_replica(half.end(), &rest.bytes).unwrap();
    assert_eq!(r.end_offset, end);
    assert_eq!(commit_log(&master), commit_log(&slave));
    // Not a record boundary on the master.
    assert!(matches!(
        master.replica_chunk(1, 100),
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(master.replica_chunk(end, 100).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_waits_for_and_follows_the_master_address() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = open(md.path(), 1 << 20);
    let slave = open(sd.path(), 1 << 20);
    fill(&master, 0, 30);
    let server = HaServer::start(Arc::clone(&master), local(), cfg()).unwrap();
    let (tx, rx) = watch::channel(None);
    let client = HaClient::start(Arc::clone(&slave), rx, cfg());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.state().master, None);
    assert!(!client.state().connected);
    assert_eq!(slave.commit_log_max_offset(), 0);
    // An unreachable master first, then the real one.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    tx.send_replace(Some(dead.to_string()));
    eventually("the client to follow", || {
        client.state().master == Some(dead.to_string())
    })
    .await;
    tx.send_replace(Some(server.local_addr().to_string()));
    converge(&master, &slave).await;
    assert!(client.state().connected);
    client.shutdown();
    server.shutdown();
}
