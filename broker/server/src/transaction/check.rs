//! The transaction check-back service (Java `TransactionalMessageServiceImpl.check`).
//!
//! Every `transactionCheckInterval` one round walks half queue 0 from its offset (consumer offset
//! of `CID_RMQ_SYS_TRANS`) up to the end seen when the round started:
//! - a half message an op record resolves is passed;
//! - a half message younger than `transactionTimeOut` stops the round (later ones are younger);
//!   with CHECK_IMMUNITY_TIME_IN_SECONDS it is instead put back at the end of the queue (the
//!   copy remembers the original offset) until its own immunity time has passed;
//! - a half message already checked `transactionCheckMax` times moves to
//!   `TRANS_CHECK_MAX_TIME_TOPIC`;
//! - otherwise a copy with TRANSACTION_CHECK_TIMES + 1 is appended to the half queue and
//!   CHECK_TRANSACTION_STATE about the copy goes to a live producer of its group (PGROUP), who
//!   answers with END_TRANSACTION naming the copy. No producer online: the copy waits for the
//!   next round.
//!
//! After the round the half offset and the op offset (past the op records that only resolve
//! passed half messages) are committed; consumerOffset.json carries them over a restart.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ferrimq_config::group::CID_RMQ_SYS_TRANS;
use ferrimq_config::topic::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use ferrimq_remoting::header::typed::CheckTransactionStateRequestHeader;
use ferrimq_remoting::{RemotingCommand, RequestCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_store::record::msg_id;
use ferrimq_transport::next_opaque;
use tokio::sync::watch;

use super::log::{HalfMessage, OpRecord, TransactionLog, now_ms};
use super::{
    PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS, PROPERTY_PRODUCER_GROUP,
    PROPERTY_TRANSACTION_CHECK_TIMES, PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET,
    PROPERTY_UNIQ_KEY, TransactionError,
};
use crate::producers::ProducerRegistry;

/// Where check-back requests go: a live connection of a producer group.
pub trait CheckBack: Send + Sync + std::fmt::Debug {
    /// Sends `request` (oneway) to one live producer of `group`; false when none is online.
    fn send_check(&self, group: &str, request: RemotingCommand) -> bool;
}

impl CheckBack for ProducerRegistry {
    fn send_check(&self, group: &str, request: RemotingCommand) -> bool {
        let Some(channel) = self.available_channel(group) else {
            return false;
        };
        match channel.send_oneway(request) {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(group, peer = %channel.peer_addr(), error = %err, "check-back send failed");
                false
            }
        }
    }
}

/// Check-back settings.
#[derive(Debug, Clone)]
pub struct CheckPolicy {
    /// `transactionCheckInterval`.
    pub interval: Duration,
    /// `transactionTimeOut` in ms: age of a half message before its first check.
    pub timeout_ms: i64,
    /// `transactionCheckMax`.
    pub check_max: u32,
    /// `brokerName`, sent as `bname`.
    pub broker_name: String,
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckRound {
    /// Half messages passed because an op record resolves them.
    pub resolved: usize,
    /// Check-backs written (whether or not a producer was online to receive them).
    pub checked: usize,
    /// Check-backs actually sent to a producer.
    pub sent: usize,
    /// Half messages moved to TRANS_CHECK_MAX_TIME_TOPIC.
    pub discarded: usize,
    /// Half messages put back during their immunity time.
    pub immune: usize,
    /// Half offset committed after the round.
    pub half_offset: i64,
    /// Op offset committed after the round.
    pub op_offset: i64,
}

/// Op records read so far in a round, and the half offsets they resolve.
#[derive(Debug, Default)]
struct OpIndex {
    ops: Vec<OpRecord>,
    resolved: HashSet<i64>,
    next: i64,
}

impl OpIndex {
    fn load(log: &TransactionLog, from: i64) -> Self {
        let mut index = OpIndex {
            next: from,
            ..OpIndex::default()
        };
        index.refresh(log);
        index
    }

    /// Reads the op records written since the last read.
    fn refresh(&mut self, log: &TransactionLog) {
        for op in log.read_ops(self.next) {
            self.next = op.op_offset + 1;
            self.resolved.extend(op.half_offsets.iter().copied());
            self.ops.push(op);
        }
    }

