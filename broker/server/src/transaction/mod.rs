//! Transactional messages (protocol reference §3.6), the way RocketMQ's broker keeps them.
//!
//! 1. A send carrying `TRAN_MSG=true` is a *half* message: [`divert_half`] stores it in
//!    `RMQ_SYS_TRANS_HALF_TOPIC` queue 0 with its destination in `REAL_TOPIC` / `REAL_QID` and the
//!    transaction bits of sysFlag cleared, so no consumer of the real topic can see it.
//! 2. END_TRANSACTION ([`end::EndTransactionProcessor`]) commits (the real message is written to
//!    its topic, an op record marks the half resolved) or rolls back (only the op record).
//! 3. Op records live in `RMQ_SYS_TRANS_OP_HALF_TOPIC` (tag `d`, body = the half's queue offset);
//!    [`log::TransactionLog`] owns every read and write of the two system topics.
//! 4. The check-back service ([`check::TransactionChecker`], masters only) walks the half queue
//!    from its persisted offset; a half without an op record older than `transactionTimeOut` is
//!    re-appended with TRANSACTION_CHECK_TIMES + 1 and CHECK_TRANSACTION_STATE is sent to a live
//!    producer of its group ([`crate::producers`]); after `transactionCheckMax` checks it goes to
//!    `TRANS_CHECK_MAX_TIME_TOPIC`. The half and op offsets are consumer offsets of the system
//!    group `CID_RMQ_SYS_TRANS` (consumerOffset.json), so a restart resumes the walk.

pub mod check;
pub mod end;
pub mod log;

use ferrimq_config::topic::TRANS_HALF_TOPIC;
use ferrimq_store::record::Properties;

use crate::schedule::{PROPERTY_REAL_QID, PROPERTY_REAL_TOPIC};

/// "true" on a half (prepared) message.
pub const PROPERTY_TRANSACTION_PREPARED: &str = "TRAN_MSG";
/// Producer group of a half message.
pub const PROPERTY_PRODUCER_GROUP: &str = "PGROUP";
/// How many times the broker has checked the half message back.
pub const PROPERTY_TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Seconds before the first check of this half message (overrides `transactionTimeOut`).
pub const PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// Queue offset of the original half of a copy put back during its immunity time.
pub const PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// The client message id.
pub const PROPERTY_UNIQ_KEY: &str = "UNIQ_KEY";
/// Tag of an op record marking a half message resolved.
pub const REMOVE_TAG: &str = "d";

/// True when the properties mark a half (prepared transaction) message.
pub fn is_half(props: &Properties) -> bool {
    props
        .get(PROPERTY_TRANSACTION_PREPARED)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Where a half message goes instead of its topic: the half topic, queue 0, with `props`
/// gaining REAL_TOPIC / REAL_QID. Returns `None` (nothing changed) for other messages.
pub fn divert_half(props: &mut Properties, topic: &str, queue_id: i32) -> Option<(String, i32)> {
    if !is_half(props) {
        return None;
    }
    props.insert(PROPERTY_REAL_TOPIC, topic);
    props.insert(PROPERTY_REAL_QID, queue_id.to_string());
    Some((TRANS_HALF_TOPIC.to_owned(), 0))
}

/// Why a transaction step failed.
#[derive(Debug, thiserror::Error)]
pub enum TransactionError {
    /// No half message at the commit-log offset (or the record there is not a half message).
    #[error("no half message at commit-log offset {offset}: {reason}")]
    HalfNotFound {
        /// Commit-log offset asked for.
        offset: i64,
        /// What was found instead.
        reason: String,
    },
    /// The END_TRANSACTION header does not match the half message.
    #[error("half message at {offset} does not match the request: {reason}")]
    Mismatch {
        /// Commit-log offset of the half message.
        offset: i64,
        /// Which field differs.
        reason: String,
    },
    /// The half message lacks a property the step needs.
    #[error("half message at {offset}: {reason}")]
    Malformed {
        /// Commit-log offset of the half message.
        offset: i64,
        /// What is missing.
        reason: String,
    },
    /// The store refused a read or an append.
    #[error("store failure at {what}: {source}")]
    Store {
        /// The operation.
        what: &'static str,
        /// The store's error.
        source: ferrimq_store::StoreError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tran_msg_true_is_diverted() {
        let mut props = Properties::new();
        assert_eq!(divert_half(&mut props, "T", 2), None);
        props.insert(PROPERTY_TRANSACTION_PREPARED, "false");
        assert_eq!(divert_half(&mut props, "T", 2), None);
        assert_eq!(props.get(PROPERTY_REAL_TOPIC), None);
        props.insert(PROPERTY_TRANSACTION_PREPARED, "true");
        let target = divert_half(&mut props, "T", 2);
        assert_eq!(target, Some((TRANS_HALF_TOPIC.to_owned(), 0)));
        assert_eq!(props.get(PROPERTY_REAL_TOPIC), Some("T"));
        assert_eq!(props.get(PROPERTY_REAL_QID), Some("2"));
    }
}
