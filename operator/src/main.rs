//! The `ferrimq-operator` binary: serves `/metrics`, `/healthz` and `/readyz`, waits for the
//! leader Lease, then runs the `BrokerCluster` controller until shutdown or lost leadership.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use ferrimq_operator::broker_calls::RemotingCalls;
use ferrimq_operator::endpoints::{Metrics, serve};
use ferrimq_operator::lease::LeaseLock;
use ferrimq_operator::reconcile::{Context, run};
use ferrimq_operator::remote_admin::RemoteAdmin;
use ferrimq_operator::topics::TopicAdmin;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client};
use tracing::{info, warn};

/// Command line of the operator.
#[derive(Parser, Debug)]
#[command(version, about = "Kubernetes operator for ferrimq BrokerClusters")]
struct Args {
    /// Watch only this namespace (cluster-wide when absent).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Address of the metrics and health endpoints.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: String,
    /// Run without leader election (only safe with a single replica).
    #[arg(long)]
    no_leader_election: bool,
    /// Name of the leader Lease.
    #[arg(long, default_value = "ferrimq-operator")]
    lease_name: String,
    /// Namespace of the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Identity of this replica in the Lease.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease stays valid without renewal.
    #[arg(long, default_value_t = 15)]
    lease_duration: i32,
    /// Seconds to wait after lowering write queues before trusting a zero consumer lag.
    #[arg(long, default_value_t = 60)]
    drain_grace_seconds: i64,
    /// NameServers to use for every cluster instead of their in-cluster DNS names (for an
    /// operator running outside the cluster).
    #[arg(long, env = "FERRIMQ_NAMESRV_OVERRIDE")]
    namesrv_override: Option<String>,
    /// Seconds one broker or NameServer admin request may take.
    #[arg(long, default_value_t = 5)]
    admin_timeout: u64,
    /// Leave declared topics and group drains alone (no broker admin access at all).
    #[arg(long)]
    no_broker_admin: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("ferrimq-operator-{}", std::process::id()));
    let metrics = Arc::new(Metrics::default());
    let listener = tokio::net::TcpListener::bind(&args.metrics_addr)
        .await
        .with_context(|| format!("binding {}", args.metrics_addr))?;
    tokio::spawn(serve(listener, metrics.clone()));
    let client = Client::try_default()
        .await
        .context("building the Kubernetes client")?;
    let reporter = Reporter {
        controller: "ferrimq-operator".into(),
        instance: Some(identity.clone()),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        metrics: metrics.clone(),
        admin: broker_admin(&args),
        drain_grace_seconds: args.drain_grace_seconds,
    });
    if args.no_leader_election {
        metrics.set_leader(true);
        metrics.set_ready(true);
        run(ctx, args.namespace.as_deref()).await;
        return Ok(());
    }
    let lock = LeaseLock::new(
        Api::<Lease>::namespaced(client, &args.lease_namespace),
        &args.lease_name,
        &identity,
        args.lease_duration,
    );
    acquire(&lock, &metrics, &identity).await;
    metrics.set_leader(true);
    tokio::select! {
        _ = run(ctx, args.namespace.as_deref()) => Ok(()),
        lost = keep_leadership(&lock, args.lease_duration) => {
            metrics.set_leader(false);
            bail!("lost the leader Lease: {lost}")
        }
    }
}

/// The broker admin client of the controller, unless disabled.
fn broker_admin(args: &Args) -> Option<Arc<dyn TopicAdmin>> {
    if args.no_broker_admin {
        return None;
    }
    let calls = RemotingCalls::new(Duration::from_secs(args.admin_timeout.max(1)));
    Some(Arc::new(RemoteAdmin::new(
        Arc::new(calls),
        args.namesrv_override.clone(),
    )))
}

/// Retries until this replica holds the Lease; `/readyz` turns ready once the API answers.
async fn acquire(lock: &LeaseLock, metrics: &Metrics, identity: &str) {
    loop {
        match lock.try_acquire_or_renew().await {
            Ok(true) => {
                info!(identity, "acquired the leader Lease");
                metrics.set_ready(true);
                return;
            }
            Ok(false) => metrics.set_ready(true),
            Err(error) => warn!(%error, "leader election round failed"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Renews the Lease every third of its duration; returns why leadership was lost.
async fn keep_leadership(lock: &LeaseLock, duration_seconds: i32) -> String {
    let period = Duration::from_secs(u64::try_from(duration_seconds / 3).unwrap_or(1).max(1));
    let deadline = Duration::from_secs(u64::try_from(duration_seconds).unwrap_or(15));
    let mut last_renewal = Instant::now();
    loop {
        tokio::time::sleep(period).await;
        match lock.try_acquire_or_renew().await {
            Ok(true) => last_renewal = Instant::now(),
            Ok(false) => return "another replica holds it".to_string(),
            Err(error) => warn!(%error, "could not renew the leader Lease"),
        }
        if last_renewal.elapsed() >= deadline {
            return "no renewal within the Lease duration".to_string();
        }
    }
}
