//! store-torture: appends messages with SYNC_FLUSH from several threads and prints one line per
//! acknowledged message, `ack <id> <commit log offset>`, flushing stdout after each line. The
//! kill -9 test SIGKILLs it mid-run, reopens the store and checks every printed id is there.
//!
//! It opens the store the way the broker does: the `lock` file, the `abort` marker (present at
//! start = the last run crashed = abnormal recovery from the checkpoint), the `checkpoint`
//! (refreshed every 100 ms from the CommitLog's flushed store timestamp).
//!
//! Usage: `store-torture --dir DIR [--threads N] [--count N] [--body BYTES] [--file-size BYTES]`
//! (`--count 0`, the default, appends until killed; otherwise N messages per thread).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrimq_store::checkpoint::{AbortMarker, Checkpoint, StoreLock};
use ferrimq_store::commitlog::{CommitLog, CommitLogConfig, RecoveryMode};
use ferrimq_store::flush::{FlushPolicy, FlushStatus};
use ferrimq_store::record::MessageRecord;
use ferrimq_store::seam::real_files;

type Error = Box<dyn std::error::Error>;

struct Args {
    dir: PathBuf,
    threads: usize,
    count: u64,
    body: usize,
    file_size: usize,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        dir: PathBuf::new(),
        threads: 4,
        count: 0,
        body: 256,
        file_size: 1 << 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => args.dir = PathBuf::from(value()?),
            "--threads" => args.threads = value()?.parse()?,
            "--count" => args.count = value()?.parse()?,
            "--body" => args.body = value()?.parse()?,
            "--file-size" => args.file_size = value()?.parse()?,
            "-h" | "--help" => {
                println!(
                    "store-torture --dir DIR [--threads N] [--count N] [--body B] [--file-size B]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if args.dir.as_os_str().is_empty() {
        return Err("--dir is required".into());
    }
    Ok(args)
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let _lock = StoreLock::acquire(&args.dir)?;
    let abort = AbortMarker::create(&args.dir)?;
    let checkpoint = Arc::new(Checkpoint::open(&args.dir.join("checkpoint"))?);
    let mode = RecoveryMode::decide(abort.was_present(), &checkpoint.data(), false);
    let config = CommitLogConfig {
        file_size: args.file_size,
        max_message_size: (args.file_size / 2).min(4 << 20),
        flush: FlushPolicy::SYNC_DEFAULT,
        ..CommitLogConfig::new(args.dir.join("commitlog"))
    };
    let (log, outcome) = CommitLog::open(config, real_files(), mode)?;
    eprintln!("recovered: {outcome:?}");
    let log = Arc::new(log);
    let stop = Arc::new(AtomicBool::new(false));
    let checkpointer = spawn_checkpointer(Arc::clone(&log), Arc::clone(&checkpoint), stop.clone());
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let workers: Vec<_> = (0..args.threads)
        .map(|t| {
            let (log, out) = (Arc::clone(&log), Arc::clone(&out));
            let (count, body) = (args.count, args.body);
            std::thread::spawn(move || append_loop(&log, &out, t, count, body))
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "worker panicked")??;
    }
    stop.store(true, Ordering::Release);
    let _ = checkpointer.join();
    log.shutdown()?;
    let ts = log.flushed_store_timestamp();
    checkpoint.update(|d| {
        d.physic_msg_timestamp = ts;
        d.logics_msg_timestamp = ts;
    });
    checkpoint.flush()?;
    abort.clear()?;
    Ok(())
}

fn append_loop(
    log: &CommitLog,
    out: &Mutex<std::io::Stdout>,
    thread: usize,
    count: u64,
    body: usize,
) -> Result<(), String> {
    let pid = std::process::id();
    let mut seq = 0u64;
    while count == 0 || seq < count {
        let id = format!("p{pid}-t{thread}-{seq}");
        let mut payload = id.clone().into_bytes();
        payload.resize(body.max(payload.len()), b'.');
        let msg = MessageRecord::builder("TortureTopic", payload)
            .queue_id(thread as i32)
            .property("UNIQ_KEY", id.as_str())
            .build()
            .map_err(|e| e.to_string())?;
        let put = log.append(&msg).map_err(|e| e.to_string())?;
        let wait = put.flush.ok_or("SYNC_FLUSH returns a flush handle")?;
        match wait.wait().map_err(|e| e.to_string())? {
            FlushStatus::Durable => {
                let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
                writeln!(o, "ack {id} {}", put.physical_offset).map_err(|e| e.to_string())?;
                o.flush().map_err(|e| e.to_string())?;
            }
            FlushStatus::TimedOut => eprintln!("flush timed out for {id}"),
        }
        seq += 1;
    }
    Ok(())
}

fn spawn_checkpointer(
    log: Arc<CommitLog>,
    checkpoint: Arc<Checkpoint>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(100));
            let ts = log.flushed_store_timestamp();
            checkpoint.update(|d| {
                d.physic_msg_timestamp = ts;
                // No ConsumeQueues here: the logic timestamp follows the CommitLog.
                d.logics_msg_timestamp = ts;
            });
            if let Err(e) = checkpoint.flush() {
                eprintln!("checkpoint flush failed: {e}");
            }
        }
    })
}
