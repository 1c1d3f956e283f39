//! `ferrimq store ...`: open a store directory with the same code the broker uses, and show or
//! exercise what is in it. `-c broker.conf` takes RocketMQ's keys (file sizes, index sizes), so a
//! store written by the Java broker opens with the settings it was written with.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ferrimq_config::BrokerConfig;
use ferrimq_store::read::AcceptAll;
use ferrimq_store::record::{MessageRecord, MessageView};
use ferrimq_store::store::{MessageStore, StoreConfig};

/// `ferrimq store` subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Append messages, read every one back, restart the store and read them again.
    Demo(DemoArgs),
    /// Show the CommitLog range and every ConsumeQueue with its offsets.
    Inspect(OpenArgs),
    /// Print the messages of one queue.
    Dump(DumpArgs),
}

/// Where the store is and which settings it was written with.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Store root directory (overrides storePathRootDir of the config file).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// A broker.conf (RocketMQ key names) giving file sizes, index sizes and flush type.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
}

/// Arguments of `store demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    open: OpenArgs,
    /// Messages to append.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Body size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Queues of the demo topic.
    #[arg(long, default_value_t = 4)]
    queues: i32,
}

/// Arguments of `store dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    #[command(flatten)]
    open: OpenArgs,
    /// Topic to read.
    #[arg(long)]
    topic: String,
    /// Queue id.
    #[arg(long, default_value_t = 0)]
    queue: i32,
    /// First logical offset.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Most messages to print.
    #[arg(long, default_value_t = 32)]
    max: usize,
}

/// Runs one `store` subcommand.
pub fn run(cmd: StoreCommand) -> anyhow::Result<()> {
    match cmd {
        StoreCommand::Demo(a) => demo(&a),
        StoreCommand::Inspect(a) => inspect(&open(&a)?),
        StoreCommand::Dump(a) => dump(&a),
    }
}

fn store_config(args: &OpenArgs) -> anyhow::Result<StoreConfig> {
    let mut typed = match &args.config {
        Some(path) => load_broker_conf(path)?.store,
        None => BrokerConfig::default().store,
    };
    match &args.dir {
        Some(dir) => typed.store_path_root_dir = dir.clone(),
        None if args.config.is_none() => bail!("give --dir or -c broker.conf"),
        None => {}
    }
    Ok(StoreConfig::from(&typed))
}

fn load_broker_conf(path: &Path) -> anyhow::Result<BrokerConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let loaded =
        BrokerConfig::from_text(&text).with_context(|| format!("in {}", path.display()))?;
    for key in &loaded.unknown_keys {
        tracing::warn!(key, file = %path.display(), "unknown broker.conf key ignored");
    }
    Ok(loaded.config)
}

fn open(args: &OpenArgs) -> anyhow::Result<MessageStore> {
    let config = store_config(args)?;
    let root = config.store_path_root_dir.clone();
    let store =
        MessageStore::open(config).with_context(|| format!("opening {}", root.display()))?;
    let report = store.open_report();
    tracing::info!(root = %root.display(), ?report, "store open");
    Ok(store)
}

fn inspect(store: &MessageStore) -> anyhow::Result<()> {
    println!(
        "commitlog: min offset {} max offset {} dispatched {}",
        store.commit_log_min_offset(),
        store.commit_log_max_offset(),
        store.dispatched_offset()
    );
    let mut queues = store.consume_queues().max_offsets();
    queues.sort();
    println!("{:<40} {:>5} {:>12} {:>12}", "topic", "queue", "min", "max");
    for (topic, queue_id, max) in queues {
        let min = store.min_offset_in_queue(&topic, queue_id);
        println!("{topic:<40} {queue_id:>5} {min:>12} {max:>12}");
    }
    store.shutdown()?;
    Ok(())
}

