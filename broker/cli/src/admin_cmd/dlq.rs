//! `ferrimq admin dlq redrive`: moves the messages of `%DLQ%<group>` back into circulation.
//!
//! Each dead letter is re-sent, with its body, flag and properties (TAGS, KEYS, UNIQ_KEY — so it
//! keeps its message id —, RETRY_TOPIC, ORIGIN_MESSAGE_ID, user properties), to `%RETRY%<group>`
//! (the group consumes it again, with a fresh retry budget) or, with `--to-origin`, to its
//! original topic (RETRY_TOPIC). Properties that only made sense in the DLQ copy (delay level,
//! pull-time offsets, scheduling) are dropped.
//!
//! Progress is the group's consumer offset on `%DLQ%<group>`: each queue is read from the
//! committed offset (or its min offset) and the offset is committed after every successful
//! re-send, so a re-run moves only what is left. A crash between a re-send and its commit can
//! re-send that one message again (at least once, never lost).
//!
//! RocketMQ creates DLQ topics write-only (perm 2), which refuses pulls; the command adds the
//! read bit on the brokers where it is missing (as operators do by hand with
//! `mqadmin updateTopicPerm`) and says so on stderr.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use ferrimq_client::message::property;
use ferrimq_client::{
    Admin, ConsumerConfig, Message, MessageExt, Producer, ProducerConfig, PullConsumer, PullStatus,
};
use ferrimq_config::Perm;
use ferrimq_config::topic::{dlq_topic, retry_topic};
use ferrimq_remoting::body::MessageQueue;
use serde_json::{Value, json};

use super::output::{Format, Table, format_millis};

/// Producer group of the re-sends.
const REDRIVE_PRODUCER_GROUP: &str = "FERRIMQ_DLQ_REDRIVE";
/// Properties of a DLQ copy that must not travel with the re-sent message.
const DROPPED_PROPERTIES: [&str; 7] = [
    property::DELAY,
    property::MIN_OFFSET,
    property::MAX_OFFSET,
    "REAL_TOPIC",
    "REAL_QID",
    "CONSUME_START_TIME",
    "TIMER_DELIVER_MS",
];
const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";

/// Dead-letter commands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Re-send the messages of %DLQ%<group> to %RETRY%<group> (or their original topic).
    #[command(after_help = "Examples:
  ferrimq admin dlq redrive --group OrdersGroup
  ferrimq admin dlq redrive --group OrdersGroup --max 10 --to-origin --json")]
    Redrive {
        /// Consumer group whose dead letters to move.
        #[arg(long, short = 'g')]
        group: String,
        /// Move at most this many messages.
        #[arg(long)]
        max: Option<usize>,
        /// Send each message to its original topic (RETRY_TOPIC) instead of %RETRY%<group>.
        #[arg(long)]
        to_origin: bool,
    },
}

/// One message moved.
struct Moved {
    msg_id: String,
    from: MessageQueue,
    from_offset: i64,
    to_topic: String,
    to_queue: i32,
    to_offset: i64,
    store_timestamp: i64,
}

/// Runs a DLQ command.
pub async fn run(admin: &Admin, format: Format, cmd: DlqCommand) -> anyhow::Result<()> {
    let DlqCommand::Redrive {
        group,
        max,
        to_origin,
    } = cmd;
    ferrimq_config::topic::validate_group(&group).context("bad --group")?;
    let dlq = dlq_topic(&group);
    let queues = readable_queues(admin, &dlq).await?;
    let session = Arc::clone(admin.session());
    let consumer = PullConsumer::new(Arc::clone(&session), ConsumerConfig::new(group.clone()));
    consumer.subscribe(&dlq, "*");
    let producer = Producer::new(session, ProducerConfig::new(REDRIVE_PRODUCER_GROUP));
    let redrive = Redrive {
        consumer,
        producer,
        retry: retry_topic(&group),
        to_origin,
        max: max.unwrap_or(usize::MAX),
    };
    let mut moved = Vec::new();
    for queue in &queues {
        redrive.drain(queue, &mut moved).await?;
    }
    print(format, &group, &dlq, &moved);
    Ok(())
}

