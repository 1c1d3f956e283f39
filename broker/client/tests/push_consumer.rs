//! Push consumer against an in-process ferrimq NameServer + broker: clustering members share
//! queues and get exactly the sent set, a member leaving hands its queues over without loss,
//! broadcasting delivers everything to everyone and keeps offsets in a file, failed messages
//! come back through the retry topic, and past maxReconsumeTimes land in the DLQ.

mod push_cluster;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use ferrimq_client::push_consumer::ConcurrentContext;
use ferrimq_client::{
    ConsumeConcurrentlyStatus, ConsumerConfig, Listener, MessageExt, PullConsumer, PushConsumer,
};
use ferrimq_remoting::body::{MessageModel, MessageQueue};
use push_cluster::{Cluster, Received, fast_config};

/// Every delay level one second, so retries come back quickly.
const FAST_DELAYS: &str =
    "messageDelayLevel=1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s\n";

fn recording(received: &Received, who: &str) -> Listener {
    let (received, who) = (received.clone(), who.to_owned());
    Listener::concurrently(
        move |messages: &[MessageExt], _ctx: &mut ConcurrentContext| {
            received.record(&who, messages);
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    )
}

/// Waits until the consumers own `counts` queues of `topic` (retry queues not counted).
async fn wait_assigned(topic: &str, consumers: &[&PushConsumer], counts: &[usize]) -> bool {
    for _ in 0..100 {
        let now: Vec<usize> = consumers
            .iter()
            .map(|c| {
                c.assigned_queues()
                    .iter()
                    .filter(|q| q.topic == topic)
                    .count()
            })
            .collect();
        if now == counts {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clustering_members_share_queues_and_get_exactly_the_sent_set() -> Result<()> {
    let cluster = Cluster::start("").await?;
    cluster.create_topic("PushShare", 4).await?;
    let received = Received::default();
    let mut consumers = Vec::new();
    for name in ["c1", "c2"] {
        let consumer = PushConsumer::new(
            cluster.consumer_session(name),
            fast_config("GShare"),
            recording(&received, name),
        )?;
        consumer.subscribe("PushShare", "*");
        consumer.start().await?;
        consumers.push(consumer);
    }
    let (c1, c2) = (&consumers[0], &consumers[1]);
    assert!(
        wait_assigned("PushShare", &[c1, c2], &[2, 2]).await,
        "2 + 2 queues"
    );
    let mine = |c: &PushConsumer| -> BTreeSet<i32> {
        c.assigned_queues()
            .iter()
            .filter(|q| q.topic == "PushShare")
            .map(|q| q.queue_id)
            .collect()
    };
    // Averagely over sorted client ids: the smaller id takes queues 0 and 1.
    let (low, high) = if c1.client_id() < c2.client_id() {
        (c1, c2)
    } else {
        (c2, c1)
    };
    assert_eq!(mine(low), BTreeSet::from([0, 1]));
    assert_eq!(mine(high), BTreeSet::from([2, 3]));

    let sent: BTreeSet<String> = cluster
        .send("PushShare", "m", 40)
        .await?
        .into_iter()
        .collect();
    assert!(
        received
            .wait_for(Duration::from_secs(20), |r| r.len() >= 40)
            .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received.ids(), sent);
    assert_eq!(received.all().len(), 40, "no duplicates");
    for (who, message) in received.all() {
        let owner = if who == "c1" { c1 } else { c2 };
        assert!(
            mine(owner).contains(&message.queue_id),
            "{who} got queue {}",
            message.queue_id
        );
        assert_eq!(message.topic, "PushShare");
    }
    for consumer in &consumers {
        consumer.shutdown().await?;
    }
    cluster.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn member_leaving_hands_its_queues_over_without_loss() -> Result<()> {
    let cluster = Cluster::start("").await?;
    cluster.create_topic("PushLeave", 4).await?;
    let received = Received::default();
    // No periodic rebalance within the test: membership changes arrive only as the broker's
    // NOTIFY_CONSUMER_IDS_CHANGED.
    let config = || {
        let mut config = fast_config("GLeave");
        config.rebalance_interval = Duration::from_secs(600);
        config
    };
    let c1 = PushConsumer::new(
        cluster.consumer_session("stay"),
        config(),
        recording(&received, "stay"),
    )?;
    c1.subscribe("PushLeave", "*");
    c1.start().await?;
    let c2 = PushConsumer::new(
        cluster.consumer_session("leave"),
        config(),
        recording(&received, "leave"),
    )?;
    c2.subscribe("PushLeave", "*");
    c2.start().await?;
    assert!(wait_assigned("PushLeave", &[&c1, &c2], &[2, 2]).await);
    let mut sent: BTreeSet<String> = cluster
        .send("PushLeave", "a", 20)
        .await?
        .into_iter()
        .collect();
    assert!(
        received
            .wait_for(Duration::from_secs(20), |r| r.len() >= 20)
            .await
    );

    c2.shutdown().await?;
    // The broker notifies the remaining member, which takes every queue.
    assert!(
        wait_assigned("PushLeave", &[&c1], &[4]).await,
        "stay owns all queues"
    );
    sent.extend(cluster.send("PushLeave", "b", 20).await?);
    assert!(
        received
            .wait_for(Duration::from_secs(20), |_| received.ids() == sent)
            .await
    );
    let after: Vec<String> = received
        .all()
        .iter()
        .filter(|(_, m)| m.body.starts_with(b"b-"))
        .map(|(who, _)| who.clone())
        .collect();
    assert_eq!(after, vec!["stay".to_owned(); 20]);
    assert_eq!(
        received.all().len(),
        40,
        "no duplicates across the handover"
    );
    c1.shutdown().await?;
    cluster.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broadcasting_delivers_to_every_member_and_keeps_offsets_in_a_file() -> Result<()> {
    let cluster = Cluster::start("").await?;
    cluster.create_topic("PushBroadcast", 2).await?;
    let offsets_dir = tempfile::tempdir()?;
    let config = || {
        let mut config = fast_config("GBroadcast");
        config.model = MessageModel::Broadcasting;
        config.offset_dir = offsets_dir.path().to_path_buf();
        config
    };
    let received = Received::default();
    let mut consumers = Vec::new();
    for name in ["b1", "b2"] {
        let consumer = PushConsumer::new(
            cluster.consumer_session(name),
            config(),
            recording(&received, name),
        )?;
        consumer.subscribe("PushBroadcast", "*");
        consumer.start().await?;
        assert_eq!(
            consumer.assigned_queues().len(),
            2,
            "every queue, no retry topic"
        );
        consumers.push(consumer);
    }
    let sent: Vec<String> = cluster.send("PushBroadcast", "x", 10).await?;
    assert!(
        received
            .wait_for(Duration::from_secs(20), |r| r.len() >= 20)
            .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let per_consumer = received.bodies_by_consumer();
    for name in ["b1", "b2"] {
        let mut bodies = per_consumer[name].clone();
        bodies.sort();
        let mut expected: Vec<String> = (0..10).map(|i| format!("x-{i}")).collect();
        expected.sort();
        assert_eq!(bodies, expected, "{name}");
    }
    let client_id = consumers[0].client_id().to_owned();
    for consumer in &consumers {
        consumer.shutdown().await?;
    }
    let file = offsets_dir
        .path()
        .join(&client_id)
        .join("GBroadcast")
        .join("offsets.json");
    let text = std::fs::read_to_string(&file)?;
    let table: serde_json::Value = serde_json::from_str(&text)?;
    let total: i64 = table["offsetTable"]
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["offset"].as_i64().expect("offset"))
        .sum();
    assert_eq!(
        total,
        sent.len() as i64,
        "next offsets of both queues add up to the sent count"
    );

    // Restarted with the same identity, b1 resumes from the file: only the new message.
    let again = Received::default();
    let b1 = PushConsumer::new(
        cluster.consumer_session("b1"),
        config(),
        recording(&again, "b1"),
    )?;
    b1.subscribe("PushBroadcast", "*");
    b1.start().await?;
    let new_id = cluster.send("PushBroadcast", "late", 1).await?;
    assert!(
        again
            .wait_for(Duration::from_secs(20), |r| !r.is_empty())
            .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(again.ids(), new_id.into_iter().collect());
    assert_eq!(again.all().len(), 1);
    b1.shutdown().await?;
    cluster.stop().await
}

/// A listener failing each message's first `failures` deliveries.
fn failing(received: &Received, failures: i32) -> Listener {
    let received = received.clone();
    Listener::concurrently(
        move |messages: &[MessageExt], _ctx: &mut ConcurrentContext| {
            received.record("c", messages);
            if messages.iter().all(|m| m.reconsume_times >= failures) {
                ConsumeConcurrentlyStatus::ConsumeSuccess
            } else {
                ConsumeConcurrentlyStatus::ReconsumeLater
            }
        },
    )
}

fn deliveries(received: &Received) -> BTreeMap<String, Vec<i32>> {
    let mut by: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (_, m) in received.all() {
        let origin = m
            .properties
            .get("ORIGIN_MESSAGE_ID")
            .cloned()
            .unwrap_or_else(|| m.msg_id().to_owned());
        by.entry(origin).or_default().push(m.reconsume_times);
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconsume_later_comes_back_through_the_retry_topic_then_succeeds() -> Result<()> {
    let cluster = Cluster::start(FAST_DELAYS).await?;
    cluster.create_topic("PushRetry", 2).await?;
    let received = Received::default();
    let consumer = PushConsumer::new(
        cluster.consumer_session("r"),
        fast_config("GRetry"),
        failing(&received, 2),
    )?;
    consumer.subscribe("PushRetry", "*");
    consumer.start().await?;
    let sent = cluster.send("PushRetry", "r", 3).await?;
    assert!(
        received
            .wait_for(Duration::from_secs(30), |r| r.len() >= 9)
            .await
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let expected: BTreeMap<String, Vec<i32>> =
        sent.iter().map(|id| (id.clone(), vec![0, 1, 2])).collect();
    assert_eq!(deliveries(&received), expected);
    for (_, message) in received.all() {
        assert_eq!(
            message.topic, "PushRetry",
            "retry copies carry the original topic"
        );
    }
    consumer.shutdown().await?;
    cluster.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn message_failing_past_max_reconsume_times_lands_in_the_dlq() -> Result<()> {
    let cluster = Cluster::start(FAST_DELAYS).await?;
    cluster.create_topic("PushDlq", 1).await?;
    let received = Received::default();
    let mut config = fast_config("GDlq");
    config.max_reconsume_times = Some(2);
    let consumer = PushConsumer::new(
        cluster.consumer_session("d"),
        config,
        failing(&received, i32::MAX),
    )?;
    consumer.subscribe("PushDlq", "*");
    consumer.start().await?;
    let sent = cluster.send("PushDlq", "dead", 1).await?;
    assert!(
        received
            .wait_for(Duration::from_secs(30), |r| r.len() >= 3)
            .await
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let expected = BTreeMap::from([(sent[0].clone(), vec![0, 1, 2])]);
    assert_eq!(
        deliveries(&received),
        expected,
        "1 delivery + exactly 2 retries"
    );
    consumer.shutdown().await?;

    let reader = PullConsumer::new(
        Arc::clone(&cluster.session),
        ConsumerConfig::new("GDlqReader"),
    );
    let dlq = MessageQueue {
        broker_name: "broker-a".into(),
        queue_id: 0,
        topic: "%DLQ%GDlq".into(),
    };
    let found = reader.pull(&dlq, 0, 32).await?;
    assert_eq!(found.messages.len(), 1);
    let dead = &found.messages[0];
    assert_eq!(&dead.body[..], b"dead-0");
    assert_eq!(dead.reconsume_times, 3);
    assert_eq!(dead.properties.get("ORIGIN_MESSAGE_ID"), Some(&sent[0]));
    assert_eq!(
        dead.properties.get("RETRY_TOPIC").map(String::as_str),
        Some("PushDlq")
    );
    assert_eq!(
        dead.msg_id(),
        sent[0],
        "the unique key travels with the message"
    );
    cluster.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_started_before_its_topic_exists_picks_it_up() -> Result<()> {
    let cluster = Cluster::start("").await?;
    let received = Received::default();
    let consumer = PushConsumer::new(
        cluster.consumer_session("early"),
        fast_config("GEarly"),
        recording(&received, "early"),
    )?;
    consumer.subscribe("PushLater", "*");
    consumer.start().await?;
    assert!(
        consumer
            .assigned_queues()
            .iter()
            .all(|q| q.topic != "PushLater")
    );
    cluster.create_topic("PushLater", 2).await?;
    let sent: BTreeSet<String> = cluster
        .send("PushLater", "l", 6)
        .await?
        .into_iter()
        .collect();
    assert!(
        received
            .wait_for(Duration::from_secs(20), |_| received.ids() == sent)
            .await
    );
    assert_eq!(received.all().len(), 6);
    consumer.shutdown().await?;
    cluster.stop().await
}
