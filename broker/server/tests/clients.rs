//! Offsets, heartbeats and client tables end to end: QUERY_NOT_FOUND and stored offsets,
//! queue offsets, the %RETRY% topic and its route, consumer lists, pulls with the registered
//! subscription, and consumer offsets surviving a restart.

mod fixture;

use std::time::Duration;

use anyhow::Result;
use ferrimq_remoting::body::{
    ConsumerConnection, ConsumerData, GetConsumerListByGroupResponseBody, HeartbeatData, JsonBody,
    SubscriptionData, TopicRouteData,
};
use ferrimq_remoting::header::typed::{
    ConsumerGroupRequestHeader, GetMaxOffsetRequestHeader, GetRouteInfoRequestHeader,
    QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader, TopicQueueRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_transport::next_opaque;
use fixture::*;

fn request(code: RequestCode) -> RemotingCommand {
    RemotingCommand::request(code, next_opaque())
}

fn offset_of(r: &RemotingCommand) -> Option<i64> {
    r.ext_fields.get("offset").and_then(|v| v.parse().ok())
}

fn query(group: &str, topic: &str, queue_id: i32) -> RemotingCommand {
    request(RequestCode::QueryConsumerOffset).with_header(&QueryConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        set_zero_if_not_found: None,
    })
}

fn update(group: &str, topic: &str, queue_id: i32, offset: i64) -> RemotingCommand {
    request(RequestCode::UpdateConsumerOffset).with_header(&UpdateConsumerOffsetRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        commit_offset: offset,
    })
}

#[tokio::test]
async fn consumer_and_queue_offsets() -> Result<()> {
    let cluster = Cluster::start("").await?;
    assert_eq!(cluster.call(send_v2("Off", 0, "", b"seed")).await?.code, 0);
    cluster.settle();
    // Queue 1 is empty: nothing stored, nothing to start from.
    let r = cluster.call(query("G", "Off", 1)).await?;
    assert_eq!(r.code, ResponseCode::QueryNotFound.code());
    // Queue 0 still holds its first message: a new group starts at 0.
    let r = cluster.call(query("G", "Off", 0)).await?;
    assert_eq!((r.code, offset_of(&r)), (0, Some(0)));
    assert_eq!(cluster.call(update("G", "Off", 0, 5)).await?.code, 0);
    let r = cluster.call(query("G", "Off", 0)).await?;
    assert_eq!((r.code, offset_of(&r)), (0, Some(5)));
    // Oneway update, as the Java client's persistAll sends it.
    let addr = cluster.broker_addr();
    cluster
        .client
        .invoke_oneway(&addr, update("G", "Off", 0, 7).into_oneway())
        .await?;
    let mut seen = None;
    for _ in 0..50 {
        seen = offset_of(&cluster.call(query("G", "Off", 0)).await?);
        if seen == Some(7) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some(7));
    let max = request(RequestCode::GetMaxOffset).with_header(&GetMaxOffsetRequestHeader {
        topic: "Off".into(),
        queue_id: 0,
        committed: None,
    });
    assert_eq!(offset_of(&cluster.call(max).await?), Some(1));
    let tq = TopicQueueRequestHeader {
        topic: "Off".into(),
        queue_id: 0,
    };
    assert_eq!(
        offset_of(
            &cluster
                .call(request(RequestCode::GetMinOffset).with_header(&tq))
                .await?
        ),
        Some(0)
    );
    let r = cluster
        .call(request(RequestCode::GetEarliestMsgStoretime).with_header(&tq))
        .await?;
    let stored_at: i64 = r
        .ext_fields
        .get("timestamp")
        .map_or(Ok(-1), |v| v.parse())?;
    assert!(
        stored_at > 1_700_000_000_000,
        "store time of the seed message, got {stored_at}"
    );
    let search =
        request(RequestCode::SearchOffsetByTimestamp).with_header(&SearchOffsetRequestHeader {
            topic: "Off".into(),
            queue_id: 0,
            timestamp: stored_at,
            boundary_type: None,
        });
    assert_eq!(offset_of(&cluster.call(search).await?), Some(0));
    cluster.stop().await
}