/// Every queue of `topic`, after making sure each broker lets it be read.
async fn readable_queues(admin: &Admin, topic: &str) -> anyhow::Result<Vec<MessageQueue>> {
    let route = admin.route(topic).await.with_context(|| {
        format!("{topic} not found: has this group ever dead-lettered a message?")
    })?;
    let mut queues = Vec::new();
    let names: BTreeSet<&str> = route
        .queue_datas
        .iter()
        .map(|q| q.broker_name.as_str())
        .collect();
    for name in names {
        let Some(addr) = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == name)
            .and_then(|b| b.master_addr())
        else {
            bail!("no master address for broker {name} serving {topic}");
        };
        let Some(mut config) = admin
            .topic_config_on_broker(addr, topic)
            .await
            .with_context(|| format!("reading {topic} on broker {name} ({addr})"))?
        else {
            continue;
        };
        if !config.perm.is_readable() {
            let was = config.perm.0;
            config.perm = Perm(config.perm.0 | Perm::READ);
            admin
                .create_topic_on_broker(addr, &config)
                .await
                .with_context(|| format!("granting read permission on {topic} at {name}"))?;
            eprintln!(
                "note: granted read permission on {topic} at broker {name} ({addr}): perm {was} -> {}",
                config.perm.0
            );
        }
        queues.extend(
            (0..config.read_queue_nums as i32).map(|queue_id| MessageQueue {
                broker_name: name.to_owned(),
                queue_id,
                topic: topic.to_owned(),
            }),
        );
    }
    Ok(queues)
}

struct Redrive {
    consumer: PullConsumer,
    producer: Producer,
    retry: String,
    to_origin: bool,
    max: usize,
}

impl Redrive {
    /// Moves the messages of `queue` from its committed offset on, committing as it goes.
    async fn drain(&self, queue: &MessageQueue, moved: &mut Vec<Moved>) -> anyhow::Result<()> {
        let context = || {
            format!(
                "reading {} queue {} on {}",
                queue.topic, queue.queue_id, queue.broker_name
            )
        };
        let mut offset = match self.consumer.committed(queue).await.with_context(context)? {
            Some(offset) => offset,
            None => self
                .consumer
                .min_offset(queue)
                .await
                .with_context(context)?,
        };
        let last = self
            .consumer
            .max_offset(queue)
            .await
            .with_context(context)?;
        while offset < last && moved.len() < self.max {
            let pulled = self
                .consumer
                .pull(queue, offset, 32)
                .await
                .with_context(context)?;
            if pulled.status == PullStatus::Found {
                for m in &pulled.messages {
                    if moved.len() >= self.max {
                        return Ok(());
                    }
                    moved.push(self.move_one(queue, m).await?);
                }
            }
            if pulled.status == PullStatus::NoNewMsg || pulled.next_begin_offset <= offset {
                break;
            }
            offset = pulled.next_begin_offset;
            self.consumer
                .commit_offset(queue, offset)
                .await
                .with_context(context)?;
        }
        Ok(())
    }

    async fn move_one(&self, queue: &MessageQueue, m: &MessageExt) -> anyhow::Result<Moved> {
        let target = if self.to_origin {
            m.properties
                .get(property::RETRY_TOPIC)
                .cloned()
                .with_context(|| {
                    format!(
                        "message {} has no RETRY_TOPIC: its original topic is unknown",
                        m.msg_id()
                    )
                })?
        } else {
            self.retry.clone()
        };
        let sent = self
            .producer
            .send(resend_of(m, &target))
            .await
            .with_context(|| format!("re-sending message {} to {target}", m.msg_id()))?;
        self.consumer
            .commit_offset(queue, m.queue_offset + 1)
            .await
            .with_context(|| format!("committing {} offset {}", queue.topic, m.queue_offset + 1))?;
        Ok(Moved {
            msg_id: m.msg_id().to_owned(),
            from: queue.clone(),
            from_offset: m.queue_offset,
            to_topic: target,
            to_queue: sent.queue.queue_id,
            to_offset: sent.queue_offset,
            store_timestamp: m.store_timestamp,
        })
    }
}

