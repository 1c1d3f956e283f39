//! Transactional messages against a real `ferrimq namesrv` + `ferrimq broker` whose broker.conf
//! makes check-backs fast (`transactionCheckInterval=1000`, `transactionTimeOut=1000`):
//!
//! - the official Java clients 4.9.8 and 5.3.3 (`TransactionMQProducer` + `TransactionListener`,
//!   scenario `transactions` of e2e/java/scenarios): committed and check-committed messages are
//!   consumed exactly (ids and bodies), rolled-back and check-rolled-back ones never, and the
//!   check-backs ask about exactly the messages left UNKNOW;
//! - the Rust `TransactionProducer`, with the same four kinds, read back by the Rust pull consumer.

mod compat_harness;
mod ports;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use compat_harness::{Java, Process, Result, VERSIONS, free_port, topic};
use ferrimq_client::transaction::{
    LocalTransactionState, TransactionListener, TransactionProducer, TransactionProducerConfig,
};
use ferrimq_client::{
    ConsumerConfig, Message, MessageExt, PullConsumer, SendResult, Session, SessionConfig,
};

/// A NameServer and a broker process with fast transaction checks.
struct Node {
    dir: tempfile::TempDir,
    namesrv_port: u16,
    broker_port: u16,
    namesrv: Process,
    broker: Option<Process>,
}

impl Node {
    fn start() -> Result<Node> {
        let dir = tempfile::tempdir()?;
        let (namesrv_port, broker_port, ha_port) = (free_port()?, free_port()?, free_port()?);
        let namesrv = Process::spawn(
            &[
                "namesrv".to_owned(),
                "--listen-port".to_owned(),
                namesrv_port.to_string(),
                "--kv-config-path".to_owned(),
                dir.path().join("kvConfig.json").display().to_string(),
            ],
            dir.path().join("namesrv.log"),
            &[namesrv_port],
        )?;
        let conf = broker_conf(dir.path(), namesrv_port, broker_port, ha_port);
        std::fs::write(dir.path().join("broker.conf"), conf)?;
        let mut node = Node {
            dir,
            namesrv_port,
            broker_port,
            namesrv,
            broker: None,
        };
        node.start_broker()?;
        Ok(node)
    }

    /// Starts the broker from broker.conf (the same store and ports every time).
    fn start_broker(&mut self) -> Result<()> {
        let conf = self.dir.path().join("broker.conf");
        self.broker = Some(Process::spawn(
            &[
                "broker".to_owned(),
                "-c".to_owned(),
                conf.display().to_string(),
            ],
            self.dir.path().join("broker.log"),
            &[self.broker_port],
        )?);
        Ok(())
    }

    /// SIGTERMs the broker (a clean stop) and starts it again.
    fn restart_broker(&mut self) -> Result<()> {
        if let Some(broker) = self.broker.take() {
            broker.stop()?;
        }
        self.start_broker()
    }

    fn broker_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    fn namesrv_addr(&self) -> String {
        format!("127.0.0.1:{}", self.namesrv_port)
    }

    fn stop(mut self) -> Result<()> {
        if let Some(broker) = self.broker.take() {
            broker.stop()?;
        }
        self.namesrv.stop()
    }
}

fn broker_conf(dir: &Path, namesrv_port: u16, broker_port: u16, ha_port: u16) -> String {
    format!(
        "brokerClusterName=TxCluster\nbrokerName=broker-tx\nbrokerId=0\nbrokerIP1=127.0.0.1\n\
         listenPort={broker_port}\nhaListenPort={ha_port}\nnamesrvAddr=127.0.0.1:{namesrv_port}\n\
         storePathRootDir={}\nautoCreateTopicEnable=true\nflushConsumerOffsetInterval=500\n\
         transactionCheckInterval=1000\ntransactionTimeOut=1000\n",
        dir.join("store").display()
    )
}

#[test]
fn java_transaction_producers_commit_roll_back_and_answer_check_backs() -> Result<()> {
    let node = Node::start()?;
    for version in VERSIONS {
        let Some(java) = Java::new(version, node.dir.path())? else {
            return node.stop();
        };
        let topic = topic("transactions", version);
        if let Err(e) = java.scenario(
            "transactions",
            &node.namesrv_addr(),
            &topic,
            node.dir.path(),
            8,
        ) {
            let log =
                std::fs::read_to_string(node.dir.path().join("broker.log")).unwrap_or_default();
            return Err(format!("{e}\nbroker log:\n{log}").into());
        }
    }
    node.stop()
}

/// Decides by body prefix, like the Java scenario; records what the broker checked back.
#[derive(Default)]
struct Listener {
    checked: Mutex<BTreeSet<String>>,
}

impl TransactionListener for Listener {
    fn execute_local_transaction(
        &self,
        message: &Message,
        _sent: &SendResult,
    ) -> LocalTransactionState {
        let body = String::from_utf8_lossy(&message.body);
        if body.starts_with("commit-") {
            LocalTransactionState::CommitMessage
        } else if body.starts_with("rollback-") {
            LocalTransactionState::RollbackMessage
        } else {
            LocalTransactionState::Unknown
        }
    }

    fn check_local_transaction(&self, message: &MessageExt) -> LocalTransactionState {
        let body = String::from_utf8_lossy(&message.body).into_owned();
        self.checked
            .lock()
            .expect("checked")
            .insert(message.msg_id().to_owned());
        if body.starts_with("unknown-commit-") {
            LocalTransactionState::CommitMessage
        } else if body.starts_with("unknown-rollback-") {
            LocalTransactionState::RollbackMessage
        } else {
            LocalTransactionState::Unknown
        }
    }
}

const KINDS: [&str; 4] = ["commit", "rollback", "unknown-commit", "unknown-rollback"];

