//! Delayed delivery and orderly locks over the wire, with an accelerated delay table
//! (`messageDelayLevel=1s 2s 3s`): each level delivers on time, a restart in the middle
//! delivers every delayed message exactly once, retry copies wait for their delay, and
//! LOCK_BATCH_MQ / UNLOCK_BATCH_MQ hand a queue to one client at a time.

mod fixture;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Result;
use ferrimq_remoting::body::{JsonBody, LockBatchRequestBody, LockBatchResponseBody, MessageQueue};
use ferrimq_remoting::header::typed::ConsumerSendMsgBackRequestHeader;
use ferrimq_remoting::{RemotingCommand, RequestCode};
use ferrimq_store::dispatch::SCHEDULE_TOPIC;
use ferrimq_transport::next_opaque;
use fixture::*;

const LEVELS: &str = "messageDelayLevel=1s 2s 3s";
const SUBSCRIPTION: i32 = 0x4;
/// Slack allowed past a level's delay (100 ms ticks, dispatch, pull polling).
const TOLERANCE: Duration = Duration::from_millis(900);

fn field<'a>(c: &'a RemotingCommand, key: &str) -> &'a str {
    c.ext_fields.get(key).map(String::as_str).unwrap_or("")
}

/// Everything currently in (topic, queue) from offset 0.
async fn pull_all(cluster: &Cluster, topic: &str, queue_id: i32) -> Result<Vec<Pulled>> {
    let r = cluster
        .call(pull(&pull_header("CG", topic, queue_id, 0, SUBSCRIPTION)))
        .await?;
    if r.code != 0 {
        return Ok(Vec::new());
    }
    decode_pulled(&r.body)
}

