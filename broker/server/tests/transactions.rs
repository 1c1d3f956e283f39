//! Transactions over the wire: half messages stay invisible, END_TRANSACTION commits exactly the
//! committed ones, the check-back service resolves undecided halves through a producer
//! connection (commit and rollback), gives up after transactionCheckMax into
//! TRANS_CHECK_MAX_TIME_TOPIC, and resumes after a restart without re-checking resolved halves.

mod fixture;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use ferrimq_config::topic::{TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use ferrimq_remoting::body::{HeartbeatData, JsonBody, ProducerConnection, ProducerData};
use ferrimq_remoting::header::typed::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader,
    GetProducerConnectionListRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode};
use ferrimq_store::read::AcceptAll;
use ferrimq_store::record::MessageView;
use ferrimq_transport::{Channel, ClientConfig, DispatchTable, RemotingClient, next_opaque};
use fixture::*;

const TOPIC: &str = "TxTopic";
const GROUP: &str = "PG_TX";
/// Check-back every 300 ms, halves checked once 500 ms old.
const FAST_CHECKS: &str = "transactionCheckInterval=300\ntransactionTimeOut=500\n";

/// `extra` plus a free HA port (the HA listener is bound even by a lone master).
fn conf(extra: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(0, |a| a.port());
    format!("{extra}haListenPort={port}\n")
}

/// One stored record, decoded.
#[derive(Debug, Clone)]
struct Rec {
    body: String,
    uniq: String,
    sys_flag: i32,
    prepared_offset: i64,
    props: String,
}

fn records(cluster: &Cluster, topic: &str) -> Vec<Rec> {
    cluster.settle();
    let store = cluster.broker.as_ref().expect("running").store();
    let r = store.get_message(topic, 0, 0, 1000, None, &AcceptAll);
    r.messages
        .iter()
        .map(|m| {
            let v = MessageView::new(m).expect("record");
            Rec {
                body: String::from_utf8_lossy(v.body()).into_owned(),
                uniq: v.uniq_key().unwrap_or("").to_owned(),
                sys_flag: v.sys_flag(),
                prepared_offset: v.prepared_transaction_offset(),
                props: v.properties_str().to_owned(),
            }
        })
        .collect()
}

fn bodies(cluster: &Cluster, topic: &str) -> BTreeSet<String> {
    records(cluster, topic)
        .into_iter()
        .map(|r| r.body)
        .collect()
}

/// The send response fields END_TRANSACTION needs.
#[derive(Debug)]
struct Half {
    uniq: String,
    queue_offset: i64,
    commit_log_offset: i64,
}

async fn send_half(client: &RemotingClient, addr: &str, body: &'static [u8]) -> Result<Half> {
    let uniq = format!("UNIQ-{}", String::from_utf8_lossy(body));
    let properties = props(&[
        ("TRAN_MSG", "true"),
        ("PGROUP", GROUP),
        ("UNIQ_KEY", &uniq),
        ("WAIT", "true"),
    ]);
    let mut request = send_v2(TOPIC, 0, &properties, body);
    request.ext_fields.insert("f".into(), "4".into());
    let r = client.invoke(addr, request, TIMEOUT).await?;
    anyhow::ensure!(r.code == 0, "half send answered {} {:?}", r.code, r.remark);
    let msg_id = r.ext_fields.get("msgId").cloned().unwrap_or_default();
    let (_, commit_log_offset) = ferrimq_store::record::msg_id::decode(&msg_id)?;
    let queue_offset = r
        .ext_fields
        .get("queueOffset")
        .map_or(Ok(-1), |v| v.parse())?;
    Ok(Half {
        uniq,
        queue_offset,
        commit_log_offset,
    })
}

fn end_request(half: &Half, group: &str, decision: i32) -> RemotingCommand {
    let header = EndTransactionRequestHeader {
        topic: Some(TOPIC.into()),
        producer_group: group.into(),
        tran_state_table_offset: half.queue_offset,
        commit_log_offset: half.commit_log_offset,
        commit_or_rollback: decision,
        from_transaction_check: Some(false),
        msg_id: half.uniq.clone(),
        transaction_id: Some(half.uniq.clone()),
    };
    RemotingCommand::request(RequestCode::EndTransaction, next_opaque()).with_header(&header)
}

