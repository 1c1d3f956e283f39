//! A throw-away Kubernetes control plane for tests: etcd, kube-apiserver and (when built)
//! kube-controller-manager with its StatefulSet, garbage-collector and ServiceAccount
//! controllers, on loopback, built by `scripts/k8s-tools.sh`. There is no scheduler or kubelet:
//! Pods are created but never run. Processes are killed when the [`ControlPlane`] drops.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};

const TOKEN: &str = "ferrimq-test-token";

/// Directory holding `etcd` and `kube-apiserver`, or why there is none.
pub fn bin_dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("FERRIMQ_K8S_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let output = Command::new("bash")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/k8s-tools.sh"))
                .arg("--print-bin-dir")
                .output()
                .map_err(|e| format!("cannot run scripts/k8s-tools.sh: {e}"))?;
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        }
    };
    for tool in ["etcd", "kube-apiserver"] {
        if !dir.join(tool).is_file() {
            return Err(format!(
                "{} is missing (run scripts/k8s-tools.sh)",
                dir.join(tool).display()
            ));
        }
    }
    Ok(dir)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Running etcd, kube-apiserver and (when built) kube-controller-manager.
pub struct ControlPlane {
    children: Vec<Child>,
    port: u16,
    _dir: tempfile::TempDir,
}

fn kubeconfig(port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: t\n  user:\n    token: {TOKEN}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: t\ncurrent-context: t\n"
    )
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver from `bin`, with logs in the temp dir.
    pub fn start(bin: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (etcd_port, peer_port, port) = (free_port()?, free_port()?, free_port()?);
        let root = dir.path().to_path_buf();
        let log = |name: &str| -> anyhow::Result<Stdio> {
            Ok(std::fs::File::create(root.join(name))?.into())
        };
        let etcd = Command::new(bin.join("etcd"))
            .arg(format!("--data-dir={}", dir.path().join("etcd").display()))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"))
            .arg(format!(
                "--advertise-client-urls=http://127.0.0.1:{etcd_port}"
            ))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"
            ))
            .arg(format!(
                "--initial-cluster=default=http://127.0.0.1:{peer_port}"
            ))
            .stdout(log("etcd.log")?)
            .stderr(log("etcd.err")?)
            .spawn()
            .context("starting etcd")?;
        let mut plane = Self {
            children: vec![etcd],
            port,
            _dir: dir,
        };
        let dir = root.clone();
        let key = dir.join("sa.key");
        let status = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048")
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("openssl genrsa failed");
        }
        std::fs::write(
            dir.join("tokens.csv"),
            format!("{TOKEN},admin,admin,\"system:masters\"\n"),
        )?;
        let apiserver = Command::new(bin.join("kube-apiserver"))
            .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--cert-dir={}", dir.join("certs").display()))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!("--service-account-key-file={}", key.display()))
            .arg(format!(
                "--service-account-signing-key-file={}",
                key.display()
            ))
            .arg(format!(
                "--token-auth-file={}",
                dir.join("tokens.csv").display()
            ))
            .arg("--authorization-mode=RBAC")
            .arg("--service-cluster-ip-range=10.96.0.0/24")
            .arg("--allow-privileged=true")
            .stdout(log("apiserver.log")?)
            .stderr(log("apiserver.err")?)
            .spawn()
            .context("starting kube-apiserver")?;
        plane.children.push(apiserver);
        std::fs::write(dir.join("kubeconfig"), kubeconfig(port))?;
        if bin.join("kube-controller-manager").is_file() {
            let manager = Command::new(bin.join("kube-controller-manager"))
                .arg(format!("--kubeconfig={}", dir.join("kubeconfig").display()))
                .arg("--leader-elect=false")
                .arg("--secure-port=0")
                .arg("--controllers=statefulset-controller,garbage-collector-controller,serviceaccount-controller")
                .stdout(log("controller-manager.log")?)
                .stderr(log("controller-manager.err")?)
                .spawn()
                .context("starting kube-controller-manager")?;
            plane.children.push(manager);
        }
        Ok(plane)
    }

    /// Path of a kubeconfig file (admin token, TLS verification off) for this API server.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self._dir.path().join("kubeconfig")
    }

    /// Whether kube-controller-manager runs (StatefulSets get Pods and claims, GC works).
    pub fn has_controller_manager(&self) -> bool {
        self.children.len() == 3
    }

    /// Tail of the API server's log, for failure messages.
    pub fn apiserver_log_tail(&self) -> String {
        self.log_tail("apiserver.err")
    }

    /// Last 20 lines of one of the logs.
    pub fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self._dir.path().join(name)).unwrap_or_default();
        text.lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A client for the API server, once it answers (up to 90 s).
    pub async fn client(&self) -> anyhow::Result<Client> {
        let config = kube::Config::from_custom_kubeconfig(
            Kubeconfig::from_yaml(&kubeconfig(self.port))?,
            &KubeConfigOptions::default(),
        )
        .await?;
        let client = Client::try_from(config)?;
        // Serving starts before the bootstrap controller has created the `default` namespace.
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let up = eventually(
            "the API server and its default namespace",
            Duration::from_secs(90),
            || async { Ok(namespaces.get_opt("default").await?.map(|_| ())) },
        )
        .await;
        up.map_err(|e| e.context(self.apiserver_log_tail()))?;
        Ok(client)
    }
}

/// Polls `check` every 250 ms until it yields a value or `timeout` passes.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = String::new();
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = e.to_string(),
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what} (last error: {last_error})");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
