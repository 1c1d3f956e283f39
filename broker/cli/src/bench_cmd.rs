//! `ferrimq bench produce|consume|e2e`: the load generator's command line.
//!
//! Maps flags onto `ferrimq-bench` options, runs the workload on a multi-threaded runtime, prints
//! a human summary on stderr and the JSON report on stdout (or into `--json FILE`). The flag
//! names are a contract: scripts/ comparison runs call them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use ferrimq_bench::{
    ConsumeOptions, E2eOptions, LatencySummary, ProduceOptions, PullMode, SendMode, StartFrom,
    Target,
};
use ferrimq_remoting::SerializeType;

/// Load-generator workloads.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Send messages as fast as possible (or at --rate) and report throughput and send latency.
    Produce(ProduceArgs),
    /// Consume a group's queues (long polling or plain pulls) and report throughput.
    Consume(ConsumeArgs),
    /// Produce and consume at once: end-to-end latency and exact sent/received counts.
    E2e(E2eArgs),
    /// Retry a 1-byte send until one is accepted; print the milliseconds since --since-ms.
    FirstSend(FirstSendArgs),
}

/// `bench first-send`: start-up time as a client sees it.
#[derive(Debug, Args)]
pub struct FirstSendArgs {
    /// Name-server address(es), "host:port[;host:port]".
    #[arg(long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    /// Topic to send to (auto-created through TBW102 when the broker allows it).
    #[arg(long, default_value = "BenchFirstSend")]
    topic: String,
    /// Unix time in milliseconds to measure from (e.g. when the broker was spawned); default: now.
    #[arg(long)]
    since_ms: Option<u64>,
    /// Give up after this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
}

/// Cluster and topic flags shared by every workload.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Name-server address(es), "host:port[;host:port]".
    #[arg(long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    /// Topic (with --topics N > 1: the prefix of T-0 .. T-(N-1)).
    #[arg(long, default_value = "FerrimqBench")]
    topic: String,
    /// Number of topics the load is spread over.
    #[arg(long, default_value_t = 1)]
    topics: usize,
    /// Read/write queues per topic when creating topics.
    #[arg(long, default_value_t = 8)]
    queues: u32,
    /// Create (or update) the topics through the admin client first.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    create_topic: bool,
    /// Cluster the topics are created in.
    #[arg(long, default_value = "DefaultCluster")]
    cluster: String,
    /// Request header serialization: rocketmq (binary, cheaper for both ends) or json (the Java
    /// clients' default). Both brokers of a comparison are driven the same way.
    #[arg(long, default_value = "rocketmq", value_parser = parse_serialize)]
    serialize: SerializeType,
    /// Measured duration (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Warm-up before measuring, not counted.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    warmup: Duration,
    /// Write the JSON report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

/// Producer flags.
#[derive(Debug, Args)]
pub struct ProducerArgs {
    /// Concurrent producers (each keeps one send outstanding in sync mode).
    #[arg(long, default_value_t = 64)]
    producers: usize,
    /// Client connections the producers share.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Body size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Messages per send (> 1 uses batch sends).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// sync, async or oneway.
    #[arg(long, default_value = "sync")]
    mode: SendMode,
    /// Sends outstanding per producer in async mode.
    #[arg(long, default_value_t = 16)]
    inflight: usize,
    /// Fixed total rate, messages/s; latency is then measured from the intended send time.
    #[arg(long, value_name = "MSGS_PER_S")]
    rate: Option<f64>,
    /// Producer group.
    #[arg(long, default_value = "ferrimq_bench_producer")]
    producer_group: String,
}

/// Consumer flags.
#[derive(Debug, Args)]
pub struct ConsumerArgs {
    /// Consumer group.
    #[arg(long, default_value = "ferrimq_bench_consumer")]
    group: String,
    /// Consumers (each its own connection); queues are split between them.
    #[arg(long, default_value_t = 1)]
    consumers: usize,
    /// Messages per pull.
    #[arg(long, default_value_t = 32)]
    pull_batch: i32,
    /// How long the broker may hold a long-poll pull.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    suspend: Duration,
}

/// `bench produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    producer: ProducerArgs,
}

/// `bench consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    consumer: ConsumerArgs,
    /// long-poll (broker holds empty pulls, push-consumer style) or pull.
    #[arg(long, default_value = "long-poll")]
    mode: PullMode,
    /// Where queues start: first, last or committed.
    #[arg(long, default_value = "last")]
    from: StartFrom,
}

/// `bench e2e`.
#[derive(Debug, Args)]
pub struct E2eArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    producer: ProducerArgs,
    #[command(flatten)]
    consumer: ConsumerArgs,
    /// Consumer fetch style: long-poll or pull.
    #[arg(long, default_value = "long-poll")]
    consume_mode: PullMode,
    /// Time allowed after the last send for acknowledged messages to arrive.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    drain: Duration,
}

/// Parses a header serialization name.
fn parse_serialize(text: &str) -> Result<SerializeType, String> {
    match text.to_ascii_lowercase().as_str() {
        "json" => Ok(SerializeType::Json),
        "rocketmq" => Ok(SerializeType::RocketMq),
        _ => Err(format!("unknown serialization {text:?} (json or rocketmq)")),
    }
}

/// Parses "30s", "500ms", "2m", "1h" or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 500ms or 2m"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" => value / 1e6,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {text:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

