//! Orderly push consumption against an in-process ferrimq broker: every queue is consumed in
//! queue order, by one member at a time (LOCK_BATCH_MQ), while a second member joins and the
//! first leaves; a suspended batch is redelivered in place; past maxReconsumeTimes it goes to the
//! DLQ and the queue moves on.

mod push_cluster;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use ferrimq_client::push_consumer::OrderlyContext;
use ferrimq_client::selection::ByShardKey;
use ferrimq_client::{
    ConsumeOrderlyStatus, ConsumerConfig, Listener, Message, MessageExt, PullConsumer, PushConsumer,
};
use ferrimq_remoting::body::MessageQueue;
use push_cluster::{Cluster, Received, fast_config};

const QUEUES: u64 = 4;

fn orderly(received: &Received, who: &str) -> Listener {
    let (received, who) = (received.clone(), who.to_owned());
    Listener::orderly(move |messages: &[MessageExt], _ctx: &mut OrderlyContext| {
        // Slow enough that the join and leave happen mid-stream.
        std::thread::sleep(Duration::from_millis(5));
        received.record(&who, messages);
        ConsumeOrderlyStatus::Success
    })
}

/// Sends `count` messages per queue, body "q<queue>-<seq>", queue chosen by key.
async fn send_ordered(cluster: &Cluster, topic: &str, from: usize, count: usize) -> Result<()> {
    for seq in from..from + count {
        for queue in 0..QUEUES {
            let message = Message::new(topic, format!("q{queue}-{seq:04}").into_bytes());
            let sent = cluster
                .producer
                .send_with_selector(message, &ByShardKey(queue))
                .await?;
            assert_eq!(sent.queue.queue_id as u64, queue);
        }
    }
    Ok(())
}

/// Bodies received per queue, in the order consumed (across all members).
fn per_queue(received: &Received) -> BTreeMap<i32, Vec<String>> {
    let mut by: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (_, m) in received.all() {
        by.entry(m.queue_id)
            .or_default()
            .push(String::from_utf8_lossy(&m.body).into_owned());
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_queue_order_holds_while_a_member_joins_and_leaves() -> Result<()> {
    let cluster = Cluster::start("").await?;
    cluster.create_topic("PushOrder", QUEUES as u32).await?;
    let received = Received::default();
    let first = PushConsumer::new(
        cluster.consumer_session("first"),
        fast_config("GOrder"),
        orderly(&received, "first"),
    )?;
    first.subscribe("PushOrder", "*");
    first.start().await?;
    send_ordered(&cluster, "PushOrder", 0, 50).await?;

    let second = PushConsumer::new(
        cluster.consumer_session("second"),
        fast_config("GOrder"),
        orderly(&received, "second"),
    )?;
    second.subscribe("PushOrder", "*");
    second.start().await?;
    send_ordered(&cluster, "PushOrder", 50, 50).await?;
    assert!(
        received
            .wait_for(Duration::from_secs(30), |r| r.len() >= 300)
            .await
    );
    first.shutdown().await?;
    send_ordered(&cluster, "PushOrder", 100, 50).await?;
    assert!(
        received
            .wait_for(Duration::from_secs(30), |r| r.len() >= 600)
            .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let by_queue = per_queue(&received);
    for queue in 0..QUEUES {
        let expected: Vec<String> = (0..150).map(|seq| format!("q{queue}-{seq:04}")).collect();
        assert_eq!(
            by_queue[&(queue as i32)],
            expected,
            "queue {queue}: in order, once each"
        );
    }
    let by_consumer = received.bodies_by_consumer();
    assert!(
        by_consumer.contains_key("second"),
        "the joiner consumed some queues"
    );
    let late: Vec<String> = received
        .all()
        .iter()
        .filter(|(_, m)| {
            let body = String::from_utf8_lossy(&m.body).into_owned();
            body[3..].parse::<usize>().expect("sequence") >= 100
        })
        .map(|(who, _)| who.clone())
        .collect();
    assert_eq!(
        late,
        vec!["second".to_owned(); 200],
        "after the leave only the joiner consumes"
    );
    second.shutdown().await?;
    cluster.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suspended_batches_are_redelivered_in_place_then_dead_lettered() -> Result<()> {
    let cluster = Cluster::start("").await?;
    cluster.create_topic("PushSuspend", 1).await?;
    let received = Received::default();
    let listener = {
        let received = received.clone();
        Listener::orderly(move |messages: &[MessageExt], _ctx: &mut OrderlyContext| {
            received.record("o", messages);
            // "bad" never succeeds; "slow" succeeds on its third delivery.
            match &messages[0].body[..] {
                b"bad" => ConsumeOrderlyStatus::SuspendCurrentQueueAMoment,
                b"slow" if messages[0].reconsume_times < 2 => {
                    ConsumeOrderlyStatus::SuspendCurrentQueueAMoment
                }
                _ => ConsumeOrderlyStatus::Success,
            }
        })
    };
    let mut config = fast_config("GSuspend");
    config.max_reconsume_times = Some(3);
    let consumer = PushConsumer::new(cluster.consumer_session("o"), config, listener)?;
    consumer.subscribe("PushSuspend", "*");
    consumer.start().await?;
    for body in ["slow", "bad", "after"] {
        cluster
            .producer
            .send(Message::new("PushSuspend", body.as_bytes().to_vec()))
            .await?;
    }
    assert!(
        received
            .wait_for(Duration::from_secs(20), |r| r.len() >= 8)
            .await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen: Vec<(String, i32)> = received
        .all()
        .iter()
        .map(|(_, m)| {
            (
                String::from_utf8_lossy(&m.body).into_owned(),
                m.reconsume_times,
            )
        })
        .collect();
    let expected: Vec<(String, i32)> = [
        ("slow", 0),
        ("slow", 1),
        ("slow", 2),
        ("bad", 0),
        ("bad", 1),
        ("bad", 2),
        ("bad", 3),
        ("after", 0),
    ]
    .iter()
    .map(|(b, n)| ((*b).to_owned(), *n))
    .collect();
    assert_eq!(seen, expected);
    let queue = MessageQueue {
        broker_name: "broker-a".into(),
        queue_id: 0,
        topic: "PushSuspend".into(),
    };
    assert_eq!(consumer.offsets().get(&queue), Some(&3));
    consumer.shutdown().await?;

    let reader = PullConsumer::new(Arc::clone(&cluster.session), ConsumerConfig::new("GReader"));
    let dlq = MessageQueue {
        topic: "%DLQ%GSuspend".into(),
        ..queue
    };
    let dead = reader.pull(&dlq, 0, 32).await?.messages;
    let bodies: Vec<&[u8]> = dead.iter().map(|m| &m.body[..]).collect();
    assert_eq!(bodies, vec![&b"bad"[..]]);
    cluster.stop().await
}
