//! Staged queue shrinking end to end with real processes: `ferrimq namesrv`, two `ferrimq
//! broker` groups, the operator's real [`RemoteAdmin`] driving the shrink state machine exactly
//! as the controller does (plan from observed facts -> persist the status -> act), and the
//! official Java client (4.9.8 and 5.3.3) producing continuously while a slower push consumer
//! group consumes. A topic with 8 queues on each broker shrinks to 4; then production stops and the
//! Java scenario asserts that the exact set of sent ids was consumed: not one message lost or
//! left behind on the removed queues. The test also asserts that the drain really waited
//! (unconsumed messages on the removed queues were observed) and that messages had been
//! written to queues 4..7 of both brokers before the shrink.
//!
//! Skipped without java/mvn unless `FERRIMQ_REQUIRE_JAVA=1`.

mod brokers;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use brokers::{Brokers, java_classpath, spawn_scenario};
use ferrimq_operator::broker_calls::RemotingCalls;
use ferrimq_operator::build::names::Names;
use ferrimq_operator::crd::{
    BrokerClusterSpec, BrokersSpec, NameServerSpec, OfflineGroupPolicy, QueueCounts, ReclaimPolicy,
    StorageSpec, TopicPhase, TopicSpec, TopicStatus,
};
use ferrimq_operator::remote_admin::RemoteAdmin;
use ferrimq_operator::shrink::{Clock, Stage};
use ferrimq_operator::topics::{AdminTarget, TopicAdmin, act_all, plan_all};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

const CLUSTER: &str = "shrink";
/// Seconds between lowering writes and trusting a zero lag; clients refresh routes every
/// second, the margin is for a loaded machine.
const GRACE: i64 = 8;

