//! The official mqadmin (rocketmq-tools 4.9.8 and 5.3.3) administering a running *Rust* push
//! consumer through `ferrimq standalone`, the broker relaying its calls to the client:
//!
//! - `consumerStatus -g G -i <clientId>` (GET_CONSUMER_RUNNING_INFO, 307): prints the consumer's
//!   properties, its subscription and its committed offset of every queue;
//! - the admin API's getConsumeStatus (scenario `consumer-status`; mqadmin does not register its
//!   getConsumerStatus command): INVOKE_BROKER_TO_GET_CONSUMER_STATUS 223 ->
//!   GET_CONSUMER_STATUS_FROM_CLIENT 221, the client's offset of both queues;
//! - `resetOffsetByTime -s 0` (INVOKE_BROKER_TO_RESET_OFFSET 222 -> RESET_CONSUMER_CLIENT_OFFSET
//!   220): lists offset 0 for both queues, and the running consumer consumes every message exactly
//!   once more;
//! - `queryMsgById -g G -d <clientId>` (CONSUME_MESSAGE_DIRECTLY, 309): the listener gets that one
//!   message once more and mqadmin prints CR_SUCCESS.

mod compat_harness;
mod ports;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use compat_harness::{Java, Result, Standalone, VERSIONS, tools_home};
use ferrimq_client::push_consumer::{ConcurrentContext, PushConsumerConfig};
use ferrimq_client::{
    ConsumeConcurrentlyStatus, Listener, Message, MessageExt, Producer, ProducerConfig,
    PushConsumer, Session, SessionConfig, StartPosition,
};

const TOPIC: &str = "RustConsumerAdmin";
/// `<topic>_group`, the group the Java scenarios of compat_harness use.
const GROUP: &str = "RustConsumerAdmin_group";
const COUNT: usize = 6;

/// Deliveries per message id.
type Deliveries = Arc<Mutex<BTreeMap<String, usize>>>;

fn counting(deliveries: &Deliveries) -> Listener {
    let deliveries = Arc::clone(deliveries);
    Listener::concurrently(move |messages: &[MessageExt], _: &mut ConcurrentContext| {
        let mut seen = deliveries.lock().expect("lock");
        for m in messages {
            *seen.entry(m.msg_id().to_owned()).or_default() += 1;
        }
        ConsumeConcurrentlyStatus::ConsumeSuccess
    })
}

