//! The operator's packaging: the Helm chart (`charts/ferrimq-operator`) lints and renders, its
//! CRD copy and `deploy/operator.yaml` do not drift from their sources, and the rendered chart,
//! the plain manifests and the samples pass `kubectl apply --server-side --dry-run=server`
//! against a real kube-apiserver (whose RBAC then grants the operator exactly what it uses).
//!
//! helm and kubectl come from `scripts/k8s-tools.sh` (kubectl falls back to the one on PATH).
//! Without them the tests print why and pass, unless `FERRIMQ_REQUIRE_K8S=1`.

mod control_plane;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context as _, bail};
use control_plane::{ControlPlane, bin_dir, eventually};
use serde::Deserialize;

const CRD_FILE: &str = "brokerclusters.ferrimq.io.yaml";
const OPERATOR_NS: &str = "ferrimq-system";
const SA: &str = "system:serviceaccount:ferrimq-system:ferrimq-operator";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart() -> PathBuf {
    repo().join("charts/ferrimq-operator")
}

/// The built tools directory, `None` (after printing why) when absent and not required.
fn tools(test: &str) -> anyhow::Result<Option<PathBuf>> {
    let found = bin_dir().and_then(|dir| match dir.join("helm").is_file() {
        true => Ok(dir),
        false => Err(format!(
            "{} is missing (run scripts/k8s-tools.sh)",
            dir.join("helm").display()
        )),
    });
    match found {
        Ok(dir) => Ok(Some(dir)),
        Err(reason) if std::env::var("FERRIMQ_REQUIRE_K8S").as_deref() != Ok("1") => {
            println!("skipping {test}: {reason}");
            Ok(None)
        }
        Err(reason) => bail!("FERRIMQ_REQUIRE_K8S=1 but {reason}"),
    }
}

/// kubectl of the same release as the API server when built, else the one on PATH.
fn kubectl(bin: &Path) -> PathBuf {
    let built = bin.join("kubectl");
    if built.is_file() {
        return built;
    }
    println!("using kubectl from PATH (scripts/k8s-tools.sh builds a matching one)");
    PathBuf::from("kubectl")
}

fn run(mut command: Command) -> anyhow::Result<Output> {
    let shown = format!("{command:?}");
    command.output().with_context(|| format!("running {shown}"))
}

