//! The client against the real Apache RocketMQ 5.3.3 NameServer and broker (Java, from the Maven
//! artifacts resolved by `scripts/java-compat.sh classpath`): produce with [`Producer`] (single,
//! compressed, batch, ordered), consume with [`PullConsumer`] and compare exact id/body sets, then
//! admin round trips (topic create/list/route/stats, consume stats, connections, view/query).
//!
//! Needs Java 17 and the compiled classpath (`e2e/java/target/classpath.txt`, built by Maven on
//! demand). Without them it prints why and passes, unless `FERRIMQ_REQUIRE_JAVA=1`, which makes
//! that a failure (as `broker/store/tests/java_compat.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ferrimq_client::selection::ByShardKey;
use ferrimq_client::{
    Admin, ConsumerConfig, Message, Producer, ProducerConfig, PullConsumer, Session, SessionConfig,
};
use ferrimq_config::TopicConfig;

const CLUSTER: &str = "FerrimqClientCluster";
const BROKER: &str = "ferrimq-client-broker";

/// A JVM killed when the test ends, however it ends.
struct Jvm(Child);

impl Drop for Jvm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Java classpath, or `None` (with a notice) when Java is not usable and not required.
fn classpath() -> Result<Option<String>> {
    let require = std::env::var("FERRIMQ_REQUIRE_JAVA").as_deref() == Ok("1");
    let java_ok = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    let cp_file = root().join("e2e/java/target/classpath.txt");
    if java_ok && !cp_file.exists() {
        let _ = Command::new(root().join("scripts/java-compat.sh"))
            .arg("classpath")
            .stdout(Stdio::null())
            .status();
    }
    if !java_ok || !cp_file.exists() {
        ensure!(
            !require,
            "FERRIMQ_REQUIRE_JAVA=1 but java or {} is missing",
            cp_file.display()
        );
        eprintln!(
            "java_broker: java or the RocketMQ classpath is missing, not running the Java broker (set FERRIMQ_REQUIRE_JAVA=1 to require it)"
        );
        return Ok(None);
    }
    let deps = std::fs::read_to_string(&cp_file)?;
    Ok(Some(format!(
        "{}:{}",
        root().join("e2e/java/target/classes").display(),
        deps.trim()
    )))
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// A name-server port and a broker port whose neighbours (+1 HA, -2 VIP) are free.
fn free_ports() -> Result<(u16, u16)> {
    let seed = std::process::id() as u16;
    for i in 0..200u16 {
        let base = 25_000 + (seed.wrapping_add(i * 37) % 400) * 10;
        let ports = [base, base + 5, base + 6, base + 3];
        if ports.iter().all(|p| !port_open(*p)) {
            return Ok((base, base + 5));
        }
    }
    bail!("no free ports in 25000-28999")
}

fn start_jvm(
    cp: &str,
    work: &Path,
    name: &str,
    heap: &str,
    main: &str,
    conf: &Path,
) -> Result<Jvm> {
    let out = std::fs::File::create(work.join(format!("{name}.out")))?;
    let child = Command::new("java")
        .env("ROCKETMQ_HOME", work.join("home"))
        .args([
            "-XX:+UseSerialGC",
            "-XX:MaxDirectMemorySize=256m",
            "-Xms64m",
        ])
        .arg(format!("-Xmx{heap}"))
        .arg(format!("-Duser.home={}", work.join("home").display()))
        .args(["-Drocketmq.client.logUseSlf4j=false", "-cp", cp, main, "-c"])
        .arg(conf)
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    Ok(Jvm(child))
}

fn wait_port(port: u16, jvm: &mut Jvm, what: &str, work: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !port_open(port) {
        if jvm.0.try_wait()?.is_some() || Instant::now() > deadline {
            let log = std::fs::read_to_string(work.join(format!("{what}.out"))).unwrap_or_default();
            bail!("{what} did not listen on {port}: {log}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// Starts the Java name server and broker in `work`; returns them and the name-server address.
fn start_cluster(cp: &str, work: &Path) -> Result<(Jvm, Jvm, String)> {
    let (ns_port, broker_port) = free_ports()?;
    std::fs::create_dir_all(work.join("home"))?;
    let ns_conf = work.join("namesrv.conf");
    std::fs::write(
        &ns_conf,
        format!("listenPort={ns_port}\nbindAddress=127.0.0.1\n"),
    )?;
    let store = work.join("store");
    let broker_conf = work.join("broker.conf");
    std::fs::write(
        &broker_conf,
        format!(
            "brokerClusterName={CLUSTER}\nbrokerName={BROKER}\nbrokerId=0\nbrokerRole=ASYNC_MASTER\n\
             brokerIP1=127.0.0.1\nlistenPort={broker_port}\nbindAddress=127.0.0.1\n\
             haListenPort={}\nnamesrvAddr=127.0.0.1:{ns_port}\nstorePathRootDir={s}\n\
             storePathCommitLog={s}/commitlog\nmappedFileSizeCommitLog=4194304\n\
             mappedFileSizeConsumeQueue=60000\nautoCreateTopicEnable=true\n\
             autoCreateSubscriptionGroup=true\nflushDiskType=ASYNC_FLUSH\n",
            broker_port + 1,
            s = store.display()
        ),
    )?;
    let mut ns = start_jvm(
        cp,
        work,
        "namesrv",
        "256m",
        "org.apache.rocketmq.namesrv.NamesrvStartup",
        &ns_conf,
    )?;
    wait_port(ns_port, &mut ns, "namesrv", work)?;
    let mut broker = start_jvm(
        cp,
        work,
        "broker",
        "512m",
        "org.apache.rocketmq.broker.BrokerStartup",
        &broker_conf,
    )?;
    wait_port(broker_port, &mut broker, "broker", work)?;
    Ok((ns, broker, format!("127.0.0.1:{ns_port}")))
}

/// Retries `f` every 500 ms until it succeeds or 60 s pass.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => {
                return Err(e.context(format!("waiting for {what}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_and_admin_against_java_broker() -> Result<()> {
    let Some(cp) = classpath()? else {
        return Ok(());
    };
    let work = tempfile::tempdir()?;
    let (_ns, _broker, namesrv) = start_cluster(&cp, work.path())?;
    let session = Session::new(SessionConfig::new([namesrv]));
    let admin = Admin::new(session.clone());

    eventually("broker registration", || async {
        let masters = admin.cluster_masters(CLUSTER).await?;
        ensure!(masters.contains_key(BROKER), "{masters:?}");
        Ok(())
    })
    .await?;

    let topic = "ClientRoundTrip";
    let mut config = TopicConfig::new(topic);
    config.read_queue_nums = 4;
    config.write_queue_nums = 4;
    assert_eq!(
        admin.create_topic(CLUSTER, &config).await?,
        vec![BROKER.to_string()]
    );
    eventually("topic route", || async {
        let route = admin.route(topic).await?;
        ensure!(route.queue_datas.len() == 1 && route.queue_datas[0].write_queue_nums == 4);
        Ok(())
    })
    .await?;
    assert!(admin.topic_list().await?.contains(topic));

    let expected = produce(&session, topic).await?;
    consume_and_check(&session, &admin, topic, &expected).await?;
    auto_create_long_poll_and_lifecycle(&session, &admin).await?;
    Ok(())
}

/// TBW102 auto-creation, oneway sends, long polling, seeks, group creation, write-perm wipe and
/// topic deletion.
async fn auto_create_long_poll_and_lifecycle(
    session: &std::sync::Arc<Session>,
    admin: &Admin,
) -> Result<()> {
    let topic = "ClientAutoCreated";
    let producer = Producer::new(
        session.clone(),
        ProducerConfig::new("client_test_producer2"),
    );
    let first = producer.send(Message::new(topic, "first")).await?;
    assert!((0..4).contains(&first.queue.queue_id), "{first:?}");
    producer.heartbeat().await?;
    for i in 0..5 {
        producer
            .send_oneway(Message::new(topic, format!("oneway-{i}")))
            .await?;
    }
    let mut config = ConsumerConfig::new("client_test_long_poll");
    config.long_poll = Some(Duration::from_secs(3));
    let consumer = PullConsumer::new(session.clone(), config);
    let queues = eventually("auto-created route", || async {
        let queues = consumer.queues(topic).await?;
        ensure!(queues.len() == 4, "{queues:?}");
        Ok(queues)
    })
    .await?;
    consumer.assign(queues.clone());
    let bodies: BTreeSet<Vec<u8>> = drain(&consumer, 6)
        .await?
        .iter()
        .map(|m| m.body.to_vec())
        .collect();
    let mut want: BTreeSet<Vec<u8>> = (0..5).map(|i| format!("oneway-{i}").into_bytes()).collect();
    want.insert(b"first".to_vec());
    assert_eq!(bodies, want);

    // Long poll: an empty poll is held by the broker, and a message arriving ends it early.
    let started = Instant::now();
    assert!(consumer.poll().await?.is_empty());
    let held = started.elapsed();
    assert!(held >= Duration::from_millis(2500), "held only {held:?}");
    let late = producer.clone();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        late.send(Message::new(topic, "late")).await
    });
    let started = Instant::now();
    let mut arrived = consumer.poll().await?;
    if arrived.is_empty() {
        arrived = consumer.poll().await?;
    }
    sender.await??;
    assert_eq!(
        arrived.iter().map(|m| m.body.to_vec()).collect::<Vec<_>>(),
        vec![b"late".to_vec()]
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    // Seeks.
    let q = &queues[0];
    assert_eq!(consumer.seek_to_timestamp(q, 0).await?, 0);
    assert_eq!(consumer.seek_to_begin(q).await?, 0);
    let end = consumer.seek_to_end(q).await?;
    assert_eq!(consumer.positions()[q], Some(end));

    admin
        .create_subscription_group(
            CLUSTER,
            &ferrimq_config::SubscriptionGroupConfig::new("client_test_sg"),
        )
        .await?;
    let wiped = admin.wipe_write_perm(BROKER).await?;
    assert_eq!(wiped.len(), 1);
    assert!(wiped.values().all(|count| *count > 0), "{wiped:?}");
    let added = admin.add_write_perm(BROKER).await?;
    assert_eq!(
        added.values().collect::<Vec<_>>(),
        wiped.values().collect::<Vec<_>>()
    );

    admin.delete_topic(CLUSTER, topic).await?;
    assert!(!admin.topic_list().await?.contains(topic));
    assert!(matches!(
        admin.route(topic).await,
        Err(ferrimq_client::ClientError::NoRoute { .. })
    ));
    Ok(())
}

/// Sends singles, a compressed body, a batch and ordered messages; returns UNIQ_KEY -> body.
async fn produce(
    session: &std::sync::Arc<Session>,
    topic: &str,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let producer = Producer::new(session.clone(), ProducerConfig::new("client_test_producer"));
    let mut expected = BTreeMap::new();
    for i in 0..12 {
        let tag = if i % 3 == 0 { "TagA" } else { "TagB" };
        let body = format!("single-{i}").into_bytes();
        let msg = Message::new(topic, body.clone())
            .with_tags(tag)
            .with_keys([format!("key-{i}")]);
        let result = producer.send(msg).await?;
        assert_eq!(result.msg_id.len(), 32);
        assert_eq!(result.offset_msg_id.len(), 32);
        assert_eq!(result.queue.topic, topic);
        expected.insert(result.msg_id, body);
    }
    let big = vec![b'z'; 64 * 1024];
    let result = producer.send(Message::new(topic, big.clone())).await?;
    expected.insert(result.msg_id, big);

    let batch: Vec<Message> = (0..10)
        .map(|i| Message::new(topic, format!("batch-{i}")).with_tags("TagB"))
        .collect();
    let result = producer.send_batch(batch).await?;
    let ids: Vec<&str> = result.msg_id.split(',').collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        10,
        "batch ids must differ"
    );
    for (i, id) in ids.iter().enumerate() {
        expected.insert((*id).to_owned(), format!("batch-{i}").into_bytes());
    }

    let mut ordered_queue = None;
    for i in 0..3 {
        let body = format!("ordered-{i}").into_bytes();
        let msg = Message::new(topic, body.clone()).with_tags("TagB");
        let result = producer.send_with_selector(msg, &ByShardKey(2)).await?;
        assert_eq!(
            *ordered_queue.get_or_insert(result.queue.queue_id),
            result.queue.queue_id
        );
        expected.insert(result.msg_id, body);
    }
    let handle = producer.send_async(Message::new(topic, "async").with_tags("TagB"));
    let result = handle.await??;
    expected.insert(result.msg_id, b"async".to_vec());
    Ok(expected)
}

async fn consume_and_check(
    session: &std::sync::Arc<Session>,
    admin: &Admin,
    topic: &str,
    expected: &BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let group = "client_test_group";
    let consumer = PullConsumer::new(session.clone(), ConsumerConfig::new(group));
    consumer.subscribe(topic, "*");
    let queues = consumer.queues(topic).await?;
    assert_eq!(queues.len(), 4);
    consumer.assign(queues.clone());
    let got = drain(&consumer, expected.len()).await?;
    let got_map: BTreeMap<String, Vec<u8>> = got
        .iter()
        .map(|m| (m.msg_id().to_owned(), m.body.to_vec()))
        .collect();
    assert_eq!(got.len(), expected.len(), "no duplicates");
    assert_eq!(&got_map, expected);
    let master = admin.cluster_masters(CLUSTER).await?[BROKER].clone();
    for m in &got {
        assert_eq!(m.topic, topic);
        assert_eq!(m.store_host.to_string(), master);
        assert!(m.properties.contains_key("MAX_OFFSET"));
    }
    let tagged: BTreeSet<String> = got
        .iter()
        .filter(|m| m.tags() == Some("TagA"))
        .map(|m| m.msg_id().to_owned())
        .collect();
    assert_eq!(tagged.len(), 4);

    // A second group with a tag subscription sees exactly the TagA messages.
    let filtered = PullConsumer::new(
        session.clone(),
        ConsumerConfig::new("client_test_tag_group"),
    );
    filtered.subscribe(topic, "TagA");
    filtered.assign(queues.clone());
    let only_a: BTreeSet<String> = drain(&filtered, tagged.len())
        .await?
        .iter()
        .map(|m| m.msg_id().to_owned())
        .collect();
    assert_eq!(only_a, tagged);

    // Commit, read back, stats.
    consumer.commit().await?;
    let mut total = 0;
    for (queue, position) in consumer.positions() {
        let position = position.context("position resolved")?;
        assert_eq!(consumer.committed(&queue).await?, Some(position));
        assert_eq!(consumer.max_offset(&queue).await?, position);
        total += position;
    }
    assert_eq!(total as usize, expected.len());
    let stats = admin.topic_stats(topic).await?;
    let stored: i64 = stats
        .offset_table
        .values()
        .map(|o| o.max_offset - o.min_offset)
        .sum();
    assert_eq!(stored as usize, expected.len());

    consumer.heartbeat().await?;
    let progress = eventually("consume stats", || async {
        let s = admin.consume_stats(group, Some(topic)).await?;
        ensure!(s.offset_table.len() == 4, "{:?}", s.offset_table);
        Ok(s)
    })
    .await?;
    let consumed: i64 = progress
        .offset_table
        .values()
        .map(|o| o.consumer_offset)
        .sum();
    assert_eq!(consumed as usize, expected.len());
    let connections = admin.consumer_connections(group).await?;
    assert_eq!(connections.connection_set.len(), 1);

    // View by offsetMsgId and query by key.
    let sample = got
        .iter()
        .find(|m| m.keys() == vec!["key-4"])
        .context("key-4 consumed")?;
    let viewed = admin.view_message(topic, &sample.offset_msg_id).await?;
    assert_eq!(
        (viewed.msg_id(), &viewed.body),
        (sample.msg_id(), &sample.body)
    );
    let by_key = eventually("index", || async {
        let found = admin.query_message(topic, "key-4", 32, false).await?;
        ensure!(!found.is_empty());
        Ok(found)
    })
    .await?;
    assert_eq!(
        by_key.iter().map(|m| m.msg_id()).collect::<Vec<_>>(),
        vec![sample.msg_id()]
    );
    // Just after start the Java broker can answer SYSTEM_ERROR (its stats snapshots are empty).
    let master = admin.cluster_masters(CLUSTER).await?[BROKER].clone();
    let info = eventually("runtime info", || async {
        Ok(admin.broker_runtime_info(&master).await?)
    })
    .await?;
    assert!(info.contains_key("brokerVersionDesc"), "{info:?}");
    eprintln!(
        "java_broker: {} messages produced and consumed, broker {}",
        got.len(),
        info["brokerVersionDesc"]
    );
    Ok(())
}

/// Polls until `count` messages arrived (then polls once more to catch extras) or 60 s pass.
async fn drain(consumer: &PullConsumer, count: usize) -> Result<Vec<ferrimq_client::MessageExt>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got.len() < count {
        ensure!(
            Instant::now() < deadline,
            "got {} of {count} messages",
            got.len()
        );
        let batch = consumer.poll().await?;
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        got.extend(batch);
    }
    got.extend(consumer.poll().await?);
    Ok(got)
}
