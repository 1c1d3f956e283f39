//! `ferrimq admin message ...`: find messages by message id (VIEW_MESSAGE_BY_ID, or the UNIQ_KEY
//! index), by key and by unique key (QUERY_MESSAGE on the IndexFiles), and by store time (each
//! readable queue is read from the offset SEARCH_OFFSET_BY_TIMESTAMP finds for `--begin` up to
//! the first message stored after `--end`). Also how messages are printed, shared with
//! `ferrimq consume`.

use anyhow::{Context, bail};
use clap::Subcommand;
use ferrimq_client::{Admin, ConsumerConfig, MessageExt, PullConsumer, PullStatus};
// The pulls of `by-time` name Java's system tools group; they never commit offsets.
use ferrimq_config::group::TOOLS_CONSUMER_GROUP;
use serde_json::{Value, json};

use super::output::{Format, Table, clip, format_millis};

/// Message lookups.
#[derive(Debug, Subcommand)]
#[allow(clippy::enum_variant_names)] // by-id, by-key, ...: the command names read best this way
pub enum MessageCommand {
    /// One message by its id (offset message id or unique message id).
    #[command(
        after_help = "Example:\n  ferrimq admin message by-id --topic Orders --id 7F00000100002A9F0000000000000000"
    )]
    ById {
        /// Topic of the message.
        #[arg(long, short = 't')]
        topic: String,
        /// Message id: the offsetMsgId a send returns, or the unique (client) message id.
        #[arg(long, short = 'i')]
        id: String,
    },
    /// Messages carrying a key (KEYS property), optionally within a store-time range.
    ByKey {
        /// Topic.
        #[arg(long, short = 't')]
        topic: String,
        /// Key.
        #[arg(long, short = 'k')]
        key: String,
        /// Earliest store time, ms since the epoch.
        #[arg(long, default_value_t = 0)]
        begin: i64,
        /// Latest store time, ms since the epoch.
        #[arg(long, default_value_t = i64::MAX)]
        end: i64,
        /// Most messages to return per broker.
        #[arg(long, default_value_t = 64)]
        max: i32,
    },
    /// Every stored copy of a message by its unique (client) message id.
    ByUniqueKey {
        /// Topic.
        #[arg(long, short = 't')]
        topic: String,
        /// Unique message id (UNIQ_KEY).
        #[arg(long, short = 'k')]
        key: String,
    },
    /// Messages stored between two times, read queue by queue.
    #[command(
        after_help = "Example:\n  ferrimq admin message by-time --topic Orders --begin 1700000000000 --end 1700000060000"
    )]
    ByTime {
        /// Topic.
        #[arg(long, short = 't')]
        topic: String,
        /// Earliest store time, ms since the epoch.
        #[arg(long)]
        begin: i64,
        /// Latest store time, ms since the epoch.
        #[arg(long)]
        end: i64,
        /// Most messages to return in all.
        #[arg(long, default_value_t = 1000)]
        max: usize,
    },
}

/// Runs a message lookup.
pub async fn run(admin: &Admin, format: Format, cmd: MessageCommand) -> anyhow::Result<()> {
    match cmd {
        MessageCommand::ById { topic, id } => {
            let message = admin
                .view_message(&topic, &id)
                .await
                .with_context(|| format!("looking up message {id} in topic {topic}"))?;
            format.print_text(&message_detail(&message), &message_json(&message));
            Ok(())
        }
        MessageCommand::ByKey {
            topic,
            key,
            begin,
            end,
            max,
        } => {
            let found = admin
                .query_message_between(&topic, &key, max, false, begin, end)
                .await
                .with_context(|| format!("querying key {key} in topic {topic}"))?;
            let found: Vec<_> = found
                .into_iter()
                .filter(|m| m.keys().contains(&key.as_str()))
                .collect();
            if found.is_empty() {
                bail!("no message with key {key} in topic {topic}");
            }
            print_list(format, found);
            Ok(())
        }
        MessageCommand::ByUniqueKey { topic, key } => {
            let found = admin
                .query_message(&topic, &key, 32, true)
                .await
                .with_context(|| format!("querying unique key {key} in topic {topic}"))?;
            let found: Vec<_> = found.into_iter().filter(|m| m.msg_id() == key).collect();
            if found.is_empty() {
                bail!("no message with unique key {key} in topic {topic}");
            }
            print_list(format, found);
            Ok(())
        }
        MessageCommand::ByTime {
            topic,
            begin,
            end,
            max,
        } => {
            if begin > end {
                bail!("--begin {begin} is after --end {end}");
            }
            let found = by_time(admin, &topic, begin, end, max).await?;
            print_list(format, found);
            Ok(())
        }
    }
}

