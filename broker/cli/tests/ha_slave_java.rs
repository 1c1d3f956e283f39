//! The official Java clients (4.9.8 and 5.3.3) against a master/slave group of `ferrimq broker`
//! processes (ASYNC_MASTER + SLAVE with slaveReadEnable, one NameServer), scenario
//! `master-slave` of e2e/java/scenarios (MasterSlave.java):
//!
//! 1. master up: the client sends and consumes through the master; this test waits until the
//!    slave holds the master's whole CommitLog and the group's offsets (metadata sync);
//! 2. the master is SIGKILLed: once the route shows only the slave, a new consumer of the group
//!    takes exactly the not-yet-consumed messages from the slave, each once, committing to it;
//! 3. the master restarts on its old store: the slave hands it the offsets committed while it
//!    was away, and a new consumer gets exactly the messages sent after the return, each once.
//!
//! `master-slave-live` keeps one slow consumer running through the kill and the return: it goes
//! on from the slave with the messages it had not pulled yet, then from the returning master,
//! each message exactly once, and a fresh consumer afterwards gets exactly the newer messages.
//!
//! Every set is asserted by message id inside the scenario. Without java/mvn the test prints a
//! notice and passes, unless `FERRIMQ_REQUIRE_JAVA=1`.

mod compat_harness;
mod ha_harness;
mod ports;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use compat_harness::{Java, Process, Result, VERSIONS, check_scenario, topic};
use ferrimq_client::{Admin, Session, SessionConfig};
use ferrimq_config::{Perm, TopicConfig};
use ferrimq_remoting::ResponseCode;
use ferrimq_remoting::header::typed::{OffsetResponseHeader, QueryConsumerOffsetRequestHeader};
use ha_harness::{Node, field, start_namesrv};

const QUEUES: u32 = 4;
const EACH: i64 = 20;

#[test]
fn java_clients_consume_from_the_slave_while_the_master_is_down() -> Result<()> {
    for version in VERSIONS {
        let dir = tempfile::tempdir()?;
        let Some(java) = Java::new(version, dir.path())? else {
            return Ok(());
        };
        let topic = topic("masterslave", version);
        let mut group = Group::start(dir.path(), topic)?;
        let child = java.spawn(
            "master-slave",
            &group.namesrv,
            &group.probe.topic,
            &group.files,
        )?;
        group.supervise(java.version, child, "master-slave", 60, |g, child| {
            await_file(&g.files.join("phase-a-done"), child)?;
            let (m, s) = (g.master.addr(), g.slave.addr());
            g.until("slave caught up with CommitLog and offsets", || async {
                let p = &g.probe;
                let end = p.end(&m).await;
                end.is_some()
                    && end == p.end(&s).await
                    && p.committed(&m).await == Some(EACH)
                    && p.committed(&s).await == Some(EACH)
            })?;
            g.kill_master("master-down")?;
            await_file(&g.files.join("consumed-on-slave"), child)?;
            g.until("offsets committed on the slave", || async {
                g.probe.committed(&s).await == Some(2 * EACH)
            })?;
            g.restart_master()?;
            g.until("slave offsets handed to the returning master", || async {
                g.probe.route_has_master(true).await
                    && g.probe.committed(&m).await == Some(2 * EACH)
            })?;
            g.signal("master-back")
        })?;
        group.stop(3 * EACH)?;
    }
    Ok(())
}

#[test]
fn a_running_java_consumer_goes_on_from_the_slave_and_back() -> Result<()> {
    for version in VERSIONS {
        let dir = tempfile::tempdir()?;
        let Some(java) = Java::new(version, dir.path())? else {
            return Ok(());
        };
        let topic = topic("masterslavelive", version);
        let mut group = Group::start(dir.path(), topic)?;
        let name = "master-slave-live";
        let child = java.spawn(name, &group.namesrv, &group.probe.topic, &group.files)?;
        group.supervise(java.version, child, name, 65, |g, child| {
            await_file(&g.files.join("consuming"), child)?;
            g.kill_master("master-down")?;
            await_file(&g.files.join("consumed-while-down"), child)?;
            g.restart_master()?;
            g.until("route with the returning master", || {
                g.probe.route_has_master(true)
            })?;
            g.signal("master-back")
        })?;
        group.stop(65)?;
    }
    Ok(())
}

/// A NameServer, an ASYNC_MASTER and a SLAVE (slaveReadEnable) of one brokerName as
/// processes, a topic of [`QUEUES`] queues on the master, and a probe on them.
struct Group {
    namesrv_process: Process,
    namesrv: String,
    master: Node,
    slave: Node,
    master_process: Option<Process>,
    slave_process: Process,
    rt: tokio::runtime::Runtime,
    probe: Probe,
    files: PathBuf,
}

impl Group {
    fn start(dir: &Path, topic: String) -> Result<Group> {
        let (namesrv_process, namesrv) = start_namesrv(dir)?;
        let master = Node::new(dir.join("master"))?;
        master.write_conf("ASYNC_MASTER", "ASYNC_FLUSH", &namesrv, "")?;
        let slave = Node::new(dir.join("slave"))?;
        slave.write_conf("SLAVE", "ASYNC_FLUSH", &namesrv, "slaveReadEnable=true\n")?;
        let master_process = master.start()?;
        let slave_process = slave.start()?;
        let rt = tokio::runtime::Runtime::new()?;
        let probe = Probe {
            admin: Admin::new(Session::new(SessionConfig::new([namesrv.clone()]))),
            topic,
        };
        rt.block_on(probe.create_topic(&master.addr()))?;
        // The slave copies topic configs every 10 s: serve nothing before it has this one.
        rt.block_on(probe.until("topic config on the slave", || async {
            probe
                .admin
                .topic_configs(&slave.addr())
                .await
                .is_ok_and(|t| t.topic_config_table.contains_key(&probe.topic))
        }))?;
        let files = dir.join("scenario");
        std::fs::create_dir_all(&files)?;
        Ok(Group {
            namesrv_process,
            namesrv,
            master,
            slave,
            master_process: Some(master_process),
            slave_process,
            rt,
            probe,
            files,
        })
    }

