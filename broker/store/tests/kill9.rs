//! A real `kill -9` of a process appending with SYNC_FLUSH loses no acknowledged message.
//!
//! Each round starts `store-torture` on the same store, lets it acknowledge messages from 8
//! threads, SIGKILLs it at a different moment, then reopens the store here (abnormal recovery,
//! as the `abort` marker says) and checks that every id acknowledged in any round so far is
//! stored at the offset the tool printed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferrimq_store::checkpoint::Checkpoint;
use ferrimq_store::commitlog::{CommitLog, CommitLogConfig, RecoveryMode};
use ferrimq_store::flush::FlushPolicy;
use ferrimq_store::record::MessageView;
use ferrimq_store::seam::real_files;

const FILE_SIZE: usize = 256 * 1024;

/// Runs one round; returns the acknowledged `id -> offset` pairs.
fn run_round(dir: &Path, kill_after: Duration) -> BTreeMap<String, u64> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-torture"))
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--threads",
            "8",
            "--body",
            "300",
        ])
        .args(["--file-size", &FILE_SIZE.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn store-torture");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acked = BTreeMap::new();
    let mut parse = |line: String| {
        let mut parts = line.split(' ');
        if let (Some("ack"), Some(id), Some(off)) = (parts.next(), parts.next(), parts.next()) {
            acked.insert(id.to_owned(), off.parse::<u64>().expect("offset"));
        }
    };
    // Wait for the first acknowledgement, so the kill lands while appends are in flight.
    parse(rx.recv_timeout(Duration::from_secs(30)).expect("first ack"));
    let until = Instant::now() + kill_after;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => parse(line),
            Err(_) => break,
        }
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert!(!status.success(), "the tool was killed, not finished");
    reader.join().unwrap();
    for line in rx.try_iter() {
        parse(line);
    }
    acked
}

/// Opens the store as the broker would after a crash and checks every acknowledged id.
fn verify(dir: &Path, acked: &BTreeMap<String, u64>) {
    assert!(
        dir.join("abort").exists(),
        "a killed run leaves the abort marker"
    );
    let checkpoint = Checkpoint::open(&dir.join("checkpoint")).unwrap();
    let mode = RecoveryMode::decide(true, &checkpoint.data(), false);
    let config = CommitLogConfig {
        file_size: FILE_SIZE,
        max_message_size: FILE_SIZE / 2,
        flush: FlushPolicy::SYNC_DEFAULT,
        ..CommitLogConfig::new(dir.join("commitlog"))
    };
    let (log, outcome) = CommitLog::open(config, real_files(), mode).unwrap();
    for (id, offset) in acked {
        let rec = log
            .read_record(*offset)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged {id} at {offset} lost; recovery: {outcome:?}"));
        let view = MessageView::new(&rec.bytes).unwrap();
        assert_eq!(
            view.uniq_key(),
            Some(id.as_str()),
            "wrong record at {offset}"
        );
        assert_eq!(&view.body()[..id.len()], id.as_bytes());
    }
    let stored = log
        .cursor(0)
        .inspect(|r| assert!(r.is_ok(), "{r:?}"))
        .count();
    assert!(
        stored >= acked.len(),
        "{stored} records for {} acks",
        acked.len()
    );
    assert!(outcome.max_offset >= acked.values().max().copied().unwrap_or(0));
}

#[test]
fn no_acknowledged_message_is_lost_across_kill9_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = BTreeMap::new();
    for round in 0..5u64 {
        let acked = run_round(dir.path(), Duration::from_millis(150 + round * 170));
        assert!(!acked.is_empty(), "round {round} acknowledged nothing");
        all.extend(acked);
        verify(dir.path(), &all);
    }
    assert!(
        all.len() > 100,
        "only {} acknowledgements in 5 rounds",
        all.len()
    );
}

#[test]
fn a_finished_run_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_store-torture"))
        .args([
            "--dir",
            dir.path().to_str().unwrap(),
            "--threads",
            "3",
            "--count",
            "20",
        ])
        .args(["--file-size", &FILE_SIZE.to_string()])
        .output()
        .expect("run store-torture");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acks: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(acks.len(), 60);
    assert!(
        !dir.path().join("abort").exists(),
        "a clean shutdown removes the abort marker"
    );
    let checkpoint = Checkpoint::open(&dir.path().join("checkpoint"))
        .unwrap()
        .data();
    assert!(
        checkpoint.physic_msg_timestamp > 0,
        "the checkpoint was written"
    );
    let config = CommitLogConfig {
        file_size: FILE_SIZE,
        max_message_size: FILE_SIZE / 2,
        ..CommitLogConfig::new(dir.path().join("commitlog"))
    };
    let (log, outcome) = CommitLog::open(config, real_files(), RecoveryMode::Normal).unwrap();
    assert_eq!(outcome.records_scanned, 60);
    assert_eq!(log.cursor(0).count(), 60);
}
