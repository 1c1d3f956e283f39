//! The `ferrimq` binary: one executable for every ferrimq role and tool.
//!
//! Subcommands today: `namesrv` (a NameServer), `broker` (a broker from broker.conf),
//! `standalone` (NameServer + broker in one process) and `store` (demo, inspect, dump of a store
//! directory — ferrimq's or the Java broker's). The admin tools arrive later.

mod broker_cmd;
mod namesrv_cmd;
mod store_cmd;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// ferrimq: a RocketMQ-compatible message broker.
#[derive(Debug, Parser)]
#[command(name = "ferrimq", version, about, long_about = None)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a NameServer (routes, broker registry, KV config).
    Namesrv(namesrv_cmd::NamesrvArgs),
    /// Run a broker configured by a broker.conf (RocketMQ keys).
    Broker(broker_cmd::BrokerArgs),
    /// Run a NameServer and a broker in one process, data in a local directory.
    Standalone(broker_cmd::StandaloneArgs),
    /// Work with a message store directory (CommitLog, ConsumeQueues, IndexFiles).
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match cli.command {
        Command::Namesrv(args) => namesrv_cmd::run(&args),
        Command::Broker(args) => broker_cmd::run_broker(&args),
        Command::Standalone(args) => broker_cmd::run_standalone(&args),
        Command::Store(cmd) => store_cmd::run(cmd),
    }
}

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
