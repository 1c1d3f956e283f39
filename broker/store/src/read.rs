//! Reads for consumers: messages by (topic, queue, logical offset) through the ConsumeQueue with
//! tag-hash filtering, offsets by time, and the status table of RocketMQ's `getMessage`.
//!
//! The statuses and `nextBeginOffset` follow reference §3.2 (4.9.8 `DefaultMessageStore`) on a
//! master. Message bodies are zero-copy `Bytes` slices of the CommitLog mapping: a slice keeps
//! its file mapped (and on disk) while a response is still being written.

use bytes::Bytes;

use crate::consume_queue::ConsumeQueue;

/// Where the reader gets records from: the CommitLog (an adapter in `store.rs`), or a fake.
pub trait RecordSource {
    /// The `size` bytes of the record at `offset`, or `None` when they are gone (file deleted)
    /// or not written.
    fn record(&self, offset: u64, size: usize) -> Option<Bytes>;
    /// Store timestamp of the record at `offset`, `None` if it cannot be read.
    fn store_timestamp(&self, offset: u64, size: usize) -> Option<i64>;
    /// First valid CommitLog offset.
    fn min_offset(&self) -> u64;
    /// CommitLog end (next append offset).
    fn max_offset(&self) -> u64;
    /// Start of the CommitLog file after the one holding `offset`.
    fn roll_next_file(&self, offset: u64) -> u64;
}

/// A consumer's filter. The server implements it from the subscription (tag codes, SQL92).
pub trait MessageFilter {
    /// Decides on the ConsumeQueue unit's tags code alone (no CommitLog read).
    fn matches_tags_code(&self, tags_code: i64) -> bool;
    /// Decides on the record's encoded properties string, after it was read. Only called
    /// when [`MessageFilter::needs_properties`] is true.
    fn matches_properties(&self, properties: &str) -> bool {
        let _ = properties;
        true
    }
    /// True when [`MessageFilter::matches_properties`] must be consulted (SQL92 filters).
    fn needs_properties(&self) -> bool {
        false
    }
}

/// The filter that takes everything (`*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl MessageFilter for AcceptAll {
    fn matches_tags_code(&self, _: i64) -> bool {
        true
    }
}

/// RocketMQ's `GetMessageStatus` (names as in Java, sent as the pull response's remark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMessageStatus {
    /// Messages returned.
    Found,
    /// Units were scanned but every one was filtered out.
    NoMatchedMessage,
    /// The CommitLog file a unit points to is gone.
    MessageWasRemoving,
    /// The unit lookup found no file for a valid offset.
    OffsetFoundNull,
    /// Requested offset is above the queue max.
    OffsetOverflowBadly,
    /// Requested offset equals the queue max (nothing new yet).
    OffsetOverflowOne,
    /// Requested offset is below the queue min.
    OffsetTooSmall,
    /// The queue does not exist.
    NoMatchedLogicQueue,
    /// The queue exists but holds nothing (max offset 0).
    NoMessageInQueue,
}

impl GetMessageStatus {
    /// The Java enum constant name.
    pub fn name(&self) -> &'static str {
        match self {
            GetMessageStatus::Found => "FOUND",
            GetMessageStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
            GetMessageStatus::MessageWasRemoving => "MESSAGE_WAS_REMOVING",
            GetMessageStatus::OffsetFoundNull => "OFFSET_FOUND_NULL",
            GetMessageStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
            GetMessageStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
            GetMessageStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
            GetMessageStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
            GetMessageStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
        }
    }
}

/// Batch limits of one read (RocketMQ `maxTransfer*` settings and the pull's own caps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// `maxTransferBytesOnMessageInMemory` (256 KiB).
    pub max_bytes_in_memory: usize,
    /// `maxTransferCountOnMessageInMemory` (32).
    pub max_count_in_memory: usize,
    /// `maxTransferBytesOnMessageInDisk` (64 KiB).
    pub max_bytes_in_disk: usize,
    /// `maxTransferCountOnMessageInDisk` (8).
    pub max_count_in_disk: usize,
    /// Bytes of CommitLog behind the end that count as "in memory"
    /// (`totalPhysicalMemory * accessMessageInMemoryMaxRatio / 100`).
    pub memory_window: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_bytes_in_memory: 256 * 1024,
            max_count_in_memory: 32,
            max_bytes_in_disk: 64 * 1024,
            max_count_in_disk: 8,
            memory_window: u64::MAX,
        }
    }
}

