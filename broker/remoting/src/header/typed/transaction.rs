//! END_TRANSACTION (37) and CHECK_TRANSACTION_STATE (39) headers.

use super::command_header;

/// `commitOrRollback` value: no decision (ignored by the broker).
pub const TRANSACTION_NOT_TYPE: i32 = 0;
/// `commitOrRollback` value: commit.
pub const TRANSACTION_COMMIT_TYPE: i32 = 8;
/// `commitOrRollback` value: roll back.
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 12;

command_header! {
    /// END_TRANSACTION request (oneway).
    pub struct EndTransactionRequestHeader {
        /// 5.x: topic of the half message.
        pub topic: Option<String> => "topic",
        /// Producer group; must equal the half message's PGROUP.
        pub producer_group: String => "producerGroup",
        /// Queue offset of the half message.
        pub tran_state_table_offset: i64 => "tranStateTableOffset",
        /// Commit-log offset of the half message.
        pub commit_log_offset: i64 => "commitLogOffset",
        /// 8 commit, 12 rollback, 0 unknown.
        pub commit_or_rollback: i32 => "commitOrRollback",
        /// True when answering a CHECK_TRANSACTION_STATE.
        pub from_transaction_check: Option<bool> => "fromTransactionCheck",
        /// UNIQ_KEY of the message.
        pub msg_id: String => "msgId",
        /// Transaction id.
        pub transaction_id: Option<String> => "transactionId",
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE request (broker -> producer, oneway).
    pub struct CheckTransactionStateRequestHeader {
        /// 5.x: topic.
        pub topic: Option<String> => "topic",
        /// Queue offset of the half message.
        pub tran_state_table_offset: i64 => "tranStateTableOffset",
        /// Commit-log offset of the half message.
        pub commit_log_offset: i64 => "commitLogOffset",
        /// UNIQ_KEY of the message.
        pub msg_id: Option<String> => "msgId",
        /// Transaction id.
        pub transaction_id: Option<String> => "transactionId",
        /// offsetMsgId of the half message.
        pub offset_msg_id: Option<String> => "offsetMsgId",
        /// 5.x: broker name.
        pub broker_name: Option<String> => "bname",
    }
}
