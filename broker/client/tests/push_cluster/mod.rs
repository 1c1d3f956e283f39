//! An in-process NameServer + ferrimq broker for the push-consumer tests, a producer, topic
//! creation, and a recording listener.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferrimq_client::admin::Admin;
use ferrimq_client::{
    Message, MessageExt, Producer, ProducerConfig, PushConsumerConfig, Session, SessionConfig,
};
use ferrimq_config::{BrokerConfig, NamesrvConfig, TopicConfig};
use ferrimq_namesrv::NameServer;
use ferrimq_server::Broker;
use ferrimq_transport::ServerConfig;

/// Cluster name of the test broker.
pub const CLUSTER: &str = "PushCluster";

/// NameServer + one broker on 127.0.0.1, temporary store.
pub struct Cluster {
    pub namesrv: NameServer,
    pub broker: Option<Broker>,
    pub dir: tempfile::TempDir,
    pub session: Arc<Session>,
    pub producer: Producer,
    pub admin: Admin,
}

impl Cluster {
    /// Starts the cluster with `extra` broker.conf lines.
    pub async fn start(extra: &str) -> Result<Cluster> {
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
        let (namesrv_addr, ha_port) = (namesrv.local_addr(), free_port()?);
        let store = dir.path().join("store");
        let text = format!(
            "brokerClusterName={CLUSTER}\nbrokerName=broker-a\nbrokerIP1=127.0.0.1\n\
             namesrvAddr={namesrv_addr}\nstorePathRootDir={}\nmappedFileSizeCommitLog=16777216\n\
             flushConsumerOffsetInterval=200\nhaListenPort={ha_port}\n{extra}",
            store.display()
        );
        let mut config = BrokerConfig::from_text(&text)?.config;
        config.broker.listen_port = 0;
        let broker = Broker::start(config).await.context("broker start")?;
        let session = Session::new(SessionConfig::new([namesrv.local_addr().to_string()]));
        let producer = Producer::new(
            Arc::clone(&session),
            ProducerConfig::new("PushTestProducer"),
        );
        let admin = Admin::new(Arc::clone(&session));
        Ok(Cluster {
            namesrv,
            broker: Some(broker),
            dir,
            session,
            producer,
            admin,
        })
    }

    /// Session settings for a consumer named `instance`.
    pub fn consumer_session(&self, instance: &str) -> SessionConfig {
        let mut config = SessionConfig::new([self.namesrv.local_addr().to_string()]);
        config.instance_name = instance.to_owned();
        config
    }

    /// Creates `topic` with `queues` queues and waits until the name server routes it.
    pub async fn create_topic(&self, topic: &str, queues: u32) -> Result<()> {
        let mut config = TopicConfig::new(topic);
        config.read_queue_nums = queues;
        config.write_queue_nums = queues;
        self.admin.create_topic(CLUSTER, &config).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(route) = self.admin.route(topic).await {
                if route
                    .queue_datas
                    .iter()
                    .any(|q| q.read_queue_nums == queues as i32)
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("topic {topic} not routed in time");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `count` messages with bodies "<prefix>-<i>"; returns their message ids in order.
    pub async fn send(&self, topic: &str, prefix: &str, count: usize) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for i in 0..count {
            let message = Message::new(topic, format!("{prefix}-{i}").into_bytes());
            ids.push(self.producer.send(message).await?.msg_id);
        }
        Ok(ids)
    }

    /// Stops everything.
    pub async fn stop(mut self) -> Result<()> {
        self.session.shutdown();
        if let Some(b) = self.broker.take() {
            b.shutdown().await?;
        }
        self.namesrv.shutdown(Duration::from_secs(1)).await;
        Ok(())
    }
}

/// A port nothing listens on right now (for the broker's HA listener).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A push-consumer config tuned for tests: from the first offset, fast rebalance and persist,
/// short long-poll and error pauses.
pub fn fast_config(group: &str) -> PushConsumerConfig {
    let mut config = PushConsumerConfig::new(group);
    config.consume_from = ferrimq_client::StartPosition::First;
    config.rebalance_interval = Duration::from_secs(1);
    config.persist_interval = Duration::from_millis(500);
    config.lock_interval = Duration::from_secs(1);
    config.broker_suspend_max = Duration::from_secs(2);
    config.pull_delay_on_error = Duration::from_millis(200);
    config.suspend_current_queue_time = Duration::from_millis(100);
    config
}

/// Messages received, by consumer label, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Received(pub Arc<Mutex<Vec<(String, MessageExt)>>>);

impl Received {
    /// Records `messages` as received by `who`.
    pub fn record(&self, who: &str, messages: &[MessageExt]) {
        let mut all = self.0.lock().expect("lock");
        all.extend(messages.iter().map(|m| (who.to_owned(), m.clone())));
    }

    /// Everything so far.
    pub fn all(&self) -> Vec<(String, MessageExt)> {
        self.0.lock().expect("lock").clone()
    }

    /// Distinct message ids received.
    pub fn ids(&self) -> std::collections::BTreeSet<String> {
        self.all()
            .iter()
            .map(|(_, m)| m.msg_id().to_owned())
            .collect()
    }

    /// Bodies received by each consumer.
    pub fn bodies_by_consumer(&self) -> BTreeMap<String, Vec<String>> {
        let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (who, m) in self.all() {
            by.entry(who)
                .or_default()
                .push(String::from_utf8_lossy(&m.body).into_owned());
        }
        by
    }

    /// Waits until `done` holds for the received list, up to `limit`.
    pub async fn wait_for(
        &self,
        limit: Duration,
        done: impl Fn(&[(String, MessageExt)]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if done(&self.all()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        done(&self.all())
    }
}
