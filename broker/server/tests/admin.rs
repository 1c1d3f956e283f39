//! Admin requests end to end: topic create (re-registered with the NameServer), list, delete;
//! statistics; who consumes; message lookups by offset id and by key.

mod fixture;

use std::time::Duration;

use anyhow::Result;
use ferrimq_remoting::body::{
    ConsumeStats, GroupList, JsonBody, KvTable, TopicRouteData, TopicStatsTable,
};
use ferrimq_remoting::header::typed::{
    CreateTopicRequestHeader, GetConsumeStatsRequestHeader, GetRouteInfoRequestHeader,
    QueryMessageRequestHeader, TopicRequestHeader, UpdateConsumerOffsetRequestHeader,
    ViewMessageRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_store::record::msg_id;
use ferrimq_transport::next_opaque;
use fixture::*;

fn request(code: RequestCode) -> RemotingCommand {
    RemotingCommand::request(code, next_opaque())
}

fn create(topic: &str, perm: i32) -> RemotingCommand {
    request(RequestCode::UpdateAndCreateTopic).with_header(&CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 3,
        write_queue_nums: 2,
        perm,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order: false,
        attributes: None,
        force: None,
    })
}

async fn all_topics(
    cluster: &Cluster,
) -> Result<ferrimq_remoting::body::TopicConfigSerializeWrapper> {
    let r = cluster
        .call(request(RequestCode::GetAllTopicConfig))
        .await?;
    assert_eq!(r.code, 0);
    Ok(ferrimq_remoting::body::TopicConfigSerializeWrapper::decode(
        &r.body,
    )?)
}