async fn heartbeat(client: &RemotingClient, addr: &str) -> Result<()> {
    let data = HeartbeatData {
        client_id: "127.0.0.1@tx-test".into(),
        producer_data_set: vec![ProducerData {
            group_name: GROUP.into(),
        }],
        ..HeartbeatData::default()
    };
    let request =
        RemotingCommand::request(RequestCode::HeartBeat, next_opaque()).with_body(data.encode()?);
    let r = client.invoke(addr, request, TIMEOUT).await?;
    anyhow::ensure!(r.code == 0, "heartbeat answered {}", r.code);
    Ok(())
}

/// A check-back the test producer received.
#[derive(Debug, Clone)]
struct Check {
    header: CheckTransactionStateRequestHeader,
    body: String,
    topic: String,
    queue_id: i32,
    check_times: String,
}

type Checks = Arc<Mutex<Vec<Check>>>;

/// A producer connection answering CHECK_TRANSACTION_STATE with `decide(body)` (0 = unknown).
fn producer(checks: Checks, decide: fn(&str) -> i32) -> RemotingClient {
    let table = DispatchTable::new().route(
        RequestCode::CheckTransactionState,
        move |request: RemotingCommand, channel: Channel| {
            let checks = Arc::clone(&checks);
            async move {
                let header: CheckTransactionStateRequestHeader = request.decode_header()?;
                let view = MessageView::new(&request.body)?;
                let body = String::from_utf8_lossy(view.body()).into_owned();
                let check = Check {
                    header: header.clone(),
                    topic: view.topic().to_owned(),
                    queue_id: view.queue_id(),
                    check_times: view
                        .property("TRANSACTION_CHECK_TIMES")
                        .unwrap_or("")
                        .into(),
                    body: body.clone(),
                };
                checks.lock().expect("checks").push(check);
                let end = EndTransactionRequestHeader {
                    topic: header.topic.clone(),
                    producer_group: GROUP.into(),
                    tran_state_table_offset: header.tran_state_table_offset,
                    commit_log_offset: header.commit_log_offset,
                    commit_or_rollback: decide(&body),
                    from_transaction_check: Some(true),
                    msg_id: header.msg_id.clone().unwrap_or_default(),
                    transaction_id: header.transaction_id.clone(),
                };
                let command = RemotingCommand::request(RequestCode::EndTransaction, next_opaque())
                    .with_header(&end)
                    .into_oneway();
                channel.send_oneway(command)?;
                Ok(None)
            }
        },
    );
    RemotingClient::new(ClientConfig::default(), table)
}

/// Polls until `done` holds or `limit` passes.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn committed_are_visible_and_rolled_back_never() -> Result<()> {
    let cluster = Cluster::start(&conf("transactionCheckInterval=60000\n")).await?;
    let addr = cluster.broker_addr();
    let mut halves = Vec::new();
    for body in [&b"c1"[..], b"r1", b"c2", b"u1"] {
        halves.push(send_half(&cluster.client, &addr, body).await?);
    }
    assert_eq!(
        bodies(&cluster, TOPIC),
        BTreeSet::new(),
        "halves are invisible"
    );
    assert_eq!(records(&cluster, TRANS_HALF_TOPIC).len(), 4);
    assert_eq!(
        halves.iter().map(|h| h.queue_offset).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );

    let wrong = cluster.call(end_request(&halves[0], "OTHER", 8)).await?;
    assert_eq!(wrong.code, 1, "a foreign producer group is refused");
    for (half, decision) in [
        (&halves[0], 8),
        (&halves[1], 12),
        (&halves[2], 8),
        (&halves[3], 0),
    ] {
        let r = cluster.call(end_request(half, GROUP, decision)).await?;
        assert_eq!(r.code, 0);
    }
    assert_eq!(bodies(&cluster, TOPIC), set(&["c1", "c2"]));
    let committed = records(&cluster, TOPIC);
    for (rec, half) in committed.iter().zip([&halves[0], &halves[2]]) {
        assert_eq!(rec.uniq, half.uniq);
        assert_eq!(rec.sys_flag & 0xC, 8, "commit type");
        assert_eq!(rec.prepared_offset, half.commit_log_offset);
        assert!(!rec.props.contains("TRAN_MSG"), "props: {}", rec.props);
        assert!(!rec.props.contains("REAL_TOPIC"), "props: {}", rec.props);
        assert!(
            rec.props.contains("PGROUP\u{1}PG_TX"),
            "props: {}",
            rec.props
        );
    }
    let ops: Vec<String> = records(&cluster, TRANS_OP_HALF_TOPIC)
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(
        ops,
        vec!["0", "1", "2"],
        "one op per decided half, body = half offset"
    );
    cluster.stop().await
}

