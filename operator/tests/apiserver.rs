//! The operator against a real kube-apiserver + etcd (built by `scripts/k8s-tools.sh`).
//!
//! Skipped, with the reason printed, when the binaries are absent, unless
//! `FERRIMQ_REQUIRE_K8S=1` (CI builds them first and sets it), in which case it fails.

mod control_plane;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use control_plane::{ControlPlane, bin_dir, eventually};
use ferrimq_operator::crd::{BrokerCluster, ClusterPhase};
use ferrimq_operator::endpoints::Metrics;
use ferrimq_operator::reconcile::{Context, FINALIZER, run};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client, CustomResourceExt, ResourceExt};

const NS: &str = "mq";
const WAIT: Duration = Duration::from_secs(60);

fn sample(file: &str) -> anyhow::Result<BrokerCluster> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/samples")
        .join(file);
    serde_norway::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| path.display().to_string())
}

async fn install_crd(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = BrokerCluster::crd();
    crds.patch(
        &crd.name_any(),
        &PatchParams::apply("test").force(),
        &Patch::Apply(&crd),
    )
    .await?;
    let clusters: Api<BrokerCluster> = Api::namespaced(client.clone(), NS);
    eventually("the CRD to be served", WAIT, || async {
        Ok(clusters.list(&ListParams::default()).await.ok().map(|_| ()))
    })
    .await
}

async fn apply_cluster(client: &Client, cluster: &BrokerCluster) -> anyhow::Result<BrokerCluster> {
    let api: Api<BrokerCluster> = Api::namespaced(client.clone(), NS);
    Ok(api
        .patch(
            &cluster.name_any(),
            &PatchParams::apply("test").force(),
            &Patch::Apply(cluster),
        )
        .await?)
}

fn names<K: ResourceExt>(items: &[K]) -> Vec<String> {
    let mut names: Vec<String> = items.iter().map(|i| i.name_any()).collect();
    names.sort();
    names
}

fn start_operator(client: &Client) -> tokio::task::JoinHandle<()> {
    let reporter = Reporter {
        controller: "ferrimq-operator".into(),
        instance: Some("test".into()),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        metrics: Arc::new(Metrics::default()),
        admin: None,
        drain_grace_seconds: 60,
    });
    tokio::spawn(async move { run(ctx, Some(NS)).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_reconciles_on_a_real_apiserver() -> anyhow::Result<()> {
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
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": NS}}))?;
    namespaces.create(&PostParams::default(), &ns).await?;
    install_crd(&client).await?;

    schema_rejects_cel_violations(&client).await?;
    let operator = start_operator(&client);
    let result = scenarios(&client, plane.has_controller_manager()).await;
    operator.abort();
    result.map_err(|e| {
        e.context(format!(
            "{}\n{}",
            plane.apiserver_log_tail(),
            plane.log_tail("controller-manager.err")
        ))
    })
}

async fn schema_rejects_cel_violations(client: &Client) -> anyhow::Result<()> {
    let rejected = sample("brokercluster-rejected.yaml")?;
    let api: Api<BrokerCluster> = Api::namespaced(client.clone(), NS);
    match api.create(&PostParams::default(), &rejected).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status
                    .message
                    .contains("replicationMode SYNC_MASTER needs slavesPerGroup >= 1"),
                "{}",
                status.message
            );
            assert!(
                status
                    .message
                    .contains("set either queues or both readQueueNums and writeQueueNums"),
                "{}",
                status.message
            );
            Ok(())
        }
        other => bail!("expected a 422 rejection, got {other:?}"),
    }
}