fn spec(topic: &str, queues: i32) -> BrokerClusterSpec {
    BrokerClusterSpec {
        image: "ferrimq:dev".into(),
        image_pull_policy: None,
        name_server: NameServerSpec::default(),
        brokers: BrokersSpec {
            groups: 2,
            slaves_per_group: 0,
            replication_mode: Default::default(),
            flush_disk_type: Default::default(),
            storage: StorageSpec {
                size: Quantity("1Gi".into()),
                storage_class_name: None,
                reclaim_on_scale_in: ReclaimPolicy::Retain,
            },
            resources: None,
            config: Default::default(),
            placement: None,
            scale_in_offline_groups: OfflineGroupPolicy::Wait,
        },
        topics: vec![TopicSpec {
            name: topic.into(),
            queues: Some(queues),
            read_queue_nums: None,
            write_queue_nums: None,
            perm: 6,
            offline_groups: OfflineGroupPolicy::Wait,
        }],
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The controller's topic step: plan from facts, "persist" (keep) the status, then act.
async fn step(
    admin: &dyn TopicAdmin,
    target: &AdminTarget,
    spec: &BrokerClusterSpec,
    persisted: &mut Vec<TopicStatus>,
) -> anyhow::Result<TopicStatus> {
    let clock = Clock {
        now: now(),
        drain_grace_seconds: GRACE,
    };
    let plans = plan_all(admin, target, spec, persisted, clock).await?;
    *persisted = plans.iter().map(|p| p.status.clone()).collect();
    act_all(admin, target, &plans).await?;
    Ok(persisted[0].clone())
}

/// Steps until the topic is Ready with `want` observed; returns the statuses seen on the way.
async fn until_ready(
    admin: &dyn TopicAdmin,
    target: &AdminTarget,
    spec: &BrokerClusterSpec,
    persisted: &mut Vec<TopicStatus>,
    want: QueueCounts,
    limit: Duration,
) -> anyhow::Result<Vec<TopicStatus>> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let status = step(admin, target, spec, persisted).await?;
        seen.push(status.clone());
        if status.phase == TopicPhase::Ready && status.observed == Some(want) {
            return Ok(seen);
        }
        if Instant::now() > deadline {
            bail!("not Ready with {want:?} in {limit:?}; last status {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the scenario's progress file reports at least `sent` sent and `consumed` consumed.
async fn await_progress(dir: &Path, sent: usize, consumed: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(dir.join("progress.txt")).unwrap_or_default();
        let counts: Vec<usize> = text
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        if counts.len() == 2 && counts[0] >= sent && counts[1] >= consumed {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "scenario progress stuck at {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn shrink_under_load(
    cluster: &Brokers,
    classpath: &str,
    version: &str,
) -> anyhow::Result<()> {
    let topic = format!("Shrink{}", version.replace('.', ""));
    let admin = RemoteAdmin::new(Arc::new(RemotingCalls::new(Duration::from_secs(5))), None);
    let target = AdminTarget {
        names: Names::new(CLUSTER, "test"),
        groups: 2,
        namesrv_addr: cluster.namesrv_addr.clone(),
    };
    let eight = QueueCounts { read: 8, write: 8 };
    let four = QueueCounts { read: 4, write: 4 };
    let mut persisted = Vec::new();
    let created = until_ready(
        &admin,
        &target,
        &spec(&topic, 8),
        &mut persisted,
        eight,
        Duration::from_secs(60),
    )
    .await?;
    ensure!(
        created.iter().any(|s| s.phase == TopicPhase::Creating),
        "the topic was never Creating: {created:?}"
    );

    let dir = cluster.dir.path().join(&topic);
    std::fs::create_dir_all(&dir)?;
    let java = spawn_scenario(
        classpath,
        "shrink-consume",
        &cluster.namesrv_addr,
        &topic,
        &dir,
    )?;
    // A backlog on every queue: the consumer is slower than the producer.
    await_progress(&dir, 800, 100).await?;

    let seen = until_ready(
        &admin,
        &target,
        &spec(&topic, 4),
        &mut persisted,
        four,
        Duration::from_secs(240),
    )
    .await?;
    for s in &seen {
        let op = s.operation.as_ref();
        eprintln!(
            "  {:?} observed {:?} stage {:?} lag {:?} {}",
            s.phase,
            s.observed.map(|c| (c.read, c.write)),
            op.map(|o| o.stage),
            op.map(|o| o.remaining_lag),
            s.message.as_deref().unwrap_or("")
        );
    }
    let stages: BTreeSet<String> = seen
        .iter()
        .filter_map(|s| s.operation.as_ref().map(|o| format!("{:?}", o.stage)))
        .collect();
    ensure!(
        stages.contains(&format!("{:?}", Stage::Draining)),
        "no Draining stage seen: {stages:?}"
    );
    let max_lag = seen
        .iter()
        .filter_map(|s| s.operation.as_ref().map(|o| o.remaining_lag))
        .max()
        .unwrap_or(0);
    ensure!(
        max_lag > 0,
        "the drain never observed unconsumed messages on queues 4..7"
    );
    eprintln!(
        "client {version}: shrink 8 -> 4 over {} steps, max lag on the removed queues {max_lag}",
        seen.len()
    );

    // Production continues on the 4 remaining queues for a while, then stops.
    let (sent_at_shrink, _) = progress(&dir);
    await_progress(&dir, sent_at_shrink + 200, 0).await?;
    std::fs::write(dir.join("stop"), b"")?;
    let out = tokio::task::spawn_blocking(move || java.wait_with_output()).await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sent = std::fs::read_to_string(dir.join("sent.txt")).unwrap_or_default();
    let want = format!("SCENARIO shrink-consume OK {}", sent.lines().count());
    if !out.status.success() || !stdout.lines().any(|l| l == want) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let head: Vec<&str> = stderr.lines().take(30).collect();
        bail!(
            "client {version}: wanted '{want}':\n{stdout}\n{}\n{}",
            head.join("\n"),
            cluster.logs()
        );
    }
    let queues: BTreeSet<&str> = sent.lines().filter_map(|l| l.split('\t').nth(1)).collect();
    for g in 0..2 {
        for q in 4..8 {
            let queue = format!("{CLUSTER}-broker-{g}:{q}");
            ensure!(
                queues.contains(queue.as_str()),
                "nothing was sent to {queue} before the shrink"
            );
        }
    }
    eprintln!(
        "client {version}: {} messages sent and consumed exactly",
        sent.lines().count()
    );
    Ok(())
}

fn progress(dir: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(dir.join("progress.txt")).unwrap_or_default();
    let counts: Vec<usize> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    (
        counts.first().copied().unwrap_or(0),
        counts.get(1).copied().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_shrinks_from_8_to_4_queues_under_load_without_losing_a_message() -> anyhow::Result<()>
{
    let mut classpaths = Vec::new();
    for version in ["4.9", "5.3"] {
        match java_classpath(version)? {
            Some(cp) => classpaths.push((version, cp)),
            None => return Ok(()),
        }
    }
    let cluster = tokio::task::spawn_blocking(|| Brokers::start(CLUSTER, 2))
        .await?
        .context("starting namesrv and brokers")?;
    // Both client lines at once, each on its own topic: the drains wait on slow consumers, so
    // running them side by side halves the test's time.
    let runs = classpaths
        .iter()
        .map(|(version, classpath)| shrink_under_load(&cluster, classpath, version));
    futures::future::try_join_all(runs).await?;
    Ok(())
}
