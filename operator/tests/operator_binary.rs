//! Two `ferrimq-operator` processes against one real kube-apiserver: exactly one leads (per
//! `/metrics`), both answer `/healthz` and `/readyz`, and when the leader dies the other takes
//! over and reconciles. Skipped like `tests/apiserver.rs` when the binaries are absent.

mod control_plane;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use control_plane::{ControlPlane, bin_dir, eventually, free_port};
use ferrimq_operator::crd::BrokerCluster;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, CustomResourceExt, ResourceExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(60);

struct Operator {
    child: Child,
    port: u16,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(plane: &ControlPlane, identity: &str) -> anyhow::Result<Operator> {
    let port = free_port()?;
    let child = Command::new(env!("CARGO_BIN_EXE_ferrimq-operator"))
        .env("KUBECONFIG", plane.kubeconfig_path())
        .env("RUST_LOG", "warn")
        .args([
            "--identity",
            identity,
            "--lease-namespace",
            "default",
            "--lease-duration",
            "3",
        ])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting ferrimq-operator")?;
    Ok(Operator { child, port })
}

/// Status code and body of `GET path`.
async fn get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let code = response.get(9..12).context("status line")?.parse()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

async fn is_leader(op: &Operator) -> anyhow::Result<bool> {
    let (_, body) = get(op.port, "/metrics").await?;
    Ok(body.contains("\nferrimq_operator_leader 1\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_operator_processes_leads_and_the_other_takes_over() -> anyhow::Result<()> {
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
    let crd = BrokerCluster::crd();
    Api::<CustomResourceDefinition>::all(client.clone())
        .patch(
            &crd.name_any(),
            &PatchParams::apply("test").force(),
            &Patch::Apply(&crd),
        )
        .await?;

    let a = spawn(&plane, "a")?;
    let b = spawn(&plane, "b")?;
    for op in [&a, &b] {
        eventually("/readyz to answer 200", WAIT, || async {
            Ok((get(op.port, "/readyz").await?.0 == 200).then_some(()))
        })
        .await?;
        assert_eq!(get(op.port, "/healthz").await?, (200, "ok\n".to_string()));
    }
    eventually("a leader", WAIT, || async {
        Ok((is_leader(&a).await? || is_leader(&b).await?).then_some(()))
    })
    .await?;
    let (leader, follower) = if is_leader(&a).await? { (a, b) } else { (b, a) };
    assert!(!is_leader(&follower).await?, "two leaders at once");

    drop(leader);
    eventually("the follower to take over", WAIT, || async {
        Ok(is_leader(&follower).await?.then_some(()))
    })
    .await?;

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/samples/brokercluster.yaml");
    let cluster: BrokerCluster = serde_norway::from_str(&std::fs::read_to_string(path)?)?;
    Api::<BrokerCluster>::namespaced(client.clone(), "default")
        .patch(
            "demo",
            &PatchParams::apply("test").force(),
            &Patch::Apply(&cluster),
        )
        .await?;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    eventually("the new leader to reconcile", WAIT, || async {
        Ok((sets.list(&ListParams::default()).await?.items.len() == 5).then_some(()))
    })
    .await?;
    let (_, metrics) = get(follower.port, "/metrics").await?;
    assert!(
        !metrics.contains("ferrimq_operator_reconciles_total 0\n"),
        "{metrics}"
    );
    Ok(())
}
