//! Shared plumbing of the `ha_*` tests: a NameServer, a master and a slave `ferrimq broker`
//! process of one brokerName on fixed ports, producers sending under load through
//! ferrimq-client, and reading back what a (stopped) slave's store holds.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrimq_client::{
    Admin, Message, Producer, ProducerConfig, SendStatus, Session, SessionConfig,
};
use ferrimq_config::BrokerConfig;
use ferrimq_store::read::AcceptAll;
use ferrimq_store::record::MessageView;
use ferrimq_store::store::{MessageStore, StoreConfig};

use crate::compat_harness::{Process, Result, free_port};

/// Ports and directory of one broker, fixed so a restarted process is found again.
#[derive(Debug, Clone)]
pub struct Node {
    pub port: u16,
    pub ha_port: u16,
    pub dir: PathBuf,
}

impl Node {
    pub fn new(dir: PathBuf) -> Result<Node> {
        std::fs::create_dir_all(&dir)?;
        Ok(Node {
            port: free_port()?,
            ha_port: free_port()?,
            dir,
        })
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn conf_path(&self) -> PathBuf {
        self.dir.join("broker.conf")
    }

    /// Writes broker.conf: `role` (SYNC_MASTER, ASYNC_MASTER or SLAVE), `flush`
    /// (SYNC_FLUSH / ASYNC_FLUSH), `extra` lines appended.
    pub fn write_conf(&self, role: &str, flush: &str, namesrv: &str, extra: &str) -> Result<()> {
        let id = if role == "SLAVE" { 1 } else { 0 };
        let text = format!(
            "brokerClusterName=HaCluster\nbrokerName=ha-broker\nbrokerId={id}\nbrokerRole={role}\n\
             flushDiskType={flush}\nbrokerIP1=127.0.0.1\nlistenPort={}\nhaListenPort={}\n\
             namesrvAddr={namesrv}\nstorePathRootDir={}\nautoCreateTopicEnable=true\n\
             mappedFileSizeCommitLog={}\nregisterNameServerPeriod=1000\n{extra}",
            self.port,
            self.ha_port,
            self.dir.join("store").display(),
            64 * 1024 * 1024,
        );
        std::fs::write(self.conf_path(), text)?;
        Ok(())
    }

    pub fn start(&self) -> Result<Process> {
        let args = [
            "broker".to_owned(),
            "-c".to_owned(),
            self.conf_path().display().to_string(),
        ];
        Process::spawn(&args, self.dir.join("broker.log"), &[self.port])
    }

    /// Opens this (stopped) broker's store in-process.
    pub fn open_store(&self) -> Result<MessageStore> {
        let text = std::fs::read_to_string(self.conf_path())?;
        let loaded = BrokerConfig::from_text(&text).map_err(|e| format!("{e:?}"))?;
        let config: StoreConfig = (&loaded.config.store).into();
        Ok(MessageStore::open(config)?)
    }
}

pub fn start_namesrv(dir: &Path) -> Result<(Process, String)> {
    let port = free_port()?;
    let args = [
        "namesrv".to_owned(),
        "--listen-port".to_owned(),
        port.to_string(),
    ];
    let p = Process::spawn(&args, dir.join("namesrv.log"), &[port])?;
    Ok((p, format!("127.0.0.1:{port}")))
}

/// UNIQ_KEYs of every message of `topic` the store's queues serve.
pub fn stored_ids(store: &MessageStore, topic: &str, queues: i32) -> HashSet<String> {
    let end = store.commit_log_max_offset();
    assert!(
        store.wait_dispatched(end, Duration::from_secs(30)),
        "dispatch"
    );
    let mut ids = HashSet::new();
    for q in 0..queues {
        let mut offset = store.min_offset_in_queue(topic, q);
        let max = store.max_offset_in_queue(topic, q);
        while offset < max {
            let r = store.get_message(topic, q, offset, 1000, None, &AcceptAll);
            assert!(
                !r.messages.is_empty(),
                "{topic}/{q} at {offset} of {max}: {:?}",
                r.status
            );
            for m in &r.messages {
                let v = MessageView::new(m).expect("a stored record");
                ids.insert(v.uniq_key().expect("UNIQ_KEY").to_owned());
            }
            offset = r.next_begin_offset;
        }
    }
    ids
}

/// What producers saw.
#[derive(Debug, Default)]
pub struct Sent {
    /// UNIQ_KEYs acknowledged with SEND_OK.
    pub acked: Vec<String>,
    /// Sends answered FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE (stored, not replicated).
    pub not_replicated: usize,
    /// Sends that failed (connection lost, timeout, ...).
    pub failed: usize,
}

pub fn producer(namesrv: &str) -> Producer {
    let session = Session::new(SessionConfig::new([namesrv.to_owned()]));
    let mut config = ProducerConfig::new("ha_test_producers");
    config.retry_times = 0;
    config.send_timeout = Duration::from_secs(8);
    Producer::new(session, config)
}

/// Sends until one send is acknowledged with SEND_OK (the slave is attached).
pub async fn wait_replicating(p: &Producer, topic: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match p.send(Message::new(topic, &b"warm-up"[..])).await {
            Ok(r) if r.status == SendStatus::SendOk => return Ok(()),
            _ if Instant::now() > deadline => return Err("no SEND_OK within 60 s".into()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// `workers` tasks sending 256-byte messages to `topic` until `stop` is set.
pub async fn load(
    p: &Producer,
    topic: &str,
    workers: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Sent {
    let sent = Arc::new(Mutex::new(Sent::default()));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (p, topic, stop, sent) = (p.clone(), topic.to_owned(), stop.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = format!("worker {w} message {i} ").repeat(12);
                i += 1;
                let r = p
                    .send(Message::new(topic.as_str(), body.into_bytes()))
                    .await;
                let failed = {
                    let mut s = sent.lock().unwrap();
                    match r {
                        Ok(r) if r.status == SendStatus::SendOk => s.acked.push(r.msg_id),
                        Ok(_) => s.not_replicated += 1,
                        Err(_) => s.failed += 1,
                    }
                    s.failed > 0
                };
                if failed {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    std::mem::take(&mut *sent.lock().unwrap())
}

/// GET_BROKER_RUNTIME_INFO of `addr`.
pub async fn runtime(
    namesrv: &str,
    addr: &str,
) -> Result<std::collections::BTreeMap<String, String>> {
    let admin = Admin::new(Session::new(SessionConfig::new([namesrv.to_owned()])));
    Ok(admin.broker_runtime_info(addr).await?)
}

/// A u64 field of a runtime info table.
pub fn field(info: &std::collections::BTreeMap<String, String>, key: &str) -> u64 {
    info.get(key)
        .unwrap_or_else(|| panic!("runtime info lacks {key}: {info:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number: {info:?}"))
}
