//! The official RocketMQ Java clients, 4.9.8 and 5.3.3 (e2e/java/scenarios), against one
//! `ferrimq standalone` per test, each scenario asserting exact (msgId, body) sets:
//!
//! - sync, async and oneway sends plus a batch, read back by a lite pull consumer with assign+seek
//!   and by one that subscribes; once with JSON headers and once with
//!   `-Drocketmq.serialize.type=ROCKETMQ`;
//! - push consumers (concurrently) in clustering mode: two members split the queues, one leaves, the
//!   other takes its queues over and the union is exactly what was sent;
//! - broadcasting: each of two members gets the whole set;
//! - tag subscription: `TagA || TagB` gets exactly those, nothing tagged TagC.

mod compat_harness;
mod ports;

use compat_harness::{Java, Result, Standalone, VERSIONS, topic};

/// Runs `scenario` with each client version (and JVM properties `props`) against one standalone.
fn each_version(scenario: &str, props: &[&str], expected: usize) -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    for version in VERSIONS {
        let Some(mut java) = Java::new(version, node.dir.path())? else {
            return Ok(());
        };
        java.props = props.iter().map(|p| (*p).to_owned()).collect();
        let suffix = if props.is_empty() { "" } else { "rmq" };
        let topic = topic(&format!("{scenario}{suffix}"), version);
        if let Err(e) = java.scenario(scenario, &node.namesrv(), &topic, node.dir.path(), expected)
        {
            return Err(format!("{e}\nbroker log:\n{}", process.log()).into());
        }
    }
    process.stop()
}

#[test]
fn sends_sync_async_oneway_batch_with_lite_pull_json() -> Result<()> {
    each_version("sends", &[], 56)
}

#[test]
fn sends_sync_async_oneway_batch_with_lite_pull_rocketmq_serialize() -> Result<()> {
    each_version("sends", &["-Drocketmq.serialize.type=ROCKETMQ"], 56)
}

#[test]
fn push_clustering_rebalances_when_a_member_leaves() -> Result<()> {
    each_version("rebalance", &[], 80)
}

#[test]
fn push_broadcasting_delivers_the_whole_set_to_each_member() -> Result<()> {
    each_version("broadcast", &[], 40)
}

#[test]
fn tag_subscription_gets_exactly_the_selected_tags() -> Result<()> {
    each_version("tags", &[], 25)
}
