//! ASYNC_MASTER with real processes: sends are acknowledged once stored on the master, the
//! master reports the slave's lag (`slaveFallBehindMuch`, `haConnectionInfo`) in its runtime
//! info, and after the load stops the slave converges to the master's CommitLog end with every
//! acknowledged message in its queues.

mod compat_harness;
mod ha_harness;
mod ports;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use compat_harness::Result;
use ha_harness::{Node, field, load, producer, runtime, start_namesrv, stored_ids};

const TOPIC: &str = "HaAsyncTopic";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_converges_after_load_and_lag_is_reported() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (_namesrv, ns) = start_namesrv(dir.path())?;
    let master = Node::new(dir.path().join("master"))?;
    let slave = Node::new(dir.path().join("slave"))?;
    master.write_conf("ASYNC_MASTER", "ASYNC_FLUSH", &ns, "")?;
    let pin = format!("haMasterAddress=127.0.0.1:{}\n", master.ha_port);
    slave.write_conf("SLAVE", "ASYNC_FLUSH", &ns, &pin)?;
    let master_proc = master.start()?;
    let slave_proc = slave.start()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while field(&runtime(&ns, &master.addr()).await?, "inSyncSlaveNums") == 0 {
        assert!(Instant::now() < deadline, "slave never attached");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let p = producer(&ns);
    let stop = Arc::new(AtomicBool::new(false));
    let sending = tokio::spawn({
        let (p, stop) = (p.clone(), stop.clone());
        async move { load(&p, TOPIC, 16, stop).await }
    });
    let mut max_lag = 0;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let info = runtime(&ns, &master.addr()).await?;
        max_lag = max_lag.max(field(&info, "slaveFallBehindMuch"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = sending.await?;
    assert_eq!(
        sent.not_replicated + sent.failed,
        0,
        "ASYNC_MASTER acks every send: {sent:?}"
    );
    assert!(
        sent.acked.len() >= 100,
        "too little load: {}",
        sent.acked.len()
    );
    let started = Instant::now();
    let (master_end, info) = loop {
        let m = runtime(&ns, &master.addr()).await?;
        let s = runtime(&ns, &slave.addr()).await?;
        let end = field(&m, "commitLogMaxOffset");
        if field(&s, "commitLogMaxOffset") == end && field(&m, "slaveFallBehindMuch") == 0 {
            break (end, m);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no convergence: {m:?} {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let connections = info.get("haConnectionInfo").cloned().unwrap_or_default();
    assert!(
        connections.contains(&format!("\"slaveAckOffset\":{master_end}")),
        "{connections}"
    );
    println!(
        "ha-async: {} acked, max lag seen {max_lag} bytes, converged {} ms after load stopped at offset {master_end}",
        sent.acked.len(),
        started.elapsed().as_millis()
    );
    p.shutdown().await.ok();
    master_proc.stop()?;
    slave_proc.stop()?;
    let store = slave.open_store()?;
    let on_slave = stored_ids(&store, TOPIC, 16);
    store.shutdown()?;
    let missing = sent
        .acked
        .iter()
        .filter(|id| !on_slave.contains(*id))
        .count();
    assert_eq!(missing, 0, "acked messages missing on the converged slave");
    Ok(())
}
