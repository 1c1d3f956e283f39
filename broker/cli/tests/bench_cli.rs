//! `ferrimq bench` against a real `ferrimq standalone` process: the JSON reports must agree
//! exactly with what the broker stored (admin max offsets) and with each other (e2e: everything
//! acknowledged is received once), a fixed rate must send exactly rate x time messages, and bad
//! arguments must fail with a clear message.

mod compat_harness;
mod ports;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use compat_harness::{Result, Standalone};
use ferrimq_client::{Admin, Session, SessionConfig};
use serde_json::Value;

fn bench(args: &[&str]) -> Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_ferrimq"))
        .arg("bench")
        .args(args)
        .output()?)
}

/// Runs `ferrimq bench <args> --json FILE --quiet` and returns the parsed report.
fn bench_json(node: &Standalone, args: &[&str]) -> Result<Value> {
    let file = node.dir.path().join(format!("report-{}.json", args[0]));
    let namesrv = node.namesrv();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--namesrv", &namesrv, "--quiet", "--json"]);
    let file_arg = file.display().to_string();
    all.push(&file_arg);
    let out = bench(&all)?;
    assert!(
        out.status.success(),
        "bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_str(&std::fs::read_to_string(&file)?)?)
}

/// Messages stored in `topics` (sum over queues of max - min offset), asked through the admin
/// API. Consume queues are built asynchronously from the commit log, so this polls (5 s at most)
/// until the count reaches `expected`, and returns the last count seen.
fn stored(node: &Standalone, topics: &[&str], expected: u64) -> Result<u64> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let session = Session::new(SessionConfig::new([node.namesrv()]));
        let admin = Admin::new(session.clone());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut total = 0;
            for topic in topics {
                let stats = admin.topic_stats(topic).await?;
                total += stats
                    .offset_table
                    .values()
                    .map(|o| (o.max_offset - o.min_offset) as u64)
                    .sum::<u64>();
            }
            if total >= expected || Instant::now() > deadline {
                session.shutdown();
                return Ok(total);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{path} missing in {v}"))
}

fn f(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} missing in {v}"))
}

#[test]
fn bench_reports_match_the_broker() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;

    // Sync produce: every acknowledged message is stored, nothing else.
    let produce = bench_json(
        &node,
        &[
            "produce",
            "--topic",
            "BenchSync",
            "--queues",
            "4",
            "--producers",
            "8",
            "--duration",
            "2s",
            "--warmup",
            "1s",
        ],
    )?;
    let acked = u(&produce, "/totals/acknowledged");
    assert_eq!(u(&produce, "/totals/failed"), 0, "{produce}");
    assert_eq!(u(&produce, "/totals/sent"), acked);
    assert!(u(&produce, "/measured/acknowledged") > 0);
    assert!(
        u(&produce, "/measured/acknowledged") < acked,
        "warm-up is not counted"
    );
    assert_eq!(
        u(&produce, "/measured/send_latency/count"),
        u(&produce, "/measured/acknowledged")
    );
    assert!(
        f(&produce, "/measured/send_latency/p99_ms")
            >= f(&produce, "/measured/send_latency/p50_ms")
    );
    assert_eq!(stored(&node, &["BenchSync"], acked)?, acked);

    // Batched async sends over two topics: totals still match the broker exactly.
    let batch = bench_json(
        &node,
        &[
            "produce",
            "--topic",
            "BenchBatch",
            "--topics",
            "2",
            "--queues",
            "2",
            "--producers",
            "4",
            "--mode",
            "async",
            "--inflight",
            "4",
            "--batch",
            "8",
            "--size",
            "256",
            "--duration",
            "1s",
            "--warmup",
            "0s",
        ],
    )?;
    let batch_acked = u(&batch, "/totals/acknowledged");
    assert_eq!(batch_acked % 8, 0, "batches are acknowledged whole");
    assert_eq!(u(&batch, "/totals/failed"), 0, "{batch}");
    assert_eq!(
        stored(&node, &["BenchBatch-0", "BenchBatch-1"], batch_acked)?,
        batch_acked
    );

    // End to end: everything acknowledged arrives exactly once.
    let e2e = bench_json(
        &node,
        &[
            "e2e",
            "--topic",
            "BenchE2e",
            "--queues",
            "4",
            "--producers",
            "4",
            "--mode",
            "async",
            "--inflight",
            "4",
            "--duration",
            "2s",
            "--warmup",
            "1s",
        ],
    )?;
    let acked = u(&e2e, "/counts/acknowledged");
    assert!(acked > 0);
    assert_eq!(u(&e2e, "/counts/sent"), acked);
    assert_eq!(u(&e2e, "/counts/received"), acked, "{e2e}");
    assert_eq!(u(&e2e, "/counts/missing"), 0);
    assert_eq!(u(&e2e, "/counts/duplicates"), 0);
    assert_eq!(u(&e2e, "/counts/received_unacknowledged"), 0);
    assert_eq!(u(&e2e, "/consume/total_received"), acked);
    assert_eq!(
        u(&e2e, "/consume/e2e_latency/count"),
        u(&e2e, "/produce/measured/acknowledged"),
        "every message sent in the window has an e2e latency"
    );
    assert_eq!(stored(&node, &["BenchE2e"], acked)?, acked);
    process.stop()
}

#[test]
fn fixed_rate_sends_exactly_rate_times_duration() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let report = bench_json(
        &node,
        &[
            "produce",
            "--topic",
            "BenchRate",
            "--producers",
            "4",
            "--rate",
            "400",
            "--duration",
            "1s",
            "--warmup",
            "1s",
        ],
    )?;
    // Slots are due every 2.5 ms from the start: 400 in the warm-up, 400 measured.
    assert_eq!(u(&report, "/totals/sent"), 800, "{report}");
    assert_eq!(u(&report, "/totals/acknowledged"), 800);
    assert_eq!(u(&report, "/measured/sent"), 400);
    assert_eq!(u(&report, "/measured/acknowledged"), 400);
    assert!(
        report["latency_from"]
            .as_str()
            .is_some_and(|s| s.contains("intended send time when behind")),
        "{report}"
    );
    assert_eq!(stored(&node, &["BenchRate"], 800)?, 800);
    process.stop()
}

#[test]
fn bad_arguments_fail_clearly() -> Result<()> {
    let cases: [(&[&str], &str); 5] = [
        (
            &["produce", "--producers", "0"],
            "invalid option --producers",
        ),
        (
            &["produce", "--mode", "turbo"],
            "unknown send mode \"turbo\"",
        ),
        (
            &["produce", "--duration", "5parsecs"],
            "unknown unit \"parsecs\"",
        ),
        (
            &["produce", "--mode", "oneway", "--batch", "4"],
            "oneway sends single messages only",
        ),
        (
            &["consume", "--mode", "push"],
            "unknown consume mode \"push\"",
        ),
    ];
    for (args, expected) in cases {
        let out = bench(args)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: stderr {stderr}");
    }
    Ok(())
}