async fn scenarios(client: &Client, controller_manager: bool) -> anyhow::Result<()> {
    let created = apply_cluster(client, &sample("brokercluster.yaml")?).await?;
    let uid = created.uid().context("uid")?;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    let all = eventually("five StatefulSets", WAIT, || async {
        let items = sets.list(&ListParams::default()).await?.items;
        Ok((items.len() == 5).then_some(items))
    })
    .await?;
    assert_eq!(
        names(&all),
        vec![
            "demo-broker-0-master",
            "demo-broker-0-slave",
            "demo-broker-1-master",
            "demo-broker-1-slave",
            "demo-namesrv"
        ]
    );
    let master = all
        .iter()
        .find(|s| s.name_any() == "demo-broker-1-master")
        .context("master")?;
    assert_eq!(master.owner_references()[0].uid, uid);
    assert_eq!(master.owner_references()[0].controller, Some(true));
    assert_eq!(
        master
            .labels()
            .get("ferrimq.io/broker-role")
            .map(String::as_str),
        Some("master")
    );
    let spec = master.spec.as_ref().context("spec")?;
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.service_name.as_deref(), Some("demo-broker-headless"));
    let claim = &spec.volume_claim_templates.as_ref().context("claims")?[0];
    assert_eq!(
        claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map(|q| q.0.as_str()),
        Some("10Gi")
    );

    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    assert_eq!(
        names(&services.list(&ListParams::default()).await?.items),
        vec![
            "demo-broker-headless",
            "demo-namesrv",
            "demo-namesrv-headless"
        ]
    );
    // PDBs are applied after the StatefulSets within a reconcile: wait for the last of them.
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
    let pdb_names = eventually("three PodDisruptionBudgets", WAIT, || async {
        let items = pdbs.list(&ListParams::default()).await?.items;
        Ok((items.len() == 3).then(|| names(&items)))
    })
    .await?;
    assert_eq!(
        pdb_names,
        vec!["demo-broker-0", "demo-broker-1", "demo-namesrv"]
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let conf = cms.get("demo-broker-0-slave-config").await?;
    let text = conf
        .data
        .as_ref()
        .and_then(|d| d.get("broker-0.conf"))
        .cloned()
        .unwrap_or_default();
    assert!(
        text.contains("brokerId=1\n") && text.contains("brokerRole=SLAVE\n"),
        "{text}"
    );

    status_and_finalizer(client).await?;
    if controller_manager {
        statefulsets_get_pods_and_claims(client).await?;
    } else {
        println!("kube-controller-manager not built: skipping the Pod and claim checks");
    }
    deleted_child_is_restored(client).await?;
    image_change_rolls_slaves_before_masters(client).await?;
    invalid_cluster_gets_a_condition(client).await?;
    deletion_runs_the_finalizer(client, controller_manager).await
}

async fn statefulsets_get_pods_and_claims(client: &Client) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let pod = eventually("pod demo-broker-0-master-0", WAIT, || async {
        Ok(pods.get_opt("demo-broker-0-master-0").await?)
    })
    .await?;
    assert_eq!(
        pod.labels()
            .get("apps.kubernetes.io/pod-index")
            .map(String::as_str),
        Some("0")
    );
    assert_eq!(
        pod.labels()
            .get("ferrimq.io/broker-group")
            .map(String::as_str),
        Some("0")
    );
    let env = pod
        .spec
        .as_ref()
        .map(|s| s.containers[0].env.clone().unwrap_or_default())
        .unwrap_or_default();
    assert_eq!(env.first().map(|e| e.name.as_str()), Some("POD_INDEX"));
    let claim = eventually("claim store-demo-broker-0-slave-0", WAIT, || async {
        Ok(claims.get_opt("store-demo-broker-0-slave-0").await?)
    })
    .await?;
    assert_eq!(
        claim
            .labels()
            .get("app.kubernetes.io/instance")
            .map(String::as_str),
        Some("demo")
    );
    let size = claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone());
    assert_eq!(size.as_deref(), Some("10Gi"));
    Ok(())
}

async fn status_and_finalizer(client: &Client) -> anyhow::Result<()> {
    let api: Api<BrokerCluster> = Api::namespaced(client.clone(), NS);
    let cluster = eventually("status of demo", WAIT, || async {
        let c = api.get("demo").await?;
        Ok(c.status
            .as_ref()
            .is_some_and(|s| s.observed_generation == c.metadata.generation)
            .then_some(c))
    })
    .await?;
    assert!(cluster.finalizers().iter().any(|f| f == FINALIZER));
    let status = cluster.status.context("status")?;
    assert_eq!(
        status.phase,
        Some(ClusterPhase::Reconciling),
        "no kubelet: pods never become ready"
    );
    assert_eq!(status.ready_groups.as_deref(), Some("0/2"));
    let valid = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Valid")
        .context("Valid")?;
    assert_eq!(valid.status, "True");
    let topics = status
        .conditions
        .iter()
        .find(|c| c.type_ == "TopicsSynced")
        .context("TopicsSynced")?;
    assert_eq!(
        (topics.status.as_str(), topics.reason.as_str()),
        ("False", "AdminClientUnavailable")
    );
    assert_eq!(
        status.name_server_addresses.as_deref(),
        Some(
            "demo-namesrv-0.demo-namesrv-headless.mq.svc:9876;demo-namesrv-1.demo-namesrv-headless.mq.svc:9876"
        )
    );
    Ok(())
}