/// Waits (30 s at most) until every message of `ids` was delivered exactly `times` times.
async fn wait_deliveries(deliveries: &Deliveries, ids: &[String], times: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = deliveries.lock().expect("lock").clone();
        let want: BTreeMap<String, usize> = ids.iter().map(|id| (id.clone(), times)).collect();
        if seen == want {
            return Ok(());
        }
        if Instant::now() > deadline || seen.values().any(|&n| n > times) {
            return Err(
                format!("deliveries {seen:?}, wanted each of {ids:?} {times} times").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the official `mqadmin <args> -n <namesrv>` on a blocking thread; returns its stdout.
async fn mqadmin(java: &Java, home: &Path, namesrv: &str, args: &[&str]) -> Result<String> {
    let mut cmd = java.command("org.apache.rocketmq.tools.command.MQAdminStartup");
    cmd.env("ROCKETMQ_HOME", home)
        .args(args)
        .args(["-n", namesrv]);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stdout.contains("Exception") || stderr.contains("Exception") {
        return Err(format!("mqadmin {args:?} ({}):\n{stdout}\n{stderr}", out.status).into());
    }
    Ok(stdout)
}

fn create_topic(namesrv: &str) -> Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrimq"))
        .args(["admin", "-n", namesrv, "topic", "create", "--topic", TOPIC])
        .args([
            "--cluster",
            "DefaultCluster",
            "--read-queues",
            "2",
            "--write-queues",
            "2",
        ])
        .output()?;
    if !out.status.success() {
        return Err(format!("topic create: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

/// Sends COUNT messages with the Rust producer; returns (msgId, offsetMsgId) pairs.
async fn send_all(namesrv: &str) -> Result<Vec<(String, String)>> {
    let session = Session::new(SessionConfig::new([namesrv.to_owned()]));
    let producer = Producer::new(
        Arc::clone(&session),
        ProducerConfig::new("RustAdminProducer"),
    );
    let mut sent = Vec::new();
    for i in 0..COUNT {
        let r = producer
            .send(Message::new(TOPIC, format!("admin-{i}").into_bytes()))
            .await?;
        sent.push((r.msg_id, r.offset_msg_id));
    }
    session.shutdown();
    Ok(sent)
}

/// Waits (30 s at most) until the broker holds the consumer's commits of every message (the
/// consumer persists them every 300 ms): a reset of a group without commits is refused.
async fn wait_committed(namesrv: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrimq"))
            .args([
                "admin", "-n", namesrv, "consumer", "progress", "-g", GROUP, "-t", TOPIC,
            ])
            .arg("--json")
            .output()?;
        let progress: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let committed: i64 = progress["queues"]
            .as_array()
            .map(|qs| qs.iter().filter_map(|q| q["consumerOffset"].as_i64()).sum())
            .unwrap_or(-1);
        if committed == COUNT as i64 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("committed offsets never reached {COUNT}: {progress}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The value printed after `name` on a `name : value` line of consumerStatus.
fn property<'a>(output: &'a str, name: &str) -> Option<&'a str> {
    output.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// consumerStatus of the Rust client: properties, subscription and the offset table.
async fn check_status(java: &Java, home: &Path, namesrv: &str, client_id: &str) -> Result<()> {
    let out = mqadmin(
        java,
        home,
        namesrv,
        &["consumerStatus", "-g", GROUP, "-i", client_id],
    )
    .await?;
    assert_eq!(property(&out, "consumerGroup"), Some(GROUP), "{out}");
    assert_eq!(property(&out, "messageModel"), Some("CLUSTERING"), "{out}");
    assert_eq!(
        property(&out, "PROP_CONSUME_TYPE"),
        Some("CONSUME_PASSIVELY"),
        "{out}"
    );
    assert_eq!(
        property(&out, "PROP_NAMESERVER_ADDR"),
        Some(namesrv),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains(TOPIC) && l.contains("SubExpression: *")),
        "subscription missing:\n{out}"
    );
    let offsets: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cols| cols.len() == 4 && cols[0] == TOPIC)
        .collect();
    let committed: i64 = offsets
        .iter()
        .filter_map(|c| c[3].parse::<i64>().ok())
        .sum();
    assert_eq!(offsets.len(), 2, "two queue rows:\n{out}");
    assert_eq!(committed, COUNT as i64, "offsets:\n{out}");
    Ok(())
}

/// The `consumer-status` scenario (the admin API's getConsumeStatus: 223 -> 221 on the
/// client): the client's offset of each queue.
async fn check_client_offsets(java: &Java, dir: &Path, namesrv: &str, client: &str) -> Result<()> {
    let child = java.spawn("consumer-status", namesrv, TOPIC, dir)?;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut rows: Vec<(String, String, i32, i64)> = stdout
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.strip_prefix("STATUS ")?.split(' ').collect();
            let [id, broker, queue, offset] = cols[..] else {
                return None;
            };
            Some((
                id.to_owned(),
                broker.to_owned(),
                queue.parse().ok()?,
                offset.parse().ok()?,
            ))
        })
        .collect();
    rows.sort();
    let queues: Vec<(String, String, i32)> = rows
        .iter()
        .map(|(c, b, q, _)| (c.clone(), b.clone(), *q))
        .collect();
    let want = [0, 1].map(|q| (client.to_owned(), "DEFAULT_BROKER".to_owned(), q));
    let total: i64 = rows.iter().map(|r| r.3).sum();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(queues, want, "consumer-status:\n{stdout}\n{stderr}");
    assert_eq!(total, COUNT as i64, "consumer-status:\n{stdout}");
    assert!(
        stdout.contains("SCENARIO consumer-status OK 2"),
        "{stdout}\n{stderr}"
    );
    Ok(())
}

/// resetOffsetByTime to the start: both queues listed at 0.
async fn check_reset(java: &Java, home: &Path, namesrv: &str) -> Result<()> {
    let args = [
        "resetOffsetByTime",
        "-g",
        GROUP,
        "-t",
        TOPIC,
        "-s",
        "0",
        "-f",
        "true",
    ];
    let out = mqadmin(java, home, namesrv, &args).await?;
    let mut rows: Vec<(String, String)> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cols| cols.len() == 3 && cols[0] == "DEFAULT_BROKER")
        .map(|cols| (cols[1].to_owned(), cols[2].to_owned()))
        .collect();
    rows.sort();
    let want = [
        ("0".to_owned(), "0".to_owned()),
        ("1".to_owned(), "0".to_owned()),
    ];
    assert_eq!(rows, want, "resetOffsetByTime:\n{out}");
    Ok(())
}

/// queryMsgById -g -d: one direct consumption, CR_SUCCESS.
async fn check_direct(
    java: &Java,
    home: &Path,
    namesrv: &str,
    id: &str,
    client: &str,
) -> Result<()> {
    let mut args = vec!["queryMsgById", "-i", id, "-g", GROUP, "-d", client];
    if java.version != "4.9" {
        args.extend(["-t", TOPIC]);
    }
    let out = mqadmin(java, home, namesrv, &args).await?;
    assert!(
        out.contains("consumeResult=CR_SUCCESS"),
        "queryMsgById -d:\n{out}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mqadmin_reads_status_resets_offsets_and_consumes_directly_on_a_rust_consumer() -> Result<()>
{
    let node = Standalone::new()?;
    let process = node.start()?;
    let namesrv = node.namesrv();
    create_topic(&namesrv)?;
    let deliveries = Deliveries::default();
    let mut config = PushConsumerConfig::new(GROUP);
    config.consume_from = StartPosition::First;
    config.rebalance_interval = Duration::from_secs(1);
    config.persist_interval = Duration::from_millis(300);
    config.broker_suspend_max = Duration::from_secs(2);
    let mut session = SessionConfig::new([namesrv.clone()]);
    session.instance_name = "rust_admin_target".to_owned();
    let consumer = PushConsumer::new(session, config, counting(&deliveries))?;
    consumer.subscribe(TOPIC, "*");
    consumer.start().await?;
    let sent = send_all(&namesrv).await?;
    let ids: Vec<String> = sent.iter().map(|(id, _)| id.clone()).collect();
    wait_deliveries(&deliveries, &ids, 1).await?;
    let home = tools_home(node.dir.path())?;
    let client_id = consumer.client_id().to_owned();
    let mut round = 1;
    for version in VERSIONS {
        let Some(java) = Java::new(version, node.dir.path())? else {
            return Ok(());
        };
        wait_committed(&namesrv).await?;
        let outcome = async {
            check_status(&java, &home, &namesrv, &client_id).await?;
            check_client_offsets(&java, node.dir.path(), &namesrv, &client_id).await?;
            check_reset(&java, &home, &namesrv).await?;
            round += 1;
            wait_deliveries(&deliveries, &ids, round).await?;
            check_direct(&java, &home, &namesrv, &sent[0].1, &client_id).await?;
            let seen = deliveries.lock().expect("lock").clone();
            assert_eq!(
                seen.get(&ids[0]),
                Some(&(round + 1)),
                "direct delivery: {seen:?}"
            );
            deliveries
                .lock()
                .expect("lock")
                .insert(ids[0].clone(), round);
            Ok::<(), Box<dyn std::error::Error>>(())
        }
        .await;
        if let Err(e) = outcome {
            return Err(format!("client {version}: {e}\nbroker log:\n{}", process.log()).into());
        }
    }
    consumer.shutdown().await?;
    process.stop()
}
