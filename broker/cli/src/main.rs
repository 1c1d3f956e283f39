//! The `ferrimq` binary: one executable for every ferrimq role and tool.
//!
//! Subcommands today: `namesrv` (a NameServer), `broker` (a broker from broker.conf),
//! `standalone` (NameServer + broker in one process) and `store` (demo, inspect, dump of a store
//! directory — ferrimq's or the Java broker's), `admin` (mqadmin-style administration), `produce`
//! and `consume`.

mod admin_cmd;
mod bench_cmd;
mod broker_cmd;
mod consume_cmd;
mod namesrv_cmd;
mod probe_cmd;
mod produce_cmd;
mod runtime;
mod store_cmd;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc malloc: the per-message path allocates many small, short-lived
/// buffers across threads, where glibc malloc/free cost ~10-20% of CPU in perf profiles.
#[cfg(not(target_env = "musl"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ferrimq: a RocketMQ-compatible message broker.
#[derive(Debug, Parser)]
#[command(name = "ferrimq", version, about, long_about = None)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    /// Tokio worker threads of namesrv, broker, standalone and bench (default: all cores but
    /// one for servers, half the cores for bench; TOKIO_WORKER_THREADS when set).
    #[arg(long, global = true, value_name = "N")]
    io_threads: Option<usize>,
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
    /// Administer clusters, topics, groups, consumers, messages and DLQs (like mqadmin).
    Admin(admin_cmd::AdminArgs),
    /// Send messages to a topic.
    Produce(produce_cmd::ProduceArgs),
    /// Read messages of a topic as a consumer group.
    Consume(consume_cmd::ConsumeArgs),
    /// Load generator: produce, consume and end-to-end benchmarks against any RocketMQ broker.
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
    /// Exit 0 when a local broker or NameServer answers a real request (Kubernetes exec probe).
    Probe(probe_cmd::ProbeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let tool = matches!(
        cli.command,
        Command::Admin(_)
            | Command::Produce(_)
            | Command::Consume(_)
            | Command::Bench(_)
            | Command::Probe(_)
    );
    init_logging(cli.log_json, if tool { "warn" } else { "info" });
    match cli.command {
        Command::Namesrv(args) => namesrv_cmd::run(&args, cli.io_threads),
        Command::Broker(args) => broker_cmd::run_broker(&args, cli.io_threads),
        Command::Standalone(args) => broker_cmd::run_standalone(&args, cli.io_threads),
        Command::Store(cmd) => store_cmd::run(cmd),
        Command::Admin(args) => admin_cmd::run(args),
        Command::Produce(args) => produce_cmd::run(args),
        Command::Consume(args) => consume_cmd::run(args),
        Command::Bench(cmd) => bench_cmd::run(cmd, cli.io_threads),
        Command::Probe(args) => probe_cmd::run(&args),
    }
}

fn init_logging(json: bool, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
