//! The Rust `PullConsumer` against a master/slave group in one process: it consumes from the
//! master, keeps consuming from the slave while the master is gone from the NameServer (it
//! unregisters on shutdown), commits to the slave, and the committed offsets reach the master
//! when it returns — no message skipped, none delivered twice.

mod fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ferrimq_client::{
    ConsumerConfig, Message, Producer, ProducerConfig, PullConsumer, RouteCache, Session,
    SessionConfig,
};
use ferrimq_config::BrokerConfig;
use ferrimq_namesrv::NameServer;
use ferrimq_remoting::body::{JsonBody, MessageQueue, TopicConfigSerializeWrapper};
use ferrimq_remoting::header::typed::{
    CreateTopicRequestHeader, OffsetResponseHeader, QueryConsumerOffsetRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_server::Broker;
use ferrimq_transport::{ServerConfig, next_opaque};

use ferrimq_client::session::request;
use fixture::broker_config;

const TOPIC: &str = "FailoverTopic";
const GROUP: &str = "FailoverGroup";
/// Messages sent while the master is up, consumed from it, and again afterwards (from the slave).
const BATCH: usize = 12;
/// Route cache age of the test's consumers: they notice the master leaving quickly.
const ROUTE_MAX_AGE: Duration = Duration::from_millis(500);
/// Fast re-registration, so the slave notices the master leaving and returning within a second.
const COMMON: &str = "registerNameServerPeriod=1000\n";

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A broker of the group at fixed ports, so the master restarts at the same address.
struct Member {
    root: std::path::PathBuf,
    listen: u16,
    ha: u16,
    extra: String,
}

impl Member {
    fn new(root: &Path, extra: &str) -> Result<Member> {
        Ok(Member {
            root: root.to_path_buf(),
            listen: free_port()?,
            ha: free_port()?,
            extra: format!("{COMMON}{extra}"),
        })
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.listen)
    }

    fn config(&self, namesrv: SocketAddr) -> Result<BrokerConfig> {
        let mut config = broker_config(&self.root, namesrv, &self.extra)?;
        config.broker.listen_port = self.listen;
        config.broker.ha_listen_port = Some(self.ha);
        Ok(config)
    }

    async fn start(&self, namesrv: SocketAddr) -> Result<Broker> {
        Broker::start(self.config(namesrv)?)
            .await
            .with_context(|| format!("start {}", self.root.display()))
    }
}

fn create_topic() -> RemotingCommand {
    RemotingCommand::request(RequestCode::UpdateAndCreateTopic, next_opaque()).with_header(
        &CreateTopicRequestHeader {
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
        },
    )
}

