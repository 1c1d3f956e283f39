//! A Rust push consumer answering the admin calls an in-process ferrimq broker relays to it (what
//! mqadmin `consumerStatus`, `resetOffsetByTime` and `queryMsgById -d` do, see also
//! broker/cli/tests/compat_consumer_admin.rs with the official tools):
//!
//! - GET_CONSUMER_RUNNING_INFO (307 via the broker): exact properties, subscriptions (the retry
//!   topic included) and one ProcessQueueInfo per owned queue with its committed offset;
//! - INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223 -> 221): the client's offsets of the topic;
//! - INVOKE_BROKER_TO_RESET_OFFSET (222 -> 220): the running consumer starts over from offset 0
//!   and gets every message exactly once more;
//! - CONSUME_MESSAGE_DIRECTLY (309): the listener gets the message once more, CR_SUCCESS.

mod push_cluster;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use ferrimq_client::push_consumer::admin_bodies::{
    CmResult, ConsumeMessageDirectlyResult, PROP_CONSUME_TYPE, PROP_CONSUMER_START_TIMESTAMP,
};
use ferrimq_client::push_consumer::{ConcurrentContext, ConsumerRunningInfo};
use ferrimq_client::session::request;
use ferrimq_client::{ConsumeConcurrentlyStatus, Listener, MessageExt, PushConsumer};
use ferrimq_remoting::body::JsonBody;
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use push_cluster::{Cluster, Received, fast_config};

const TOPIC: &str = "PushCalls";
const GROUP: &str = "GPushCalls";

fn recording(received: &Received) -> Listener {
    let received = received.clone();
    Listener::concurrently(
        move |messages: &[MessageExt], _ctx: &mut ConcurrentContext| {
            received.record("c", messages);
            ConsumeConcurrentlyStatus::ConsumeSuccess
        },
    )
}

async fn call(cluster: &Cluster, req: RemotingCommand) -> Result<RemotingCommand> {
    let addr = cluster
        .broker
        .as_ref()
        .expect("broker")
        .broker_addr()
        .to_owned();
    Ok(cluster
        .session
        .invoke_ok(&addr, req, &[ResponseCode::Success], None)
        .await?)
}

/// Times each id of `sent` was delivered, once every id was delivered at least `times` times.
async fn delivered(received: &Received, sent: &BTreeSet<String>, times: usize) -> Vec<usize> {
    let done = received
        .wait_for(Duration::from_secs(20), |all| {
            sent.iter()
                .all(|id| all.iter().filter(|(_, m)| m.msg_id() == id).count() >= times)
        })
        .await;
    assert!(done, "not every message delivered {times} times");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = received.all();
    sent.iter()
        .map(|id| all.iter().filter(|(_, m)| m.msg_id() == id).count())
        .collect()
}

