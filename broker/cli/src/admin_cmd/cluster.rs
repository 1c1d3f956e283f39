//! `ferrimq admin cluster list`: clusters, their brokers and broker addresses as the name
//! servers know them (GET_BROKER_CLUSTER_INFO), like `mqadmin clusterList`.

use anyhow::Context;
use clap::Subcommand;
use ferrimq_client::Admin;
use serde_json::json;

use super::output::{Format, Table};

/// Cluster commands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// One row per broker instance: cluster, broker name, broker id (0 = master), address.
    List,
}

/// Runs a cluster command.
pub async fn run(admin: &Admin, format: Format, cmd: ClusterCommand) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::List => list(admin, format).await,
    }
}

async fn list(admin: &Admin, format: Format) -> anyhow::Result<()> {
    let info = admin
        .cluster_info()
        .await
        .context("reading the cluster info from the name server")?;
    let mut table = Table::new(["CLUSTER", "BROKER", "ID", "ADDRESS"]);
    let mut rows = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        for name in names {
            let Some(data) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, addr) in &data.broker_addrs {
                table.row([cluster.as_str(), name, &id.to_string(), addr]);
                rows.push(
                    json!({"cluster": cluster, "broker": name, "brokerId": id, "addr": addr}),
                );
            }
        }
    }
    format.print(&table, &json!(rows));
    Ok(())
}
