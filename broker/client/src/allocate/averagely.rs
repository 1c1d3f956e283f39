//! The two index-based strategies: contiguous blocks ([`Averagely`], Java
//! `AllocateMessageQueueAveragely`, the default) and round-robin ([`AveragelyByCircle`]).

use ferrimq_remoting::body::MessageQueue;

use super::{AllocateError, AllocateStrategy, check};

/// Contiguous blocks: the first `queues % consumers` members get one queue more.
#[derive(Debug, Clone, Copy, Default)]
pub struct Averagely;

impl AllocateStrategy for Averagely {
    fn name(&self) -> String {
        "AVG".to_owned()
    }

    fn allocate(
        &self,
        _group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Result<Vec<MessageQueue>, AllocateError> {
        if !check(current_cid, mq_all, cid_all)? {
            return Ok(Vec::new());
        }
        let index = position(current_cid, cid_all);
        let (queues, consumers) = (mq_all.len(), cid_all.len());
        let rem = queues % consumers;
        let gets_extra = rem > 0 && index < rem;
        let average = if queues <= consumers {
            1
        } else if gets_extra {
            queues / consumers + 1
        } else {
            queues / consumers
        };
        let start = if gets_extra {
            index * average
        } else {
            index * average + rem
        };
        let range = average.min(queues.saturating_sub(start));
        Ok(mq_all[start.min(queues)..start.min(queues) + range].to_vec())
    }
}

/// Round robin: queue `i` goes to member `i % consumers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AveragelyByCircle;

impl AllocateStrategy for AveragelyByCircle {
    fn name(&self) -> String {
        "AVG_BY_CIRCLE".to_owned()
    }

    fn allocate(
        &self,
        _group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Result<Vec<MessageQueue>, AllocateError> {
        if !check(current_cid, mq_all, cid_all)? {
            return Ok(Vec::new());
        }
        let index = position(current_cid, cid_all);
        Ok(mq_all
            .iter()
            .enumerate()
            .skip(index)
            .filter(|(i, _)| i % cid_all.len() == index)
            .map(|(_, q)| q.clone())
            .collect())
    }
}

/// Index of the first occurrence (Java `List.indexOf`); callers checked membership.
pub(super) fn position(current_cid: &str, cid_all: &[String]) -> usize {
    cid_all
        .iter()
        .position(|c| c == current_cid)
        .unwrap_or(usize::MAX)
}