#[test]
fn rust_transaction_producer_commits_rolls_back_and_answers_check_backs() -> Result<()> {
    let node = Node::start()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(rust_scenario(&node.namesrv_addr()));
    if let Err(e) = outcome {
        let log = std::fs::read_to_string(node.dir.path().join("broker.log")).unwrap_or_default();
        return Err(format!("{e}\nbroker log:\n{log}").into());
    }
    node.stop()
}

async fn rust_scenario(namesrv: &str) -> Result<()> {
    let topic = "TxRust";
    let listener = Arc::new(Listener::default());
    let mut config = TransactionProducerConfig::new("PG_TX_RUST");
    config.heartbeat_interval = Duration::from_secs(1);
    let producer = TransactionProducer::new(
        SessionConfig::new([namesrv]),
        config,
        Arc::clone(&listener) as Arc<dyn TransactionListener>,
    );
    let mut committed = BTreeMap::new();
    let mut unknown = BTreeSet::new();
    for i in 0..3 {
        for kind in KINDS {
            let body = format!("{kind}-{i}");
            let sent = producer
                .send_in_transaction(Message::new(topic, body.clone().into_bytes()))
                .await?;
            if kind.ends_with("commit") {
                committed.insert(sent.send.msg_id.clone(), body);
            }
            if kind.starts_with("unknown") {
                unknown.insert(sent.send.msg_id.clone());
            }
        }
    }
    let got = consume(namesrv, topic, committed.len()).await?;
    assert_eq!(got, committed, "exactly the committed messages");
    let deadline = Instant::now() + Duration::from_secs(30);
    while *listener.checked.lock().expect("checked") != unknown && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        *listener.checked.lock().expect("checked"),
        unknown,
        "checked exactly the UNKNOW ones"
    );
    producer.shutdown().await?;
    Ok(())
}

/// Pulls every queue of `topic` until `want` distinct messages arrived (60 s at most), then 3 s
/// more so that a wrongly visible message would show.
async fn consume(namesrv: &str, topic: &str, want: usize) -> Result<BTreeMap<String, String>> {
    let consumer = PullConsumer::new(
        Session::new(SessionConfig::new([namesrv])),
        ConsumerConfig::new("CG_TX_RUST"),
    );
    // A broker that just (re)started listens a moment before its route is registered.
    let route_deadline = Instant::now() + Duration::from_secs(10);
    let queues = loop {
        match consumer.queues(topic).await {
            Ok(queues) => break queues,
            Err(e) if Instant::now() > route_deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    consumer.assign(queues);
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|s| Instant::now() < s) {
        for m in consumer.poll().await? {
            got.insert(
                m.msg_id().to_owned(),
                String::from_utf8_lossy(&m.body).into_owned(),
            );
        }
        if got.len() >= want && settle.is_none() {
            settle = Some(Instant::now() + Duration::from_secs(3));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consumer.shutdown().await?;
    Ok(got)
}

/// Leaves every transaction undecided until `commit_on_check` is set, then commits on check.
#[derive(Default)]
struct Pending {
    commit_on_check: std::sync::atomic::AtomicBool,
    asked: std::sync::atomic::AtomicUsize,
    committed: Mutex<BTreeSet<String>>,
}

impl TransactionListener for Pending {
    fn execute_local_transaction(&self, _: &Message, _: &SendResult) -> LocalTransactionState {
        LocalTransactionState::Unknown
    }

    fn check_local_transaction(&self, message: &MessageExt) -> LocalTransactionState {
        use std::sync::atomic::Ordering;
        self.asked.fetch_add(1, Ordering::SeqCst);
        if !self.commit_on_check.load(Ordering::SeqCst) {
            return LocalTransactionState::Unknown;
        }
        let mut committed = self.committed.lock().expect("committed");
        committed.insert(message.msg_id().to_owned());
        LocalTransactionState::CommitMessage
    }
}

#[test]
fn undecided_transactions_survive_a_broker_restart_and_are_checked_after_it() -> Result<()> {
    let mut node = Node::start()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let namesrv = node.namesrv_addr();
    let listener = Arc::new(Pending::default());
    let mut config = TransactionProducerConfig::new("PG_TX_RESTART");
    config.heartbeat_interval = Duration::from_secs(1);
    let producer = runtime.block_on(async {
        TransactionProducer::new(
            SessionConfig::new([namesrv.as_str()]),
            config,
            Arc::clone(&listener) as Arc<dyn TransactionListener>,
        )
    });
    let topic = "TxRestart";
    let mut pending = BTreeMap::new();
    for i in 0..4 {
        let body = format!("pending-{i}");
        let message = Message::new(topic, body.clone().into_bytes());
        let sent = runtime.block_on(producer.send_in_transaction(message))?;
        assert_eq!(sent.state, LocalTransactionState::Unknown);
        pending.insert(sent.send.msg_id, body);
    }
    // Checks before the restart are answered "unknown": the halves stay pending.
    let deadline = Instant::now() + Duration::from_secs(30);
    while listener.asked.load(std::sync::atomic::Ordering::SeqCst) < 4 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        listener.asked.load(std::sync::atomic::Ordering::SeqCst) >= 4,
        "checked before the restart"
    );
    node.restart_broker()?;
    listener
        .commit_on_check
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let got = runtime.block_on(consume(&namesrv, topic, pending.len()));
    let got = match got {
        Ok(got) => got,
        Err(e) => return Err(format!("{e}\nbroker log:\n{}", node.broker_log()).into()),
    };
    assert_eq!(
        got, pending,
        "every pending half committed by a check after the restart"
    );
    let committed = listener.committed.lock().expect("committed").clone();
    assert_eq!(committed, pending.keys().cloned().collect::<BTreeSet<_>>());
    runtime.block_on(producer.shutdown())?;
    node.stop()
}
