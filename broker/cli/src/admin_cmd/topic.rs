//! `ferrimq admin topic ...`: create, update, list, status (per-queue offsets), route and delete,
//! like mqadmin's updateTopic / topicList / topicStatus / topicRoute / deleteTopic.
//!
//! `create` refuses a topic that already exists on a targeted broker and `update` one that does
//! not, so a typo never silently creates or rewrites a topic; `update` keeps every setting not
//! given on the command line.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ferrimq_client::Admin;
use ferrimq_config::{Perm, TopicConfig};
use serde_json::json;

use super::Target;
use super::output::{Format, Table, format_millis, perm_text};

/// Topic commands.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic on every master of a cluster (or on one broker).
    #[command(
        after_help = "Example:\n  ferrimq admin topic create --topic Orders --cluster DefaultCluster --read-queues 8 --write-queues 8"
    )]
    Create(TopicWrite),
    /// Change an existing topic; settings not given keep their current values.
    #[command(
        after_help = "Example:\n  ferrimq admin topic update --topic Orders --cluster DefaultCluster --write-queues 4 --perm 4"
    )]
    Update(TopicWrite),
    /// Every topic the name servers know.
    List,
    /// Min/max offset and last store time of every queue of a topic.
    Status {
        /// Topic name.
        #[arg(long, short = 't')]
        topic: String,
    },
    /// The route of a topic: queue counts and permission per broker, broker addresses.
    Route {
        /// Topic name.
        #[arg(long, short = 't')]
        topic: String,
    },
    /// Delete a topic from every master of a cluster and from the name servers.
    Delete {
        /// Topic name.
        #[arg(long, short = 't')]
        topic: String,
        /// Cluster name.
        #[arg(long, short = 'c')]
        cluster: String,
    },
}

/// Settings of `topic create` / `topic update`.
#[derive(Debug, Args)]
pub struct TopicWrite {
    /// Topic name.
    #[arg(long, short = 't')]
    topic: String,
    #[command(flatten)]
    target: Target,
    /// Queues consumers read (create default: 8).
    #[arg(long, short = 'r')]
    read_queues: Option<u32>,
    /// Queues producers write (create default: 8).
    #[arg(long, short = 'w')]
    write_queues: Option<u32>,
    /// Permission: 2 = write only, 4 = read only, 6 = read and write (create default: 6).
    #[arg(long, short = 'p')]
    perm: Option<u8>,
    /// Mark the topic ordered.
    #[arg(long, short = 'o')]
    order: bool,
}

/// Runs a topic command.
pub async fn run(admin: &Admin, format: Format, cmd: TopicCommand) -> anyhow::Result<()> {
    match cmd {
        TopicCommand::Create(args) => write(admin, format, args, false).await,
        TopicCommand::Update(args) => write(admin, format, args, true).await,
        TopicCommand::List => list(admin, format).await,
        TopicCommand::Status { topic } => status(admin, format, &topic).await,
        TopicCommand::Route { topic } => route(admin, format, &topic).await,
        TopicCommand::Delete { topic, cluster } => {
            admin
                .delete_topic(&cluster, &topic)
                .await
                .with_context(|| format!("deleting topic {topic} from cluster {cluster}"))?;
            let text = format!("deleted topic {topic} from cluster {cluster}");
            format.print_text(
                &text,
                &json!({"topic": topic, "cluster": cluster, "deleted": true}),
            );
            Ok(())
        }
    }
}

/// `--perm` checked: one of 2, 4, 6 (read and/or write; no inherit or priority bits).
pub fn parse_perm(perm: u8) -> anyhow::Result<Perm> {
    if !matches!(perm, 2 | 4 | 6) {
        bail!("invalid --perm {perm}: use 2 (write only), 4 (read only) or 6 (read and write)");
    }
    Ok(Perm(perm))
}

/// The config to write on one broker: `current` (update) or the defaults (create), overridden
/// by the flags given.
fn merged(args: &TopicWrite, current: Option<TopicConfig>) -> anyhow::Result<TopicConfig> {
    let mut config =
        current.unwrap_or_else(|| TopicConfig::with_queues(&args.topic, 8, Perm::READ_WRITE));
    if let Some(n) = args.read_queues {
        config.read_queue_nums = n;
    }
    if let Some(n) = args.write_queues {
        config.write_queue_nums = n;
    }
    if let Some(p) = args.perm {
        config.perm = parse_perm(p)?;
    }
    if args.order {
        config.order = true;
    }
    if config.read_queue_nums == 0 || config.write_queue_nums == 0 {
        bail!("queue counts must be at least 1");
    }
    Ok(config)
}

