//! The Rust pull consumer with SQL92 subscriptions against an in-process ferrimq broker: exactly
//! the matching messages with enablePropertyFilter, the broker's refusal without it, and the
//! parser's error for an invalid selector.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrimq_client::admin::Admin;
use ferrimq_client::{
    ClientError, ConsumerConfig, Message, Producer, ProducerConfig, PullConsumer, Session,
    SessionConfig,
};
use ferrimq_config::{BrokerConfig, NamesrvConfig, TopicConfig};
use ferrimq_namesrv::NameServer;
use ferrimq_server::Broker;
use ferrimq_transport::ServerConfig;

const CLUSTER: &str = "SqlCluster";
const TOPIC: &str = "SqlTopic";

struct Cluster {
    namesrv: NameServer,
    broker: Broker,
    session: Arc<Session>,
    _dir: tempfile::TempDir,
}

async fn start(extra: &str) -> Result<Cluster> {
    let dir = tempfile::tempdir()?;
    let namesrv_config = NamesrvConfig {
        kv_config_path: dir.path().join("kvConfig.json"),
        ..Default::default()
    };
    let transport = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    };
    let namesrv = NameServer::start_with(namesrv_config, transport).await?;
    let ha_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let text = format!(
        "brokerClusterName={CLUSTER}\nbrokerName=broker-a\nbrokerIP1=127.0.0.1\n\
         namesrvAddr={}\nstorePathRootDir={}\nmappedFileSizeCommitLog=16777216\n\
         haListenPort={ha_port}\n{extra}",
        namesrv.local_addr(),
        dir.path().join("store").display()
    );
    let mut config = BrokerConfig::from_text(&text)?.config;
    config.broker.listen_port = 0;
    let broker = Broker::start(config).await.context("broker start")?;
    let session = Session::new(SessionConfig::new([namesrv.local_addr().to_string()]));
    let mut topic = TopicConfig::new(TOPIC);
    topic.read_queue_nums = 2;
    topic.write_queue_nums = 2;
    Admin::new(Arc::clone(&session))
        .create_topic(CLUSTER, &topic)
        .await?;
    Ok(Cluster {
        namesrv,
        broker,
        session,
        _dir: dir,
    })
}

/// Sends 20 messages (a = i, TAGS even/odd); returns msgId -> body of those with
/// `a BETWEEN 4 AND 13 AND TAGS = 'odd'`.
async fn send_twenty(cluster: &Cluster) -> Result<BTreeMap<String, String>> {
    let producer = Producer::new(
        Arc::clone(&cluster.session),
        ProducerConfig::new("SqlProducer"),
    );
    let mut wanted = BTreeMap::new();
    for i in 0..20 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        let body = format!("sql-{i}");
        let message = Message::new(TOPIC, body.clone().into_bytes())
            .with_tags(tag)
            .with_property("a", i.to_string());
        let sent = producer.send(message).await?;
        if (4..=13).contains(&i) && tag == "odd" {
            wanted.insert(sent.msg_id, body);
        }
    }
    Ok(wanted)
}

async fn consumer(cluster: &Cluster, group: &str, expression: &str) -> Result<PullConsumer> {
    let consumer = PullConsumer::new(Arc::clone(&cluster.session), ConsumerConfig::new(group));
    consumer.subscribe_sql92(TOPIC, expression);
    let queues = consumer.queues(TOPIC).await?;
    consumer.assign(queues);
    Ok(consumer)
}

async fn stop(cluster: Cluster) -> Result<()> {
    cluster.broker.shutdown().await?;
    cluster.namesrv.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

#[tokio::test]
async fn sql92_pull_consumer_gets_exactly_the_matching_messages() -> Result<()> {
    let cluster = start("enablePropertyFilter=true").await?;
    let wanted = send_twenty(&cluster).await?;
    assert_eq!(wanted.len(), 5);
    let c = consumer(&cluster, "SqlGroup", "a BETWEEN 4 AND 13 AND TAGS = 'odd'").await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = BTreeMap::new();
    while got.len() < wanted.len() {
        ensure!(
            Instant::now() < deadline,
            "got {} of {}",
            got.len(),
            wanted.len()
        );
        for m in c.poll().await? {
            got.insert(
                m.msg_id().to_owned(),
                String::from_utf8_lossy(&m.body).into_owned(),
            );
        }
    }
    for m in c.poll().await? {
        got.insert(
            m.msg_id().to_owned(),
            String::from_utf8_lossy(&m.body).into_owned(),
        );
    }
    assert_eq!(got, wanted);
    let bad = consumer(&cluster, "SqlBad", "a BETWEEN 4").await?;
    match bad.poll().await {
        Err(ClientError::Broker { code, remark, .. }) => {
            assert_eq!(code, 23, "SUBSCRIPTION_PARSE_FAILED");
            assert_eq!(
                remark,
                "parse the consumer's subscription failed: Invalid MessageSelector: \
                 unexpected end of expression, expected AND between the bounds of BETWEEN at position 11"
            );
        }
        other => panic!("an invalid selector must be refused, got {other:?}"),
    }
    stop(cluster).await
}

#[tokio::test]
async fn a_broker_without_property_filter_refuses_sql92_pulls() -> Result<()> {
    let cluster = start("").await?;
    send_twenty(&cluster).await?;
    let c = consumer(&cluster, "SqlOff", "a > 1").await?;
    match c.poll().await {
        Err(ClientError::Broker { code, remark, .. }) => assert_eq!(
            (code, remark.as_str()),
            (
                1,
                "The broker does not support consumer to filter message by SQL92"
            )
        ),
        other => panic!("SQL92 must be refused, got {other:?}"),
    }
    stop(cluster).await
}