async fn deleted_child_is_restored(client: &Client) -> anyhow::Result<()> {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let old_uid = cms.get("demo-broker-1-master-config").await?.uid();
    cms.delete("demo-broker-1-master-config", &DeleteParams::default())
        .await?;
    eventually("the deleted ConfigMap to come back", WAIT, || async {
        let cm = cms.get_opt("demo-broker-1-master-config").await?;
        Ok(cm.filter(|c| c.uid() != old_uid).map(|_| ()))
    })
    .await
}

async fn image_change_rolls_slaves_before_masters(client: &Client) -> anyhow::Result<()> {
    let mut cluster = sample("brokercluster.yaml")?;
    cluster.spec.image = "ferrimq:0.2.0".into();
    apply_cluster(client, &cluster).await?;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    let image = |s: &StatefulSet| {
        s.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.containers[0].image.clone())
    };
    eventually(
        "the slave StatefulSet to get the new image",
        WAIT,
        || async {
            let slave = sets.get("demo-broker-0-slave").await?;
            Ok((image(&slave).as_deref() == Some("ferrimq:0.2.0")).then_some(()))
        },
    )
    .await?;
    let namesrv = sets.get("demo-namesrv").await?;
    assert_eq!(image(&namesrv).as_deref(), Some("ferrimq:0.2.0"));
    // No kubelet runs the new slave pods, so the slaves never finish rolling out and the
    // masters must keep the old image.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let master = sets.get("demo-broker-0-master").await?;
    assert_eq!(image(&master).as_deref(), Some("ferrimq:0.1.0"));
    Ok(())
}

async fn invalid_cluster_gets_a_condition(client: &Client) -> anyhow::Result<()> {
    apply_cluster(client, &sample("brokercluster-invalid.yaml")?).await?;
    let api: Api<BrokerCluster> = Api::namespaced(client.clone(), NS);
    let status = eventually("the Invalid phase", WAIT, || async {
        let c = api.get("invalid").await?;
        Ok(c.status.filter(|s| s.phase == Some(ClusterPhase::Invalid)))
    })
    .await?;
    let valid = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Valid")
        .context("Valid")?;
    assert_eq!(
        (valid.status.as_str(), valid.reason.as_str()),
        ("False", "InvalidSpec")
    );
    assert!(
        valid
            .message
            .contains("spec.brokers.config.brokerId: is managed by the operator"),
        "{}",
        valid.message
    );
    assert!(
        valid
            .message
            .contains("spec.topics[0].name: is a RocketMQ system topic"),
        "{}",
        valid.message
    );
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    assert_eq!(
        sets.list(&ListParams::default().labels("app.kubernetes.io/instance=invalid"))
            .await?
            .items
            .len(),
        0
    );
    Ok(())
}

async fn deletion_runs_the_finalizer(
    client: &Client,
    controller_manager: bool,
) -> anyhow::Result<()> {
    let api: Api<BrokerCluster> = Api::namespaced(client.clone(), NS);
    api.delete("demo", &DeleteParams::default()).await?;
    eventually("demo to be gone", WAIT, || async {
        Ok(api.get_opt("demo").await?.is_none().then_some(()))
    })
    .await?;
    if controller_manager {
        let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
        let lp = ListParams::default().labels("app.kubernetes.io/instance=demo");
        eventually(
            "the garbage collector to remove demo's StatefulSets",
            WAIT,
            || async { Ok(sets.list(&lp).await?.items.is_empty().then_some(())) },
        )
        .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_candidates_never_both_hold_the_lease() -> anyhow::Result<()> {
    use ferrimq_operator::lease::LeaseLock;
    use k8s_openapi::api::coordination::v1::Lease;
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
    let leases = || Api::<Lease>::namespaced(client.clone(), "default");
    let a = LeaseLock::new(leases(), "ferrimq-operator", "a", 2);
    let b = LeaseLock::new(leases(), "ferrimq-operator", "b", 2);
    let (ra, rb) = tokio::join!(a.try_acquire_or_renew(), b.try_acquire_or_renew());
    assert!(ra? ^ rb?, "exactly one of two racing candidates wins");
    let (leader, follower) = if leases()
        .get("ferrimq-operator")
        .await?
        .spec
        .and_then(|s| s.holder_identity)
        .as_deref()
        == Some("a")
    {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert!(leader.try_acquire_or_renew().await?, "the leader renews");
    assert!(
        !follower.try_acquire_or_renew().await?,
        "the follower waits while the lease is fresh"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        follower.try_acquire_or_renew().await?,
        "an expired lease is taken over"
    );
    assert!(
        !leader.try_acquire_or_renew().await?,
        "the old leader learns it lost"
    );
    let lease = leases().get("ferrimq-operator").await?;
    assert_eq!(lease.spec.and_then(|s| s.lease_transitions), Some(1));
    Ok(())
}
