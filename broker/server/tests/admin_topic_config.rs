//! Admin requests the 5.x `mqadmin` needs beyond 4.x (found by broker/cli/tests/compat_mqadmin.rs):
//! GET_TOPIC_CONFIG (351), behind topicStatus and consumerProgress, and the `pullOffset` of
//! GET_CONSUME_STATS from which consumerProgress prints "#Inflight".

mod fixture;

use anyhow::Result;
use ferrimq_config::TopicConfig;
use ferrimq_remoting::body::{ConsumeStats, JsonBody};
use ferrimq_remoting::header::typed::{
    CreateTopicRequestHeader, GetConsumeStatsRequestHeader, TopicRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_transport::next_opaque;
use fixture::*;

fn request(code: RequestCode) -> RemotingCommand {
    RemotingCommand::request(code, next_opaque())
}

fn create(topic: &str) -> RemotingCommand {
    request(RequestCode::UpdateAndCreateTopic).with_header(&CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 5,
        write_queue_nums: 3,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order: false,
        attributes: None,
        force: None,
    })
}

fn topic_config(topic: &str) -> RemotingCommand {
    request(RequestCode::GetTopicConfig).with_header(&TopicRequestHeader {
        topic: topic.into(),
    })
}

#[tokio::test]
async fn get_topic_config_returns_the_config_or_topic_not_exist() -> Result<()> {
    let cluster = Cluster::start("").await?;
    assert_eq!(cluster.call(create("Configured")).await?.code, 0);
    let r = cluster.call(topic_config("Configured")).await?;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let config: TopicConfig = ferrimq_fastjson::from_slice(&r.body)?;
    let got = (
        config.topic_name.as_str(),
        config.read_queue_nums,
        config.write_queue_nums,
        config.perm.0,
    );
    assert_eq!(got, ("Configured", 5, 3, 6));
    let missing = cluster.call(topic_config("NoSuchTopic")).await?;
    assert_eq!(missing.code, ResponseCode::TopicNotExist.code());
    assert_eq!(
        missing.remark.as_deref(),
        Some("No topic in this broker. topic: NoSuchTopic")
    );
    Ok(())
}

#[tokio::test]
async fn consume_stats_report_the_committed_offset_as_pull_offset() -> Result<()> {
    let cluster = Cluster::start("").await?;
    assert_eq!(cluster.call(create("Pulled")).await?.code, 0);
    let commit = request(RequestCode::UpdateConsumerOffset).with_header(
        &UpdateConsumerOffsetRequestHeader {
            consumer_group: "PG".into(),
            topic: "Pulled".into(),
            queue_id: 2,
            commit_offset: 0,
        },
    );
    assert_eq!(cluster.call(commit).await?.code, 0);
    let stats = request(RequestCode::GetConsumeStats).with_header(&GetConsumeStatsRequestHeader {
        consumer_group: "PG".into(),
        topic: Some("Pulled".into()),
    });
    let r = cluster.call(stats).await?;
    let consume = ConsumeStats::decode(&r.body)?;
    let mut pulls: Vec<(i32, i64, Option<i64>)> = consume
        .offset_table
        .iter()
        .map(|(q, o)| (q.queue_id, o.consumer_offset, o.pull_offset))
        .collect();
    pulls.sort();
    let want: Vec<(i32, i64, Option<i64>)> = (0..5).map(|q| (q, 0, Some(0))).collect();
    assert_eq!(pulls, want);
    Ok(())
}
