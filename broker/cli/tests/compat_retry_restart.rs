//! Retry state survives a broker crash, with the official Java clients 4.9.8 and 5.3.3 (both at
//! once, each on its own topic and group) against `ferrimq namesrv` + `ferrimq broker -c`:
//!
//! `retry-restart-before` fails every message twice (maxReconsumeTimes 2), so each message's
//! second retry copy waits in SCHEDULE_TOPIC_XXXX at delay level 4 (20 s in this broker.conf).
//! Once the broker has persisted that state (delayOffset.json shows level 3 fully delivered,
//! consumerOffset.json the committed original and retry offsets) the broker is SIGKILLed and
//! started again on the same store; `retry-restart-after` then sees each message exactly once more
//! (reconsumeTimes 2), fails it, and finds it in %DLQ%group with reconsumeTimes 3: exactly
//! maxReconsumeTimes retries across the crash, nothing lost and nothing repeated.

mod compat_harness;
mod ports;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use compat_harness::{
    Java, Process, Result, VERSIONS, check_scenario, free_broker_port, free_port, topic,
};

/// Messages each version's scenario sends (RetryRestart.MESSAGES).
const MESSAGES: i64 = 2;

/// Retry back-offs: level 3 (first retry) 1 s, level 4 (second retry) 20 s, the rest 1 s.
const DELAYS: &str = "messageDelayLevel=1s 1s 1s 20s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s\n";

/// The clients rebalance every second instead of 20 s, so they pick up `%RETRY%<group>` (created
/// by the first send-back) at once.
const FAST_REBALANCE: &str = "-Drocketmq.client.rebalance.waitInterval=1000";

/// A NameServer process and the broker.conf of a broker process that can be restarted.
struct Node {
    dir: tempfile::TempDir,
    namesrv_port: u16,
    conf: PathBuf,
    broker_port: u16,
    _namesrv: Process,
}

impl Node {
    fn new() -> Result<Node> {
        let dir = tempfile::tempdir()?;
        let (namesrv_port, broker_port) = (free_port()?, free_broker_port()?);
        let namesrv = Process::spawn(
            &[
                "namesrv".into(),
                "--listen-port".into(),
                namesrv_port.to_string(),
            ],
            dir.path().join("namesrv.log"),
            &[namesrv_port],
        )?;
        let conf = dir.path().join("broker.conf");
        let text = format!(
            "brokerClusterName=RetryCluster\nbrokerName=broker-r\nbrokerId=0\nbrokerIP1=127.0.0.1\n\
             listenPort={broker_port}\nhaListenPort={}\nnamesrvAddr=127.0.0.1:{namesrv_port}\n\
             storePathRootDir={}\nautoCreateTopicEnable=true\nflushConsumerOffsetInterval=500\n\
             {DELAYS}",
            broker_port + 1,
            dir.path().join("store").display()
        );
        std::fs::write(&conf, text)?;
        Ok(Node {
            dir,
            namesrv_port,
            conf,
            broker_port,
            _namesrv: namesrv,
        })
    }

    fn broker(&self) -> Result<Process> {
        Process::spawn(
            &[
                "broker".into(),
                "-c".into(),
                self.conf.display().to_string(),
            ],
            self.dir.path().join("broker.log"),
            &[self.broker_port],
        )
    }

    fn namesrv(&self) -> String {
        format!("127.0.0.1:{}", self.namesrv_port)
    }

    fn config_file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("store/config").join(name)).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

/// The `{k: v, ...}` object following `"key"` in a metadata JSON document (whose numeric keys may
/// be unquoted, as RocketMQ writes them), as (key, value) pairs.
fn table_after(text: &str, key: &str) -> Vec<(i64, i64)> {
    let Some(start) = text.find(&format!("\"{key}\"")) else {
        return Vec::new();
    };
    let rest = &text[start + key.len() + 2..];
    let Some(open) = rest.find('{') else {
        return Vec::new();
    };
    let body = &rest[open + 1..];
    let body = &body[..body.find('}').unwrap_or(body.len())];
    body.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once(':')?;
            let clean = |s: &str| s.trim().trim_matches('"').parse::<i64>().ok();
            Some((clean(k)?, clean(v)?))
        })
        .collect()
}

