//! Broker-side filters with the official Java clients 4.9.8 and 5.3.3 (e2e/java/scenarios,
//! Filters.java), each scenario asserting the exact (msgId, body) set:
//!
//! - `ferrimq standalone` (enablePropertyFilter on by default): `MessageSelector.bySql` on a push
//!   consumer (registered subscription, CHECK_CLIENT_CONFIG at start) and on a lite pull consumer
//!   (subscription carried by each pull); a `TagA || TagC` lite pull subscription;
//! - `ferrimq broker -c` with the Java default enablePropertyFilter=false: a SQL92 push consumer's
//!   start fails with SYSTEM_ERROR "The broker does not support consumer to filter message by SQL92".

mod compat_harness;
mod ports;

use std::path::Path;

use compat_harness::{Java, Result, Standalone, VERSIONS, spawn_namesrv_and_broker, topic};

/// Runs each (scenario, expected count) with both clients against one standalone.
fn on_standalone(scenarios: &[(&str, usize)]) -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    for version in VERSIONS {
        let Some(java) = Java::new(version, node.dir.path())? else {
            return Ok(());
        };
        for (scenario, expected) in scenarios {
            let topic = topic(&scenario.replace('-', ""), version);
            if let Err(e) = java.scenario(
                scenario,
                &node.namesrv(),
                &topic,
                node.dir.path(),
                *expected,
            ) {
                return Err(format!("{e}\nbroker log:\n{}", process.log()).into());
            }
        }
    }
    process.stop()
}

#[test]
fn sql92_push_consumer_gets_exactly_the_matching_set() -> Result<()> {
    // color(i) = [red, green, blue][(i / 3) % 3], tag(i) = [TagA, TagB, TagC][i % 3].
    // a in 5..=24 with color red or blue (6..=11, 15..=20, 24: 13), plus TagC with a > 33
    // (35, 38): 15.
    on_standalone(&[("sql-push", 15)])
}

#[test]
fn sql92_and_tag_lite_pull_consumers_get_exactly_the_matching_sets() -> Result<()> {
    // vip (a % 5 == 0) outside 10..=20 (0, 5, 25, 30, 35), k13, green with a >= 36 (39): 7.
    // TagA or TagC among 0..40: 27.
    on_standalone(&[("sql-lite", 7), ("tags-lite", 27)])
}

/// A broker.conf with Java's defaults for filtering (enablePropertyFilter unset, i.e. false).
fn broker_conf(dir: &Path, namesrv_port: u16, broker_port: u16) -> Result<std::path::PathBuf> {
    let conf = dir.join("broker.conf");
    let text = format!(
        "brokerClusterName=FilterCluster\nbrokerName=filter-broker\nbrokerId=0\n\
         brokerIP1=127.0.0.1\nlistenPort={broker_port}\nnamesrvAddr=127.0.0.1:{namesrv_port}\n\
         storePathRootDir={}\nautoCreateTopicEnable=true\n",
        dir.join("store").display()
    );
    std::fs::write(&conf, text)?;
    Ok(conf)
}

#[test]
fn a_broker_without_property_filter_refuses_a_sql92_consumer() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (namesrv, broker, addr) = spawn_namesrv_and_broker(dir.path(), broker_conf)?;
    for version in VERSIONS {
        let Some(java) = Java::new(version, dir.path())? else {
            return Ok(());
        };
        // The scenario prints the refusal's response code: SYSTEM_ERROR (1).
        let topic = topic("sqldisabled", version);
        if let Err(e) = java.scenario("sql-disabled", &addr, &topic, dir.path(), 1) {
            return Err(format!("{e}\nbroker log:\n{}", broker.log()).into());
        }
    }
    broker.stop()?;
    namesrv.stop()
}