/// A disk whose CommitLog syncs take 600 ms once armed.
#[derive(Debug, Default)]
struct SlowOnceArmed(std::sync::atomic::AtomicBool);

impl ferrimq_store::seam::FileSeam for SlowOnceArmed {
    fn before_sync(&self, path: &std::path::Path) -> std::io::Result<()> {
        let armed = self.0.load(std::sync::atomic::Ordering::SeqCst);
        if armed && path.components().any(|c| c.as_os_str() == "commitlog") {
            std::thread::sleep(Duration::from_millis(600));
        }
        Ok(())
    }
}

/// Under SYNC_FLUSH a two-way commit is answered only once the committed message is durable,
/// like a send.
#[tokio::test]
async fn sync_flush_commit_is_answered_after_the_committed_message_is_durable() -> Result<()> {
    let seam = Arc::new(SlowOnceArmed::default());
    let hooks = ferrimq_store::store::StoreHooks {
        seam: Arc::clone(&seam) as Arc<dyn ferrimq_store::seam::FileSeam>,
        ..Default::default()
    };
    let extra = conf("flushDiskType=SYNC_FLUSH\ntransactionCheckInterval=60000\n");
    let cluster = Cluster::start_with(&extra, hooks).await?;
    let addr = cluster.broker_addr();
    let half = send_half(&cluster.client, &addr, b"durable").await?;
    seam.0.store(true, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    let r = cluster.call(end_request(&half, GROUP, 8)).await?;
    let waited = started.elapsed();
    seam.0.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert!(
        waited >= Duration::from_millis(550),
        "answered after {waited:?}, before the 600 ms sync of the committed message"
    );
    assert_eq!(bodies(&cluster, TOPIC), set(&["durable"]));
    cluster.stop().await
}

#[tokio::test]
async fn rejected_when_the_broker_refuses_transactions() -> Result<()> {
    let cluster = Cluster::start(&conf("rejectTransactionMessage=true\n")).await?;
    let addr = cluster.broker_addr();
    let err = send_half(&cluster.client, &addr, b"x")
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("answered 16"), "{err}");
    assert!(records(&cluster, TRANS_HALF_TOPIC).is_empty());
    cluster.stop().await
}

#[tokio::test]
async fn check_back_resolves_unknown_transactions() -> Result<()> {
    let cluster = Cluster::start(&conf(FAST_CHECKS)).await?;
    let addr = cluster.broker_addr();
    let checks: Checks = Arc::default();
    let producer = producer(Arc::clone(&checks), |body| {
        if body.starts_with('c') { 8 } else { 12 }
    });
    heartbeat(&producer, &addr).await?;
    let list = GetProducerConnectionListRequestHeader {
        producer_group: GROUP.into(),
    };
    let r = cluster
        .call(
            RemotingCommand::request(RequestCode::GetProducerConnectionList, next_opaque())
                .with_header(&list),
        )
        .await?;
    assert_eq!(r.code, 0);
    let connection = ProducerConnection::decode(&r.body)?;
    let ids: Vec<&str> = connection
        .connection_set
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    assert_eq!(ids, vec!["127.0.0.1@tx-test"]);

    let c = send_half(&producer, &addr, b"c-unknown").await?;
    send_half(&producer, &addr, b"r-unknown").await?;
    let resolved = wait_until(Duration::from_secs(10), || {
        records(&cluster, TRANS_OP_HALF_TOPIC).len() == 2
    })
    .await;
    assert!(resolved, "both halves resolved by check-back");
    // A few more rounds: nothing is checked again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(bodies(&cluster, TOPIC), set(&["c-unknown"]));
    let checks = checks.lock().expect("checks").clone();
    let checked: Vec<&str> = checks.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(
        checked,
        vec!["c-unknown", "r-unknown"],
        "each half checked once"
    );
    let first = &checks[0];
    assert_eq!(
        (first.topic.as_str(), first.queue_id),
        (TOPIC, 0),
        "real destination"
    );
    assert_eq!(first.check_times, "1");
    assert_eq!(first.header.msg_id.as_deref(), Some(c.uniq.as_str()));
    assert_eq!(
        first.header.transaction_id.as_deref(),
        Some(c.uniq.as_str())
    );
    assert_eq!(first.header.topic.as_deref(), Some(TOPIC));
    assert_eq!(first.header.broker_name.as_deref(), Some(BROKER_NAME));
    assert!(
        first.header.tran_state_table_offset >= 2,
        "the check names the put-back copy"
    );
    producer.shutdown();
    cluster.stop().await
}