async fn write(
    admin: &Admin,
    format: Format,
    args: TopicWrite,
    update: bool,
) -> anyhow::Result<()> {
    ferrimq_config::topic::validate_topic(&args.topic).context("bad --topic")?;
    if let Some(p) = args.perm {
        parse_perm(p)?;
    }
    let brokers = args.target.brokers(admin).await?;
    let mut planned = Vec::new();
    for (name, addr) in &brokers {
        let current = admin
            .topic_config_on_broker(addr, &args.topic)
            .await
            .with_context(|| format!("reading the topics of broker {name} ({addr})"))?;
        match (&current, update) {
            (Some(_), false) => bail!(
                "topic {} already exists on broker {name} ({addr}); use `ferrimq admin topic update`",
                args.topic
            ),
            (None, true) => bail!(
                "topic {} does not exist on broker {name} ({addr}); use `ferrimq admin topic create`",
                args.topic
            ),
            _ => planned.push((name, addr, merged(&args, current)?)),
        }
    }
    let mut table = Table::new([
        "BROKER",
        "ADDRESS",
        "TOPIC",
        "READ_QUEUES",
        "WRITE_QUEUES",
        "PERM",
        "ORDER",
    ]);
    let mut rows = Vec::new();
    for (name, addr, config) in planned {
        admin
            .create_topic_on_broker(addr, &config)
            .await
            .with_context(|| format!("writing topic {} on broker {name} ({addr})", args.topic))?;
        let perm = i32::from(config.perm.0);
        table.row([
            name.clone(),
            addr.clone(),
            config.topic_name.clone(),
            config.read_queue_nums.to_string(),
            config.write_queue_nums.to_string(),
            perm_text(perm),
            config.order.to_string(),
        ]);
        rows.push(json!({
            "broker": name, "addr": addr, "topic": config.topic_name,
            "readQueueNums": config.read_queue_nums, "writeQueueNums": config.write_queue_nums,
            "perm": perm, "order": config.order,
        }));
    }
    format.print(&table, &json!(rows));
    Ok(())
}

async fn list(admin: &Admin, format: Format) -> anyhow::Result<()> {
    let topics = admin
        .topic_list()
        .await
        .context("listing topics from the name server")?;
    let mut table = Table::new(["TOPIC"]);
    for topic in &topics {
        table.row([topic]);
    }
    format.print(&table, &json!(topics));
    Ok(())
}

async fn status(admin: &Admin, format: Format, topic: &str) -> anyhow::Result<()> {
    let stats = admin
        .topic_stats(topic)
        .await
        .with_context(|| format!("reading the status of topic {topic}"))?;
    let mut queues: Vec<_> = stats.offset_table.into_iter().collect();
    queues.sort_by(|a, b| (&a.0.broker_name, a.0.queue_id).cmp(&(&b.0.broker_name, b.0.queue_id)));
    let mut table = Table::new(["BROKER", "QID", "MIN_OFFSET", "MAX_OFFSET", "LAST_UPDATED"]);
    let mut rows = Vec::new();
    for (queue, offsets) in &queues {
        table.row([
            queue.broker_name.clone(),
            queue.queue_id.to_string(),
            offsets.min_offset.to_string(),
            offsets.max_offset.to_string(),
            format_millis(offsets.last_update_timestamp),
        ]);
        rows.push(json!({
            "broker": queue.broker_name, "queueId": queue.queue_id,
            "minOffset": offsets.min_offset, "maxOffset": offsets.max_offset,
            "lastUpdateTimestamp": offsets.last_update_timestamp,
        }));
    }
    format.print(&table, &json!(rows));
    Ok(())
}

async fn route(admin: &Admin, format: Format, topic: &str) -> anyhow::Result<()> {
    let route = admin
        .route(topic)
        .await
        .with_context(|| format!("reading the route of topic {topic}"))?;
    let mut table = Table::new([
        "BROKER",
        "READ_QUEUES",
        "WRITE_QUEUES",
        "PERM",
        "BROKER_ID",
        "ADDRESS",
    ]);
    for queue in &route.queue_datas {
        let addrs = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == queue.broker_name)
            .map(|b| b.broker_addrs.clone())
            .unwrap_or_default();
        for (id, addr) in &addrs {
            table.row([
                queue.broker_name.clone(),
                queue.read_queue_nums.to_string(),
                queue.write_queue_nums.to_string(),
                perm_text(queue.perm),
                id.to_string(),
                addr.clone(),
            ]);
        }
    }
    let json = serde_json::to_value(&route).context("encoding the route")?;
    format.print(&table, &json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_write_perms_are_accepted() {
        for ok in [2, 4, 6] {
            assert_eq!(parse_perm(ok).unwrap(), Perm(ok));
        }
        for bad in [0, 1, 3, 7, 8, 9] {
            assert!(parse_perm(bad).is_err(), "{bad}");
        }
    }
}