/// True once the broker has persisted what the crash must not lose: level 3 delivered for every
/// message of every version, and each group's committed original-topic and retry offsets.
fn retry_state_persisted(node: &Node, topics: &[String]) -> bool {
    let delays = node.config_file("delayOffset.json");
    let level3 = table_after(&delays, "offsetTable")
        .iter()
        .find(|(level, _)| *level == 3)
        .map(|(_, offset)| *offset);
    let offsets = node.config_file("consumerOffset.json");
    let total = |key: &str| {
        table_after(&offsets, key)
            .iter()
            .map(|(_, o)| o)
            .sum::<i64>()
    };
    level3 == Some(MESSAGES * topics.len() as i64)
        && topics.iter().all(|t| {
            let group = format!("{t}_group");
            total(&format!("{t}@{group}")) == MESSAGES
                && total(&format!("%RETRY%{group}@{group}")) == MESSAGES
        })
}

fn wait_all(node: &Node, name: &str, runs: Vec<(Java, Child)>) -> Result<()> {
    for (java, child) in runs {
        let out = child.wait_with_output()?;
        if let Err(e) = check_scenario(java.version, name, MESSAGES as usize, out) {
            return Err(format!("{e}\nbroker log (tail):\n{}", node.log_tail()).into());
        }
    }
    Ok(())
}

fn spawn_all(node: &Node, name: &str, topics: &[String], dir: &Path) -> Result<Vec<(Java, Child)>> {
    let mut runs = Vec::new();
    for (version, topic) in VERSIONS.iter().zip(topics) {
        let mut java = Java::new(version, dir)?.ok_or("java vanished")?;
        java.props = vec![FAST_REBALANCE.to_owned()];
        let scenario_dir = dir.join(topic);
        std::fs::create_dir_all(&scenario_dir)?;
        let child = java.spawn(name, &node.namesrv(), topic, &scenario_dir)?;
        runs.push((java, child));
    }
    Ok(runs)
}

#[test]
fn retries_continue_exactly_across_a_broker_sigkill() -> Result<()> {
    let node = Node::new()?;
    if Java::new(VERSIONS[0], node.dir.path())?.is_none() {
        return Ok(());
    }
    let topics: Vec<String> = VERSIONS.iter().map(|v| topic("retrykill", v)).collect();
    let broker = node.broker()?;
    let home = node.dir.path().to_owned();
    let started = Instant::now();
    wait_all(
        &node,
        "retry-restart-before",
        spawn_all(&node, "retry-restart-before", &topics, &home)?,
    )?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !retry_state_persisted(&node, &topics) {
        if Instant::now() > deadline {
            return Err(format!(
                "retry state never persisted:\ndelayOffset.json {}\nconsumerOffset.json {}",
                node.config_file("delayOffset.json"),
                node.config_file("consumerOffset.json")
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "retry state persisted after {:?}; killing the broker",
        started.elapsed()
    );
    broker.kill()?;
    // The premise: the second retries were still waiting in the schedule topic at the crash.
    let delays = node.config_file("delayOffset.json");
    let level4 = table_after(&delays, "offsetTable")
        .into_iter()
        .find_map(|(level, offset)| (level == 4).then_some(offset));
    if level4.unwrap_or(0) != 0 {
        return Err(format!("level 4 was delivered before the crash (too slow?): {delays}").into());
    }
    let broker = node.broker()?;
    wait_all(
        &node,
        "retry-restart-after",
        spawn_all(&node, "retry-restart-after", &topics, &home)?,
    )?;
    eprintln!("dead-lettered after {:?}", started.elapsed());
    broker.stop()
}

#[test]
fn metadata_tables_parse_with_quoted_and_unquoted_keys() {
    let doc = r#"{"offsetTable":{1:5, 3:4},"dataVersion":{"counter":2}}"#;
    assert_eq!(table_after(doc, "offsetTable"), [(1, 5), (3, 4)]);
    let doc = r#"{"offsetTable":{"T@G":{"0":1,"2":3},"%RETRY%G@G":{0:2}}}"#;
    assert_eq!(table_after(doc, "T@G"), [(0, 1), (2, 3)]);
    assert_eq!(table_after(doc, "%RETRY%G@G"), [(0, 2)]);
    assert_eq!(table_after(doc, "X@G"), []);
}
