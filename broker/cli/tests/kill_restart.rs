//! `ferrimq standalone` killed with SIGKILL (no shutdown hook runs) and started again on the same
//! data dir: every acknowledged message is still there, and a group's offsets committed before
//! the last periodic persist (flushConsumerOffsetInterval, 5 s by default) are kept, so the group
//! resumes exactly where it stopped.

mod cli_harness;
mod compat_harness;
mod ports;

use std::collections::BTreeSet;
use std::time::Duration;

use cli_harness::{client, consumed, create_topic, generated_body};
use compat_harness::{Result, Standalone};

const TOPIC: &str = "KillRestart";
const GROUP: &str = "KillRestartGroup";
const SENT: usize = 40;
const FIRST: usize = 17;
const BODY: usize = 48;

/// `consume --from-beginning --json` of `count` messages of `group`; returns their bodies.
fn consume(ns: &str, group: &str, count: usize) -> Vec<String> {
    let count = count.to_string();
    let args = [
        "--topic",
        TOPIC,
        "--group",
        group,
        "--count",
        &count,
        "--timeout",
        "30",
        "--json",
        "--from-beginning",
    ];
    let out = client("consume", ns, &args).success("consume");
    consumed(&out)
        .iter()
        .map(|m| m["body"].as_str().expect("body").to_owned())
        .collect()
}

fn produce(ns: &str) -> BTreeSet<String> {
    let (count, size) = (SENT.to_string(), BODY.to_string());
    let args = [
        "--topic", TOPIC, "--count", &count, "--size", &size, "--json",
    ];
    let sent = client("produce", ns, &args).json("produce");
    let sent = sent.as_array().expect("array");
    assert!(sent.iter().all(|r| r["status"] == "SEND_OK"), "{sent:?}");
    (0..SENT).map(|i| generated_body(i, BODY)).collect()
}

#[test]
fn messages_and_persisted_offsets_survive_sigkill() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let ns = node.namesrv();
    create_topic(&ns, TOPIC, "4");
    let sent = produce(&ns);

    let first: BTreeSet<String> = consume(&ns, GROUP, FIRST).into_iter().collect();
    assert_eq!(first.len(), FIRST, "no duplicates in the first half");
    // Past one flushConsumerOffsetInterval (5 s): the commit is on disk before the crash.
    std::thread::sleep(Duration::from_millis(6_500));
    process.kill()?;

    let process = node.start()?;
    // Queues the group committed resume there; the ones it never reached start at their first
    // message (--from-beginning applies to uncommitted queues only).
    let rest: Vec<String> = consume(&ns, GROUP, SENT - FIRST);
    let rest_set: BTreeSet<String> = rest.iter().cloned().collect();
    assert_eq!(
        rest.len(),
        rest_set.len(),
        "no duplicates after the restart"
    );
    assert!(
        first.is_disjoint(&rest_set),
        "committed messages were redelivered"
    );
    let all: BTreeSet<String> = first.union(&rest_set).cloned().collect();
    assert_eq!(all, sent, "the group got every sent message exactly once");

    let again = client(
        "consume",
        &ns,
        &[
            "--topic",
            TOPIC,
            "--group",
            GROUP,
            "--count",
            "1",
            "--timeout",
            "2",
        ],
    )
    .failure("nothing left for the group");
    assert!(again.contains("received 0 of 1"), "{again}");
    let fresh: BTreeSet<String> = consume(&ns, "KillRestartFresh", SENT).into_iter().collect();
    assert_eq!(fresh, sent, "a new group reads all acknowledged messages");
    process.stop()
}
