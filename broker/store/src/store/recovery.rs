//! Opening a store: lock, crash detection, CommitLog recovery, then ConsumeQueue and index
//! repair and re-dispatch, so that every derived file agrees with the CommitLog again.
//!
//! The order matters: the CommitLog decides where valid data ends; queues are first cut at
//! their own torn tail, then cut back to the CommitLog's end; index files that may refer to
//! lost or unflushed data are dropped. Re-dispatch then starts at the lowest point any derived
//! file might be missing and runs synchronously up to the CommitLog end (puts are idempotent),
//! after which the CommitLog's queue-offset table is reset from the queues' max offsets.

use std::sync::Arc;

use crate::checkpoint::Checkpoint;
use crate::commitlog::{CommitLog, RecoveryMode, RecoveryOutcome};
use crate::consume_queue::ConsumeQueueTable;
use crate::dispatch::{Targets, dispatch_to_end};
use crate::error::Result;
use crate::index::IndexService;
use crate::seam::SharedSeam;
use crate::store::config::StoreConfig;

/// What opening the store found and repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The `abort` marker was present: the last run did not shut down cleanly.
    pub abnormal: bool,
    /// The CommitLog's recovery.
    pub commit_log: RecoveryOutcome,
    /// ConsumeQueue units dropped from torn or garbage tails.
    pub torn_queue_units: u64,
    /// ConsumeQueue units cut because they pointed past the CommitLog end.
    pub dirty_queue_units: u64,
    /// Re-dispatch started here...
    pub redispatched_from: u64,
    /// ...and ended here (the CommitLog end).
    pub redispatched_to: u64,
}

pub(crate) struct Recovered {
    pub log: Arc<CommitLog>,
    pub targets: Targets,
    pub report: OpenReport,
    pub last_dispatched_timestamp: i64,
}

pub(crate) fn recover(
    config: &StoreConfig,
    seam: SharedSeam,
    checkpoint: &Checkpoint,
    abnormal: bool,
) -> Result<Recovered> {
    let root = &config.store_path_root_dir;
    let cp = checkpoint.data();
    let mode = if abnormal {
        RecoveryMode::Abnormal {
            checkpoint_timestamp: cp.min_timestamp(false),
        }
    } else {
        RecoveryMode::Normal
    };
    let (log, outcome) = CommitLog::open(config.commit_log(), seam.clone(), mode)?;
    let log = Arc::new(log);
    let end = outcome.max_offset;
    let queues = Arc::new(ConsumeQueueTable::load(
        &root.join("consumequeue"),
        config.mapped_file_size_consume_queue,
        seam,
    )?);
    let (mut torn, mut dirty) = (0, 0);
    for q in queues.all() {
        torn += q.recover()?;
        dirty += q.truncate_dirty(end)?;
    }
    let index = if config.message_index_enable {
        Some(Arc::new(IndexService::load(
            &root.join("index"),
            config.max_hash_slot_num,
            config.max_index_num,
        )?))
    } else {
        None
    };
    let index_redo = index
        .as_ref()
        .and_then(|i| i.recover(end, abnormal.then_some(cp.index_msg_timestamp)));
    let from = redispatch_start(&log, &queues, &outcome, abnormal, index_redo);
    let targets = Targets {
        queues: queues.clone(),
        index,
        listener: None,
        delay_levels_ms: config.delay_levels_ms()?.into(),
    };
    let (to, ts) = dispatch_to_end(&log, &targets, from)?;
    let min = log.min_offset();
    for q in queues.all() {
        q.correct_min_offset(min);
        log.set_queue_offset(q.topic(), q.queue_id(), q.max_offset() as i64);
    }
    tracing::info!(
        abnormal,
        from,
        to,
        torn,
        dirty,
        "consume queues and index recovered"
    );
    let report = OpenReport {
        abnormal,
        commit_log: outcome,
        torn_queue_units: torn,
        dirty_queue_units: dirty,
        redispatched_from: from,
        redispatched_to: to,
    };
    Ok(Recovered {
        log,
        targets,
        report,
        last_dispatched_timestamp: ts,
    })
}

/// The lowest CommitLog offset whose derived data may be missing: the end of what the queues
/// cover; after a crash no later than where the CommitLog scan started (data past the
/// checkpoint may not have reached the queues' disk); and no later than the first record of a
/// dropped index file.
fn redispatch_start(
    log: &CommitLog,
    queues: &ConsumeQueueTable,
    outcome: &RecoveryOutcome,
    abnormal: bool,
    index_redo: Option<u64>,
) -> u64 {
    let min = log.min_offset();
    let covered = queues.all().iter().filter_map(|q| q.max_physic_end()).max();
    let mut from = covered.unwrap_or(min);
    if abnormal {
        from = from.min(outcome.scanned_from);
    }
    if let Some(r) = index_redo {
        from = from.min(r);
    }
    from.clamp(min, outcome.max_offset.max(min))
}