fn heartbeat(client_id: &str, group: &str, topic: &str) -> Result<RemotingCommand> {
    let sub = SubscriptionData {
        topic: topic.into(),
        sub_string: "*".into(),
        sub_version: 1_000,
        expression_type: Some("TAG".into()),
        ..Default::default()
    };
    let data = HeartbeatData {
        client_id: client_id.into(),
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            subscription_data_set: vec![sub],
            ..Default::default()
        }],
        ..Default::default()
    };
    Ok(request(RequestCode::HeartBeat).with_body(data.encode()?))
}

#[tokio::test]
async fn heartbeat_registers_group_retry_topic_and_route() -> Result<()> {
    let cluster = Cluster::start("").await?;
    assert_eq!(
        cluster
            .call(heartbeat("10.0.0.1@1", "CG", "TopicH")?)
            .await?
            .code,
        0
    );
    let broker = cluster.broker.as_ref().expect("running");
    let retry = broker
        .topics()
        .get("%RETRY%CG")
        .expect("retry topic created");
    assert_eq!(
        (retry.read_queue_nums, retry.write_queue_nums, retry.perm.0),
        (1, 1, 6)
    );
    // The topic change triggers a re-registration: the route shows this broker.
    let route_request = || {
        request(RequestCode::GetRouteinfoByTopic).with_header(&GetRouteInfoRequestHeader {
            topic: "%RETRY%CG".into(),
            accept_standard_json_only: Some(true),
        })
    };
    let mut route = None;
    for _ in 0..100 {
        let r = cluster.call_namesrv(route_request()).await?;
        if r.code == 0 {
            route = Some(TopicRouteData::decode(&r.body)?);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let route = route.expect("route of the retry topic");
    assert_eq!(route.broker_datas.len(), 1);
    assert_eq!(route.broker_datas[0].broker_name, BROKER_NAME);
    assert_eq!(route.broker_datas[0].cluster, CLUSTER);
    assert_eq!(
        route.broker_datas[0].broker_addrs.get(&0),
        Some(&cluster.broker_addr())
    );
    let list =
        request(RequestCode::GetConsumerListByGroup).with_header(&ConsumerGroupRequestHeader {
            consumer_group: "CG".into(),
        });
    let r = cluster.call(list).await?;
    assert_eq!(r.code, 0);
    assert_eq!(
        GetConsumerListByGroupResponseBody::decode(&r.body)?.consumer_id_list,
        vec!["10.0.0.1@1".to_owned()]
    );
    let connections =
        request(RequestCode::GetConsumerConnectionList).with_header(&ConsumerGroupRequestHeader {
            consumer_group: "CG".into(),
        });
    let r = cluster.call(connections).await?;
    assert_eq!(r.code, 0);
    let connection = ConsumerConnection::decode(&r.body)?;
    let ids: Vec<(&str, i32)> = connection
        .connection_set
        .iter()
        .map(|c| (c.client_id.as_str(), c.version))
        .collect();
    assert_eq!(
        ids,
        vec![("10.0.0.1@1", ferrimq_remoting::command::DEFAULT_VERSION)]
    );
    assert_eq!(
        connection.subscription_table.keys().collect::<Vec<_>>(),
        vec!["TopicH"]
    );
    let offline =
        request(RequestCode::GetConsumerConnectionList).with_header(&ConsumerGroupRequestHeader {
            consumer_group: "Nobody".into(),
        });
    assert_eq!(
        cluster.call(offline).await?.code,
        ResponseCode::ConsumerNotOnline.code()
    );
    // Pulls without the SUBSCRIPTION flag use the registered subscription.
    assert_eq!(cluster.call(send_v2("TopicH", 0, "", b"h")).await?.code, 0);
    cluster.settle();
    let r = cluster
        .call(pull(&pull_header("CG", "TopicH", 0, 0, 0)))
        .await?;
    assert_eq!(r.code, 0);
    let r = cluster
        .call(pull(&pull_header("Other", "TopicH", 0, 0, 0)))
        .await?;
    assert_eq!(r.code, ResponseCode::SubscriptionNotExist.code());
    let mut newer = pull_header("CG", "TopicH", 0, 0, 0);
    newer.sub_version = 2_000;
    assert_eq!(
        cluster.call(pull(&newer)).await?.code,
        ResponseCode::SubscriptionNotLatest.code()
    );
    cluster.stop().await
}

#[tokio::test]
async fn consumer_offsets_survive_a_restart() -> Result<()> {
    let mut cluster = Cluster::start("").await?;
    assert_eq!(cluster.call(send_v2("Keep", 2, "", b"k")).await?.code, 0);
    assert_eq!(cluster.call(update("G", "Keep", 2, 42)).await?.code, 0);
    cluster.restart_broker("").await?;
    let r = cluster.call(query("G", "Keep", 2)).await?;
    assert_eq!((r.code, offset_of(&r)), (0, Some(42)));
    cluster.stop().await
}

#[tokio::test]
async fn group_members_are_notified_when_membership_changes() -> Result<()> {
    use ferrimq_remoting::header::typed::UnregisterClientRequestHeader;
    use ferrimq_transport::{ClientConfig, DispatchTable, RemotingClient};

    let cluster = Cluster::start("").await?;
    let (tx, mut notified) = tokio::sync::mpsc::unbounded_channel::<String>();
    let table = DispatchTable::new().route(
        RequestCode::NotifyConsumerIdsChanged,
        move |req: RemotingCommand, _ch| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(
                    req.ext_fields
                        .get("consumerGroup")
                        .cloned()
                        .unwrap_or_default(),
                );
                Ok(None)
            }
        },
    );
    let listener = RemotingClient::new(ClientConfig::default(), table);
    let addr = cluster.broker_addr();
    assert_eq!(
        listener
            .invoke(&addr, heartbeat("L@1", "NG", "T")?, TIMEOUT)
            .await?
            .code,
        0
    );
    assert_eq!(next(&mut notified).await.as_deref(), Some("NG"), "own join");
    assert_eq!(cluster.call(heartbeat("B@1", "NG", "T")?).await?.code, 0);
    assert_eq!(next(&mut notified).await.as_deref(), Some("NG"), "B joined");
    assert_eq!(cluster.call(heartbeat("B@1", "NG", "T")?).await?.code, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        notified.try_recv().is_err(),
        "a repeated heartbeat changes nothing"
    );
    let unregister =
        request(RequestCode::UnregisterClient).with_header(&UnregisterClientRequestHeader {
            client_id: "B@1".into(),
            producer_group: None,
            consumer_group: Some("NG".into()),
        });
    assert_eq!(cluster.call(unregister).await?.code, 0);
    assert_eq!(next(&mut notified).await.as_deref(), Some("NG"), "B left");
    let other = RemotingClient::new(ClientConfig::default(), DispatchTable::new());
    assert_eq!(
        other
            .invoke(&addr, heartbeat("C@1", "NG", "T")?, TIMEOUT)
            .await?
            .code,
        0
    );
    assert_eq!(next(&mut notified).await.as_deref(), Some("NG"), "C joined");
    other.shutdown();
    assert_eq!(
        next(&mut notified).await.as_deref(),
        Some("NG"),
        "C's connection closed"
    );
    let list =
        request(RequestCode::GetConsumerListByGroup).with_header(&ConsumerGroupRequestHeader {
            consumer_group: "NG".into(),
        });
    let r = cluster.call(list).await?;
    assert_eq!(
        GetConsumerListByGroupResponseBody::decode(&r.body)?.consumer_id_list,
        vec!["L@1".to_owned()]
    );
    listener.shutdown();
    cluster.stop().await
}

/// The next notification, waiting at most 5 s.
async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .ok()
        .flatten()
}
