//! `ferrimq admin broker runtime`: the key/value runtime table of one broker
//! (GET_BROKER_RUNTIME_INFO), like `mqadmin brokerStatus`.

use anyhow::Context;
use clap::Subcommand;
use ferrimq_client::Admin;
use serde_json::json;

use super::check_host_port;
use super::output::{Format, Table};

/// Broker commands.
#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// Runtime information (versions, offsets, store statistics) of one broker.
    Runtime {
        /// Broker address "host:port".
        #[arg(long, short = 'b')]
        broker: String,
    },
}

/// Runs a broker command.
pub async fn run(admin: &Admin, format: Format, cmd: BrokerCommand) -> anyhow::Result<()> {
    let BrokerCommand::Runtime { broker } = cmd;
    check_host_port(&broker).context("bad --broker")?;
    let table_kv = admin
        .broker_runtime_info(&broker)
        .await
        .with_context(|| format!("reading the runtime info of broker {broker}"))?;
    let mut table = Table::new(["KEY", "VALUE"]);
    for (k, v) in &table_kv {
        table.row([k, v]);
    }
    format.print(&table, &json!(table_kv));
    Ok(())
}
