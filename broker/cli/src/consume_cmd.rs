//! `ferrimq consume`: reads a topic as a consumer group with the Rust pull consumer, prints each
//! message and commits the group's offsets, so a second run continues where the first stopped.
//!
//! The command takes every readable queue of the topic (it does not rebalance with other members
//! of the group). A queue without a committed offset starts at its end, or at its beginning with
//! `--from-beginning`. It stops after `--count` messages or `--timeout` seconds; reaching the
//! timeout before the count is an error. Offsets are committed after each printed batch, and
//! never past a message that was not printed. Text output is one line per message; `--json`
//! prints one JSON object per line (JSON Lines) as messages arrive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use ferrimq_client::{ConsumerConfig, MessageExt, PullConsumer, StartPosition};
use ferrimq_remoting::body::MessageQueue;

use crate::admin_cmd::message::{message_json, message_row};
use crate::admin_cmd::output::Table;
use crate::admin_cmd::{ConnectArgs, block_on};

/// Pause between rounds that found nothing.
const IDLE_PAUSE: Duration = Duration::from_millis(200);

/// `ferrimq consume`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  ferrimq consume --topic Orders --group OrdersAudit --from-beginning --count 100
  ferrimq consume --topic Orders --group OrdersAudit --tag 'created || paid' --timeout 30 --json")]
pub struct ConsumeArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Topic to read.
    #[arg(long, short = 't')]
    topic: String,
    /// Consumer group (its committed offsets are used and advanced).
    #[arg(long, short = 'g')]
    group: String,
    /// Tag expression: "*" or "tagA || tagB".
    #[arg(long, default_value = "*")]
    tag: String,
    /// Queues the group never committed start at their first message (default: their end).
    #[arg(long)]
    from_beginning: bool,
    /// Stop after this many messages.
    #[arg(long, short = 'c')]
    count: Option<usize>,
    /// Stop after this many seconds (an error if --count was not reached).
    #[arg(long)]
    timeout: Option<u64>,
}

/// Runs `ferrimq consume`.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    ferrimq_client::producer::check_topic(&args.topic).context("bad --topic")?;
    ferrimq_config::topic::validate_group(&args.group).context("bad --group")?;
    let session = args.connect.session()?;
    let mut config = ConsumerConfig::new(args.group.clone());
    config.start = if args.from_beginning {
        StartPosition::First
    } else {
        StartPosition::Last
    };
    let consumer = PullConsumer::new(Arc::clone(&session), config);
    let outcome = block_on(consume(&args, &consumer));
    session.shutdown();
    let received = outcome?;
    if let Some(count) = args.count {
        if received < count {
            bail!(
                "received {received} of {count} message(s) within {} s",
                args.timeout.unwrap_or(0)
            );
        }
    }
    Ok(())
}

/// Consumes until the count or the deadline; returns how many messages were printed.
async fn consume(args: &ConsumeArgs, consumer: &PullConsumer) -> anyhow::Result<usize> {
    consumer.subscribe(&args.topic, &args.tag);
    let queues = consumer
        .queues(&args.topic)
        .await
        .with_context(|| format!("reading the route of topic {}", args.topic))?;
    if queues.is_empty() {
        bail!("topic {} has no readable queue", args.topic);
    }
    consumer.assign(queues.clone());
    let deadline = args
        .timeout
        .map(|s| Instant::now() + Duration::from_secs(s));
    let wanted = args.count.unwrap_or(usize::MAX);
    let mut printer = Printer::new(args.connect.json);
    while printer.printed < wanted {
        let mut found_any = false;
        for queue in &queues {
            let batch = consumer.pull_next(queue).await.with_context(|| {
                format!(
                    "pulling queue {} of {} on {}",
                    queue.queue_id, queue.topic, queue.broker_name
                )
            })?;
            found_any |= !batch.is_empty();
            let room = wanted - printer.printed;
            if let Some(cut) = batch.get(room) {
                consumer.seek(queue, cut.queue_offset);
            }
            batch.iter().take(room).for_each(|m| printer.print(m));
            commit(consumer, queue).await?;
            if printer.printed >= wanted {
                break;
            }
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if !found_any {
            let pause = deadline.map_or(IDLE_PAUSE, |d| IDLE_PAUSE.min(d - now));
            tokio::time::sleep(pause).await;
        }
    }
    Ok(printer.printed)
}

/// Commits the position of `queue`, if it has one.
async fn commit(consumer: &PullConsumer, queue: &MessageQueue) -> anyhow::Result<()> {
    if let Some(Some(offset)) = consumer.positions().get(queue) {
        consumer
            .commit_offset(queue, *offset)
            .await
            .with_context(|| format!("committing offset {offset} of queue {}", queue.queue_id))?;
    }
    Ok(())
}

/// Column header of the text output (the columns of `admin message` tables).
const HEADER: [&str; 8] = [
    "MSG_ID",
    "TOPIC",
    "QID",
    "OFFSET",
    "TAGS",
    "KEYS",
    "STORE_TIME",
    "BODY",
];

/// Prints messages as they arrive, or JSON Lines. Text lines are padded to the widths of the
/// first message (header included), so columns line up while cells are no wider than those.
struct Printer {
    json: bool,
    printed: usize,
    widths: Vec<usize>,
}

impl Printer {
    fn new(json: bool) -> Self {
        Printer {
            json,
            printed: 0,
            widths: Vec::new(),
        }
    }

    fn print(&mut self, m: &MessageExt) {
        if self.json {
            println!("{}", message_json(m));
        } else {
            let row = message_row(m);
            if self.printed == 0 {
                let mut first = Table::new(HEADER);
                first.row(row.clone());
                print!("{}", first.render());
                self.widths = HEADER
                    .iter()
                    .zip(&row)
                    .map(|(h, c)| h.chars().count().max(c.chars().count()))
                    .collect();
            } else {
                println!("{}", self.padded(&row));
            }
        }
        self.printed += 1;
    }

    fn padded(&self, row: &[String]) -> String {
        let cells: Vec<String> = row
            .iter()
            .zip(&self.widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        cells.join("  ").trim_end().to_owned()
    }
}
