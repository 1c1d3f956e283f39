//! `ferrimq admin group ...`: create/update a subscription group (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
//! and delete one (DELETE_SUBSCRIPTIONGROUP plus its `%RETRY%` and `%DLQ%` topics), like mqadmin's
//! updateSubGroup / deleteSubGroup.
//!
//! As with `mqadmin updateSubGroup`, create and update both write a whole config: the defaults
//! overridden by the flags given.

use anyhow::Context;
use clap::{Args, Subcommand};
use ferrimq_client::Admin;
use ferrimq_config::SubscriptionGroupConfig;
use ferrimq_config::topic::{dlq_topic, retry_topic};
use serde_json::json;

use super::Target;
use super::output::{Format, Table};

/// Group commands.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a subscription group on every master of a cluster (or on one broker).
    #[command(
        after_help = "Example:\n  ferrimq admin group create --group OrdersGroup --cluster DefaultCluster --retry-max 3"
    )]
    Create(GroupWrite),
    /// Rewrite a subscription group (same flags and defaults as create).
    Update(GroupWrite),
    /// Delete a group from every master of a cluster, with its %RETRY% and %DLQ% topics.
    #[command(
        after_help = "Example:\n  ferrimq admin group delete --group OrdersGroup --cluster DefaultCluster --clean-offset"
    )]
    Delete {
        /// Group name.
        #[arg(long, short = 'g')]
        group: String,
        /// Cluster name.
        #[arg(long, short = 'c')]
        cluster: String,
        /// Also drop the group's committed consumer offsets.
        #[arg(long)]
        clean_offset: bool,
        /// Keep the group's %RETRY% and %DLQ% topics.
        #[arg(long)]
        keep_topics: bool,
    },
}

/// Settings of `group create` / `group update`.
#[derive(Debug, Args)]
pub struct GroupWrite {
    /// Group name.
    #[arg(long, short = 'g')]
    group: String,
    #[command(flatten)]
    target: Target,
    /// Deliveries of a failing message before it goes to %DLQ%<group>.
    #[arg(long, default_value_t = 16)]
    retry_max: i32,
    /// Queues of %RETRY%<group>.
    #[arg(long, default_value_t = 1)]
    retry_queues: u32,
    /// Allow broadcast consumption.
    #[arg(long)]
    broadcast: bool,
    /// Forbid consumption (the group's pulls are refused).
    #[arg(long)]
    disable: bool,
}

/// Runs a group command.
pub async fn run(admin: &Admin, format: Format, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Create(args) | GroupCommand::Update(args) => write(admin, format, args).await,
        GroupCommand::Delete {
            group,
            cluster,
            clean_offset,
            keep_topics,
        } => delete(admin, format, &group, &cluster, clean_offset, keep_topics).await,
    }
}

async fn write(admin: &Admin, format: Format, args: GroupWrite) -> anyhow::Result<()> {
    ferrimq_config::topic::validate_group(&args.group).context("bad --group")?;
    if args.retry_max < 0 {
        anyhow::bail!("--retry-max must be 0 or more");
    }
    let mut config = SubscriptionGroupConfig::new(args.group.clone());
    config.retry_max_times = args.retry_max;
    config.retry_queue_nums = args.retry_queues;
    config.consume_broadcast_enable = args.broadcast;
    config.consume_enable = !args.disable;
    let mut table = Table::new([
        "BROKER",
        "ADDRESS",
        "GROUP",
        "RETRY_MAX",
        "RETRY_QUEUES",
        "BROADCAST",
        "CONSUME",
    ]);
    let mut rows = Vec::new();
    for (name, addr) in args.target.brokers(admin).await? {
        admin
            .create_subscription_group_on_broker(&addr, &config)
            .await
            .with_context(|| format!("writing group {} on broker {name} ({addr})", args.group))?;
        table.row([
            name.clone(),
            addr.clone(),
            args.group.clone(),
            config.retry_max_times.to_string(),
            config.retry_queue_nums.to_string(),
            config.consume_broadcast_enable.to_string(),
            config.consume_enable.to_string(),
        ]);
        rows.push(json!({
            "broker": name, "addr": addr, "group": args.group,
            "retryMaxTimes": config.retry_max_times, "retryQueueNums": config.retry_queue_nums,
            "consumeBroadcastEnable": config.consume_broadcast_enable,
            "consumeEnable": config.consume_enable,
        }));
    }
    format.print(&table, &json!(rows));
    Ok(())
}

async fn delete(
    admin: &Admin,
    format: Format,
    group: &str,
    cluster: &str,
    clean_offset: bool,
    keep_topics: bool,
) -> anyhow::Result<()> {
    ferrimq_config::topic::validate_group(group).context("bad --group")?;
    let brokers = admin
        .delete_subscription_group(cluster, group, clean_offset)
        .await
        .with_context(|| format!("deleting group {group} from cluster {cluster}"))?;
    let mut topics = Vec::new();
    if !keep_topics {
        for topic in [retry_topic(group), dlq_topic(group)] {
            admin
                .delete_topic(cluster, &topic)
                .await
                .with_context(|| format!("deleting topic {topic} of group {group}"))?;
            topics.push(topic);
        }
    }
    let mut text = format!("deleted group {group} from {}", brokers.join(", "));
    if !topics.is_empty() {
        text.push_str(&format!(" and topics {}", topics.join(", ")));
    }
    let json = json!({"group": group, "cluster": cluster, "brokers": brokers,
        "deletedTopics": topics, "cleanOffset": clean_offset});
    format.print_text(&text, &json);
    Ok(())
}
