//! The broker's calls to consumer clients on an admin's behalf (module `consumer_calls`): a fake
//! consumer client heartbeats on a connection whose dispatch table records what the broker sends.
//!
//! - INVOKE_BROKER_TO_RESET_OFFSET (222) sends RESET_CONSUMER_CLIENT_OFFSET (220) oneway with the
//!   per-queue offsets (the offset at the timestamp when lower than the committed one, or forced)
//!   and answers the admin with the same table; CONSUMER_NOT_ONLINE without members; SYSTEM_ERROR
//!   for an unknown topic;
//! - INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) asks each member (221) and answers client id ->
//!   offsets, or SYSTEM_ERROR without members;
//! - GET_CONSUMER_RUNNING_INFO (307) is relayed to the named client and its answer returned;
//!   SYSTEM_ERROR for a client that is not online;
//! - CONSUME_MESSAGE_DIRECTLY (309) attaches the stored message named by the offset msg id.

mod fixture;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;
use ferrimq_remoting::body::{
    ConsumerData, HeartbeatData, JsonBody, MessageModel, MessageQueue, SubscriptionData,
};
use ferrimq_remoting::header::typed::{
    CreateTopicRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_server::consumer_calls::ResetOffsetBody;
use ferrimq_transport::{ClientConfig, DispatchTable, RemotingClient, next_opaque};
use fixture::*;
use tokio::sync::mpsc;

const GROUP: &str = "CallsGroup";
const TOPIC: &str = "Calls";
const TIMEOUT: Duration = Duration::from_secs(5);

fn request(code: RequestCode) -> RemotingCommand {
    RemotingCommand::request(code, next_opaque())
}

async fn create_topic_with_commits(cluster: &Cluster, commits: &[i64]) -> Result<()> {
    let create =
        request(RequestCode::UpdateAndCreateTopic).with_header(&CreateTopicRequestHeader {
            topic: TOPIC.into(),
            default_topic: "TBW102".into(),
            read_queue_nums: 2,
            write_queue_nums: 2,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            force: None,
        });
    assert_eq!(cluster.call(create).await?.code, 0);
    for (queue_id, offset) in commits.iter().enumerate() {
        let commit = request(RequestCode::UpdateConsumerOffset).with_header(
            &UpdateConsumerOffsetRequestHeader {
                consumer_group: GROUP.into(),
                topic: TOPIC.into(),
                queue_id: queue_id as i32,
                commit_offset: *offset,
            },
        );
        assert_eq!(cluster.call(commit).await?.code, 0);
    }
    Ok(())
}

/// Sends two messages to queue 0 and two to queue 1; returns the offset msg id of the first.
async fn send_four(cluster: &Cluster) -> Result<String> {
    let mut first = None;
    for i in 0..4 {
        let body: &'static [u8] = [b"calls-0", b"calls-1", b"calls-2", b"calls-3"][i as usize];
        let send = send_v2(TOPIC, i % 2, "", body);
        let r = cluster.call(send).await?;
        assert_eq!(r.code, 0, "{:?}", r.remark);
        first.get_or_insert_with(|| r.ext_fields["msgId"].clone());
    }
    cluster.settle();
    Ok(first.expect("sent"))
}

/// A fake consumer client of GROUP: what the broker sends to it arrives on the receiver; it
/// answers 307 with the body "running-info", 221 with offset 5 for queue 1 of the asked topic and
/// 309 with the body it received.
async fn fake_consumer(
    cluster: &Cluster,
    client_id: &str,
) -> Result<(RemotingClient, mpsc::UnboundedReceiver<RemotingCommand>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (t1, t2) = (tx.clone(), tx);
    let table = DispatchTable::new()
        .route(RequestCode::ResetConsumerClientOffset, move |req, _ch| {
            let _ = t1.send(req);
            async { Ok(None) }
        })
        .route(
            RequestCode::GetConsumerRunningInfo,
            move |req: RemotingCommand, _ch| {
                let _ = t2.send(req.clone());
                let answer = RemotingCommand::response_to(&req, ResponseCode::Success)
                    .with_body(&b"running-info"[..]);
                async move { Ok(Some(answer)) }
            },
        )
        .route(
            RequestCode::GetConsumerStatusFromClient,
            |req: RemotingCommand, _ch| {
                let body = format!(
                    r#"{{"messageQueueTable":{{{{"brokerName":"{BROKER_NAME}","queueId":1,"topic":"{}"}}:5}}}}"#,
                    req.ext_fields["topic"]
                );
                let answer = RemotingCommand::response_to(&req, ResponseCode::Success)
                    .with_body(body.into_bytes());
                async move { Ok(Some(answer)) }
            },
        )
        .route(
            RequestCode::ConsumeMessageDirectly,
            |req: RemotingCommand, _ch| {
                let answer = RemotingCommand::response_to(&req, ResponseCode::Success)
                    .with_body(req.body.clone());
                async move { Ok(Some(answer)) }
            },
        );
    let client = RemotingClient::new(ClientConfig::default(), table);
    let heartbeat = HeartbeatData {
        client_id: client_id.into(),
        consumer_data_set: vec![ConsumerData {
            group_name: GROUP.into(),
            message_model: MessageModel::Clustering,
            subscription_data_set: vec![SubscriptionData {
                topic: TOPIC.into(),
                sub_string: "*".into(),
                ..SubscriptionData::default()
            }],
            ..ConsumerData::default()
        }],
        ..HeartbeatData::default()
    };
    let hb = request(RequestCode::HeartBeat).with_body(heartbeat.encode()?);
    let r = client.invoke(&cluster.broker_addr(), hb, TIMEOUT).await?;
    assert_eq!(r.code, 0);
    Ok((client, rx))
}

fn reset(timestamp: i64, force: bool) -> RemotingCommand {
    request(RequestCode::InvokeBrokerToResetOffset)
        .with_ext_field("topic", TOPIC)
        .with_ext_field("group", GROUP)
        .with_ext_field("timestamp", timestamp.to_string())
        .with_ext_field("isForce", force.to_string())
}

fn queue(id: i32) -> MessageQueue {
    MessageQueue {
        broker_name: BROKER_NAME.into(),
        queue_id: id,
        topic: TOPIC.into(),
    }
}

#[tokio::test]
async fn reset_without_members_or_topic_is_refused() -> Result<()> {
    let cluster = Cluster::start("").await?;
    let r = cluster.call(reset(0, true)).await?;
    assert_eq!(r.code, ResponseCode::SystemError.code());
    let remark = r.remark.unwrap_or_default();
    assert!(
        remark.contains("no topic in this broker. topic=Calls"),
        "{remark}"
    );
    create_topic_with_commits(&cluster, &[0, 0]).await?;
    let r = cluster.call(reset(0, true)).await?;
    assert_eq!(
        r.code,
        ResponseCode::ConsumerNotOnline.code(),
        "{:?}",
        r.remark
    );
    cluster.stop().await
}

#[tokio::test]
async fn reset_sends_the_offsets_to_members_and_answers_them() -> Result<()> {
    let cluster = Cluster::start("").await?;
    create_topic_with_commits(&cluster, &[2, 1]).await?;
    send_four(&cluster).await?;
    let (_client, mut rx) = fake_consumer(&cluster, "10.0.0.1@calls").await?;
    // Not forced, to the queue ends (-1): the lower committed offsets are kept.
    let r = cluster.call(reset(-1, false)).await?;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let kept = HashMap::from([(queue(0), 2), (queue(1), 1)]);
    assert_eq!(ResetOffsetBody::decode(&r.body)?.offset_table, kept);
    let call = tokio::time::timeout(TIMEOUT, rx.recv())
        .await?
        .expect("220");
    assert_eq!(call.code, RequestCode::ResetConsumerClientOffset.code());
    assert!(call.is_oneway());
    assert_eq!(call.ext_fields["group"], GROUP);
    assert_eq!(ResetOffsetBody::decode(&call.body)?.offset_table, kept);
    // Forced to time 0: every queue back to its start.
    let r = cluster.call(reset(0, true)).await?;
    let start = HashMap::from([(queue(0), 0), (queue(1), 0)]);
    assert_eq!(ResetOffsetBody::decode(&r.body)?.offset_table, start);
    let call = tokio::time::timeout(TIMEOUT, rx.recv())
        .await?
        .expect("220");
    assert_eq!(ResetOffsetBody::decode(&call.body)?.offset_table, start);
    cluster.stop().await
}

#[tokio::test]
async fn running_info_and_direct_consumption_are_relayed_to_the_client() -> Result<()> {
    let cluster = Cluster::start("").await?;
    create_topic_with_commits(&cluster, &[0, 0]).await?;
    let first = send_four(&cluster).await?;
    let (_client, mut rx) = fake_consumer(&cluster, "10.0.0.2@calls").await?;
    let info = |client: &str| {
        request(RequestCode::GetConsumerRunningInfo)
            .with_ext_field("consumerGroup", GROUP)
            .with_ext_field("clientId", client)
            .with_ext_field("jstackEnable", "false")
    };
    let r = cluster.call(info("10.0.0.2@calls")).await?;
    assert_eq!((r.code, &r.body[..]), (0, &b"running-info"[..]));
    let relayed = rx.recv().await.expect("307");
    assert_eq!(relayed.ext_fields["clientId"], "10.0.0.2@calls");
    let r = cluster.call(info("10.0.0.9@other")).await?;
    assert_eq!(r.code, ResponseCode::SystemError.code());
    assert_eq!(
        r.remark.as_deref(),
        Some("The Consumer <10.0.0.9@other> not online")
    );

    let direct = request(RequestCode::ConsumeMessageDirectly)
        .with_ext_field("consumerGroup", GROUP)
        .with_ext_field("clientId", "10.0.0.2@calls")
        .with_ext_field("msgId", first.as_str())
        .with_ext_field("brokerName", BROKER_NAME);
    let r = cluster.call(direct).await?;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    // The fake client echoes the attached body: the stored record of the first message.
    let stored = &r.body[..];
    let needle = b"calls-0";
    assert!(
        stored.windows(needle.len()).any(|w| w == needle),
        "{stored:?}"
    );
    cluster.stop().await
}

#[tokio::test]
async fn consumer_status_collects_each_clients_offsets() -> Result<()> {
    let cluster = Cluster::start("").await?;
    create_topic_with_commits(&cluster, &[0, 0]).await?;
    let status = |client: &str| {
        request(RequestCode::InvokeBrokerToGetConsumerStatus)
            .with_ext_field("topic", TOPIC)
            .with_ext_field("group", GROUP)
            .with_ext_field("clientAddr", client)
    };
    let r = cluster.call(status("")).await?;
    assert_eq!(r.code, ResponseCode::SystemError.code());
    assert_eq!(
        r.remark.as_deref(),
        Some("No Any Consumer online in the consumer group: [CallsGroup]")
    );
    let (_a, _rx_a) = fake_consumer(&cluster, "10.0.0.3@a").await?;
    let (_b, _rx_b) = fake_consumer(&cluster, "10.0.0.4@b").await?;
    let r = cluster.call(status("")).await?;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let one = format!(r#"{{{{"brokerName":"{BROKER_NAME}","queueId":1,"topic":"{TOPIC}"}}:5}}"#);
    let want = format!(
        r#"{{"consumerTable":{{"10.0.0.3@a":{one},"10.0.0.4@b":{one}}},"messageQueueTable":{{}}}}"#
    );
    assert_eq!(String::from_utf8(r.body.to_vec())?, want);
    let r = cluster.call(status("10.0.0.4@b")).await?;
    let want = format!(r#"{{"consumerTable":{{"10.0.0.4@b":{one}}},"messageQueueTable":{{}}}}"#);
    assert_eq!(String::from_utf8(r.body.to_vec())?, want);
    cluster.stop().await
}
