//! Messaging features the broker already has, proven with the official Java clients 4.9.8 and
//! 5.3.3 (scenarios of e2e/java/scenarios) against a real `ferrimq namesrv` + `ferrimq broker`:
//!
//! - `delays`: delay levels 1, 2, 3 (1 s, 5 s, 10 s) delivered once each, on the real topic, no
//!   earlier than the delay and at most 3 s late (every level: scripts/delay-levels.sh);
//! - `retries`: a consumer always answering RECONSUME_LATER with maxReconsumeTimes 3 sees each
//!   message exactly 4 times (reconsumeTimes 0..3) and then finds it in %DLQ%group with its
//!   properties (broker with an accelerated messageDelayLevel);
//! - `orderly`: MessageListenerOrderly + MessageQueueSelector by key keep every key's order, each
//!   message once, while a second member joins and the first leaves;
//! - `batches`: batch sends keep per-message ids, keys, tags and properties; bodies over 4 KiB are
//!   compressed by the client and round trip; a body over maxMessageSize gets code 13 and the
//!   broker's remark;
//! - `vip`: a producer with the VIP channel enabled (listen port - 2) sends, the messages arrive.

mod compat_harness;
mod ports;

use std::net::TcpStream;
use std::path::Path;

use compat_harness::{Java, Process, Result, VERSIONS, free_broker_port, free_port, topic};

/// Every retry back-off one second.
const FAST_DELAYS: &str =
    "messageDelayLevel=1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s\n";

/// A NameServer and a broker process; the broker's port - 2 (VIP) and + 1 (HA) were free.
struct Node {
    dir: tempfile::TempDir,
    namesrv_port: u16,
    broker_port: u16,
    namesrv: Process,
    broker: Process,
}

impl Node {
    fn start(extra: &str) -> Result<Node> {
        let dir = tempfile::tempdir()?;
        let (namesrv_port, broker_port) = (free_port()?, free_broker_port()?);
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
        let conf = dir.path().join("broker.conf");
        std::fs::write(
            &conf,
            broker_conf(dir.path(), namesrv_port, broker_port, extra),
        )?;
        let broker = Process::spawn(
            &[
                "broker".to_owned(),
                "-c".to_owned(),
                conf.display().to_string(),
            ],
            dir.path().join("broker.log"),
            &[broker_port],
        )?;
        Ok(Node {
            dir,
            namesrv_port,
            broker_port,
            namesrv,
            broker,
        })
    }

    fn namesrv_addr(&self) -> String {
        format!("127.0.0.1:{}", self.namesrv_port)
    }

    /// Runs `scenario` with both client versions, each on its own topic and group.
    fn each_version(&self, scenario: &str, props: &[String], expected: usize) -> Result<()> {
        for version in VERSIONS {
            let Some(mut java) = Java::new(version, self.dir.path())? else {
                return Ok(());
            };
            java.props = props.to_vec();
            let topic = topic(scenario, version);
            let outcome = java.scenario(
                scenario,
                &self.namesrv_addr(),
                &topic,
                self.dir.path(),
                expected,
            );
            if let Err(e) = outcome {
                let log =
                    std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!("{e}\nbroker log (tail):\n{}", tail.join("\n")).into());
            }
        }
        Ok(())
    }

    fn stop(self) -> Result<()> {
        self.broker.stop()?;
        self.namesrv.stop()
    }
}

fn broker_conf(dir: &Path, namesrv_port: u16, broker_port: u16, extra: &str) -> String {
    format!(
        "brokerClusterName=FeatureCluster\nbrokerName=broker-f\nbrokerId=0\nbrokerIP1=127.0.0.1\n\
         listenPort={broker_port}\nhaListenPort={}\nnamesrvAddr=127.0.0.1:{namesrv_port}\n\
         storePathRootDir={}\nautoCreateTopicEnable=true\nflushConsumerOffsetInterval=500\n{extra}",
        broker_port + 1,
        dir.join("store").display()
    )
}

#[test]
fn delay_levels_1s_5s_10s_arrive_on_time() -> Result<()> {
    let node = Node::start("")?;
    node.each_version("delays", &[], 6)?;
    node.stop()
}

#[test]
fn failing_messages_land_in_the_dlq_after_exactly_max_reconsume_times() -> Result<()> {
    let node = Node::start(FAST_DELAYS)?;
    node.each_version("retries", &[], 3)?;
    node.stop()
}

#[test]
fn orderly_consumption_keeps_key_order_through_join_and_leave() -> Result<()> {
    let node = Node::start("")?;
    node.each_version(
        "orderly",
        &["-Drocketmq.client.rebalance.waitInterval=1000".to_owned()],
        360,
    )?;
    node.stop()
}

#[test]
fn batches_keep_ids_compressed_bodies_round_trip_oversize_is_refused() -> Result<()> {
    let node = Node::start("")?;
    node.each_version("batches", &[], 12)?;
    node.stop()
}

#[test]
fn vip_channel_is_served_like_the_main_port() -> Result<()> {
    let node = Node::start("")?;
    let vip = node.broker_port - 2;
    if TcpStream::connect(("127.0.0.1", vip)).is_err() {
        let log = std::fs::read_to_string(node.dir.path().join("broker.log")).unwrap_or_default();
        node.stop()?;
        return Err(format!("nothing listens on the VIP port {vip}; broker log:\n{log}").into());
    }
    node.each_version("vip", &[], 5)?;
    node.stop()
}