impl TargetArgs {
    fn target(&self) -> Target {
        Target {
            namesrv: self.namesrv.clone(),
            topic: self.topic.clone(),
            topics: self.topics,
            queues: self.queues,
            create_topic: self.create_topic,
            cluster: self.cluster.clone(),
            serialize: self.serialize,
        }
    }
}

fn produce_options(target: &TargetArgs, p: &ProducerArgs) -> ProduceOptions {
    ProduceOptions {
        target: target.target(),
        producers: p.producers,
        connections: p.connections,
        size: p.size,
        batch: p.batch,
        mode: p.mode,
        inflight: p.inflight,
        rate: p.rate,
        duration: target.duration,
        warmup: target.warmup,
        group: p.producer_group.clone(),
        progress: !target.quiet,
    }
}

fn consume_options(
    target: &TargetArgs,
    c: &ConsumerArgs,
    mode: PullMode,
    from: StartFrom,
) -> ConsumeOptions {
    ConsumeOptions {
        target: target.target(),
        group: c.group.clone(),
        consumers: c.consumers,
        mode,
        pull_batch: c.pull_batch,
        suspend: c.suspend,
        from,
        duration: target.duration,
        warmup: target.warmup,
        progress: !target.quiet,
    }
}

/// Runs one workload and writes its report.
pub fn run(command: BenchCommand, io_threads: Option<usize>) -> anyhow::Result<()> {
    let runtime = crate::runtime::build(crate::runtime::Role::LoadGenerator, io_threads)?;
    if let BenchCommand::FirstSend(a) = &command {
        return runtime.block_on(first_send(a));
    }
    let (json, summary, target) = runtime.block_on(async {
        match &command {
            BenchCommand::Produce(a) => {
                let report = ferrimq_bench::run_produce(&produce_options(&a.target, &a.producer))
                    .await?;
                let text = produce_text(&report);
                anyhow::Ok((serde_json::to_string_pretty(&report)?, text, &a.target))
            }
            BenchCommand::Consume(a) => {
                let options = consume_options(&a.target, &a.consumer, a.mode, a.from);
                let report = ferrimq_bench::run_consume(&options).await?;
                let text = consume_text(&report);
                anyhow::Ok((serde_json::to_string_pretty(&report)?, text, &a.target))
            }
            BenchCommand::FirstSend(_) => unreachable!("handled before"),
            BenchCommand::E2e(a) => {
                let options = E2eOptions {
                    produce: produce_options(&a.target, &a.producer),
                    consume: consume_options(
                        &a.target,
                        &a.consumer,
                        a.consume_mode,
                        StartFrom::Last,
                    ),
                    drain: a.drain,
                };
                let report = ferrimq_bench::run_e2e(&options).await?;
                let c = report.counts;
                let text = format!(
                    "{}{}counts: sent {} acknowledged {} failed {} received {} duplicates {} missing {} received-unacknowledged {}\n",
                    produce_text(&report.produce),
                    consume_text(&report.consume),
                    c.sent,
                    c.acknowledged,
                    c.failed,
                    c.received,
                    c.duplicates,
                    c.missing,
                    c.received_unacknowledged
                );
                anyhow::Ok((serde_json::to_string_pretty(&report)?, text, &a.target))
            }
        }
    })?;
    eprint!("{summary}");
    match &target.json {
        Some(path) => std::fs::write(path, json + "\n")
            .with_context(|| format!("writing {}", path.display()))?,
        None => println!("{json}"),
    }
    Ok(())
}

/// Prints the milliseconds from `--since-ms` (or from now) to the first accepted send.
async fn first_send(a: &FirstSendArgs) -> anyhow::Result<()> {
    let unix_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    };
    let since = a.since_ms.unwrap_or_else(unix_ms);
    let target = Target {
        namesrv: a.namesrv.clone(),
        topic: a.topic.clone(),
        topics: 1,
        queues: 4,
        create_topic: false,
        cluster: String::new(),
        serialize: SerializeType::Json,
    };
    ferrimq_bench::first_send(&target, a.timeout).await?;
    println!("{}", unix_ms().saturating_sub(since));
    Ok(())
}

fn latency_text(name: &str, l: &LatencySummary) -> String {
    format!(
        "{name} latency ms: p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3} (n={})\n",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.count
    )
}

fn produce_text(r: &ferrimq_bench::ProduceReport) -> String {
    let m = &r.measured;
    format!(
        "produce {:?}: {:.0} msgs/s, {:.1} MB/s over {:.1}s (sent {} acked {} failed {}; errors {:?})\n{}latency measured from {}\n",
        r.mode,
        m.msgs_per_s,
        m.mb_per_s,
        r.measured_s,
        m.sent,
        m.acknowledged,
        m.failed,
        r.totals.errors_by_kind,
        latency_text("send", &m.send_latency),
        r.latency_from
    )
}

fn consume_text(r: &ferrimq_bench::ConsumeReport) -> String {
    format!(
        "consume {:?}: {:.0} msgs/s, {:.1} MB/s over {:.1}s ({} queues, received {}; errors {:?})\n{}",
        r.mode,
        r.msgs_per_s,
        r.mb_per_s,
        r.measured_s,
        r.queues,
        r.total_received,
        r.errors_by_kind,
        latency_text("e2e", &r.e2e_latency)
    )
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