#[tokio::test]
async fn gives_up_after_transaction_check_max() -> Result<()> {
    let cluster = Cluster::start(&conf(&format!("{FAST_CHECKS}transactionCheckMax=2\n"))).await?;
    let addr = cluster.broker_addr();
    let checks: Checks = Arc::default();
    let producer = producer(Arc::clone(&checks), |_| 0);
    heartbeat(&producer, &addr).await?;
    send_half(&producer, &addr, b"undecided").await?;
    let moved = wait_until(Duration::from_secs(10), || {
        !records(&cluster, TRANS_CHECK_MAX_TIME_TOPIC).is_empty()
    })
    .await;
    assert!(moved, "moved to {TRANS_CHECK_MAX_TIME_TOPIC}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let times: Vec<String> = checks
        .lock()
        .expect("checks")
        .iter()
        .map(|c| c.check_times.clone())
        .collect();
    assert_eq!(times, vec!["1", "2"], "exactly transactionCheckMax checks");
    let parked = records(&cluster, TRANS_CHECK_MAX_TIME_TOPIC);
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].body, "undecided");
    assert!(
        parked[0].props.contains("REAL_TOPIC\u{1}TxTopic"),
        "{}",
        parked[0].props
    );
    assert!(bodies(&cluster, TOPIC).is_empty());
    producer.shutdown();
    cluster.stop().await
}

#[tokio::test]
async fn a_restart_keeps_unresolved_halves_and_forgets_resolved_ones() -> Result<()> {
    let mut cluster = Cluster::start(&conf(FAST_CHECKS)).await?;
    let addr = cluster.broker_addr();
    let committed = send_half(&cluster.client, &addr, b"c-before").await?;
    send_half(&cluster.client, &addr, b"c-pending").await?;
    assert_eq!(
        cluster.call(end_request(&committed, GROUP, 8)).await?.code,
        0
    );
    // No producer online: rounds pass the resolved half and put the pending one back.
    let rounds = wait_until(Duration::from_secs(10), || {
        records(&cluster, TRANS_HALF_TOPIC).len() >= 3
    })
    .await;
    assert!(rounds, "a check round ran before the restart");
    cluster.restart_broker(&conf(FAST_CHECKS)).await?;
    let addr = cluster.broker_addr();
    let checks: Checks = Arc::default();
    let producer = producer(Arc::clone(&checks), |_| 8);
    heartbeat(&producer, &addr).await?;
    let done = wait_until(Duration::from_secs(10), || {
        bodies(&cluster, TOPIC).len() == 2
    })
    .await;
    assert!(done, "the pending half is checked after the restart");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(bodies(&cluster, TOPIC), set(&["c-before", "c-pending"]));
    assert_eq!(records(&cluster, TOPIC).len(), 2, "nothing committed twice");
    let checked: Vec<String> = checks
        .lock()
        .expect("checks")
        .iter()
        .map(|c| c.body.clone())
        .collect();
    assert_eq!(
        checked,
        vec!["c-pending"],
        "the resolved half is never checked"
    );
    producer.shutdown();
    cluster.stop().await
}

#[tokio::test]
async fn producer_connection_list_follows_heartbeat_and_unregister() -> Result<()> {
    let cluster = Cluster::start(&conf("")).await?;
    let addr = cluster.broker_addr();
    let list = |group: &str| {
        let header = GetProducerConnectionListRequestHeader {
            producer_group: group.into(),
        };
        RemotingCommand::request(RequestCode::GetProducerConnectionList, next_opaque())
            .with_header(&header)
    };
    let r = cluster.call(list(GROUP)).await?;
    assert_eq!(
        (r.code, r.remark.as_deref()),
        (1, Some("the producer group[PG_TX] not exist"))
    );
    heartbeat(&cluster.client, &addr).await?;
    let r = cluster.call(list(GROUP)).await?;
    assert_eq!(r.code, 0);
    assert_eq!(ProducerConnection::decode(&r.body)?.connection_set.len(), 1);
    let unregister = ferrimq_remoting::header::typed::UnregisterClientRequestHeader {
        client_id: "127.0.0.1@tx-test".into(),
        producer_group: Some(GROUP.into()),
        consumer_group: None,
    };
    let request = RemotingCommand::request(RequestCode::UnregisterClient, next_opaque())
        .with_header(&unregister);
    assert_eq!(cluster.call(request).await?.code, 0);
    assert_eq!(cluster.call(list(GROUP)).await?.code, 1);
    cluster.stop().await
}
