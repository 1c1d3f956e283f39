//! The official RocketMQ Java clients (4.9.8 and 5.3.3) across process restarts and failures:
//!
//! - committed consumer offsets survive a restart of `ferrimq standalone`: half the messages are
//!   consumed and committed, ferrimq is stopped and started on the same data dir, and the resumed
//!   consumer gets exactly the other half (nothing committed is redelivered);
//! - with `ferrimq namesrv` and `ferrimq broker -c` as two processes, a producer keeps sending from
//!   its cached routes after the NameServer was killed, and every message is read back.

mod compat_harness;
mod ports;

use std::path::Path;
use std::time::{Duration, Instant};

use compat_harness::{
    Java, Result, Standalone, VERSIONS, check_scenario, spawn_namesrv_and_broker, topic,
};

#[test]
fn consumer_offsets_survive_a_standalone_restart() -> Result<()> {
    let node = Standalone::new()?;
    let mut process = node.start()?;
    for version in VERSIONS {
        let Some(java) = Java::new(version, node.dir.path())? else {
            return Ok(());
        };
        let topic = topic("offsets", version);
        let dir = node.dir.path().join(&topic);
        std::fs::create_dir_all(&dir)?;
        let before = java.scenario_count("offsets-before", &node.namesrv(), &topic, &dir)?;
        assert!(
            (20..40).contains(&before),
            "consumed {before} of 40 before the restart"
        );
        process.stop()?;
        process = node.start()?;
        if let Err(e) = java.scenario("offsets-after", &node.namesrv(), &topic, &dir, 40 - before) {
            return Err(format!("{e}\nbroker log:\n{}", process.log()).into());
        }
    }
    process.stop()
}

/// Writes a broker.conf for `ferrimq broker -c` registering with the NameServer on `namesrv_port`.
fn broker_conf(dir: &Path, namesrv_port: u16, broker_port: u16) -> Result<std::path::PathBuf> {
    let conf = dir.join("broker.conf");
    let text = format!(
        "brokerClusterName=CompatCluster\nbrokerName=compat-broker\nbrokerId=0\n\
         brokerIP1=127.0.0.1\nlistenPort={broker_port}\nnamesrvAddr=127.0.0.1:{namesrv_port}\n\
         storePathRootDir={}\nautoCreateTopicEnable=true\n",
        dir.join("store").display()
    );
    std::fs::write(&conf, text)?;
    Ok(conf)
}

fn wait_for_file(path: &Path, child: &mut std::process::Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !path.exists() {
        if child.try_wait()?.is_some() || Instant::now() > deadline {
            return Err(format!("{} never appeared", path.display()).into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[test]
fn sends_keep_working_from_cached_routes_while_the_namesrv_is_down() -> Result<()> {
    for version in VERSIONS {
        let dir = tempfile::tempdir()?;
        let Some(java) = Java::new(version, dir.path())? else {
            return Ok(());
        };
        let (namesrv, broker, addr) = spawn_namesrv_and_broker(dir.path(), broker_conf)?;
        let mut child = java.spawn("namesrv-down", &addr, &topic("nsdown", version), dir.path())?;
        wait_for_file(&dir.path().join("routes-cached"), &mut child)?;
        namesrv.kill()?;
        std::fs::File::create(dir.path().join("namesrv-down"))?;
        let out = child.wait_with_output()?;
        if let Err(e) = check_scenario(version, "namesrv-down", 32, out) {
            return Err(format!("{e}\nbroker log:\n{}", broker.log()).into());
        }
        broker.stop()?;
    }
    Ok(())
}