    /// First op record still needed once every half offset below `half_offset` is passed.
    fn committed_offset(&self, half_offset: i64) -> i64 {
        self.ops
            .iter()
            .find(|op| op.half_offsets.iter().any(|o| *o >= half_offset))
            .map_or(self.next, |op| op.op_offset)
    }
}

/// What to do with one half queue offset.
enum Step {
    /// Move past it.
    Pass,
    /// Stop the round here.
    Stop,
}

/// The check-back service.
#[derive(Debug)]
pub struct TransactionChecker {
    log: Arc<TransactionLog>,
    metadata: Arc<Metadata>,
    producers: Arc<dyn CheckBack>,
    policy: CheckPolicy,
}

impl TransactionChecker {
    /// A checker over `log`, keeping its offsets in `metadata`, checking back through `producers`.
    pub fn new(
        log: Arc<TransactionLog>,
        metadata: Arc<Metadata>,
        producers: Arc<dyn CheckBack>,
        policy: CheckPolicy,
    ) -> Self {
        TransactionChecker {
            log,
            metadata,
            producers,
            policy,
        }
    }

    /// Runs a round every `interval` until stopped.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let interval = self.policy.interval.max(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return,
            }
            let checker = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || checker.check_once(now_ms())).await {
                Ok(Ok(round)) if round != CheckRound::default() => {
                    tracing::debug!(?round, "transaction check round")
                }
                Ok(Ok(_)) => {}
                Ok(Err(err)) => tracing::warn!(error = %err, "transaction check round failed"),
                Err(err) => tracing::error!(error = %err, "transaction check task failed"),
            }
        }
    }

    /// One round at wall-clock `now` (ms).
    pub fn check_once(&self, now: i64) -> Result<CheckRound, TransactionError> {
        let (half_min, half_max) = self.log.half_queue_range();
        if half_max == 0 {
            // No transaction ever: leave consumerOffset.json without the system group.
            return Ok(CheckRound::default());
        }
        let (op_min, _) = self.log.op_queue_range();
        let offsets = &self.metadata.consumer_offsets;
        let stored_half = offsets.query(TRANS_HALF_TOPIC, CID_RMQ_SYS_TRANS, 0);
        let stored_op = offsets.query(TRANS_OP_HALF_TOPIC, CID_RMQ_SYS_TRANS, 0);
        let mut half_offset = stored_half.unwrap_or(0).max(half_min);
        let mut ops = OpIndex::load(&self.log, stored_op.unwrap_or(0).max(op_min));
        let mut round = CheckRound::default();
        while half_offset < half_max {
            match self.step(half_offset, &mut ops, now, &mut round)? {
                Step::Pass => half_offset += 1,
                Step::Stop => break,
            }
        }
        round.half_offset = half_offset;
        round.op_offset = ops.committed_offset(half_offset);
        if stored_half != Some(round.half_offset) {
            offsets.commit(TRANS_HALF_TOPIC, CID_RMQ_SYS_TRANS, 0, round.half_offset);
        }
        if stored_op != Some(round.op_offset) {
            offsets.commit(TRANS_OP_HALF_TOPIC, CID_RMQ_SYS_TRANS, 0, round.op_offset);
        }
        Ok(round)
    }

    fn step(
        &self,
        offset: i64,
        ops: &mut OpIndex,
        now: i64,
        round: &mut CheckRound,
    ) -> Result<Step, TransactionError> {
        if ops.resolved.contains(&offset) {
            round.resolved += 1;
            return Ok(Step::Pass);
        }
        let Some(half) = self.log.half_at_queue_offset(offset) else {
            tracing::warn!(offset, "half message unreadable; skipped");
            return Ok(Step::Pass);
        };
        let age = now - half.born_timestamp;
        if let Some(immunity) = immunity_ms(&half) {
            if age < immunity {
                return self.immune(&half, ops, round);
            }
        } else if (0..self.policy.timeout_ms).contains(&age) {
            return Ok(Step::Stop);
        }
        ops.refresh(&self.log);
        if ops.resolved.contains(&offset) {
            round.resolved += 1;
            return Ok(Step::Pass);
        }
        let times = check_times(&half);
        if times >= self.policy.check_max {
            self.log.discard(&half)?;
            tracing::info!(
                offset,
                times,
                "half message checked too often; moved to TRANS_CHECK_MAX_TIME_TOPIC"
            );
            round.discarded += 1;
            return Ok(Step::Pass);
        }
        self.check_back(&half, times + 1, round)?;
        Ok(Step::Pass)
    }

    /// A half message inside its own immunity time: passed when the original it copies is
    /// resolved, else put back to wait.
    fn immune(
        &self,
        half: &HalfMessage,
        ops: &OpIndex,
        round: &mut CheckRound,
    ) -> Result<Step, TransactionError> {
        let original = half
            .properties
            .get(PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET)
            .and_then(|v| v.parse::<i64>().ok());
        if original.is_some_and(|o| ops.resolved.contains(&o)) {
            round.resolved += 1;
            return Ok(Step::Pass);
        }
        self.log.put_back_immune(half)?;
        round.immune += 1;
        Ok(Step::Pass)
    }

    /// Appends the copy with `times` checks and sends CHECK_TRANSACTION_STATE about it.
    fn check_back(
        &self,
        half: &HalfMessage,
        times: u32,
        round: &mut CheckRound,
    ) -> Result<(), TransactionError> {
        let mut props = half.properties.clone();
        props.insert(PROPERTY_TRANSACTION_CHECK_TIMES, times.to_string());
        let copy_at = self.log.put_back(half, props.clone())?;
        round.checked += 1;
        let copy = HalfMessage {
            commit_log_offset: copy_at.commit_log_offset,
            queue_offset: copy_at.queue_offset,
            properties: props,
            ..half.clone()
        };
        let group = copy
            .properties
            .get(PROPERTY_PRODUCER_GROUP)
            .unwrap_or("")
            .to_owned();
        let request = self.check_request(&copy)?;
        if self.producers.send_check(&group, request) {
            round.sent += 1;
        } else {
            tracing::debug!(
                group,
                offset = copy.queue_offset,
                "no producer online for a check-back"
            );
        }
        Ok(())
    }

    /// CHECK_TRANSACTION_STATE about `half` (header as Java's `sendCheckMessage`).
    fn check_request(&self, half: &HalfMessage) -> Result<RemotingCommand, TransactionError> {
        let (topic, _) = half.real_destination()?;
        let uniq = half.properties.get(PROPERTY_UNIQ_KEY).map(str::to_owned);
        let header = CheckTransactionStateRequestHeader {
            topic: Some(topic),
            tran_state_table_offset: half.queue_offset,
            commit_log_offset: half.commit_log_offset,
            msg_id: uniq.clone(),
            transaction_id: uniq,
            offset_msg_id: Some(msg_id::encode(half.store_host, half.commit_log_offset)),
            broker_name: Some(self.policy.broker_name.clone()),
        };
        Ok(
            RemotingCommand::request(RequestCode::CheckTransactionState, next_opaque())
                .with_header(&header)
                .with_body(half.check_body()?)
                .into_oneway(),
        )
    }
}

