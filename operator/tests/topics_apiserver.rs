//! Staged queue shrinking driven by the real controller on a real kube-apiserver, with an
//! in-memory [`TopicAdmin`] standing in for the brokers: topics are created, a shrink lowers
//! writes, waits for the lag to drain across an operator restart, then lowers reads.
//!
//! Skipped like `tests/apiserver.rs` when the control-plane binaries are absent.

mod control_plane;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use control_plane::{ControlPlane, bin_dir, eventually};
use ferrimq_operator::crd::{BrokerCluster, QueueCounts, TopicPhase, TopicStatus};
use ferrimq_operator::drain::{Backlog, DrainAction, DrainStage, GroupFacts};
use ferrimq_operator::endpoints::Metrics;
use ferrimq_operator::reconcile::{Context, run};
use ferrimq_operator::shrink::{BrokerFacts, QueueProgress, Stage, TopicAction, TopicFacts};
use ferrimq_operator::topics::{AdminError, AdminTarget, TopicAdmin};
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client, CustomResourceExt, ResourceExt};

const NS: &str = "topics";
const WAIT: Duration = Duration::from_secs(90);

/// Brokers in memory: counts per (topic, broker) and a lag held on queues >= 4.
#[derive(Default)]
struct Brokers {
    topics: BTreeMap<(String, String), QueueCounts>,
    held_lag: i64,
    applied: Vec<(String, String, QueueCounts)>,
    /// Unconsumed messages on the broker of a group being scaled in.
    group_lag: i64,
    /// Drain actions performed, in order.
    drain_actions: Vec<DrainAction>,
}

#[derive(Clone, Default)]
struct FakeAdmin(Arc<Mutex<Brokers>>);

impl FakeAdmin {
    fn with<T>(&self, f: impl FnOnce(&mut Brokers) -> T) -> T {
        f(&mut self.0.lock().expect("fake admin lock"))
    }
}

impl TopicAdmin for FakeAdmin {
    fn facts<'a>(
        &'a self,
        target: &'a AdminTarget,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<TopicFacts, AdminError>> {
        let (names, groups) = (&target.names, target.groups);
        Box::pin(async move {
            Ok(self.with(|b| {
                let mut facts = TopicFacts::default();
                for g in 0..groups {
                    let broker_name = names.broker_name(g);
                    let counts = b
                        .topics
                        .get(&(topic.to_string(), broker_name.clone()))
                        .copied();
                    for queue_id in 0..counts.map(|c| c.read).unwrap_or(0) {
                        let lag = if queue_id >= 4 { b.held_lag } else { 0 };
                        facts.progress.push(QueueProgress {
                            broker_name: broker_name.clone(),
                            group: "g1".into(),
                            queue_id,
                            consumer_offset: 100 - lag,
                            max_offset: 100,
                            group_online: true,
                        });
                    }
                    facts.brokers.push(BrokerFacts {
                        broker_name,
                        online: true,
                        counts,
                        perm: counts.map(|_| 6),
                    });
                }
                facts
            }))
        })
    }

    fn act<'a>(
        &'a self,
        _target: &'a AdminTarget,
        action: &'a TopicAction,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<(), AdminError>> {
        Box::pin(async move {
            let TopicAction::Apply {
                broker_name,
                counts,
                ..
            } = action;
            self.with(|b| {
                b.topics
                    .insert((topic.to_string(), broker_name.clone()), *counts);
                b.applied
                    .push((topic.to_string(), broker_name.clone(), *counts));
            });
            Ok(())
        })
    }

    fn group_facts<'a>(
        &'a self,
        _target: &'a AdminTarget,
        _group: i32,
    ) -> BoxFuture<'a, Result<GroupFacts, AdminError>> {
        Box::pin(async move {
            let lag = self.with(|b| b.group_lag);
            Ok(GroupFacts {
                registered: true,
                backlog: vec![Backlog {
                    topic: "orders".into(),
                    group: "g1".into(),
                    queue_id: 0,
                    consumer_offset: 100 - lag,
                    max_offset: 100,
                    group_online: true,
                }],
            })
        })
    }

    fn act_group<'a>(
        &'a self,
        _target: &'a AdminTarget,
        action: &'a DrainAction,
    ) -> BoxFuture<'a, Result<(), AdminError>> {
        Box::pin(async move {
            self.with(|b| b.drain_actions.push(action.clone()));
            Ok(())
        })
    }
}