/// Outcome of [`get_messages`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMessageResult {
    /// The store status.
    pub status: GetMessageStatus,
    /// Where the consumer should continue.
    pub next_begin_offset: u64,
    /// Queue min offset (0 when the queue does not exist).
    pub min_offset: u64,
    /// Queue max offset, the next offset to be written (0 when the queue does not exist).
    pub max_offset: u64,
    /// The stored records, each one whole §4.1 record, zero-copy.
    pub messages: Vec<Bytes>,
    /// Logical offset of each returned record.
    pub queue_offsets: Vec<u64>,
    /// Sum of the records' sizes.
    pub total_bytes: usize,
    /// The consumer is far enough behind that a slave should serve it.
    pub suggest_pulling_from_slave: bool,
}

impl GetMessageResult {
    fn empty(status: GetMessageStatus, next: u64, min: u64, max: u64) -> Self {
        GetMessageResult {
            status,
            next_begin_offset: next,
            min_offset: min,
            max_offset: max,
            messages: Vec::new(),
            queue_offsets: Vec::new(),
            total_bytes: 0,
            suggest_pulling_from_slave: false,
        }
    }

    /// Number of messages returned.
    pub fn count(&self) -> usize {
        self.messages.len()
    }
}

/// RocketMQ's `maxFilterMessageCount` floor: units scanned per read at least.
const MIN_FILTER_SCAN: usize = 16_000;

/// Reads up to `max_count` messages from `offset` of `cq` (or reports why not).
pub fn get_messages(
    cq: Option<&ConsumeQueue>,
    log: &dyn RecordSource,
    offset: u64,
    max_count: usize,
    limits: &ReadLimits,
    filter: &dyn MessageFilter,
) -> GetMessageResult {
    use GetMessageStatus as S;
    let Some(cq) = cq else {
        return GetMessageResult::empty(S::NoMatchedLogicQueue, 0, 0, 0);
    };
    let (min, max) = (cq.min_offset(), cq.max_offset());
    if max == 0 {
        return GetMessageResult::empty(S::NoMessageInQueue, 0, min, max);
    }
    if offset < min {
        return GetMessageResult::empty(S::OffsetTooSmall, min, min, max);
    }
    if offset == max {
        return GetMessageResult::empty(S::OffsetOverflowOne, offset, min, max);
    }
    if offset > max {
        let next = if min == 0 { min } else { max };
        return GetMessageResult::empty(S::OffsetOverflowBadly, next, min, max);
    }
    let scan_max = MIN_FILTER_SCAN.max(max_count.saturating_mul(20));
    let Some(run) = cq.read_units(offset, scan_max) else {
        tracing::warn!(
            topic = cq.topic(),
            queue_id = cq.queue_id(),
            offset,
            "consume queue unit not found"
        );
        let next = cq.roll_next_file(offset);
        return GetMessageResult::empty(S::OffsetFoundNull, next, min, max);
    };
    let mut result = GetMessageResult::empty(S::NoMatchedMessage, offset, min, max);
    let scanned = scan_units(
        &run.units,
        log,
        max_count,
        limits,
        filter,
        offset,
        &mut result,
    );
    result.next_begin_offset = offset + scanned as u64;
    result
}