/// Polls (topic, queue) until it holds `count` messages; each body with its arrival time.
async fn arrivals(
    cluster: &Cluster,
    topic: &str,
    count: usize,
    deadline: Duration,
) -> Result<Vec<(Vec<u8>, Instant)>> {
    let start = Instant::now();
    let mut seen: Vec<(Vec<u8>, Instant)> = Vec::new();
    while seen.len() < count && start.elapsed() < deadline {
        for m in pull_all(cluster, topic, 0)
            .await?
            .into_iter()
            .skip(seen.len())
        {
            assert_eq!(m.delay, None, "DELAY removed on delivery");
            seen.push((m.body, Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(seen)
}

fn delayed(topic: &str, level: &str, body: &'static [u8]) -> RemotingCommand {
    send_v2(topic, 0, &props(&[("DELAY", level)]), body)
}

#[tokio::test]
async fn each_level_delivers_after_its_delay() -> Result<()> {
    let cluster = Cluster::start(LEVELS).await?;
    let sent = Instant::now();
    for (level, body) in [("2", &b"two"[..]), ("1", b"one"), ("9", b"three")] {
        let r = cluster.call(delayed("Dly", level, body)).await?;
        assert_eq!((r.code, field(&r, "queueId")), (0, "0"));
    }
    cluster.settle();
    let store = cluster.broker.as_ref().expect("running").store();
    // Level 9 is clamped to the highest level (3): schedule queue 2.
    let per_level: Vec<u64> = (0..3)
        .map(|q| store.max_offset_in_queue(SCHEDULE_TOPIC, q))
        .collect();
    assert_eq!(per_level, vec![1, 1, 1]);
    assert!(pull_all(&cluster, "Dly", 0).await?.is_empty());
    let got = arrivals(&cluster, "Dly", 3, Duration::from_secs(8)).await?;
    let order: Vec<&[u8]> = got.iter().map(|(b, _)| b.as_slice()).collect();
    assert_eq!(order, vec![&b"one"[..], b"two", b"three"]);
    for ((_, at), secs) in got.iter().zip([1u64, 2, 3]) {
        let waited = at.duration_since(sent);
        let due = Duration::from_secs(secs);
        assert!(
            waited >= due - Duration::from_millis(50) && waited <= due + TOLERANCE,
            "level {secs}s delivered after {waited:?}"
        );
    }
    cluster.stop().await
}

#[tokio::test]
async fn restart_in_the_middle_delivers_each_message_once() -> Result<()> {
    let mut cluster = Cluster::start(LEVELS).await?;
    for (level, body) in [("1", &b"a"[..]), ("3", b"b"), ("3", b"c"), ("2", b"d")] {
        assert_eq!(cluster.call(delayed("Rst", level, body)).await?.code, 0);
    }
    // Level 1 has been delivered, levels 2 and 3 not yet.
    let early = arrivals(&cluster, "Rst", 1, Duration::from_secs(5)).await?;
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].0, b"a");
    cluster.restart_broker(LEVELS).await?;
    let all = arrivals(&cluster, "Rst", 4, Duration::from_secs(8)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut bodies: Vec<Vec<u8>> = pull_all(&cluster, "Rst", 0)
        .await?
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(all.len(), 4);
    bodies.sort();
    let expected: Vec<Vec<u8>> = [b"a", b"b", b"c", b"d"]
        .iter()
        .map(|b| b.to_vec())
        .collect();
    assert_eq!(bodies, expected);
    // A second restart after everything was delivered repeats nothing.
    cluster.restart_broker(LEVELS).await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(pull_all(&cluster, "Rst", 0).await?.len(), 4);
    cluster.stop().await
}

#[tokio::test]
async fn send_back_copy_is_visible_only_after_its_delay() -> Result<()> {
    let cluster = Cluster::start(LEVELS).await?;
    let r = cluster.call(send_v2("SBD", 0, "", b"retry me")).await?;
    assert_eq!(r.code, 0);
    let (_, offset) = ferrimq_store::record::msg_id::decode(field(&r, "msgId"))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let back = RemotingCommand::request(RequestCode::ConsumerSendMsgBack, next_opaque())
        .with_header(&ConsumerSendMsgBackRequestHeader {
            offset,
            group: "SBDG".into(),
            delay_level: 2,
            origin_msg_id: Some(field(&r, "msgId").to_owned()),
            origin_topic: Some("SBD".into()),
            unit_mode: Some(false),
            max_reconsume_times: Some(16),
        });
    let sent = Instant::now();
    assert_eq!(cluster.call(back).await?.code, 0);
    cluster.settle();
    assert!(pull_all(&cluster, "%RETRY%SBDG", 0).await?.is_empty());
    let got = arrivals(&cluster, "%RETRY%SBDG", 1, Duration::from_secs(6)).await?;
    assert_eq!(got.len(), 1);
    let waited = got[0].1.duration_since(sent);
    assert!(
        waited >= Duration::from_millis(1950) && waited <= Duration::from_secs(2) + TOLERANCE,
        "{waited:?}"
    );
    let copy = &pull_all(&cluster, "%RETRY%SBDG", 0).await?[0];
    assert_eq!(
        (
            copy.body.as_slice(),
            copy.reconsume_times,
            copy.retry_topic.as_deref()
        ),
        (&b"retry me"[..], 1, Some("SBD"))
    );
    cluster.stop().await
}

fn lock_request(code: RequestCode, client: &str, queues: &[i32]) -> Result<RemotingCommand> {
    let body = LockBatchRequestBody {
        client_id: client.into(),
        consumer_group: "OG".into(),
        mq_set: mqs(queues),
        only_this_broker: true,
    };
    Ok(RemotingCommand::request(code, next_opaque()).with_body(body.encode()?))
}

fn mqs(queues: &[i32]) -> BTreeSet<MessageQueue> {
    queues
        .iter()
        .map(|&queue_id| MessageQueue {
            broker_name: BROKER_NAME.into(),
            queue_id,
            topic: "Ord".into(),
        })
        .collect()
}

async fn lock(cluster: &Cluster, client: &str, queues: &[i32]) -> Result<BTreeSet<MessageQueue>> {
    let r = cluster
        .call(lock_request(RequestCode::LockBatchMq, client, queues)?)
        .await?;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    Ok(LockBatchResponseBody::decode(&r.body)?.lock_ok_mq_set)
}

#[tokio::test]
async fn lock_batch_over_the_wire() -> Result<()> {
    let cluster = Cluster::start("").await?;
    assert_eq!(lock(&cluster, "c1", &[0, 1]).await?, mqs(&[0, 1]));
    assert_eq!(lock(&cluster, "c2", &[1, 2]).await?, mqs(&[2]));
    let unlock = lock_request(RequestCode::UnlockBatchMq, "c1", &[1])?;
    assert_eq!(cluster.call(unlock).await?.code, 0);
    assert_eq!(lock(&cluster, "c2", &[0, 1]).await?, mqs(&[1]));
    // The oneway form is honoured too (no answer comes back).
    let unlock = lock_request(RequestCode::UnlockBatchMq, "c1", &[0])?.into_oneway();
    cluster
        .client
        .invoke_oneway(&cluster.broker_addr(), unlock)
        .await?;
    let start = Instant::now();
    let mut got = lock(&cluster, "c2", &[0]).await?;
    while got.is_empty() && start.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        got = lock(&cluster, "c2", &[0]).await?;
    }
    assert_eq!(got, mqs(&[0]));
    cluster.stop().await
}