/// Messages of `topic` stored in `[begin, end]`, at most `max`.
async fn by_time(
    admin: &Admin,
    topic: &str,
    begin: i64,
    end: i64,
    max: usize,
) -> anyhow::Result<Vec<MessageExt>> {
    let consumer = PullConsumer::new(
        std::sync::Arc::clone(admin.session()),
        ConsumerConfig::new(TOOLS_CONSUMER_GROUP),
    );
    consumer.subscribe(topic, "*");
    let queues = consumer
        .queues(topic)
        .await
        .with_context(|| format!("reading the route of topic {topic}"))?;
    let mut found = Vec::new();
    for queue in queues {
        let context = || {
            format!(
                "reading queue {} of {} on {}",
                queue.queue_id, topic, queue.broker_name
            )
        };
        let mut offset = consumer
            .search_offset(&queue, begin)
            .await
            .with_context(context)?;
        let last = consumer.max_offset(&queue).await.with_context(context)?;
        'queue: while offset < last && found.len() < max {
            let pulled = consumer
                .pull(&queue, offset, 32)
                .await
                .with_context(context)?;
            if pulled.status == PullStatus::Found {
                for m in pulled.messages {
                    if m.store_timestamp > end || found.len() >= max {
                        break 'queue;
                    }
                    if m.store_timestamp >= begin {
                        found.push(m);
                    }
                }
            }
            if pulled.status == PullStatus::NoNewMsg || pulled.next_begin_offset <= offset {
                break;
            }
            offset = pulled.next_begin_offset;
        }
    }
    Ok(found)
}

fn print_list(format: Format, mut found: Vec<MessageExt>) {
    found.sort_by(|a, b| {
        (a.store_timestamp, &a.topic, a.queue_id, a.queue_offset).cmp(&(
            b.store_timestamp,
            &b.topic,
            b.queue_id,
            b.queue_offset,
        ))
    });
    let json: Vec<Value> = found.iter().map(message_json).collect();
    format.print(&message_table(&found), &json!(json));
}

/// The body as text (invalid UTF-8 replaced).
pub fn body_text(m: &MessageExt) -> String {
    String::from_utf8_lossy(&m.body).into_owned()
}

/// Every field of a message as JSON (body as UTF-8 text).
pub fn message_json(m: &MessageExt) -> Value {
    json!({
        "msgId": m.msg_id(),
        "offsetMsgId": m.offset_msg_id,
        "topic": m.topic,
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "commitLogOffset": m.commit_log_offset,
        "tags": m.tags(),
        "keys": m.keys(),
        "bornTimestamp": m.born_timestamp,
        "storeTimestamp": m.store_timestamp,
        "bornHost": m.born_host.to_string(),
        "storeHost": m.store_host.to_string(),
        "reconsumeTimes": m.reconsume_times,
        "sysFlag": m.sys_flag,
        "flag": m.flag,
        "bodyCrc": m.body_crc,
        "properties": m.properties,
        "body": body_text(m),
    })
}

/// One row per message: ids, queue position, tags, keys, store time and the start of the body.
pub fn message_table(messages: &[MessageExt]) -> Table {
    let mut table = Table::new([
        "MSG_ID",
        "TOPIC",
        "QID",
        "OFFSET",
        "TAGS",
        "KEYS",
        "STORE_TIME",
        "BODY",
    ]);
    for m in messages {
        table.row(message_row(m));
    }
    table
}

/// The cells of one message in [`message_table`].
pub fn message_row(m: &MessageExt) -> [String; 8] {
    [
        m.msg_id().to_owned(),
        m.topic.clone(),
        m.queue_id.to_string(),
        m.queue_offset.to_string(),
        m.tags().unwrap_or("-").to_owned(),
        non_empty(m.keys().join(",")),
        format_millis(m.store_timestamp),
        clip(&body_text(m), 60),
    ]
}

fn non_empty(text: String) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

/// A message as "Field: value" lines, like `mqadmin queryMsgById`.
pub fn message_detail(m: &MessageExt) -> String {
    let properties: Vec<String> = m
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let fields = [
        ("Msg Id", m.msg_id().to_owned()),
        ("Offset Msg Id", m.offset_msg_id.clone()),
        ("Topic", m.topic.clone()),
        ("Tags", m.tags().unwrap_or("-").to_owned()),
        ("Keys", non_empty(m.keys().join(","))),
        ("Queue Id", m.queue_id.to_string()),
        ("Queue Offset", m.queue_offset.to_string()),
        ("CommitLog Offset", m.commit_log_offset.to_string()),
        ("Reconsume Times", m.reconsume_times.to_string()),
        ("Born Timestamp", format_millis(m.born_timestamp)),
        ("Store Timestamp", format_millis(m.store_timestamp)),
        ("Born Host", m.born_host.to_string()),
        ("Store Host", m.store_host.to_string()),
        ("System Flag", m.sys_flag.to_string()),
        ("Properties", properties.join(" ")),
        ("Body", body_text(m)),
    ];
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    fields
        .iter()
        .map(|(k, v)| format!("{:<width$} {v}", format!("{k}:")))
        .collect::<Vec<_>>()
        .join("\n")
}