/// INVOKE_BROKER_TO_RESET_OFFSET to time 0, forced; retried while the broker has no commit of
/// the group yet (the consumer persists every 500 ms), which it refuses with SYSTEM_ERROR.
async fn reset_to_start(cluster: &Cluster) -> Result<()> {
    let addr = cluster
        .broker
        .as_ref()
        .expect("broker")
        .broker_addr()
        .to_owned();
    let accepted = [ResponseCode::Success, ResponseCode::SystemError];
    for _ in 0..100 {
        let reset = request(RequestCode::InvokeBrokerToResetOffset)
            .with_ext_field("topic", TOPIC)
            .with_ext_field("group", GROUP)
            .with_ext_field("timestamp", "0")
            .with_ext_field("isForce", "true");
        let r = cluster
            .session
            .invoke_ok(&addr, reset, &accepted, None)
            .await?;
        if r.code == ResponseCode::Success.code() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the broker never accepted the reset")
}

async fn running_info(cluster: &Cluster, client_id: &str) -> Result<ConsumerRunningInfo> {
    let req = request(RequestCode::GetConsumerRunningInfo)
        .with_ext_field("consumerGroup", GROUP)
        .with_ext_field("clientId", client_id)
        .with_ext_field("jstackEnable", "false");
    Ok(ConsumerRunningInfo::decode(
        &call(cluster, req).await?.body,
    )?)
}

fn check_info(info: &ConsumerRunningInfo, namesrv: &str) {
    let prop = |k: &str| info.properties.get(k).map(String::as_str);
    assert_eq!(prop("consumerGroup"), Some(GROUP));
    assert_eq!(prop("messageModel"), Some("CLUSTERING"));
    assert_eq!(prop("consumeFromWhere"), Some("CONSUME_FROM_FIRST_OFFSET"));
    assert_eq!(prop(PROP_CONSUME_TYPE), Some("CONSUME_PASSIVELY"));
    assert_eq!(prop("PROP_NAMESERVER_ADDR"), Some(namesrv));
    assert_eq!(prop("PROP_CONSUMEORDERLY"), Some("false"));
    let started: i64 = prop(PROP_CONSUMER_START_TIMESTAMP)
        .and_then(|t| t.parse().ok())
        .expect("start timestamp");
    assert!(started > 1_600_000_000_000, "{started}");
    let topics: BTreeSet<&str> = info
        .subscription_set
        .iter()
        .map(|s| s.topic.as_str())
        .collect();
    assert_eq!(topics, BTreeSet::from([TOPIC, "%RETRY%GPushCalls"]));
    let mut offsets: Vec<(i32, i64)> = info
        .mq_table
        .iter()
        .filter(|(q, _)| q.topic == TOPIC)
        .map(|(q, pq)| (q.queue_id, pq.commit_offset))
        .collect();
    offsets.sort();
    assert_eq!(offsets, [(0, 2), (1, 2)], "{:?}", info.mq_table);
    assert_eq!(info.status_table.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_consumer_answers_running_info_status_reset_and_direct_consumption() -> Result<()> {
    let cluster = Cluster::start("").await?;
    cluster.create_topic(TOPIC, 2).await?;
    let received = Received::default();
    let session = cluster.consumer_session("calls");
    let namesrv = session.namesrv_addrs.join(";");
    let consumer = PushConsumer::new(session, fast_config(GROUP), recording(&received))?;
    consumer.subscribe(TOPIC, "*");
    consumer.start().await?;
    let sent: BTreeSet<String> = cluster.send(TOPIC, "calls", 4).await?.into_iter().collect();
    assert_eq!(delivered(&received, &sent, 1).await, [1, 1, 1, 1]);
    let client_id = consumer.client_id().to_owned();
    check_info(&running_info(&cluster, &client_id).await?, &namesrv);
    assert_eq!(consumer.running_info().properties["consumerGroup"], GROUP);

    let status = request(RequestCode::InvokeBrokerToGetConsumerStatus)
        .with_ext_field("topic", TOPIC)
        .with_ext_field("group", GROUP)
        .with_ext_field("clientAddr", "");
    let body = String::from_utf8(call(&cluster, status).await?.body.to_vec())?;
    for queue in 0..2 {
        let entry = format!(r#"{{"brokerName":"broker-a","queueId":{queue},"topic":"{TOPIC}"}}:2"#);
        assert!(body.contains(&entry), "{entry} missing from {body}");
    }
    assert!(
        body.starts_with(&format!(r#"{{"consumerTable":{{"{client_id}":"#)),
        "{body}"
    );

    reset_to_start(&cluster).await?;
    assert_eq!(delivered(&received, &sent, 2).await, [2, 2, 2, 2]);

    let first = received.all()[0].1.clone();
    let direct = request(RequestCode::ConsumeMessageDirectly)
        .with_ext_field("consumerGroup", GROUP)
        .with_ext_field("clientId", client_id.as_str())
        .with_ext_field("msgId", first.offset_msg_id.as_str())
        .with_ext_field("brokerName", "broker-a");
    let result = ConsumeMessageDirectlyResult::decode(&call(&cluster, direct).await?.body)?;
    assert_eq!(
        (result.consume_result, result.order, result.auto_commit),
        (CmResult::CrSuccess, false, true)
    );
    let again = received
        .all()
        .iter()
        .filter(|(_, m)| m.msg_id() == first.msg_id())
        .count();
    assert_eq!(again, 3, "one direct delivery of {}", first.msg_id());
    consumer.shutdown().await?;
    cluster.stop().await
}
