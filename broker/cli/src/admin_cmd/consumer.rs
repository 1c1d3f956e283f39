//! `ferrimq admin consumer ...`: a group's progress per queue (committed offset vs. queue max
//! offset, i.e. lag; GET_CONSUME_STATS) and its online clients (GET_CONSUMER_CONNECTION_LIST),
//! like mqadmin's consumerProgress / consumerConnection.

use anyhow::Context;
use clap::Subcommand;
use ferrimq_client::Admin;
use serde_json::{Value, json};

use super::output::{Format, Table, format_millis};

/// Consumer-group commands.
#[derive(Debug, Subcommand)]
pub enum ConsumerCommand {
    /// Committed offset, queue max offset and lag of every queue the group consumes.
    #[command(
        after_help = "Example:\n  ferrimq admin consumer progress --group OrdersGroup --topic Orders"
    )]
    Progress {
        /// Consumer group.
        #[arg(long, short = 'g')]
        group: String,
        /// Only this topic.
        #[arg(long, short = 't')]
        topic: Option<String>,
    },
    /// The group's online clients and their subscriptions.
    Connections {
        /// Consumer group.
        #[arg(long, short = 'g')]
        group: String,
    },
}

/// Runs a consumer command.
pub async fn run(admin: &Admin, format: Format, cmd: ConsumerCommand) -> anyhow::Result<()> {
    match cmd {
        ConsumerCommand::Progress { group, topic } => {
            progress(admin, format, &group, topic.as_deref()).await
        }
        ConsumerCommand::Connections { group } => connections(admin, format, &group).await,
    }
}

async fn progress(
    admin: &Admin,
    format: Format,
    group: &str,
    topic: Option<&str>,
) -> anyhow::Result<()> {
    let stats = admin
        .consume_stats(group, topic)
        .await
        .with_context(|| format!("reading the progress of group {group}"))?;
    let mut queues: Vec<_> = stats.offset_table.into_iter().collect();
    queues.sort_by(|a, b| {
        (&a.0.topic, &a.0.broker_name, a.0.queue_id).cmp(&(
            &b.0.topic,
            &b.0.broker_name,
            b.0.queue_id,
        ))
    });
    let mut table = Table::new([
        "TOPIC",
        "BROKER",
        "QID",
        "BROKER_OFFSET",
        "CONSUMER_OFFSET",
        "DIFF",
        "LAST_TIME",
    ]);
    let mut rows = Vec::new();
    let mut total = 0;
    for (queue, o) in &queues {
        let diff = (o.broker_offset - o.consumer_offset).max(0);
        total += diff;
        table.row([
            queue.topic.clone(),
            queue.broker_name.clone(),
            queue.queue_id.to_string(),
            o.broker_offset.to_string(),
            o.consumer_offset.to_string(),
            diff.to_string(),
            format_millis(o.last_timestamp),
        ]);
        rows.push(json!({
            "topic": queue.topic, "broker": queue.broker_name, "queueId": queue.queue_id,
            "brokerOffset": o.broker_offset, "consumerOffset": o.consumer_offset,
            "diff": diff, "lastTimestamp": o.last_timestamp,
        }));
    }
    let text = format!("{}\nDiff Total: {total}", table.render().trim_end());
    let json = json!({"group": group, "queues": rows, "diffTotal": total,
        "consumeTps": stats.consume_tps});
    format.print_text(&text, &json);
    Ok(())
}

async fn connections(admin: &Admin, format: Format, group: &str) -> anyhow::Result<()> {
    let conn = admin
        .consumer_connections(group)
        .await
        .with_context(|| format!("reading the connections of group {group} (is it online?)"))?;
    let name = |v: Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut clients = Table::new(["CLIENT_ID", "CLIENT_ADDR", "LANGUAGE", "VERSION"]);
    for c in &conn.connection_set {
        let language = name(serde_json::to_value(c.language).unwrap_or(Value::Null));
        clients.row([
            c.client_id.clone(),
            c.client_addr.clone(),
            language,
            c.version.to_string(),
        ]);
    }
    let mut subs = Table::new(["TOPIC", "EXPRESSION"]);
    for (topic, sub) in &conn.subscription_table {
        subs.row([topic, &sub.sub_string]);
    }
    let model = conn
        .message_model
        .map(|m| name(serde_json::to_value(m).unwrap_or(Value::Null)))
        .unwrap_or_else(|| "-".to_owned());
    let text = format!(
        "{}\n{}\nMessage model: {model}",
        clients.render(),
        subs.render().trim_end()
    );
    let json = serde_json::to_value(&conn).context("encoding the connections")?;
    format.print_text(&text, &json);
    Ok(())
}