/// The loop of RocketMQ's `getMessage` over the units of one file. Returns units scanned.
fn scan_units(
    units: &[crate::consume_queue::CqUnit],
    log: &dyn RecordSource,
    max_count: usize,
    limits: &ReadLimits,
    filter: &dyn MessageFilter,
    first_logical: u64,
    result: &mut GetMessageResult,
) -> usize {
    use GetMessageStatus as S;
    let log_max = log.max_offset();
    let mut skip_below: Option<u64> = None;
    let mut last_pulled = 0u64;
    let mut i = 0;
    while i < units.len() {
        let u = units[i];
        if u.is_blank() {
            i += 1;
            continue;
        }
        let phy = u.commit_log_offset as u64;
        last_pulled = phy;
        if skip_below.is_some_and(|s| phy < s) {
            i += 1;
            continue;
        }
        let in_disk = log_max.saturating_sub(phy) > limits.memory_window;
        if batch_full(u.size as usize, max_count, result, limits, in_disk) {
            break;
        }
        i += 1;
        if !filter.matches_tags_code(u.tags_code) {
            continue;
        }
        let Some(record) = log.record(phy, u.size as usize) else {
            if result.total_bytes == 0 {
                result.status = S::MessageWasRemoving;
            }
            skip_below = Some(log.roll_next_file(phy));
            continue;
        };
        if filter.needs_properties() && !properties_match(&record, filter) {
            continue;
        }
        result.total_bytes += record.len();
        result.messages.push(record);
        result.queue_offsets.push(first_logical + i as u64 - 1);
        result.status = S::Found;
        skip_below = None;
    }
    let window = limits.memory_window;
    result.suggest_pulling_from_slave = log_max.saturating_sub(last_pulled) > window;
    i
}

fn properties_match(record: &[u8], filter: &dyn MessageFilter) -> bool {
    match crate::record::MessageView::new(record) {
        Ok(view) => filter.matches_properties(view.properties_str()),
        Err(_) => false,
    }
}

/// RocketMQ's `isTheBatchFull`.
fn batch_full(
    size: usize,
    max_count: usize,
    r: &GetMessageResult,
    limits: &ReadLimits,
    in_disk: bool,
) -> bool {
    let (count, bytes) = (r.messages.len(), r.total_bytes);
    if count == 0 || bytes == 0 {
        return false;
    }
    if max_count <= count {
        return true;
    }
    let (max_bytes, max_n) = if in_disk {
        (limits.max_bytes_in_disk, limits.max_count_in_disk)
    } else {
        (limits.max_bytes_in_memory, limits.max_count_in_memory)
    };
    bytes + size > max_bytes || count + 1 > max_n
}

/// A probed unit: (logical offset, store time).
type Probe = Option<(u64, i64)>;

/// RocketMQ's `getOffsetInQueueByTime`: the lowest logical offset whose store time equals
/// `timestamp` (5.x `BoundaryType.LOWER`, the default), else the nearer of its neighbours
/// (the earlier one on a tie); the first offset when all are later, the last one when all are
/// earlier; 0 for an empty queue.
pub fn offset_by_time(cq: &ConsumeQueue, log: &dyn RecordSource, timestamp: i64) -> u64 {
    let (mut low, max) = (cq.min_offset(), cq.max_offset());
    if low >= max {
        return 0;
    }
    let mut high = max - 1;
    let log_min = log.min_offset();
    // (logical offset, store time) of the nearest probes below and above `timestamp`.
    let (mut left, mut right): (Probe, Probe) = (None, None);
    let mut exact = None;
    while low <= high {
        let mid = low + (high - low) / 2;
        let time = cq
            .get(mid)
            .filter(|u| !u.is_blank() && u.commit_log_offset as u64 >= log_min);
        let time =
            time.and_then(|u| log.store_timestamp(u.commit_log_offset as u64, u.size as usize));
        match time {
            None => {
                left = left.or(Some((mid, i64::MIN)));
                low = mid + 1;
            }
            Some(t) if t == timestamp => {
                exact = Some(mid);
                if mid == 0 {
                    break;
                }
                high = mid - 1;
            }
            Some(t) if t > timestamp => {
                right = Some((mid, t));
                if mid == 0 {
                    break;
                }
                high = mid - 1;
            }
            Some(t) => {
                left = Some((mid, t));
                low = mid + 1;
            }
        }
    }
    if let Some(e) = exact {
        return e;
    }
    match (left, right) {
        (None, Some((r, _))) => r,
        (Some((l, _)), None) => l,
        (Some((l, lt)), Some((r, rt))) => {
            if lt == i64::MIN || timestamp.abs_diff(lt) > timestamp.abs_diff(rt) {
                r
            } else {
                l
            }
        }
        (None, None) => 0,
    }
}