/// Polls `probe` every 100 ms for up to `secs` seconds.
async fn eventually<F, Fut>(secs: u64, what: &str, mut probe: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs * 10 {
        if probe().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("timed out waiting for {what}")
}

/// Sends `count` messages with bodies `{prefix}-{i}`; returns the bodies.
async fn produce(producer: &Producer, prefix: &str, count: usize) -> Result<BTreeSet<String>> {
    let mut sent = BTreeSet::new();
    for i in 0..count {
        let body = format!("{prefix}-{i}");
        producer
            .send(Message::new(TOPIC, body.clone().into_bytes()))
            .await?;
        sent.insert(body);
    }
    Ok(sent)
}

/// Polls until `want` distinct bodies arrived (transport errors while the route settles are
/// retried); fails on a duplicate.
async fn consume(consumer: &PullConsumer, want: usize) -> Result<BTreeSet<String>> {
    let mut got = BTreeSet::new();
    for _ in 0..300 {
        match consumer.poll().await {
            Ok(messages) => {
                for m in messages {
                    let body = String::from_utf8(m.body.to_vec())?;
                    if !got.insert(body.clone()) {
                        bail!("{body} delivered twice");
                    }
                }
            }
            Err(e) => eprintln!("poll failed (route settling): {e}"),
        }
        if got.len() >= want {
            return Ok(got);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("got {} of {want} messages: {got:?}", got.len())
}

fn new_consumer(namesrv: SocketAddr) -> (Arc<Session>, PullConsumer) {
    let session = Session::new(SessionConfig::new([namesrv.to_string()]));
    let routes = new_routes(&session);
    let consumer = PullConsumer::with_routes(routes, ConsumerConfig::new(GROUP));
    consumer.subscribe(TOPIC, "*");
    (session, consumer)
}

async fn committed_on(broker: &PullConsumer, queues: &[MessageQueue]) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    for q in queues {
        if let Ok(Some(offset)) = broker.committed(q).await {
            out.insert(q.queue_id, offset);
        }
    }
    out
}

/// A NameServer and a master + readable slave of one brokerName, with the topic created.
struct Group {
    _dir: tempfile::TempDir,
    namesrv: NameServer,
    master_member: Member,
    slave_addr: String,
    master: Broker,
    slave: Broker,
}

impl Group {
    async fn start(master_extra: &str) -> Result<Group> {
        let dir = tempfile::tempdir()?;
        let namesrv = NameServer::start_with(
            ferrimq_config::NamesrvConfig {
                kv_config_path: dir.path().join("kvConfig.json"),
                ..Default::default()
            },
            ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..Default::default()
            },
        )
        .await?;
        let ns = namesrv.local_addr();
        let master_member = Member::new(&dir.path().join("master"), master_extra)?;
        let slave_member = Member::new(
            &dir.path().join("slave"),
            "brokerRole=SLAVE\nbrokerId=1\nslaveReadEnable=true\n",
        )?;
        let master = master_member.start(ns).await?;
        let slave = slave_member.start(ns).await?;
        Ok(Group {
            _dir: dir,
            namesrv,
            master_member,
            slave_addr: slave_member.addr(),
            master,
            slave,
        })
    }

    /// Creates the topic on the master and waits until `consumer` sees its two queues.
    async fn create_topic(&self, session: &Session, consumer: &PullConsumer) -> Result<()> {
        let addr = self.master_member.addr();
        let ok = [ResponseCode::Success];
        session.invoke_ok(&addr, create_topic(), &ok, None).await?;
        eventually(10, "the topic route", || async {
            consumer.queues(TOPIC).await.is_ok_and(|q| q.len() == 2)
        })
        .await
    }

    /// Waits until the slave's CommitLog ends where the master's does and the slave knows the
    /// topic (periodic metadata sync): only then can it serve the topic alone.
    async fn slave_caught_up(&self, session: &Session) -> Result<()> {
        let master_end = self.master.store().commit_log_max_offset();
        let slave_store = self.slave.store().clone();
        eventually(30, "the slave catching up", || {
            let store = slave_store.clone();
            async move {
                let all = request(RequestCode::GetAllTopicConfig);
                let topics =
                    session.invoke_ok(&self.slave_addr, all, &[ResponseCode::Success], None);
                let known = topics.await.is_ok_and(|r| {
                    TopicConfigSerializeWrapper::decode(&r.body)
                        .is_ok_and(|w| w.topic_config_table.contains_key(TOPIC))
                });
                known && store.commit_log_max_offset() == master_end
            }
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_consumer_fails_over_to_the_slave_and_its_offsets_reach_the_master() -> Result<()> {
    let group = Group::start("").await?;
    let ns = group.namesrv.local_addr();
    let (session, consumer) = new_consumer(ns);
    let producer = Producer::new(
        Arc::clone(&session),
        ProducerConfig::new("FailoverProducer"),
    );
    group.create_topic(&session, &consumer).await?;
    let queues = consumer.queues(TOPIC).await?;
    consumer.assign(queues.clone());

    // Phase 1: master up.
    let first = produce(&producer, "a", BATCH).await?;
    assert_eq!(consume(&consumer, BATCH).await?, first);
    consumer.commit().await?;
    let second = produce(&producer, "b", BATCH).await?;
    group.slave_caught_up(&session).await?;
    let slave_store = group.slave.store().clone();
    eventually(25, "the slave's consume queues complete", || async {
        let total: u64 = (0..2)
            .map(|id| slave_store.max_offset_in_queue(TOPIC, id))
            .sum();
        total == (2 * BATCH) as u64
    })
    .await?;

    // Phase 2: the master leaves (and unregisters); the route keeps only the slave.
    group.master.shutdown().await?;
    let routes = new_routes(&session);
    eventually(10, "the master gone from the route", || async {
        routes
            .route(TOPIC)
            .await
            .is_ok_and(|r| r.master_addr(fixture::BROKER_NAME).is_none())
    })
    .await?;
    // The consumer's own cache has expired too (same max age): no call goes to the dead master.
    tokio::time::sleep(ROUTE_MAX_AGE).await;
    // Lookups fall back to the slave.
    let mut max_total = 0;
    for q in &queues {
        max_total += consumer.max_offset(q).await?;
        assert_eq!(consumer.min_offset(q).await?, 0);
    }
    assert_eq!(max_total, (2 * BATCH) as i64);
    assert_eq!(consume(&consumer, BATCH).await?, second);
    consumer.commit().await?;
    let positions: BTreeMap<i32, i64> = consumer
        .positions()
        .into_iter()
        .map(|(q, p)| (q.queue_id, p.unwrap_or(-1)))
        .collect();
    assert_eq!(positions.values().sum::<i64>(), (2 * BATCH) as i64);
    // Commits went to the slave (the only broker of the route).
    assert_eq!(committed_on(&consumer, &queues).await, positions);
    assert!(consumer.poll().await?.is_empty());

    // Phase 3: the master returns; the slave hands it the offsets committed meanwhile.
    let master = group.master_member.start(ns).await?;
    let master_addr = group.master_member.addr();
    eventually(30, "offsets forwarded to the master", || async {
        let mut on_master = BTreeMap::new();
        for q in &queues {
            let req =
                request(RequestCode::QueryConsumerOffset).with_header(&query_header(q.queue_id));
            if let Ok(r) = session
                .invoke_ok(&master_addr, req, &[ResponseCode::Success], None)
                .await
            {
                if let Ok(h) = r.decode_header::<OffsetResponseHeader>() {
                    on_master.insert(q.queue_id, h.offset);
                }
            }
        }
        on_master == positions
    })
    .await?;

    // A fresh consumer of the group resumes on the master where the failover left off.
    let (fresh_session, fresh) = new_consumer(ns);
    fresh.assign(queues.clone());
    let third = produce(&producer, "c", 3).await?;
    assert_eq!(consume(&fresh, 3).await?, third);

    fresh_session.shutdown();
    session.shutdown();
    group.slave.shutdown().await?;
    master.shutdown().await?;
    group.namesrv.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

fn new_routes(session: &Arc<Session>) -> Arc<RouteCache> {
    RouteCache::new(Arc::clone(session), ROUTE_MAX_AGE)
}

fn query_header(queue_id: i32) -> QueryConsumerOffsetRequestHeader {
    QueryConsumerOffsetRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id,
        set_zero_if_not_found: Some(false),
    }
}

/// Pulls follow `suggestWhichBrokerId`: a master that finds the reader lagging beyond its memory
/// window (0 % here) suggests brokerId 1, the next pull goes to the slave, whose answer (default
/// window) suggests the master again — so the suggestions alternate, as with the Java client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_follow_the_suggested_broker() -> Result<()> {
    let group = Group::start("accessMessageInMemoryMaxRatio=0\nslaveReadEnable=true\n").await?;
    let (session, consumer) = new_consumer(group.namesrv.local_addr());
    group.create_topic(&session, &consumer).await?;
    let producer = Producer::new(Arc::clone(&session), ProducerConfig::new("SuggestProducer"));
    let mut on_queue = BTreeMap::<MessageQueue, Vec<String>>::new();
    for i in 0..6 {
        let body = format!("s-{i}");
        let sent = producer
            .send(Message::new(TOPIC, body.clone().into_bytes()))
            .await?;
        on_queue.entry(sent.queue).or_default().push(body);
    }
    let (queue, bodies) = on_queue
        .into_iter()
        .max_by_key(|(_, b)| b.len())
        .context("sent")?;
    assert!(bodies.len() >= 3, "{bodies:?}");
    group.slave_caught_up(&session).await?;
    // Both consume queues hold the messages.
    let (master, slave) = (group.master.store().clone(), group.slave.store().clone());
    let count = bodies.len() as u64;
    eventually(25, "the queue readable on both brokers", || async {
        master.max_offset_in_queue(TOPIC, queue.queue_id) == count
            && slave.max_offset_in_queue(TOPIC, queue.queue_id) == count
    })
    .await?;

    let mut suggestions = Vec::new();
    let mut pulled = Vec::new();
    for offset in 0..3 {
        let r = consumer.pull(&queue, offset, 1).await?;
        suggestions.push(r.suggest_which_broker_id);
        pulled.extend(
            r.messages
                .iter()
                .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
        );
    }
    assert_eq!(suggestions, vec![1, 0, 1]);
    assert_eq!(pulled, bodies[..3].to_vec());

    session.shutdown();
    group.slave.shutdown().await?;
    group.master.shutdown().await?;
    group.namesrv.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