fn dump(args: &DumpArgs) -> anyhow::Result<()> {
    let store = open(&args.open)?;
    let got = store.get_message(
        &args.topic,
        args.queue,
        args.from,
        args.max,
        None,
        &AcceptAll,
    );
    println!(
        "status {} next {} min {} max {}",
        got.status.name(),
        got.next_begin_offset,
        got.min_offset,
        got.max_offset
    );
    for (bytes, offset) in got.messages.iter().zip(&got.queue_offsets) {
        let m = MessageView::new(bytes).context("decoding a stored record")?;
        println!(
            "#{offset} phys {} uniq {} tags {} keys [{}] body {} bytes born {} stored {}",
            m.physical_offset(),
            m.uniq_key().unwrap_or("-"),
            m.tags().unwrap_or("-"),
            m.keys().collect::<Vec<_>>().join(" "),
            m.body().len(),
            m.born_timestamp(),
            m.store_timestamp()
        );
    }
    store.shutdown()?;
    Ok(())
}

fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    let store = open(&args.open)?;
    let started = Instant::now();
    let mut last = None;
    for i in 0..args.messages {
        let record = demo_record(i, args)?;
        let result = store.append(&record)?;
        if let Some(wait) = result.flush {
            wait.wait()?;
        }
        last = Some(result.physical_offset);
    }
    let elapsed = started.elapsed();
    report_rate("appended", args.messages, args.size, elapsed);
    if let Some(offset) = last {
        anyhow::ensure!(
            store.wait_dispatched(offset + 1, Duration::from_secs(30)),
            "dispatch stalled"
        );
    }
    let read = read_back(&store, args)?;
    anyhow::ensure!(
        read >= args.messages,
        "read {read} messages, appended {}",
        args.messages
    );
    println!("read back all {read} messages of DemoTopic, sizes and queue offsets verified");
    store.shutdown()?;
    drop(store); // releases the store lock before reopening
    let store = open(&args.open)?;
    let again = read_back(&store, args)?;
    anyhow::ensure!(
        again == read,
        "after restart {again} messages, before {read}"
    );
    println!("after restart: {again} messages, identical");
    store.shutdown()?;
    Ok(())
}

fn demo_record(i: u64, args: &DemoArgs) -> anyhow::Result<MessageRecord> {
    let mut body = vec![b'x'; args.size];
    let stamp = i.to_be_bytes();
    let n = stamp.len().min(body.len());
    body[..n].copy_from_slice(&stamp[..n]);
    Ok(MessageRecord::builder("DemoTopic", body)
        .queue_id((i % args.queues as u64) as i32)
        .property("TAGS", if i % 2 == 0 { "even" } else { "odd" })
        .property("KEYS", format!("demo-{i}"))
        .build()?)
}

/// Reads every message of every demo queue; checks sizes and that logical offsets are dense.
fn read_back(store: &MessageStore, args: &DemoArgs) -> anyhow::Result<u64> {
    let mut total = 0;
    for queue in 0..args.queues {
        let mut offset = store.min_offset_in_queue("DemoTopic", queue);
        let max = store.max_offset_in_queue("DemoTopic", queue);
        loop {
            let got = store.get_message("DemoTopic", queue, offset, 32, None, &AcceptAll);
            if got.messages.is_empty() {
                break;
            }
            for bytes in &got.messages {
                let m = MessageView::new(bytes).context("decoding a stored record")?;
                anyhow::ensure!(
                    m.body().len() == args.size,
                    "body size mismatch at {}",
                    m.physical_offset()
                );
                total += 1;
            }
            offset = got.next_begin_offset;
        }
        anyhow::ensure!(
            offset == max,
            "queue {queue}: stopped at {offset}, max is {max}"
        );
    }
    Ok(total)
}

fn report_rate(what: &str, count: u64, size: usize, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "{what} {count} messages of {size} bytes in {:.3} s: {:.0} msgs/s, {:.1} MB/s",
        secs,
        count as f64 / secs,
        (count as f64 * size as f64) / secs / 1e6
    );
}
