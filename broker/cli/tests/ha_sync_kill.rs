//! SYNC_MASTER + SYNC_FLUSH with real processes: producers send under load, the master is
//! SIGKILLed mid-load, and every message acknowledged with SEND_OK must be in the slave's
//! queues. Trials: `FERRIMQ_HA_KILL_TRIALS` (default 2; scripts/ha-kill-trials.sh runs 20+).

mod compat_harness;
mod ha_harness;
mod ports;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use compat_harness::Result;
use ha_harness::{Node, load, producer, start_namesrv, stored_ids, wait_replicating};

const TOPIC: &str = "HaKillTopic";

async fn trial(n: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (_namesrv, ns) = start_namesrv(dir.path())?;
    let master = Node::new(dir.path().join("master"))?;
    let slave = Node::new(dir.path().join("slave"))?;
    master.write_conf("SYNC_MASTER", "SYNC_FLUSH", &ns, "")?;
    let pin = format!("haMasterAddress=127.0.0.1:{}\n", master.ha_port);
    slave.write_conf("SLAVE", "SYNC_FLUSH", &ns, &pin)?;
    let master_proc = master.start()?;
    let slave_proc = slave.start()?;
    let p = producer(&ns);
    wait_replicating(&p, TOPIC).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let sending = tokio::spawn({
        let (p, stop) = (p.clone(), stop.clone());
        async move { load(&p, TOPIC, 16, stop).await }
    });
    // Kill at a different moment each trial (0.8 .. 2.3 s into the load).
    let at = Duration::from_millis(800 + (n as u64 * 379) % 1500);
    tokio::time::sleep(at).await;
    master_proc.kill()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = sending.await?;
    p.shutdown().await.ok();
    let slave_log = slave_proc.log();
    slave_proc.stop()?;
    let store = slave.open_store()?;
    let on_slave = stored_ids(&store, TOPIC, 16);
    store.shutdown()?;
    let lost: Vec<&String> = sent
        .acked
        .iter()
        .filter(|id| !on_slave.contains(*id))
        .collect();
    println!(
        "ha-kill trial {n}: killed after {} ms, acked {}, not replicated {}, failed {}, on slave {}, lost {}",
        at.as_millis(),
        sent.acked.len(),
        sent.not_replicated,
        sent.failed,
        on_slave.len(),
        lost.len()
    );
    assert!(sent.acked.len() >= 50, "too little load: {sent:?}");
    if !lost.is_empty() {
        return Err(format!(
            "trial {n}: {} acknowledged messages missing on the slave, e.g. {:?}\nslave log:\n{slave_log}",
            lost.len(),
            &lost[..lost.len().min(5)]
        )
        .into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_a_master_sigkill() -> Result<()> {
    let trials: usize = std::env::var("FERRIMQ_HA_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    for n in 0..trials {
        trial(n).await?;
    }
    Ok(())
}