    fn logs(&self) -> String {
        format!(
            "master log:\n{}\nslave log:\n{}",
            tail(&self.master),
            tail(&self.slave)
        )
    }

    fn until<F, Fut>(&self, what: &str, probe: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.rt.block_on(self.probe.until(what, probe))
    }

    fn signal(&self, name: &str) -> Result<()> {
        std::fs::File::create(self.files.join(name))?;
        Ok(())
    }

    /// SIGKILLs the master, waits until the route shows only the slave, creates `signal`.
    fn kill_master(&mut self, signal: &str) -> Result<()> {
        if let Some(master) = self.master_process.take() {
            master.kill()?;
        }
        self.until("route without the master", || {
            self.probe.route_has_master(false)
        })?;
        self.signal(signal)
    }

    /// Restarts the master on its store and ports.
    fn restart_master(&mut self) -> Result<()> {
        self.master_process = Some(self.master.start()?);
        Ok(())
    }

    /// Runs `phases` alongside the scenario `child`, then checks the scenario's success line;
    /// any failure carries the scenario's output and the broker logs.
    fn supervise(
        &mut self,
        version: &str,
        mut child: std::process::Child,
        name: &str,
        expected: usize,
        phases: impl FnOnce(&mut Group, &mut std::process::Child) -> Result<()>,
    ) -> Result<()> {
        if let Err(e) = phases(self, &mut child) {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            return Err(format!(
                "{e}\nscenario stdout:\n{}\nstderr:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            )
            .into());
        }
        let out = child.wait_with_output()?;
        check_scenario(version, name, expected, out)
            .map_err(|e| format!("{e}\n{}", self.logs()).into())
    }

    /// Waits until the master holds the group's final offsets (`total` messages consumed),
    /// then stops every process with SIGTERM.
    fn stop(self, total: i64) -> Result<()> {
        let master = self.master.addr();
        self.until("final offsets on the master", || async {
            self.probe.committed(&master).await == Some(total)
        })?;
        self.slave_process.stop()?;
        if let Some(master) = self.master_process {
            master.stop()?;
        }
        self.namesrv_process.stop()
    }
}

fn tail(node: &Node) -> String {
    let log = std::fs::read_to_string(node.dir.join("broker.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Waits for the scenario to create `file`; fails early when the scenario exited.
fn await_file(file: &Path, child: &mut std::process::Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !file.exists() {
        if let Some(status) = child.try_wait()? {
            return Err(format!("scenario exited ({status}) before creating {file:?}").into());
        }
        if Instant::now() > deadline {
            return Err(format!("scenario never created {file:?}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// What the test reads from the NameServer and the brokers.
struct Probe {
    admin: Admin,
    topic: String,
}

impl Probe {
    async fn create_topic(&self, master: &str) -> Result<()> {
        let config = TopicConfig::with_queues(self.topic.as_str(), QUEUES, Perm::READ_WRITE);
        self.until("topic created on the master", || async {
            self.admin
                .create_topic_on_broker(master, &config)
                .await
                .is_ok()
        })
        .await
    }

    /// Polls `probe` every 200 ms for up to 60 s.
    async fn until<F, Fut>(&self, what: &str, mut probe: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !probe().await {
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// The broker's CommitLog end.
    async fn end(&self, addr: &str) -> Option<u64> {
        let info = self.admin.broker_runtime_info(addr).await.ok()?;
        Some(field(&info, "commitLogMaxOffset"))
    }

    /// Sum over the topic's queues of the group's committed offsets on `addr`.
    async fn committed(&self, addr: &str) -> Option<i64> {
        let mut sum = 0;
        for queue_id in 0..QUEUES as i32 {
            let header = QueryConsumerOffsetRequestHeader {
                consumer_group: format!("{}_group", self.topic),
                topic: self.topic.clone(),
                queue_id,
                set_zero_if_not_found: Some(false),
            };
            let request = ferrimq_client::session::request(
                ferrimq_remoting::RequestCode::QueryConsumerOffset,
            )
            .with_header(&header);
            let accepted = [ResponseCode::Success, ResponseCode::QueryNotFound];
            let session = self.admin.session();
            let response = session
                .invoke_ok(addr, request, &accepted, None)
                .await
                .ok()?;
            if response.code == ResponseCode::Success.code() {
                let h: OffsetResponseHeader = response.decode_header().ok()?;
                sum += h.offset;
            }
        }
        Some(sum)
    }

    /// True when the route of the topic lists (`want` = true) or lacks a master.
    async fn route_has_master(&self, want: bool) -> bool {
        let Ok(route) = self.admin.route(&self.topic).await else {
            return false;
        };
        let has = route
            .broker_datas
            .iter()
            .any(|b| b.broker_addrs.contains_key(&0));
        let has_slave = route
            .broker_datas
            .iter()
            .any(|b| b.broker_addrs.contains_key(&1));
        has_slave && has == want
    }
}