fn start_operator(
    client: &Client,
    admin: &FakeAdmin,
    instance: &str,
) -> tokio::task::JoinHandle<()> {
    let reporter = Reporter {
        controller: "ferrimq-operator".into(),
        instance: Some(instance.into()),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        metrics: Arc::new(Metrics::default()),
        admin: Some(Arc::new(admin.clone())),
        drain_grace_seconds: 0,
    });
    tokio::spawn(async move { run(ctx, Some(NS)).await })
}

fn cluster(queues: i32) -> anyhow::Result<BrokerCluster> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/samples/brokercluster.yaml");
    let mut cluster: BrokerCluster = serde_norway::from_str(&std::fs::read_to_string(path)?)?;
    cluster.spec.topics.retain(|t| t.name == "orders");
    cluster.spec.topics[0].queues = Some(queues);
    Ok(cluster)
}

async fn topic_status(api: &Api<BrokerCluster>) -> anyhow::Result<Option<TopicStatus>> {
    let c = api.get("demo").await?;
    Ok(c.status
        .and_then(|s| s.topics.into_iter().find(|t| t.name == "orders")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shrink_lowers_writes_drains_across_a_restart_then_lowers_reads() -> anyhow::Result<()> {
    let bin = match bin_dir() {
        Ok(bin) => bin,
        Err(reason) if std::env::var("FERRIMQ_REQUIRE_K8S").as_deref() != Ok("1") => {
            println!("skipping the real kube-apiserver test: {reason}");
            return Ok(());
        }
        Err(reason) => bail!("FERRIMQ_REQUIRE_K8S=1 but {reason}"),
    };
    let plane = ControlPlane::start(&bin)?;
    let client = plane.client().await?;
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": NS}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let crd = BrokerCluster::crd();
    Api::<CustomResourceDefinition>::all(client.clone())
        .patch(
            &crd.name_any(),
            &PatchParams::apply("test").force(),
            &Patch::Apply(&crd),
        )
        .await?;
    let api: Api<BrokerCluster> = Api::namespaced(client.clone(), NS);
    eventually("the CRD to be served", WAIT, || async {
        Ok(api.list(&ListParams::default()).await.ok().map(|_| ()))
    })
    .await?;
    let result = scenario(&client, &api).await;
    result.map_err(|e| e.context(plane.apiserver_log_tail()))
}

async fn scenario(client: &Client, api: &Api<BrokerCluster>) -> anyhow::Result<()> {
    let admin = FakeAdmin::default();
    let apply = PatchParams::apply("test").force();
    api.patch("demo", &apply, &Patch::Apply(&cluster(8)?))
        .await?;
    let first = start_operator(client, &admin, "first");
    eventually("orders to be created with 8 queues", WAIT, || async {
        Ok(topic_status(api).await?.filter(|t| {
            t.phase == TopicPhase::Ready && t.observed == Some(QueueCounts { read: 8, write: 8 })
        }))
    })
    .await?;

    admin.with(|b| b.held_lag = 5);
    api.patch("demo", &apply, &Patch::Apply(&cluster(4)?))
        .await?;
    let draining = eventually("the shrink to wait in Draining", WAIT, || async {
        Ok(topic_status(api).await?.filter(|t| {
            t.operation
                .as_ref()
                .is_some_and(|o| o.stage == Stage::Draining && o.remaining_lag > 0)
        }))
    })
    .await?;
    assert_eq!(draining.phase, TopicPhase::Shrinking);
    assert_eq!(
        draining.observed,
        Some(QueueCounts { read: 8, write: 4 }),
        "writes lowered, reads kept"
    );
    let op = draining.operation.context("operation")?;
    assert_eq!(
        op.remaining_lag,
        2 * 4 * 5,
        "2 brokers x queues 4..8 x lag 5"
    );

    first.abort();
    let _ = first.await;
    let persisted = topic_status(api).await?.context("persisted status")?;
    assert_eq!(
        persisted.operation.map(|o| o.stage),
        Some(Stage::Draining),
        "the operation survives the operator"
    );
    let second = start_operator(client, &admin, "second");
    admin.with(|b| b.held_lag = 0);
    let done = eventually("the shrink to complete", WAIT, || async {
        Ok(topic_status(api)
            .await?
            .filter(|t| t.phase == TopicPhase::Ready && t.operation.is_none()))
    })
    .await;
    second.abort();
    let done = done?;
    assert_eq!(done.observed, Some(QueueCounts { read: 4, write: 4 }));
    let history: Vec<QueueCounts> = admin.with(|b| {
        b.applied
            .iter()
            .filter(|(t, broker, _)| t == "orders" && broker == "demo-broker-0")
            .map(|(_, _, c)| *c)
            .collect()
    });
    assert_eq!(
        history,
        vec![
            QueueCounts { read: 8, write: 8 },
            QueueCounts { read: 8, write: 4 },
            QueueCounts { read: 4, write: 4 }
        ],
        "created, writes lowered, then reads lowered: nothing else"
    );
    let status = api.get("demo").await?.status.context("status")?;
    assert_eq!(status.topics_changing, 0);
    let synced = status
        .conditions
        .iter()
        .find(|c| c.type_ == "TopicsSynced")
        .context("TopicsSynced")?;
    assert_eq!(
        (synced.status.as_str(), synced.reason.as_str()),
        ("True", "TopicsReady")
    );
    scale_in(client, api, &admin).await
}

/// Groups 2 -> 1: group 1 is kept while its broker holds unconsumed messages (across an
/// operator restart), then its StatefulSets are removed and the drain entry disappears.
async fn scale_in(
    client: &Client,
    api: &Api<BrokerCluster>,
    admin: &FakeAdmin,
) -> anyhow::Result<()> {
    let apply = PatchParams::apply("test").force();
    admin.with(|b| b.group_lag = 3);
    let mut smaller = cluster(4)?;
    smaller.spec.brokers.groups = 1;
    api.patch("demo", &apply, &Patch::Apply(&smaller)).await?;
    let third = start_operator(client, admin, "third");
    let draining = eventually("group 1 to drain with its lag", WAIT, || async {
        let status = api.get("demo").await?.status.unwrap_or_default();
        Ok(status
            .group_drains
            .first()
            .filter(|d| d.stage == DrainStage::Draining && d.remaining_lag == 3)
            .cloned())
    })
    .await?;
    assert_eq!(
        (draining.group, draining.broker_name.as_str()),
        (1, "demo-broker-1")
    );
    assert_eq!(draining.waiting_on, vec!["g1@orders:0 lag 3".to_string()]);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    assert!(
        sets.get_opt("demo-broker-1-master").await?.is_some(),
        "kept while draining"
    );
    third.abort();
    let _ = third.await;
    let fourth = start_operator(client, admin, "fourth");
    admin.with(|b| b.group_lag = 0);
    let removed = eventually("group 1 to be removed", WAIT, || async {
        let status = api.get("demo").await?.status.unwrap_or_default();
        let gone = sets.get_opt("demo-broker-1-master").await?.is_none()
            && sets.get_opt("demo-broker-1-slave").await?.is_none();
        Ok((gone && status.group_drains.is_empty()).then_some(()))
    })
    .await;
    fourth.abort();
    removed?;
    assert!(sets.get_opt("demo-broker-0-master").await?.is_some());
    let wiped = admin.with(|b| b.drain_actions.clone());
    assert!(!wiped.is_empty());
    assert!(
        wiped.iter().all(|a| *a
            == DrainAction::WipeWritePerm {
                broker_name: "demo-broker-1".into()
            }),
        "{wiped:?}"
    );
    Ok(())
}
