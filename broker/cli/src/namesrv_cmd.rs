//! `ferrimq namesrv`: runs a NameServer until SIGINT/SIGTERM, then shuts down gracefully.
//! `-c namesrv.conf` takes RocketMQ's NamesrvConfig keys (listenPort, kvConfigPath, ...).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ferrimq_config::{NamesrvConfig, Properties};
use ferrimq_namesrv::NameServer;

/// Arguments of `ferrimq namesrv`.
#[derive(Debug, Args)]
pub struct NamesrvArgs {
    /// A namesrv.conf with RocketMQ key names.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Port to listen on (overrides listenPort; default 9876).
    #[arg(long)]
    listen_port: Option<u16>,
    /// Where KV config is persisted (overrides kvConfigPath).
    #[arg(long)]
    kv_config_path: Option<PathBuf>,
}

/// Resolves the config once: file, then command-line overrides.
fn resolve(args: &NamesrvArgs) -> anyhow::Result<NamesrvConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let props =
                Properties::load(path).with_context(|| format!("reading {}", path.display()))?;
            let loaded = NamesrvConfig::from_properties(&props)
                .with_context(|| format!("in {}", path.display()))?;
            for key in &loaded.unknown_keys {
                tracing::warn!(key, file = %path.display(), "unknown namesrv key ignored");
            }
            loaded.config
        }
        None => NamesrvConfig::default(),
    };
    if let Some(port) = args.listen_port {
        config.listen_port = port;
    }
    if let Some(path) = &args.kv_config_path {
        config.kv_config_path = path.clone();
    }
    Ok(config)
}

/// Runs the NameServer until a termination signal arrives.
pub fn run(args: &NamesrvArgs, io_threads: Option<usize>) -> anyhow::Result<()> {
    let config = resolve(args)?;
    let runtime = crate::runtime::build(crate::runtime::Role::Server, io_threads)?;
    runtime.block_on(async move {
        let namesrv = NameServer::start(config)
            .await
            .context("starting the name server")?;
        tracing::info!(addr = %namesrv.local_addr(), "name server listening");
        shutdown_signal().await;
        tracing::info!("shutting down");
        namesrv.shutdown(Duration::from_secs(5)).await;
        Ok(())
    })
}

/// Completes on SIGINT or SIGTERM (what Kubernetes sends).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; only Ctrl-C stops the process");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