#[tokio::test]
async fn topic_create_route_list_and_delete() -> Result<()> {
    let cluster = Cluster::start("").await?;
    assert_eq!(cluster.call(create("Admin1", 6)).await?.code, 0);
    let table = all_topics(&cluster).await?;
    let t = &table.topic_config_table["Admin1"];
    assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm.0), (3, 2, 6));
    let system: Vec<(&str, u32, u8)> = [
        "TBW102",
        CLUSTER,
        BROKER_NAME,
        "SELF_TEST_TOPIC",
        "OFFSET_MOVED_EVENT",
        "TestCluster_REPLY_TOPIC",
    ]
    .iter()
    .map(|n| {
        let c = &table.topic_config_table[*n];
        (*n, c.write_queue_nums, c.perm.0)
    })
    .collect();
    assert_eq!(
        system,
        vec![
            ("TBW102", 8, 7),
            (CLUSTER, 16, 7),
            (BROKER_NAME, 1, 7),
            ("SELF_TEST_TOPIC", 1, 6),
            ("OFFSET_MOVED_EVENT", 1, 6),
            ("TestCluster_REPLY_TOPIC", 1, 6),
        ]
    );
    let mut queues = None;
    for _ in 0..100 {
        let r = cluster
            .call_namesrv(request(RequestCode::GetRouteinfoByTopic).with_header(
                &GetRouteInfoRequestHeader {
                    topic: "Admin1".into(),
                    accept_standard_json_only: Some(true),
                },
            ))
            .await?;
        if r.code == 0 {
            let route = TopicRouteData::decode(&r.body)?;
            queues = route
                .queue_datas
                .first()
                .map(|q| (q.read_queue_nums, q.write_queue_nums, q.perm));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(queues, Some((3, 2, 6)));
    assert_eq!(
        cluster.call(create("SCHEDULE_TOPIC_XXXX", 6)).await?.code,
        ResponseCode::SystemError.code()
    );
    assert_eq!(
        cluster.call(create("bad topic", 6)).await?.code,
        ResponseCode::SystemError.code()
    );
    assert_eq!(
        cluster.call(create("BadPerm", 9)).await?.code,
        ResponseCode::SystemError.code()
    );
    let delete = request(RequestCode::DeleteTopicInBroker).with_header(&TopicRequestHeader {
        topic: "Admin1".into(),
    });
    assert_eq!(cluster.call(delete).await?.code, 0);
    assert!(
        !all_topics(&cluster)
            .await?
            .topic_config_table
            .contains_key("Admin1")
    );
    cluster.stop().await
}

#[tokio::test]
async fn stats_consumers_and_message_lookups() -> Result<()> {
    let cluster = Cluster::start("").await?;
    assert_eq!(cluster.call(create("Stats", 6)).await?.code, 0);
    let mut ids = Vec::new();
    for (i, key) in ["k0", "k1"].into_iter().enumerate() {
        let p = props(&[("KEYS", key), ("UNIQ_KEY", &format!("UNIQ{i}"))]);
        let r = cluster.call(send_v2("Stats", 1, &p, b"payload")).await?;
        assert_eq!(r.code, 0);
        ids.push(r.ext_fields["msgId"].clone());
    }
    cluster.settle();
    let commit = request(RequestCode::UpdateConsumerOffset).with_header(
        &UpdateConsumerOffsetRequestHeader {
            consumer_group: "SG".into(),
            topic: "Stats".into(),
            queue_id: 1,
            commit_offset: 1,
        },
    );
    assert_eq!(cluster.call(commit).await?.code, 0);
    let topic = TopicRequestHeader {
        topic: "Stats".into(),
    };
    let r = cluster
        .call(request(RequestCode::GetTopicStatsInfo).with_header(&topic))
        .await?;
    let stats = TopicStatsTable::decode(&r.body)?;
    let mut per_queue: Vec<(i32, i64, i64)> = stats
        .offset_table
        .iter()
        .map(|(q, o)| (q.queue_id, o.min_offset, o.max_offset))
        .collect();
    per_queue.sort();
    assert_eq!(per_queue, vec![(0, 0, 0), (1, 0, 2)]);
    let r = cluster
        .call(
            request(RequestCode::GetConsumeStats).with_header(&GetConsumeStatsRequestHeader {
                consumer_group: "SG".into(),
                topic: None,
            }),
        )
        .await?;
    let consume = ConsumeStats::decode(&r.body)?;
    let q1 = consume
        .offset_table
        .iter()
        .find(|(q, _)| q.queue_id == 1)
        .map(|(_, o)| (o.broker_offset, o.consumer_offset));
    assert_eq!((consume.offset_table.len(), q1), (3, Some((2, 1))));
    let r = cluster
        .call(request(RequestCode::QueryTopicConsumeByWho).with_header(&topic))
        .await?;
    assert_eq!(
        GroupList::decode(&r.body)?
            .group_list
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["SG".to_owned()]
    );
    let r = cluster
        .call(request(RequestCode::GetBrokerRuntimeInfo))
        .await?;
    assert_eq!(
        KvTable::decode(&r.body)?
            .table
            .get("brokerVersionDesc")
            .map(String::as_str),
        Some("V4_9_8")
    );
    // VIEW_MESSAGE_BY_ID: the offset inside the offsetMsgId.
    let (_, offset) = msg_id::decode(&ids[1]).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let view = request(RequestCode::ViewMessageById).with_header(&ViewMessageRequestHeader {
        topic: None,
        offset,
    });
    let r = cluster.call(view).await?;
    assert_eq!(
        (r.code, decode_pulled(&r.body)?[0].uniq_key.as_deref()),
        (0, Some("UNIQ1"))
    );
    let query = |key: &str, unique: bool| {
        request(RequestCode::QueryMessage).with_header(&QueryMessageRequestHeader {
            topic: "Stats".into(),
            key: key.into(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
            unique_key_query: Some(unique),
        })
    };
    let r = cluster.call(query("k0", false)).await?;
    assert_eq!(
        (
            r.code,
            decode_pulled(&r.body)?
                .iter()
                .map(|p| p.msg_id.clone())
                .collect::<Vec<_>>()
        ),
        (0, vec![ids[0].clone()])
    );
    let r = cluster.call(query("UNIQ1", true)).await?;
    assert_eq!((r.code, decode_pulled(&r.body)?.len()), (0, 1));
    assert_eq!(
        cluster.call(query("nope", false)).await?.code,
        ResponseCode::QueryNotFound.code()
    );
    cluster.stop().await
}
