//! `ferrimq broker -c broker.conf` (a broker registering with its NameServers) and
//! `ferrimq standalone` (a NameServer and a broker in one process, data in a local directory):
//! both run until SIGINT/SIGTERM, then shut down gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ferrimq_config::{BrokerConfig, NamesrvConfig, Properties};
use ferrimq_namesrv::NameServer;
use ferrimq_server::Broker;

use crate::namesrv_cmd::shutdown_signal;
use crate::runtime::{self, Role};

/// Arguments of `ferrimq broker`.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// A broker.conf with RocketMQ key names.
    #[arg(short = 'c', long = "config")]
    config: PathBuf,
}

/// Arguments of `ferrimq standalone`.
#[derive(Debug, Args)]
pub struct StandaloneArgs {
    /// Data directory (store, metadata, NameServer KV config).
    #[arg(long, default_value = "ferrimq-data")]
    dir: PathBuf,
    /// NameServer port.
    #[arg(long, default_value_t = 9876)]
    namesrv_port: u16,
    /// Broker port.
    #[arg(long, default_value_t = 10911)]
    broker_port: u16,
    /// Address advertised to clients (brokerIP1).
    #[arg(long, default_value = "127.0.0.1")]
    broker_ip: String,
}

/// Resolves broker.conf once, warning about unknown keys.
fn resolve(path: &std::path::Path) -> anyhow::Result<BrokerConfig> {
    let props = Properties::load(path).with_context(|| format!("reading {}", path.display()))?;
    let loaded =
        BrokerConfig::from_properties(&props).with_context(|| format!("in {}", path.display()))?;
    for key in &loaded.unknown_keys {
        tracing::warn!(key, file = %path.display(), "unknown broker key ignored");
    }
    Ok(loaded.config)
}

/// Runs a broker until a termination signal arrives.
pub fn run_broker(args: &BrokerArgs, io_threads: Option<usize>) -> anyhow::Result<()> {
    let config = resolve(&args.config)?;
    let runtime = runtime::build(Role::Server, io_threads)?;
    runtime.block_on(async move {
        let broker = Broker::start(config).await.context("starting the broker")?;
        shutdown_signal().await;
        tracing::info!("shutting down");
        broker.shutdown().await.context("stopping the broker")
    })
}

/// The broker configuration of `ferrimq standalone`. Unlike a Java broker (and `ferrimq broker`,
/// whose default stays `false`), it enables SQL92 property filters: a single-node development
/// broker should accept `MessageSelector.bySql` consumers without a config file.
fn standalone_config(args: &StandaloneArgs) -> anyhow::Result<BrokerConfig> {
    let text = format!(
        "brokerIP1={}\nlistenPort={}\nnamesrvAddr=127.0.0.1:{}\nstorePathRootDir={}\nautoCreateTopicEnable=true\nenablePropertyFilter=true\n",
        args.broker_ip,
        args.broker_port,
        args.namesrv_port,
        args.dir.join("store").display()
    );
    Ok(BrokerConfig::from_text(&text)
        .context("standalone broker settings")?
        .config)
}

/// Runs a NameServer and a broker in one process until a termination signal arrives.
pub fn run_standalone(args: &StandaloneArgs, io_threads: Option<usize>) -> anyhow::Result<()> {
    let broker_config = standalone_config(args)?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let namesrv_config = NamesrvConfig {
        listen_port: args.namesrv_port,
        kv_config_path: args.dir.join("namesrv").join("kvConfig.json"),
        ..NamesrvConfig::default()
    };
    let runtime = runtime::build(Role::Server, io_threads)?;
    runtime.block_on(async move {
        let namesrv = NameServer::start(namesrv_config)
            .await
            .context("starting the name server")?;
        let namesrv_addr: SocketAddr = namesrv.local_addr();
        let broker = Broker::start(broker_config)
            .await
            .context("starting the broker")?;
        tracing::info!(namesrv = %namesrv_addr, broker = %broker.broker_addr(), "standalone ready");
        shutdown_signal().await;
        tracing::info!("shutting down");
        let stopped = broker.shutdown().await.context("stopping the broker");
        namesrv.shutdown(Duration::from_secs(5)).await;
        stopped
    })
}
