//! Send and pull end to end over real frames: exact bodies and ids back, batch ids, the pull
//! status table, tag filtering, rejections, and long polling.

mod fixture;

use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::{Bytes, BytesMut};
use ferrimq_config::{Perm, TopicConfig};
use ferrimq_remoting::header::typed::SendMessageRequestHeaderV2;
use ferrimq_remoting::message::{BatchEntry, encode_batch};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_transport::next_opaque;
use fixture::*;

const SUBSCRIPTION: i32 = 0x4;
const SUSPEND: i32 = 0x2;

/// A delay table where level 3 (the first retry back-off) waits 1 s.
const FAST_DELAYS: &str = "messageDelayLevel=1s 1s 1s";

/// Queue 0 of `topic` once a delayed message has reached it (within 5 s).
async fn pull_when_due(cluster: &Cluster, topic: &str) -> Result<Vec<Pulled>> {
    let start = Instant::now();
    loop {
        let r = cluster
            .call(pull(&pull_header("CG", topic, 0, 0, SUBSCRIPTION)))
            .await?;
        if r.code == 0 || start.elapsed() > Duration::from_secs(5) {
            return decode_pulled(&r.body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn field<'a>(c: &'a RemotingCommand, key: &str) -> &'a str {
    c.ext_fields
        .get(key)
        .map(String::as_str)
        .unwrap_or("<absent>")
}

#[tokio::test]
async fn send_v2_then_pull_back_exact_bodies_and_ids() -> Result<()> {
    let cluster = Cluster::start("").await?;
    let mut ids = Vec::new();
    for (i, body) in [&b"alpha"[..], b"beta", b"gamma"].into_iter().enumerate() {
        let p = props(&[
            ("UNIQ_KEY", &format!("U{i}")),
            ("WAIT", "true"),
            ("TAGS", "TagA"),
        ]);
        let r = cluster.call(send_v2("TopicA", 0, &p, body)).await?;
        assert_eq!(r.code, 0, "{:?}", r.remark);
        assert_eq!(field(&r, "queueId"), "0");
        assert_eq!(field(&r, "queueOffset"), i.to_string());
        assert_eq!(field(&r, "MSG_REGION"), "DefaultRegion");
        assert_eq!(field(&r, "TRACE_ON"), "true");
        ids.push(field(&r, "msgId").to_owned());
    }
    cluster.settle();
    let r = cluster
        .call(pull(&pull_header("CG", "TopicA", 0, 0, SUBSCRIPTION)))
        .await?;
    assert_eq!(
        (
            r.code,
            field(&r, "nextBeginOffset"),
            field(&r, "minOffset"),
            field(&r, "maxOffset")
        ),
        (0, "3", "0", "3")
    );
    assert_eq!(field(&r, "suggestWhichBrokerId"), "0");
    let pulled = decode_pulled(&r.body)?;
    let bodies: Vec<&[u8]> = pulled.iter().map(|p| p.body.as_slice()).collect();
    assert_eq!(bodies, vec![&b"alpha"[..], b"beta", b"gamma"]);
    let got_ids: Vec<&str> = pulled.iter().map(|p| p.msg_id.as_str()).collect();
    assert_eq!(got_ids, ids.iter().map(String::as_str).collect::<Vec<_>>());
    for (i, p) in pulled.iter().enumerate() {
        assert_eq!(p.uniq_key.as_deref(), Some(format!("U{i}").as_str()));
        assert_eq!(
            (p.cluster.as_deref(), p.wait.as_deref()),
            (Some(CLUSTER), None)
        );
        assert_eq!(p.store_host.to_string(), cluster.broker_addr());
        assert_eq!(p.queue_offset, i as i64);
    }
    // Caught up: 19 at the same offset; far beyond: 21 back to min (0).
    let r = cluster
        .call(pull(&pull_header("CG", "TopicA", 0, 3, SUBSCRIPTION)))
        .await?;
    assert_eq!(
        (r.code, field(&r, "nextBeginOffset")),
        (ResponseCode::PullNotFound.code(), "3")
    );
    let r = cluster
        .call(pull(&pull_header("CG", "TopicA", 0, 10, SUBSCRIPTION)))
        .await?;
    assert_eq!(
        (r.code, field(&r, "nextBeginOffset"), field(&r, "maxOffset")),
        (ResponseCode::PullOffsetMoved.code(), "0", "3")
    );
    // Everything filtered out: 20, skipping the scanned units.
    let mut h = pull_header("CG", "TopicA", 0, 0, SUBSCRIPTION);
    h.subscription = Some("TagB".into());
    let r = cluster.call(pull(&h)).await?;
    assert_eq!(
        (r.code, field(&r, "nextBeginOffset")),
        (ResponseCode::PullRetryImmediately.code(), "3")
    );
    assert!(r.body.is_empty());
    cluster.stop().await
}

#[tokio::test]
async fn batch_send_keeps_each_uniq_key() -> Result<()> {
    let cluster = Cluster::start("").await?;
    let entries: Vec<BatchEntry> = (0..3)
        .map(|i| BatchEntry {
            flag: 0,
            body: Bytes::from(format!("m{i}")),
            properties: props(&[("UNIQ_KEY", &format!("INNER{i}")), ("WAIT", "true")]),
        })
        .collect();
    let mut body = BytesMut::new();
    encode_batch(&entries, &mut body)?;
    let mut header: SendMessageRequestHeaderV2 =
        send_header("Batch", 1, &props(&[("UNIQ_KEY", "BATCH")])).into();
    header.m = Some(true);
    let request = RemotingCommand::request(RequestCode::SendBatchMessage, next_opaque())
        .with_header(&header)
        .with_body(body.freeze());
    let r = cluster.call(request).await?;
    assert_eq!(
        (r.code, field(&r, "queueId"), field(&r, "queueOffset")),
        (0, "1", "0")
    );
    let ids: Vec<String> = field(&r, "msgId").split(',').map(str::to_owned).collect();
    assert_eq!(ids.len(), 3);
    cluster.settle();
    let r = cluster
        .call(pull(&pull_header("CG", "Batch", 1, 0, SUBSCRIPTION)))
        .await?;
    assert_eq!(r.code, 0);
    let pulled = decode_pulled(&r.body)?;
    let keys: Vec<Option<&str>> = pulled.iter().map(|p| p.uniq_key.as_deref()).collect();
    assert_eq!(keys, vec![Some("INNER0"), Some("INNER1"), Some("INNER2")]);
    assert!(
        pulled
            .iter()
            .all(|p| p.cluster.as_deref() == Some(CLUSTER) && p.wait.is_none())
    );
    assert_eq!(
        pulled.iter().map(|p| p.msg_id.clone()).collect::<Vec<_>>(),
        ids
    );
    cluster.stop().await
}

#[tokio::test]
async fn permission_and_queue_rejections() -> Result<()> {
    let cluster = Cluster::start("autoCreateTopicEnable=false").await?;
    let topics = cluster.broker.as_ref().expect("running").topics().clone();
    topics.upsert(TopicConfig::with_queues("RW", 4, Perm::READ_WRITE));
    topics.upsert(TopicConfig::with_queues("ReadOnly", 4, Perm(Perm::READ)));
    topics.upsert(TopicConfig::with_queues("WriteOnly", 4, Perm(Perm::WRITE)));
    let code = |r: RemotingCommand| r.code;
    assert_eq!(
        code(cluster.call(send_v2("Unknown", 0, "", b"x")).await?),
        ResponseCode::TopicNotExist.code()
    );
    assert_eq!(
        code(cluster.call(send_v2("ReadOnly", 0, "", b"x")).await?),
        ResponseCode::NoPermission.code()
    );
    assert_eq!(
        code(cluster.call(send_v2("RW", 4, "", b"x")).await?),
        ResponseCode::SystemError.code()
    );
    let r = cluster.call(send_v2("RW", -1, "", b"x")).await?;
    assert_eq!(r.code, 0);
    assert!(
        field(&r, "queueId")
            .parse::<i32>()
            .is_ok_and(|q| (0..4).contains(&q))
    );
    let pulls = [
        ("WriteOnly", 0, ResponseCode::NoPermission),
        ("RW", 4, ResponseCode::SystemError),
        ("Unknown", 0, ResponseCode::TopicNotExist),
    ];
    for (topic, queue, expected) in pulls {
        let r = cluster
            .call(pull(&pull_header("CG", topic, queue, 0, SUBSCRIPTION)))
            .await?;
        assert_eq!(r.code, expected.code(), "pull {topic}/{queue}");
    }
    cluster.stop().await?;
    let read_only = Cluster::start("brokerPermission=4").await?;
    let r = read_only.call(send_v2("TopicA", 0, "", b"x")).await?;
    assert_eq!(r.code, ResponseCode::NoPermission.code());
    read_only.stop().await
}

#[tokio::test]
async fn long_polling_pull_is_answered_by_a_send_or_times_out() -> Result<()> {
    let cluster = std::sync::Arc::new(Cluster::start("").await?);
    let topics = cluster.broker.as_ref().expect("running").topics().clone();
    topics.upsert(TopicConfig::with_queues("LP", 2, Perm::READ_WRITE));
    let mut h = pull_header("CG", "LP", 1, 0, SUBSCRIPTION | SUSPEND);
    h.suspend_timeout_millis = 8000;
    let parked = {
        let (cluster, h) = (cluster.clone(), h.clone());
        tokio::spawn(async move { cluster.call(pull(&h)).await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !parked.is_finished(),
        "the pull must be held while the queue is empty"
    );
    let sent_at = Instant::now();
    let r = cluster.call(send_v2("LP", 1, "", b"wake")).await?;
    assert_eq!(r.code, 0);
    let r = parked.await??;
    assert!(
        sent_at.elapsed() < Duration::from_secs(3),
        "answered on arrival, not at timeout"
    );
    assert_eq!((r.code, field(&r, "nextBeginOffset")), (0, "1"));
    assert_eq!(decode_pulled(&r.body)?[0].body, b"wake");
    // Nothing arrives: PULL_NOT_FOUND after the suspend time.
    h.queue_offset = 1;
    h.suspend_timeout_millis = 500;
    let started = Instant::now();
    let r = cluster.call(pull(&h)).await?;
    assert_eq!(
        (r.code, field(&r, "nextBeginOffset")),
        (ResponseCode::PullNotFound.code(), "1")
    );
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "held for the suspend time"
    );
    let cluster =
        std::sync::Arc::try_unwrap(cluster).map_err(|_| anyhow::anyhow!("cluster still shared"))?;
    cluster.stop().await
}

#[tokio::test]
async fn oversized_body_is_illegal_and_sync_flush_acknowledges_durable_sends() -> Result<()> {
    let cluster = Cluster::start("maxMessageSize=1024\nflushDiskType=SYNC_FLUSH").await?;
    static BIG: [u8; 1025] = [7; 1025];
    let r = cluster.call(send_v2("Sized", 0, "", &BIG)).await?;
    assert_eq!(r.code, ResponseCode::MessageIllegal.code());
    // The store also bounds the whole record (body + header + properties) by maxMessageSize.
    let r = cluster.call(send_v2("Sized", 0, "", &BIG[..512])).await?;
    assert_eq!((r.code, field(&r, "queueOffset")), (0, "0"));
    cluster.settle();
    let r = cluster
        .call(pull(&pull_header("CG", "Sized", 0, 0, SUBSCRIPTION)))
        .await?;
    assert_eq!(decode_pulled(&r.body)?[0].body.len(), 512);
    cluster.stop().await
}

#[tokio::test]
async fn retry_message_past_its_limit_goes_to_the_dead_letter_queue() -> Result<()> {
    let cluster = Cluster::start(FAST_DELAYS).await?;
    let retry = |reconsumed: i32, body: &'static [u8]| {
        let mut header = send_header("%RETRY%G1", 0, &props(&[("DELAY", "3")]));
        header.reconsume_times = Some(reconsumed);
        header.max_reconsume_times = Some(3);
        let v2: SendMessageRequestHeaderV2 = header.into();
        RemotingCommand::request(RequestCode::SendMessageV2, next_opaque())
            .with_header(&v2)
            .with_body(Bytes::from_static(body))
    };
    let r = cluster.call(retry(2, b"again")).await?;
    assert_eq!((r.code, field(&r, "queueId")), (0, "0"));
    let r = cluster.call(retry(3, b"dead")).await?;
    assert_eq!((r.code, field(&r, "queueId")), (0, "0"));
    cluster.settle();
    let dlq = cluster
        .broker
        .as_ref()
        .expect("running")
        .topics()
        .get("%DLQ%G1");
    let dlq = dlq.expect("DLQ topic created");
    assert_eq!(
        (dlq.read_queue_nums, dlq.write_queue_nums, dlq.perm.0),
        (1, 1, 6)
    );
    let r = cluster
        .call(pull(&pull_header("CG", "%DLQ%G1", 0, 0, SUBSCRIPTION)))
        .await?;
    let pulled = decode_pulled(&r.body)?;
    assert_eq!((pulled.len(), pulled[0].body.as_slice()), (1, &b"dead"[..]));
    // DELAY=3 holds the retry copy in the schedule topic for level 3 (1 s here).
    let pulled = pull_when_due(&cluster, "%RETRY%G1").await?;
    assert_eq!(
        (pulled.len(), pulled[0].body.as_slice()),
        (1, &b"again"[..])
    );
    cluster.stop().await
}

/// A disk whose CommitLog syncs take longer than the sync flush timeout.
#[derive(Debug)]
struct SlowCommitLog;

impl ferrimq_store::seam::FileSeam for SlowCommitLog {
    fn before_sync(&self, path: &std::path::Path) -> std::io::Result<()> {
        if path.components().any(|c| c.as_os_str() == "commitlog") {
            std::thread::sleep(Duration::from_millis(600));
        }
        Ok(())
    }
}

#[tokio::test]
async fn sync_flush_timeout_answers_10_with_the_full_send_header() -> Result<()> {
    let hooks = ferrimq_store::store::StoreHooks {
        seam: std::sync::Arc::new(SlowCommitLog),
        ..Default::default()
    };
    let cluster =
        Cluster::start_with("flushDiskType=SYNC_FLUSH\nsyncFlushTimeout=100", hooks).await?;
    let r = cluster.call(send_v2("Slow", 0, "", b"slow")).await?;
    assert_eq!(
        r.code,
        ResponseCode::FlushDiskTimeout.code(),
        "{:?}",
        r.remark
    );
    assert_eq!((field(&r, "queueId"), field(&r, "queueOffset")), ("0", "0"));
    assert_eq!(field(&r, "msgId").len(), 32);
    assert_eq!(field(&r, "MSG_REGION"), "DefaultRegion");
    cluster.stop().await
}

#[tokio::test]
async fn send_back_stores_a_retry_copy_then_dead_letters_it() -> Result<()> {
    use ferrimq_remoting::header::typed::ConsumerSendMsgBackRequestHeader;
    let cluster = Cluster::start(FAST_DELAYS).await?;
    let r = cluster
        .call(send_v2(
            "SB",
            0,
            &props(&[("UNIQ_KEY", "U-SB")]),
            b"fail me",
        ))
        .await?;
    assert_eq!(r.code, 0);
    let send_back = |msg_id: &str| -> Result<RemotingCommand> {
        let (_, offset) =
            ferrimq_store::record::msg_id::decode(msg_id).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(
            RemotingCommand::request(RequestCode::ConsumerSendMsgBack, next_opaque()).with_header(
                &ConsumerSendMsgBackRequestHeader {
                    offset,
                    group: "SBG".into(),
                    delay_level: 0,
                    origin_msg_id: Some(msg_id.to_owned()),
                    origin_topic: Some("SB".into()),
                    unit_mode: Some(false),
                    max_reconsume_times: Some(1),
                },
            ),
        )
    };
    assert_eq!(cluster.call(send_back(field(&r, "msgId"))?).await?.code, 0);
    let retry = pull_when_due(&cluster, "%RETRY%SBG").await?;
    assert_eq!(retry.len(), 1);
    let copy = &retry[0];
    assert_eq!(
        (copy.body.as_slice(), copy.reconsume_times),
        (&b"fail me"[..], 1)
    );
    assert_eq!(
        (copy.retry_topic.as_deref(), copy.delay.as_deref()),
        (Some("SB"), None)
    );
    assert_eq!(copy.uniq_key.as_deref(), Some("U-SB"));
    // Consumed once more and failed again: the limit (1) is reached, the DLQ takes it.
    assert_eq!(cluster.call(send_back(&copy.msg_id)?).await?.code, 0);
    cluster.settle();
    let r = cluster
        .call(pull(&pull_header("SBG", "%DLQ%SBG", 0, 0, SUBSCRIPTION)))
        .await?;
    let dead = decode_pulled(&r.body)?;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].body.as_slice(),
            dead[0].delay.as_deref(),
            dead[0].reconsume_times
        ),
        (&b"fail me"[..], None, 2)
    );
    cluster.stop().await
}