/// CHECK_IMMUNITY_TIME_IN_SECONDS in ms, when present and valid.
fn immunity_ms(half: &HalfMessage) -> Option<i64> {
    let seconds: i64 = half
        .properties
        .get(PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS)?
        .trim()
        .parse()
        .ok()?;
    Some(seconds.saturating_mul(1000))
}

/// TRANSACTION_CHECK_TIMES (0 before the first check).
fn check_times(half: &HalfMessage) -> u32 {
    half.properties
        .get(PROPERTY_TRANSACTION_CHECK_TIMES)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The broker's checker: settings from `config`, check-backs through the producer table.
pub(crate) fn checker_for(
    config: &ferrimq_config::BrokerConfig,
    h: &crate::broker::Handles,
    store_host: std::net::SocketAddr,
) -> Arc<TransactionChecker> {
    let s = &config.broker;
    let log = TransactionLog::new(Arc::clone(&h.store), Arc::clone(&h.topics), store_host);
    let policy = CheckPolicy {
        interval: Duration::from_millis(s.transaction_check_interval),
        timeout_ms: i64::try_from(s.transaction_time_out).unwrap_or(i64::MAX),
        check_max: s.transaction_check_max,
        broker_name: s.broker_name.clone(),
    };
    let producers = Arc::clone(&h.producers) as Arc<dyn CheckBack>;
    Arc::new(TransactionChecker::new(
        Arc::new(log),
        Arc::clone(&h.metadata),
        producers,
        policy,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topics::TopicRegistry;
    use crate::transaction::{PROPERTY_TRANSACTION_PREPARED, divert_half};
    use ferrimq_remoting::header::typed::EndTransactionRequestHeader;
    use ferrimq_store::record::{MessageRecord, MessageView, Properties};
    use ferrimq_store::seam::real_files;
    use ferrimq_store::store::{MessageStore, StoreConfig};
    use std::sync::Mutex;

    const BORN: i64 = 1_700_000_000_000;
    const TIMEOUT: i64 = 6_000;

    /// Records check-backs; `online` says whether a producer is there to get them.
    #[derive(Debug, Default)]
    struct Recorder {
        online: bool,
        sent: Mutex<Vec<(String, RemotingCommand)>>,
    }

    impl CheckBack for Recorder {
        fn send_check(&self, group: &str, request: RemotingCommand) -> bool {
            if self.online {
                let mut sent = self.sent.lock().expect("sent");
                sent.push((group.to_owned(), request));
            }
            self.online
        }
    }

    struct Setup {
        _dir: tempfile::TempDir,
        log: Arc<TransactionLog>,
        metadata: Arc<Metadata>,
        recorder: Arc<Recorder>,
        checker: TransactionChecker,
    }

    fn setup(online: bool, check_max: u32) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = StoreConfig::new(dir.path());
        config.mapped_file_size_commit_log = 1 << 20;
        let store = Arc::new(MessageStore::open(config).expect("store"));
        let metadata = Metadata::open(&dir.path().join("config"), real_files()).expect("metadata");
        let metadata = Arc::new(metadata);
        let settings = ferrimq_config::BrokerConfig::default().broker;
        let topics = Arc::new(TopicRegistry::new(Arc::clone(&metadata), &settings));
        let host = std::net::SocketAddr::from(([127, 0, 0, 1], 10911));
        let log = Arc::new(TransactionLog::new(store, topics, host));
        let recorder = Arc::new(Recorder {
            online,
            ..Recorder::default()
        });
        let policy = CheckPolicy {
            interval: Duration::from_secs(1),
            timeout_ms: TIMEOUT,
            check_max,
            broker_name: "broker-a".into(),
        };
        let producers = Arc::clone(&recorder) as Arc<dyn CheckBack>;
        let checker =
            TransactionChecker::new(Arc::clone(&log), Arc::clone(&metadata), producers, policy);
        Setup {
            _dir: dir,
            log,
            metadata,
            recorder,
            checker,
        }
    }

    /// Appends a half message for (T, 1) born at `born`, with extra properties.
    fn half(s: &Setup, body: &'static [u8], born: i64, extra: &[(&str, &str)]) {
        let mut props = Properties::new();
        props.insert(PROPERTY_TRANSACTION_PREPARED, "true");
        props.insert(PROPERTY_PRODUCER_GROUP, "PG");
        props.insert(
            PROPERTY_UNIQ_KEY,
            format!("U-{}", String::from_utf8_lossy(body)),
        );
        for (k, v) in extra {
            props.insert(*k, *v);
        }
        let (topic, queue) = divert_half(&mut props, "T", 1).expect("half");
        let record = MessageRecord::builder(topic, body)
            .queue_id(queue)
            .born_timestamp(born)
            .properties(props)
            .build()
            .expect("record");
        s.log.store().append(&record).expect("append");
        settle(s);
    }

    fn settle(s: &Setup) {
        let store = s.log.store();
        let end = store.commit_log_max_offset();
        assert!(store.wait_dispatched(end, Duration::from_secs(5)));
    }

    fn sent_headers(s: &Setup) -> Vec<CheckTransactionStateRequestHeader> {
        let sent = s.recorder.sent.lock().expect("sent");
        sent.iter()
            .map(|(group, r)| {
                assert_eq!(group, "PG");
                assert!(r.is_oneway());
                r.decode_header().expect("header")
            })
            .collect()
    }

    #[test]
    fn young_halves_wait_and_old_ones_are_checked_once() {
        let s = setup(true, 15);
        half(&s, b"old", BORN, &[]);
        half(&s, b"young", BORN + TIMEOUT, &[]);
        let round = s.checker.check_once(BORN + TIMEOUT + 1).expect("round");
        assert_eq!((round.checked, round.sent, round.half_offset), (1, 1, 1));
        let headers = sent_headers(&s);
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].tran_state_table_offset, 2, "the copy at the end");
        assert_eq!(headers[0].msg_id.as_deref(), Some("U-old"));
        let sent = s.recorder.sent.lock().expect("sent")[0].1.body.clone();
        let view = MessageView::new(&sent).expect("check body");
        assert_eq!((view.topic(), view.queue_id()), ("T", 1));
        assert_eq!(view.property(PROPERTY_TRANSACTION_CHECK_TIMES), Some("1"));
        let offsets = &s.metadata.consumer_offsets;
        assert_eq!(
            offsets.query(TRANS_HALF_TOPIC, CID_RMQ_SYS_TRANS, 0),
            Some(1)
        );
    }

    #[test]
    fn an_op_record_resolves_and_the_op_offset_follows() {
        let s = setup(true, 15);
        half(&s, b"a", BORN, &[]);
        half(&s, b"b", BORN, &[]);
        let first = s.log.half_at_queue_offset(0).expect("half a");
        s.log.append_op(&first).expect("op");
        settle(&s);
        let round = s.checker.check_once(BORN + TIMEOUT + 1).expect("round");
        assert_eq!((round.resolved, round.checked), (1, 1));
        assert_eq!((round.half_offset, round.op_offset), (2, 1));
        settle(&s);
        // The check of b is answered with a rollback naming the copy: nothing left to check.
        let copy = &sent_headers(&s)[0];
        let end = crate::transaction::end::EndTransactionProcessor {
            log: Arc::clone(&s.log),
            slave: false,
        };
        let header = EndTransactionRequestHeader {
            topic: None,
            producer_group: "PG".into(),
            tran_state_table_offset: copy.tran_state_table_offset,
            commit_log_offset: copy.commit_log_offset,
            commit_or_rollback: 12,
            from_transaction_check: Some(true),
            msg_id: "U-b".into(),
            transaction_id: None,
        };
        end.end(&header).expect("rolled back");
        settle(&s);
        let round = s.checker.check_once(BORN + 2 * TIMEOUT).expect("round");
        assert_eq!((round.resolved, round.checked), (1, 0));
        assert_eq!((round.half_offset, round.op_offset), (3, 2));
    }

    #[test]
    fn immunity_puts_back_without_checking() {
        let s = setup(true, 15);
        half(
            &s,
            b"i",
            BORN,
            &[(PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS, "60")],
        );
        let round = s.checker.check_once(BORN + TIMEOUT + 1).expect("round");
        assert_eq!((round.immune, round.checked, round.half_offset), (1, 0, 1));
        settle(&s);
        let copy = s.log.half_at_queue_offset(1).expect("copy");
        let original = copy
            .properties
            .get(PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET);
        assert_eq!(original, Some("0"));
        let round = s.checker.check_once(BORN + 60_001).expect("round");
        assert_eq!((round.immune, round.checked), (0, 1));
    }

    #[test]
    fn without_a_producer_checks_count_and_end_in_the_check_max_topic() {
        let s = setup(false, 2);
        half(&s, b"lonely", BORN, &[]);
        let now = BORN + TIMEOUT + 1;
        for _ in 0..2 {
            let round = s.checker.check_once(now).expect("round");
            assert_eq!((round.checked, round.sent), (1, 0));
            settle(&s);
        }
        let round = s.checker.check_once(now).expect("round");
        assert_eq!(
            (round.discarded, round.checked, round.half_offset),
            (1, 0, 3)
        );
        settle(&s);
        let store = s.log.store();
        let max_topic = ferrimq_config::topic::TRANS_CHECK_MAX_TIME_TOPIC;
        assert_eq!(store.max_offset_in_queue(max_topic, 0), 1);
    }
}