/// Runs a command that must succeed; returns its stdout.
fn succeed(command: Command) -> anyhow::Result<String> {
    let shown = format!("{command:?}");
    let out = run(command)?;
    if !out.status.success() {
        bail!(
            "{shown} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn helm(bin: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(bin.join("helm"));
    command.args(args);
    command
}

/// `helm template` of the chart into `namespace` with extra `--set` values.
fn template(bin: &Path, namespace: &str, sets: &[&str]) -> anyhow::Result<String> {
    let chart = chart();
    let mut args = vec!["template", "ferrimq-operator", chart.to_str().unwrap()];
    args.extend(["--namespace", namespace, "--kube-version", "1.36.3"]);
    for set in sets {
        args.extend(["--set", set]);
    }
    succeed(helm(bin, &args))
}

#[derive(Debug, Deserialize)]
struct Meta {
    name: String,
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Object {
    kind: String,
    metadata: Meta,
}

/// `kind/namespace/name` of every document of a multi-document YAML stream.
fn objects(yaml: &str) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for document in serde_norway::Deserializer::from_str(yaml) {
        let value = serde_norway::Value::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        let object: Object = serde_norway::from_value(value)?;
        let ns = object.metadata.namespace.unwrap_or_default();
        found.push(format!("{}/{}/{}", object.kind, ns, object.metadata.name));
    }
    Ok(found)
}

#[test]
fn chart_crd_is_the_generated_crd() {
    let generated = std::fs::read(repo().join("crds").join(CRD_FILE)).expect("crds/ file");
    let in_chart = std::fs::read(chart().join("crds").join(CRD_FILE)).expect("chart crds/ file");
    assert!(
        generated == in_chart,
        "charts/ferrimq-operator/crds/{CRD_FILE} differs from crds/{CRD_FILE}: run scripts/manifests.sh"
    );
}

#[test]
fn helm_lint_passes_for_both_watch_scopes() -> anyhow::Result<()> {
    let Some(bin) = tools("helm lint")? else {
        return Ok(());
    };
    let chart = chart();
    let chart = chart.to_str().unwrap();
    for extra in [&[][..], &["--set", "watch.scope=namespace"][..]] {
        let mut args = vec!["lint", "--strict", chart];
        args.extend(extra);
        let out = succeed(helm(&bin, &args))?;
        assert!(
            out.contains("1 chart(s) linted, 0 chart(s) failed"),
            "{out}"
        );
    }
    // values.schema.json rejects an unknown scope (the template's `fail` is only an INFO to lint).
    let out = run(helm(&bin, &["lint", chart, "--set", "watch.scope=galaxy"]))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("value must be one of 'cluster', 'namespace'"),
        "{stdout}"
    );
    assert!(
        !out.status.success(),
        "an unknown watch scope must fail the lint"
    );
    Ok(())
}

#[test]
fn default_render_is_cluster_wide_with_a_namespaced_lease_role() -> anyhow::Result<()> {
    let Some(bin) = tools("helm template")? else {
        return Ok(());
    };
    let rendered = template(&bin, OPERATOR_NS, &[])?;
    let names = objects(&rendered)?;
    let expected = [
        "ServiceAccount/ferrimq-system/ferrimq-operator",
        "ClusterRole//ferrimq-operator",
        "ClusterRoleBinding//ferrimq-operator",
        "Role/ferrimq-system/ferrimq-operator-leader-election",
        "RoleBinding/ferrimq-system/ferrimq-operator-leader-election",
        "Service/ferrimq-system/ferrimq-operator-metrics",
        "Deployment/ferrimq-system/ferrimq-operator",
    ];
    assert_eq!(names, expected);
    assert!(!rendered.contains("WATCH_NAMESPACE"));
    assert!(rendered.contains("replicas: 2"));
    assert!(rendered.contains("readOnlyRootFilesystem: true"));
    assert!(rendered.contains("runAsNonRoot: true"));
    assert!(
        !rendered.contains("\"pods\""),
        "the operator never reads pods"
    );
    assert!(
        !rendered.contains("secrets"),
        "the operator never reads secrets"
    );
    Ok(())
}

#[test]
fn namespace_scoped_render_has_no_cluster_roles() -> anyhow::Result<()> {
    let Some(bin) = tools("helm template")? else {
        return Ok(());
    };
    let sets = ["watch.scope=namespace", "watch.namespace=mq"];
    let rendered = template(&bin, "ops", &sets)?;
    let names = objects(&rendered)?;
    let expected = [
        "ServiceAccount/ops/ferrimq-operator",
        "Role/mq/ferrimq-operator",
        "Role/ops/ferrimq-operator-leader-election",
        "RoleBinding/mq/ferrimq-operator",
        "RoleBinding/ops/ferrimq-operator-leader-election",
        "Service/ops/ferrimq-operator-metrics",
        "Deployment/ops/ferrimq-operator",
    ];
    assert_eq!(names, expected);
    assert!(rendered.contains("- name: WATCH_NAMESPACE\n              value: \"mq\""));
    let single = template(
        &bin,
        "ops",
        &["leaderElection.enabled=false", "replicaCount=1"],
    )?;
    assert!(single.contains("--no-leader-election"));
    assert!(
        !objects(&single)?
            .iter()
            .any(|o| o.contains("leader-election"))
    );
    let unsafe_pair = ["leaderElection.enabled=false", "replicaCount=2"];
    assert!(
        template(&bin, "ops", &unsafe_pair).is_err(),
        "2 replicas need leader election"
    );
    Ok(())
}

#[test]
fn deploy_manifests_are_the_default_chart_render() -> anyhow::Result<()> {
    let Some(bin) = tools("the deploy/ drift check")? else {
        return Ok(());
    };
    let mut command = Command::new("bash");
    command
        .arg(repo().join("scripts/manifests.sh"))
        .arg("--stdout");
    command.env("HELM", bin.join("helm"));
    let rendered = succeed(command)?;
    let committed = std::fs::read_to_string(repo().join("deploy/operator.yaml"))?;
    assert!(
        rendered == committed,
        "deploy/operator.yaml is stale: run scripts/manifests.sh"
    );
    Ok(())
}

/// kubectl against the test API server.
struct Kubectl {
    program: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        command
    }

    fn apply(&self, file: &Path, dry_run: bool, namespace: Option<&str>) -> anyhow::Result<Output> {
        let mut args = vec!["apply", "--server-side", "--field-manager=packaging-test"];
        if dry_run {
            args.push("--dry-run=server");
        }
        if let Some(ns) = namespace {
            args.extend(["--namespace", ns]);
        }
        let mut command = self.command(&args);
        command.arg("-f").arg(file);
        run(command)
    }

    fn apply_ok(
        &self,
        file: &Path,
        dry_run: bool,
        namespace: Option<&str>,
    ) -> anyhow::Result<String> {
        let out = self.apply(file, dry_run, namespace)?;
        if !out.status.success() {
            bail!(
                "apply of {} failed: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// `kubectl auth can-i <request> --namespace <ns>` as the operator's ServiceAccount, where
    /// `request` is `verb resource[/name] [--subresource=x]`.
    fn operator_can(&self, request: &str, namespace: &str) -> anyhow::Result<bool> {
        self.can(SA, request, namespace)
    }

    /// `kubectl auth can-i <request> --namespace <ns>` as `user`.
    fn can(&self, user: &str, request: &str, namespace: &str) -> anyhow::Result<bool> {
        let mut args = vec!["auth", "can-i"];
        args.extend(request.split_whitespace());
        args.extend(["--namespace", namespace, "--as", user]);
        let out = run(self.command(&args))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim() == "yes")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_manifests_and_samples_pass_server_side_dry_run() -> anyhow::Result<()> {
    let Some(bin) = tools("the kubectl dry-run test")? else {
        return Ok(());
    };
    let plane = ControlPlane::start(&bin)?;
    plane.client().await?;
    let kubectl = Kubectl {
        program: kubectl(&bin),
        kubeconfig: plane.kubeconfig_path(),
    };
    let scratch = tempfile::tempdir()?;
    for ns in [OPERATOR_NS, "mq", "ops"] {
        succeed(kubectl.command(&["create", "namespace", ns]))?;
    }
    let manifests = repo().join("deploy/operator.yaml");
    let out = kubectl.apply_ok(&manifests, true, None)?;
    assert_all_dry_run(&out, 9);
    assert!(
        out.contains("deployment.apps/ferrimq-operator serverside-applied (server dry run)"),
        "{out}"
    );
    for (name, ns, sets) in [
        ("default.yaml", OPERATOR_NS, &[][..]),
        (
            "namespaced.yaml",
            "ops",
            &["watch.scope=namespace", "watch.namespace=mq"][..],
        ),
    ] {
        let file = scratch.path().join(name);
        std::fs::write(&file, template(&bin, ns, sets)?)?;
        let out = kubectl.apply_ok(&file, true, None)?;
        assert_all_dry_run(&out, 7);
    }
    // For real now: the samples need the CRD, and RBAC can then be asked.
    kubectl.apply_ok(&manifests, false, None)?;
    helm_install_namespaced(&bin, &kubectl)?;
    samples_dry_run(&kubectl).await?;
    operator_rbac_is_least_privilege(&kubectl)?;
    namespaced_operator_stays_in_its_namespace(&kubectl)
}

/// `helm install` of the namespace-scoped variant (release in `ops`, watching `mq`) for real;
/// the CRD from the chart's `crds/` already exists and is left alone.
fn helm_install_namespaced(bin: &Path, kubectl: &Kubectl) -> anyhow::Result<()> {
    let chart = chart();
    let kubeconfig = kubectl.kubeconfig.to_str().unwrap();
    let args = [
        "install",
        "ferrimq-operator",
        chart.to_str().unwrap(),
        "--namespace",
        "ops",
        "--kubeconfig",
        kubeconfig,
        "--set",
        "watch.scope=namespace",
        "--set",
        "watch.namespace=mq",
    ];
    let out = succeed(helm(bin, &args))?;
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert!(
        out.contains("It watches BrokerClusters in namespace mq only."),
        "{out}"
    );
    Ok(())
}

/// Every line of a dry-run apply's output reports one object, `count` in all.
fn assert_all_dry_run(out: &str, count: usize) {
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), count, "{out}");
    for line in lines {
        assert!(
            line.ends_with(" serverside-applied (server dry run)"),
            "{line}"
        );
    }
}

/// The namespace-scoped render (release in `ops`, watching `mq`) grants nothing elsewhere.
fn namespaced_operator_stays_in_its_namespace(kubectl: &Kubectl) -> anyhow::Result<()> {
    let sa = "system:serviceaccount:ops:ferrimq-operator";
    let cases = [
        ("watch brokerclusters.ferrimq.io", "mq", true),
        ("patch statefulsets.apps", "mq", true),
        (
            "update leases.coordination.k8s.io/ferrimq-operator",
            "ops",
            true,
        ),
        ("watch brokerclusters.ferrimq.io", "other", false),
        ("patch statefulsets.apps", "ops", false),
        ("list configmaps", OPERATOR_NS, false),
        (
            "update leases.coordination.k8s.io/ferrimq-operator",
            "mq",
            false,
        ),
    ];
    for (request, ns, expected) in cases {
        let allowed = kubectl.can(sa, request, ns)?;
        assert_eq!(allowed, expected, "{sa}: {request} in {ns}");
    }
    Ok(())
}

async fn samples_dry_run(kubectl: &Kubectl) -> anyhow::Result<()> {
    let samples = repo().join("deploy/samples");
    let valid = samples.join("brokercluster.yaml");
    // The CRD just created needs a moment before its kind is served.
    let out = eventually(
        "the BrokerCluster kind to be served",
        Duration::from_secs(60),
        || {
            let out = kubectl.apply_ok(&valid, true, Some("mq"));
            async move { Ok(Some(out?)) }
        },
    )
    .await?;
    assert_eq!(
        out.trim(),
        "brokercluster.ferrimq.io/demo serverside-applied (server dry run)"
    );
    // Schema-valid; the operator, not the API server, reports its problems as a condition.
    let out = kubectl.apply_ok(
        &samples.join("brokercluster-invalid.yaml"),
        true,
        Some("mq"),
    )?;
    assert_eq!(
        out.trim(),
        "brokercluster.ferrimq.io/invalid serverside-applied (server dry run)"
    );
    let out = kubectl.apply(
        &samples.join("brokercluster-rejected.yaml"),
        true,
        Some("mq"),
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the rejected sample was accepted");
    assert!(
        stderr.contains("The BrokerCluster \"rejected\" is invalid"),
        "{stderr}"
    );
    // Both CEL rules of the sample are reported.
    assert!(
        stderr.contains("SYNC_MASTER needs slavesPerGroup >= 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("set either queues or both readQueueNums and writeQueueNums"),
        "{stderr}"
    );
    Ok(())
}

fn operator_rbac_is_least_privilege(kubectl: &Kubectl) -> anyhow::Result<()> {
    let granted = [
        ("watch brokerclusters.ferrimq.io", "mq"),
        ("patch brokerclusters.ferrimq.io --subresource=status", "mq"),
        (
            "update brokerclusters.ferrimq.io --subresource=finalizers",
            "mq",
        ),
        ("patch statefulsets.apps", "mq"),
        ("create configmaps", "mq"),
        ("delete services", "mq"),
        ("watch poddisruptionbudgets.policy", "other"),
        ("deletecollection persistentvolumeclaims", "mq"),
        ("create events.events.k8s.io", "mq"),
        ("create leases.coordination.k8s.io", OPERATOR_NS),
        (
            "update leases.coordination.k8s.io/ferrimq-operator",
            OPERATOR_NS,
        ),
    ];
    for (request, ns) in granted {
        let allowed = kubectl.operator_can(request, ns)?;
        assert!(allowed, "the operator cannot {request} in {ns}");
    }
    let denied = [
        ("get secrets", "mq"),
        ("list pods", "mq"),
        ("delete brokerclusters.ferrimq.io", "mq"),
        (
            "update brokerclusters.ferrimq.io --subresource=status",
            "mq",
        ),
        ("update statefulsets.apps", "mq"),
        ("delete persistentvolumeclaims", "mq"),
        (
            "update leases.coordination.k8s.io/someone-else",
            OPERATOR_NS,
        ),
        ("get leases.coordination.k8s.io/ferrimq-operator", "mq"),
        (
            "create customresourcedefinitions.apiextensions.k8s.io",
            "default",
        ),
    ];
    for (request, ns) in denied {
        let allowed = kubectl.operator_can(request, ns)?;
        assert!(!allowed, "the operator may {request} in {ns}");
    }
    Ok(())
}
