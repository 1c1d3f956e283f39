//! A network partition between a master and its slave, made with a network namespace: the
//! slave process runs in its own namespace behind a veth pair (10.231.N.0/24), and the
//! partition is the namespace's end of the pair going down.
//!
//! - SYNC_MASTER: while partitioned, sends fail with FLUSH_SLAVE_TIMEOUT (the master still
//!   counts the silent slave) or SLAVE_NOT_AVAILABLE (after the housekeeping interval dropped
//!   it), each within the sync timeout — never a hang; after healing, sends are SEND_OK again
//!   and the slave has caught up.
//! - ASYNC_MASTER: sends keep succeeding while partitioned; after healing the slave converges.
//!
//! Needs root and iproute2: otherwise the test prints a notice and passes.

mod compat_harness;
mod ha_harness;
mod ports;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use compat_harness::{Process, Result};
use ferrimq_client::{Message, SendStatus};
use ha_harness::{Node, field, producer, runtime, wait_replicating};

/// A namespace with a veth pair: host end `host_ip`, namespace end `ns_ip`.
struct Netns {
    name: String,
    host_if: String,
    ns_if: String,
    host_ip: String,
    ns_ip: String,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("ip {}: {err}", args.join(" ")).into());
    }
    Ok(())
}

impl Netns {
    /// None (with a notice) when not root or without `ip`.
    fn create() -> Result<Option<Netns>> {
        let root = Command::new("id").arg("-u").output()?.stdout == b"0\n";
        let has_ip = Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !root || !has_ip {
            if std::env::var("FERRIMQ_REQUIRE_NETNS").is_ok_and(|v| v == "1") {
                return Err(format!(
                    "FERRIMQ_REQUIRE_NETNS=1 but network namespaces are unavailable (root={root}, ip={has_ip})"
                )
                .into());
            }
            eprintln!(
                "ha_partition: skipped (needs root and iproute2 `ip`; root={root}, ip={has_ip})"
            );
            return Ok(None);
        }
        let id = std::process::id() % 200 + 20;
        let n = Netns {
            name: format!("fmqha{id}"),
            host_if: format!("fmqh{id}"),
            ns_if: format!("fmqn{id}"),
            host_ip: format!("10.231.{id}.1"),
            ns_ip: format!("10.231.{id}.2"),
        };
        let _ = ip(&["netns", "del", &n.name]);
        let _ = ip(&["link", "del", &n.host_if]);
        ip(&["netns", "add", &n.name])?;
        ip(&[
            "link", "add", &n.host_if, "type", "veth", "peer", "name", &n.ns_if,
        ])?;
        ip(&["link", "set", &n.ns_if, "netns", &n.name])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", n.host_ip),
            "dev",
            &n.host_if,
        ])?;
        ip(&["link", "set", &n.host_if, "up"])?;
        n.exec(&["addr", "add", &format!("{}/24", n.ns_ip), "dev", &n.ns_if])?;
        n.exec(&["link", "set", &n.ns_if, "up"])?;
        n.exec(&["link", "set", "lo", "up"])?;
        Ok(Some(n))
    }

    fn exec(&self, args: &[&str]) -> Result<()> {
        let mut all = vec!["netns", "exec", &self.name, "ip"];
        all.extend_from_slice(args);
        ip(&all)
    }

    fn partition(&self) -> Result<()> {
        self.exec(&["link", "set", &self.ns_if, "down"])
    }

    fn heal(&self) -> Result<()> {
        self.exec(&["link", "set", &self.ns_if, "up"])
    }

    /// `ferrimq <args>` inside the namespace, waiting until `addr` accepts connections.
    fn spawn(&self, args: &[String], log: &std::path::Path, addr: &str) -> Result<NsChild> {
        let file = std::fs::File::create(log)?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, env!("CARGO_BIN_EXE_ferrimq")])
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()?;
        let child = NsChild(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                return Err(format!("{addr} not listening; log:\n{log}").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(child)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}

/// A process in the namespace (`ip netns exec` execs it, so this is the broker's pid).
struct NsChild(Child);

impl Drop for NsChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Settings that make the partition visible quickly.
const FAST: &str =
    "syncFlushTimeout=2000\nhaHousekeepingInterval=3000\nhaSendHeartbeatInterval=1000\n";

struct Pair {
    _namesrv: Process,
    ns: String,
    master: Node,
    _master_proc: Process,
    slave: Node,
    _slave_proc: NsChild,
}

fn start_pair(net: &Netns, dir: &std::path::Path, role: &str) -> Result<Pair> {
    let ns_port = compat_harness::free_port()?;
    let args = [
        "namesrv".to_owned(),
        "--listen-port".to_owned(),
        ns_port.to_string(),
    ];
    let namesrv = Process::spawn(&args, dir.join("namesrv.log"), &[ns_port])?;
    let ns = format!("{}:{ns_port}", net.host_ip);
    let master = Node::new(dir.join("master"))?;
    let slave = Node::new(dir.join("slave"))?;
    master.write_conf(role, "ASYNC_FLUSH", &ns, FAST)?;
    let master_text = std::fs::read_to_string(master.conf_path())?
        .replace("brokerIP1=127.0.0.1", &format!("brokerIP1={}", net.host_ip));
    std::fs::write(master.conf_path(), master_text)?;
    let pin = format!("{FAST}haMasterAddress={}:{}\n", net.host_ip, master.ha_port);
    slave.write_conf("SLAVE", "ASYNC_FLUSH", &ns, &pin)?;
    let slave_text = std::fs::read_to_string(slave.conf_path())?
        .replace("brokerIP1=127.0.0.1", &format!("brokerIP1={}", net.ns_ip));
    std::fs::write(slave.conf_path(), slave_text)?;
    let master_proc = master.start()?;
    let args = [
        "broker".to_owned(),
        "-c".to_owned(),
        slave.conf_path().display().to_string(),
    ];
    let slave_addr = format!("{}:{}", net.ns_ip, slave.port);
    let slave_proc = net.spawn(&args, &slave.dir.join("broker.log"), &slave_addr)?;
    Ok(Pair {
        _namesrv: namesrv,
        ns,
        master,
        _master_proc: master_proc,
        slave,
        _slave_proc: slave_proc,
    })
}

impl Pair {
    fn master_addr(&self, net: &Netns) -> String {
        format!("{}:{}", net.host_ip, self.master.port)
    }
    fn slave_addr(&self, net: &Netns) -> String {
        format!("{}:{}", net.ns_ip, self.slave.port)
    }

    /// Waits until the slave's CommitLog end equals the master's.
    async fn converged(&self, net: &Netns) -> Result<u64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = field(
                &runtime(&self.ns, &self.master_addr(net)).await?,
                "commitLogMaxOffset",
            );
            let s = field(
                &runtime(&self.ns, &self.slave_addr(net)).await?,
                "commitLogMaxOffset",
            );
            if m == s {
                return Ok(m);
            }
            if Instant::now() > deadline {
                return Err(format!("slave at {s}, master at {m}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn sync_master(net: &Netns) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = start_pair(net, dir.path(), "SYNC_MASTER")?;
    let p = producer(&pair.ns);
    wait_replicating(&p, "HaPartSync").await?;
    net.partition()?;
    let partitioned = Instant::now();
    let mut statuses = Vec::new();
    while partitioned.elapsed() < Duration::from_secs(6) {
        let started = Instant::now();
        let r = p
            .send(Message::new("HaPartSync", &b"while partitioned"[..]))
            .await?;
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(3500),
            "{:?} took {took:?}",
            r.status
        );
        assert_ne!(
            r.status,
            SendStatus::SendOk,
            "no slave can have acknowledged"
        );
        statuses.push(r.status);
    }
    let timeouts = statuses
        .iter()
        .filter(|s| **s == SendStatus::FlushSlaveTimeout)
        .count();
    println!(
        "ha-partition SYNC_MASTER while partitioned: {timeouts} FLUSH_SLAVE_TIMEOUT then {} SLAVE_NOT_AVAILABLE",
        statuses.len() - timeouts
    );
    assert_eq!(statuses.first(), Some(&SendStatus::FlushSlaveTimeout));
    assert_eq!(statuses.last(), Some(&SendStatus::SlaveNotAvailable));
    net.heal()?;
    let healed = Instant::now();
    wait_replicating(&p, "HaPartSync").await?;
    let end = pair.converged(net).await?;
    println!(
        "ha-partition SYNC_MASTER: SEND_OK again {} ms after healing, slave caught up to {end}",
        healed.elapsed().as_millis()
    );
    p.shutdown().await.ok();
    Ok(())
}

async fn async_master(net: &Netns) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pair = start_pair(net, dir.path(), "ASYNC_MASTER")?;
    let p = producer(&pair.ns);
    p.send(Message::new("HaPartAsync", &b"before"[..])).await?;
    pair.converged(net).await?;
    net.partition()?;
    for i in 0..200 {
        let body = format!("while partitioned {i}");
        let r = p
            .send(Message::new("HaPartAsync", body.into_bytes()))
            .await?;
        assert_eq!(r.status, SendStatus::SendOk, "ASYNC_MASTER keeps accepting");
    }
    let master_end = field(
        &runtime(&pair.ns, &pair.master_addr(net)).await?,
        "commitLogMaxOffset",
    );
    net.heal()?;
    let healed = Instant::now();
    let end = pair.converged(net).await?;
    assert!(end >= master_end);
    println!(
        "ha-partition ASYNC_MASTER: 200 sends accepted while partitioned, slave caught up to {end} in {} ms after healing",
        healed.elapsed().as_millis()
    );
    p.shutdown().await.ok();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_fails_sync_sends_on_time_and_heals() -> Result<()> {
    let Some(net) = Netns::create()? else {
        return Ok(());
    };
    sync_master(&net).await?;
    async_master(&net).await?;
    Ok(())
}