/// The message to send for dead letter `m`: same body, flag and properties (minus the
/// DLQ-only ones), ORIGIN_MESSAGE_ID set if the DLQ copy lacked it.
pub fn resend_of(m: &MessageExt, topic: &str) -> Message {
    let mut message = Message::new(topic, m.body.clone());
    message.flag = m.flag;
    message.properties = m.properties.clone();
    for key in DROPPED_PROPERTIES {
        message.properties.remove(key);
    }
    message
        .properties
        .entry(ORIGIN_MESSAGE_ID.to_owned())
        .or_insert_with(|| m.msg_id().to_owned());
    message
}

fn print(format: Format, group: &str, dlq: &str, moved: &[Moved]) {
    let mut table = Table::new([
        "MSG_ID",
        "FROM_QID",
        "FROM_OFFSET",
        "TO_TOPIC",
        "TO_QID",
        "TO_OFFSET",
        "DEAD_SINCE",
    ]);
    let mut rows: Vec<Value> = Vec::new();
    for m in moved {
        table.row([
            m.msg_id.clone(),
            m.from.queue_id.to_string(),
            m.from_offset.to_string(),
            m.to_topic.clone(),
            m.to_queue.to_string(),
            m.to_offset.to_string(),
            format_millis(m.store_timestamp),
        ]);
        rows.push(json!({
            "msgId": m.msg_id, "fromBroker": m.from.broker_name, "fromQueueId": m.from.queue_id,
            "fromOffset": m.from_offset, "toTopic": m.to_topic, "toQueueId": m.to_queue,
            "toOffset": m.to_offset,
        }));
    }
    let text = format!(
        "{}moved {} message(s) from {dlq}",
        table.render(),
        moved.len()
    );
    let json = json!({"group": group, "dlq": dlq, "moved": rows, "count": moved.len()});
    format.print_text(&text, &json);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;

    use super::*;

    fn dead_letter(properties: &[(&str, &str)]) -> MessageExt {
        let host = "127.0.0.1:10911".parse().expect("addr");
        MessageExt {
            topic: "%DLQ%G".to_owned(),
            queue_id: 0,
            queue_offset: 7,
            commit_log_offset: 4096,
            store_size: 0,
            body_crc: 0,
            flag: 3,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: host,
            store_timestamp: 2,
            store_host: host,
            reconsume_times: 16,
            prepared_transaction_offset: 0,
            body: Bytes::from_static(b"payload"),
            properties: properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            offset_msg_id: "7F0000010000".to_owned(),
        }
    }

    #[test]
    fn resend_keeps_identity_and_drops_dlq_only_properties() {
        let m = dead_letter(&[
            ("UNIQ_KEY", "ID1"),
            ("TAGS", "paid"),
            ("KEYS", "k"),
            ("RETRY_TOPIC", "Orders"),
            ("ORIGIN_MESSAGE_ID", "ID0"),
            ("DELAY", "3"),
            ("MIN_OFFSET", "0"),
            ("MAX_OFFSET", "9"),
            ("REAL_TOPIC", "x"),
            ("user", "v"),
        ]);
        let out = resend_of(&m, "%RETRY%G");
        assert_eq!(out.topic, "%RETRY%G");
        assert_eq!(out.flag, 3);
        assert_eq!(&out.body[..], b"payload");
        let keys: Vec<&str> = out.properties.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "KEYS",
                "ORIGIN_MESSAGE_ID",
                "RETRY_TOPIC",
                "TAGS",
                "UNIQ_KEY",
                "user"
            ]
        );
        assert_eq!(out.properties["ORIGIN_MESSAGE_ID"], "ID0");
        assert_eq!(out.uniq_key(), Some("ID1"));
    }

    #[test]
    fn resend_sets_a_missing_origin_id() {
        let out = resend_of(&dead_letter(&[("UNIQ_KEY", "ID1")]), "Orders");
        assert_eq!(out.properties["ORIGIN_MESSAGE_ID"], "ID1");
    }
}
