//! The real controller on a real kube-apiserver managing real brokers outside the cluster: the
//! sample `demo` BrokerCluster, with the operator's `RemoteAdmin` pointed (namesrv override) at
//! a `ferrimq namesrv` and two `ferrimq broker` processes named `demo-broker-0/1`. The declared
//! topic is created on both brokers, shrunk 8 -> 4 (no consumer, so the drain passes at once),
//! then broker groups go 2 -> 1: the NameServer loses write permission of `demo-broker-1`, the
//! group drains (nothing to wait for) and its StatefulSets are removed.
//!
//! Skipped like `tests/apiserver.rs` without the control-plane binaries.

mod brokers;
mod control_plane;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use brokers::Brokers;
use control_plane::{ControlPlane, bin_dir, eventually};
use ferrimq_client::{Admin, Session, SessionConfig};
use ferrimq_operator::broker_calls::RemotingCalls;
use ferrimq_operator::crd::{BrokerCluster, QueueCounts, TopicPhase};
use ferrimq_operator::endpoints::Metrics;
use ferrimq_operator::reconcile::{Context, run};
use ferrimq_operator::remote_admin::RemoteAdmin;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client, CustomResourceExt, ResourceExt};

const NS: &str = "real-brokers";
const WAIT: Duration = Duration::from_secs(90);

fn cluster(queues: i32, groups: i32) -> anyhow::Result<BrokerCluster> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/samples/brokercluster.yaml");
    let mut cluster: BrokerCluster = serde_norway::from_str(&std::fs::read_to_string(path)?)?;
    cluster.spec.topics.retain(|t| t.name == "orders");
    cluster.spec.topics[0].queues = Some(queues);
    cluster.spec.brokers.groups = groups;
    Ok(cluster)
}

fn start_operator(client: &Client, namesrv: &str) -> tokio::task::JoinHandle<()> {
    let calls = RemotingCalls::new(Duration::from_secs(3));
    let admin = RemoteAdmin::new(Arc::new(calls), Some(namesrv.to_string()));
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "ferrimq-operator".into(),
                instance: Some("real-brokers".into()),
            },
        ),
        metrics: Arc::new(Metrics::default()),
        admin: Some(Arc::new(admin)),
        drain_grace_seconds: 1,
    });
    tokio::spawn(async move { run(ctx, Some(NS)).await })
}

/// (read, write) of `orders` on every broker of its route, by broker name, and their perms.
async fn route(admin: &Admin) -> anyhow::Result<Vec<(String, QueueCounts, i32)>> {
    let route = admin.route("orders").await?;
    let mut out: Vec<_> = route
        .queue_datas
        .iter()
        .map(|q| {
            let counts = QueueCounts {
                read: q.read_queue_nums,
                write: q.write_queue_nums,
            };
            (q.broker_name.clone(), counts, q.perm)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_manages_topics_and_drains_groups_on_real_brokers() -> anyhow::Result<()> {
    let bin = match bin_dir() {
        Ok(bin) => bin,
        Err(reason) if std::env::var("FERRIMQ_REQUIRE_K8S").as_deref() != Ok("1") => {
            println!("skipping the real kube-apiserver test: {reason}");
            return Ok(());
        }
        Err(reason) => bail!("FERRIMQ_REQUIRE_K8S=1 but {reason}"),
    };
    let brokers = tokio::task::spawn_blocking(|| Brokers::start("demo", 2)).await??;
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
    let operator = start_operator(&client, &brokers.namesrv_addr);
    let result = scenario(&client, &api, &brokers.namesrv_addr).await;
    operator.abort();
    result.map_err(|e| e.context(brokers.logs()))
}

async fn scenario(client: &Client, api: &Api<BrokerCluster>, namesrv: &str) -> anyhow::Result<()> {
    let session = Session::new(SessionConfig::new([namesrv.to_string()]));
    let admin = Admin::new(session);
    let apply = PatchParams::apply("test").force();
    let topic_ready = |want: QueueCounts| async move {
        let status = api.get("demo").await?.status.unwrap_or_default();
        Ok(status
            .topics
            .first()
            .filter(|t| t.phase == TopicPhase::Ready && t.observed == Some(want))
            .cloned())
    };
    let eight = QueueCounts { read: 8, write: 8 };
    let four = QueueCounts { read: 4, write: 4 };

    api.patch("demo", &apply, &Patch::Apply(&cluster(8, 2)?))
        .await?;
    eventually("orders created with 8 queues", WAIT, || topic_ready(eight)).await?;
    let created = route(&admin).await?;
    assert_eq!(
        created,
        vec![
            ("demo-broker-0".to_string(), eight, 6),
            ("demo-broker-1".to_string(), eight, 6)
        ]
    );

    api.patch("demo", &apply, &Patch::Apply(&cluster(4, 2)?))
        .await?;
    eventually("orders shrunk to 4 queues", WAIT, || topic_ready(four)).await?;
    assert_eq!(
        route(&admin).await?,
        vec![
            ("demo-broker-0".to_string(), four, 6),
            ("demo-broker-1".to_string(), four, 6)
        ]
    );

    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    assert!(sets.get_opt("demo-broker-1-master").await?.is_some());
    api.patch("demo", &apply, &Patch::Apply(&cluster(4, 1)?))
        .await?;
    eventually("group 1 drained and removed", WAIT, || async {
        let status = api.get("demo").await?.status.unwrap_or_default();
        let gone = sets.get_opt("demo-broker-1-master").await?.is_none()
            && sets.get_opt("demo-broker-1-slave").await?.is_none();
        Ok((gone && status.group_drains.is_empty()).then_some(()))
    })
    .await?;
    let after = route(&admin).await?;
    let broker1 = after
        .iter()
        .find(|(name, _, _)| name == "demo-broker-1")
        .context("demo-broker-1 still registered (its process runs)")?;
    assert_eq!(
        broker1.2 & 2,
        0,
        "write permission wiped on the NameServer: {after:?}"
    );
    let broker0 = after
        .iter()
        .find(|(name, _, _)| name == "demo-broker-0")
        .context("broker 0")?;
    assert_eq!(broker0.2, 6, "group 0 untouched");
    assert!(sets.get_opt("demo-broker-0-master").await?.is_some());
    Ok(())
}