/// Store time of the queue's first message, `None` if the queue is empty or it is gone.
pub fn earliest_store_time(cq: &ConsumeQueue, log: &dyn RecordSource) -> Option<i64> {
    let min = cq.min_offset();
    let u = cq.get(min).filter(|u| !u.is_blank())?;
    log.store_timestamp(u.commit_log_offset as u64, u.size as usize)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::consume_queue::CqUnit;
    use crate::seam::real_files;

    /// Records of 100 bytes at offsets 0, 100, ...; those below `removed_below` are gone;
    /// store time of the record at `o` is `1000 + o`.
    struct FakeLog {
        records: BTreeMap<u64, Bytes>,
        removed_below: u64,
        file_size: u64,
    }

    impl FakeLog {
        fn new(n: u64) -> Self {
            let records = (0..n)
                .map(|i| (i * 100, Bytes::from(vec![i as u8; 100])))
                .collect();
            FakeLog {
                records,
                removed_below: 0,
                file_size: 500,
            }
        }
    }

    impl RecordSource for FakeLog {
        fn record(&self, offset: u64, size: usize) -> Option<Bytes> {
            if offset < self.removed_below {
                return None;
            }
            self.records
                .get(&offset)
                .filter(|b| b.len() == size)
                .cloned()
        }
        fn store_timestamp(&self, offset: u64, size: usize) -> Option<i64> {
            self.record(offset, size).map(|_| 1000 + offset as i64)
        }
        fn min_offset(&self) -> u64 {
            self.removed_below
        }
        fn max_offset(&self) -> u64 {
            self.records.len() as u64 * 100
        }
        fn roll_next_file(&self, offset: u64) -> u64 {
            offset + self.file_size - offset % self.file_size
        }
    }

    /// Only even tag codes.
    struct EvenTags;
    impl MessageFilter for EvenTags {
        fn matches_tags_code(&self, code: i64) -> bool {
            code % 2 == 0
        }
    }

    fn queue(dir: &std::path::Path, n: u64) -> ConsumeQueue {
        let cq = ConsumeQueue::open(dir.join("q"), "T", 0, 20 * 64, real_files()).unwrap();
        for i in 0..n {
            let u = CqUnit {
                commit_log_offset: (i * 100) as i64,
                size: 100,
                tags_code: i as i64,
            };
            cq.put(i, u).unwrap();
        }
        cq
    }

    fn get(
        cq: Option<&ConsumeQueue>,
        log: &FakeLog,
        off: u64,
        n: usize,
        f: &dyn MessageFilter,
    ) -> GetMessageResult {
        get_messages(cq, log, off, n, &ReadLimits::default(), f)
    }

    #[test]
    fn found_counts_filtered_units_in_next_begin_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (cq, log) = (queue(dir.path(), 10), FakeLog::new(10));
        let r = get(Some(&cq), &log, 2, 3, &AcceptAll);
        assert_eq!(
            (r.status, r.next_begin_offset, r.min_offset, r.max_offset),
            (GetMessageStatus::Found, 5, 0, 10)
        );
        assert_eq!(r.queue_offsets, vec![2, 3, 4]);
        assert_eq!(r.messages[0], Bytes::from(vec![2u8; 100]));
        assert_eq!(r.total_bytes, 300);
        let r = get(Some(&cq), &log, 1, 3, &EvenTags);
        assert_eq!(r.queue_offsets, vec![2, 4, 6]);
        assert_eq!(r.next_begin_offset, 7, "offset 1 + units 1..=6 scanned");
    }

    #[test]
    fn no_match_and_removing() {
        let dir = tempfile::tempdir().unwrap();
        let cq = queue(dir.path(), 10);
        let mut log = FakeLog::new(10);
        struct Nothing;
        impl MessageFilter for Nothing {
            fn matches_tags_code(&self, _: i64) -> bool {
                false
            }
        }
        let r = get(Some(&cq), &log, 3, 32, &Nothing);
        assert_eq!(
            (r.status, r.next_begin_offset, r.count()),
            (GetMessageStatus::NoMatchedMessage, 10, 0)
        );
        log.removed_below = 500;
        let r = get(Some(&cq), &log, 0, 2, &AcceptAll);
        assert_eq!(
            r.status,
            GetMessageStatus::Found,
            "skips to the next CommitLog file"
        );
        assert_eq!(r.queue_offsets, vec![5, 6]);
        log.removed_below = 2000;
        let r = get(Some(&cq), &log, 0, 32, &AcceptAll);
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetMessageStatus::MessageWasRemoving, 10)
        );
    }

    #[test]
    fn offset_statuses_follow_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let log = FakeLog::new(10);
        let r = get(None, &log, 5, 32, &AcceptAll);
        assert_eq!(
            (r.status, r.next_begin_offset, r.max_offset),
            (GetMessageStatus::NoMatchedLogicQueue, 0, 0)
        );
        let empty = queue(dir.path(), 0);
        let r = get(Some(&empty), &log, 5, 32, &AcceptAll);
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetMessageStatus::NoMessageInQueue, 0)
        );
        drop(empty);
        let cq = queue(dir.path(), 10);
        let r = get(Some(&cq), &log, 10, 32, &AcceptAll);
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetMessageStatus::OffsetOverflowOne, 10)
        );
        let r = get(Some(&cq), &log, 15, 32, &AcceptAll);
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetMessageStatus::OffsetOverflowBadly, 0),
            "min is 0"
        );
        cq.set_min_logical(4);
        let r = get(Some(&cq), &log, 15, 32, &AcceptAll);
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetMessageStatus::OffsetOverflowBadly, 10)
        );
        let r = get(Some(&cq), &log, 1, 32, &AcceptAll);
        assert_eq!(
            (r.status, r.next_begin_offset, r.min_offset),
            (GetMessageStatus::OffsetTooSmall, 4, 4)
        );
    }

    #[test]
    fn batch_limits_stop_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let (cq, log) = (queue(dir.path(), 10), FakeLog::new(10));
        let limits = ReadLimits {
            max_bytes_in_memory: 250,
            ..ReadLimits::default()
        };
        let r = get_messages(Some(&cq), &log, 0, 32, &limits, &AcceptAll);
        assert_eq!((r.count(), r.next_begin_offset), (2, 2));
        let limits = ReadLimits {
            memory_window: 0,
            ..ReadLimits::default()
        };
        let r = get_messages(Some(&cq), &log, 0, 32, &limits, &AcceptAll);
        assert_eq!(
            r.count(),
            8,
            "in-disk records: at most maxTransferCountOnMessageInDisk"
        );
        assert!(r.suggest_pulling_from_slave);
    }

    #[test]
    fn offset_by_time_picks_exact_or_nearest() {
        let dir = tempfile::tempdir().unwrap();
        let (cq, log) = (queue(dir.path(), 10), FakeLog::new(10));
        // Store time of logical i is 1000 + 100 * i.
        assert_eq!(offset_by_time(&cq, &log, 1300), 3);
        assert_eq!(offset_by_time(&cq, &log, 1340), 3);
        assert_eq!(offset_by_time(&cq, &log, 1360), 4);
        assert_eq!(
            offset_by_time(&cq, &log, 1350),
            3,
            "tie goes to the earlier"
        );
        assert_eq!(offset_by_time(&cq, &log, 0), 0);
        assert_eq!(
            offset_by_time(&cq, &log, 99_999),
            9,
            "the last unit, as RocketMQ"
        );
        assert_eq!(earliest_store_time(&cq, &log), Some(1000));
    }
}
