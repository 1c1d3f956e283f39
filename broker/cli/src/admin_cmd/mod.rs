//! `ferrimq admin`: mqadmin-style administration over the remoting protocol, built on
//! `ferrimq_client::Admin`. Each concept has its own module (cluster, topic, group, consumer,
//! message, dlq, broker); this module owns the command tree, the name-server connection shared
//! with `produce` / `consume`, and the broker targeting (`--cluster` or `--broker`).
//!
//! Output is an aligned table by default and one JSON document with `--json`; every failure ends
//! the process with a message naming what went wrong and a non-zero exit status.

mod broker;
mod cluster;
mod consumer;
mod dlq;
mod group;
pub mod message;
pub mod output;
mod topic;

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ferrimq_client::{Admin, Session, SessionConfig};

use output::Format;

/// Where the name servers are and how to print.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Name server address(es), "host:port", several separated by ';' (like mqadmin -n).
    #[arg(
        long,
        short = 'n',
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876",
        global = true
    )]
    pub namesrv: String,
    /// Print JSON instead of tables, for scripts (one document; `consume`: one object per line).
    #[arg(long, global = true)]
    pub json: bool,
}

impl ConnectArgs {
    /// The name-server list, each entry checked to be "host:port".
    pub fn namesrv_addrs(&self) -> anyhow::Result<Vec<String>> {
        let addrs: Vec<String> = self
            .namesrv
            .split(';')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if addrs.is_empty() {
            bail!("--namesrv is empty: give host:port (or set NAMESRV_ADDR)");
        }
        for addr in &addrs {
            check_host_port(addr).with_context(|| format!("bad --namesrv {:?}", self.namesrv))?;
        }
        Ok(addrs)
    }

    /// A client session on the name servers.
    pub fn session(&self) -> anyhow::Result<Arc<Session>> {
        Ok(Session::new(SessionConfig::new(self.namesrv_addrs()?)))
    }

    /// Table or JSON.
    pub fn format(&self) -> Format {
        Format::from_flag(self.json)
    }
}

/// Checks "host:port" with a numeric port.
pub fn check_host_port(addr: &str) -> anyhow::Result<()> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        bail!("{addr:?} is not host:port");
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        bail!("{addr:?} is not host:port (port 1-65535)");
    }
    Ok(())
}

/// Runs `work` to completion on a fresh single-threaded runtime.
pub fn block_on<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(work)
}

/// `ferrimq admin`: cluster, topic, group, consumer, message, DLQ and broker administration.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  ferrimq admin -n 127.0.0.1:9876 cluster list
  ferrimq admin topic create --topic Orders --cluster DefaultCluster --read-queues 8 --write-queues 8
  ferrimq admin topic status --topic Orders --json
  ferrimq admin consumer progress --group OrdersGroup
  ferrimq admin message by-key --topic Orders --key order-42
  ferrimq admin dlq redrive --group OrdersGroup --max 100")]
pub struct AdminArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Clusters and their brokers.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Create, update, list, inspect and delete topics.
    #[command(subcommand)]
    Topic(topic::TopicCommand),
    /// Create, update and delete subscription (consumer) groups.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Consumer-group progress (lag) and online connections.
    #[command(subcommand)]
    Consumer(consumer::ConsumerCommand),
    /// Find messages by id, key, unique key or store time.
    #[command(subcommand)]
    Message(message::MessageCommand),
    /// Dead-letter queues: move messages back into circulation.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Broker runtime information.
    #[command(subcommand)]
    Broker(broker::BrokerCommand),
}

/// Runs one `ferrimq admin` command.
pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let session = args.connect.session()?;
    let admin = Admin::new(Arc::clone(&session));
    let format = args.connect.format();
    let outcome = block_on(async {
        match args.command {
            AdminCommand::Cluster(cmd) => cluster::run(&admin, format, cmd).await,
            AdminCommand::Topic(cmd) => topic::run(&admin, format, cmd).await,
            AdminCommand::Group(cmd) => group::run(&admin, format, cmd).await,
            AdminCommand::Consumer(cmd) => consumer::run(&admin, format, cmd).await,
            AdminCommand::Message(cmd) => message::run(&admin, format, cmd).await,
            AdminCommand::Dlq(cmd) => dlq::run(&admin, format, cmd).await,
            AdminCommand::Broker(cmd) => broker::run(&admin, format, cmd).await,
        }
    });
    session.shutdown();
    outcome
}

/// The brokers a write goes to: every master of a cluster, or one broker by address.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// Every master broker of this cluster.
    #[arg(long, short = 'c')]
    cluster: Option<String>,
    /// One broker, by address "host:port".
    #[arg(long, short = 'b')]
    broker: Option<String>,
}

impl Target {
    /// (broker name, address) of every targeted broker. A `--broker` address unknown to the
    /// name servers is still used, named by its address.
    pub async fn brokers(&self, admin: &Admin) -> anyhow::Result<Vec<(String, String)>> {
        if let Some(cluster) = &self.cluster {
            let masters = admin
                .cluster_masters(cluster)
                .await
                .with_context(|| format!("finding the masters of cluster {cluster}"))?;
            return Ok(masters.into_iter().collect());
        }
        let addr = self.broker.clone().unwrap_or_default();
        check_host_port(&addr).context("bad --broker")?;
        let info = admin
            .cluster_info()
            .await
            .context("reading the cluster info")?;
        let name = info
            .broker_addr_table
            .values()
            .find(|b| b.broker_addrs.values().any(|a| *a == addr))
            .map_or_else(|| addr.clone(), |b| b.broker_name.clone());
        Ok(vec![(name, addr)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_servers_must_be_host_port() {
        assert!(check_host_port("127.0.0.1:9876").is_ok());
        assert!(check_host_port("ns.example:1").is_ok());
        for bad in ["localhost", ":9876", "h:", "h:99999", "h:x"] {
            assert!(check_host_port(bad).is_err(), "{bad}");
        }
        let args = |namesrv: &str| ConnectArgs {
            namesrv: namesrv.to_owned(),
            json: false,
        };
        assert_eq!(args("a:1; b:2;").namesrv_addrs().unwrap(), ["a:1", "b:2"]);
        assert!(args(" ; ").namesrv_addrs().is_err());
        assert!(args("a:1;b").namesrv_addrs().is_err());
    }
}
