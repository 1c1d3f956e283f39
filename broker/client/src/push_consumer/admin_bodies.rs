//! The JSON bodies of the admin calls a broker relays to a push consumer (Java's
//! `ConsumerRunningInfo`, `ProcessQueueInfo`, `ConsumeStatus`, `ResetOffsetBody`,
//! `GetConsumerStatusBody`, `ConsumeMessageDirectlyResult`), with Java's field names. Maps keyed by
//! `MessageQueue` are written with object keys (fastjson's dialect), the only form Java reads.

use std::collections::{BTreeMap, HashMap};

use ferrimq_remoting::RemotingError;
use ferrimq_remoting::body::{JsonBody, MessageQueue, SubscriptionData};
use serde::{Deserialize, Serialize};

/// `ConsumerRunningInfo.PROP_NAMESERVER_ADDR`.
pub const PROP_NAMESERVER_ADDR: &str = "PROP_NAMESERVER_ADDR";
/// `ConsumerRunningInfo.PROP_THREADPOOL_CORE_SIZE`.
pub const PROP_THREADPOOL_CORE_SIZE: &str = "PROP_THREADPOOL_CORE_SIZE";
/// `ConsumerRunningInfo.PROP_CONSUME_ORDERLY` (its text lacks the underscore in Java too).
pub const PROP_CONSUME_ORDERLY: &str = "PROP_CONSUMEORDERLY";
/// `ConsumerRunningInfo.PROP_CONSUME_TYPE`.
pub const PROP_CONSUME_TYPE: &str = "PROP_CONSUME_TYPE";
/// `ConsumerRunningInfo.PROP_CLIENT_VERSION`.
pub const PROP_CLIENT_VERSION: &str = "PROP_CLIENT_VERSION";
/// `ConsumerRunningInfo.PROP_CONSUMER_START_TIMESTAMP`.
pub const PROP_CONSUMER_START_TIMESTAMP: &str = "PROP_CONSUMER_START_TIMESTAMP";

/// State of one owned queue (Java `ProcessQueueInfo`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProcessQueueInfo {
    /// Offset in the offset store.
    pub commit_offset: i64,
    /// Smallest held offset (0 when nothing is held).
    pub cached_msg_min_offset: i64,
    /// Largest held offset (0 when nothing is held).
    pub cached_msg_max_offset: i64,
    /// Messages held.
    pub cached_msg_count: i32,
    /// Body bytes held, MiB.
    #[serde(rename = "cachedMsgSizeInMiB")]
    pub cached_msg_size_in_mib: i32,
    /// Transactional (orderly) batch: smallest offset being consumed.
    pub transaction_msg_min_offset: i64,
    /// Transactional (orderly) batch: largest offset being consumed.
    pub transaction_msg_max_offset: i64,
    /// Transactional (orderly) batch: messages being consumed.
    pub transaction_msg_count: i32,
    /// Orderly: the broker lock is held.
    pub locked: bool,
    /// Orderly: unlock attempts.
    pub try_unlock_times: i64,
    /// Orderly: last lock time, ms.
    pub last_lock_timestamp: i64,
    /// The queue was given up (Java spells it `droped`).
    pub droped: bool,
    /// Last pull, ms.
    pub last_pull_timestamp: i64,
    /// Last listener call, ms.
    pub last_consume_timestamp: i64,
}

/// Consumption rates of one topic (Java `ConsumeStatus`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumeStatus {
    /// Mean pull round trip, ms.
    #[serde(rename = "pullRT")]
    pub pull_rt: f64,
    /// Pulled messages per second.
    #[serde(rename = "pullTPS")]
    pub pull_tps: f64,
    /// Mean listener time, ms.
    #[serde(rename = "consumeRT")]
    pub consume_rt: f64,
    /// Consumed messages per second.
    #[serde(rename = "consumeOKTPS")]
    pub consume_ok_tps: f64,
    /// Failed messages per second.
    #[serde(rename = "consumeFailedTPS")]
    pub consume_failed_tps: f64,
    /// Failed messages in the last hour.
    #[serde(rename = "consumeFailedMsgs")]
    pub consume_failed_msgs: i64,
}

/// GET_CONSUMER_RUNNING_INFO body (Java `ConsumerRunningInfo`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerRunningInfo {
    /// Settings and `PROP_*` entries, all as text (Java `Properties`).
    pub properties: BTreeMap<String, String>,
    /// Subscriptions, the retry topic included in clustering.
    pub subscription_set: Vec<SubscriptionData>,
    /// Owned queues.
    #[serde(with = "ferrimq_fastjson::object_keys")]
    pub mq_table: HashMap<MessageQueue, ProcessQueueInfo>,
    /// Topic -> rates.
    pub status_table: BTreeMap<String, ConsumeStatus>,
    /// Thread dump, when asked for (`None`: this client has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jstack: Option<String>,
}

impl JsonBody for ConsumerRunningInfo {
    fn encode(&self) -> Result<bytes::Bytes, RemotingError> {
        self.encode_fastjson()
    }
}

/// RESET_CONSUMER_CLIENT_OFFSET body (Java `ResetOffsetBody`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResetOffsetBody {
    /// Queue -> offset to consume from.
    #[serde(with = "ferrimq_fastjson::object_keys")]
    pub offset_table: HashMap<MessageQueue, i64>,
}

impl JsonBody for ResetOffsetBody {
    fn encode(&self) -> Result<bytes::Bytes, RemotingError> {
        self.encode_fastjson()
    }
}

/// GET_CONSUMER_STATUS_FROM_CLIENT body (Java `GetConsumerStatusBody`) as a client writes it:
/// only `messageQueueTable` (the per-client `consumerTable` is filled by the broker's
/// INVOKE_BROKER_TO_GET_CONSUMER_STATUS aggregation).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetConsumerStatusBody {
    /// Queue of the asked topic -> offset in this client's offset store.
    #[serde(with = "ferrimq_fastjson::object_keys")]
    pub message_queue_table: HashMap<MessageQueue, i64>,
}

impl JsonBody for GetConsumerStatusBody {
    fn encode(&self) -> Result<bytes::Bytes, RemotingError> {
        self.encode_fastjson()
    }
}

/// Outcome of a direct consumption (Java `CMResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::enum_variant_names)]
pub enum CmResult {
    /// The listener consumed the message.
    #[serde(rename = "CR_SUCCESS")]
    CrSuccess,
    /// The listener asked for a later retry (or to suspend the queue).
    #[serde(rename = "CR_LATER")]
    CrLater,
    /// Transactional rollback (not produced by push consumers).
    #[serde(rename = "CR_ROLLBACK")]
    CrRollback,
    /// Transactional commit (not produced by push consumers).
    #[serde(rename = "CR_COMMIT")]
    CrCommit,
    /// The listener panicked.
    #[serde(rename = "CR_THROW_EXCEPTION")]
    CrThrowException,
    /// The listener returned nothing.
    #[serde(rename = "CR_RETURN_NULL")]
    CrReturnNull,
}

/// CONSUME_MESSAGE_DIRECTLY body (Java `ConsumeMessageDirectlyResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeMessageDirectlyResult {
    /// Orderly listener.
    pub order: bool,
    /// Orderly auto-commit (always true here).
    pub auto_commit: bool,
    /// What the listener did.
    pub consume_result: CmResult,
    /// Free text (the panic message on CR_THROW_EXCEPTION).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Listener time, ms.
    pub spent_time_mills: i64,
}

impl JsonBody for ConsumeMessageDirectlyResult {}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(id: i32) -> MessageQueue {
        MessageQueue {
            broker_name: "b".into(),
            queue_id: id,
            topic: "T".into(),
        }
    }

    #[test]
    fn reset_offset_body_round_trips_java_object_keys() {
        let java = br#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"T"}:7}}"#;
        let body = ResetOffsetBody::decode(java).expect("decode");
        assert_eq!(body.offset_table, HashMap::from([(queue(1), 7)]));
        let text = String::from_utf8(body.encode().expect("encode").to_vec()).expect("utf8");
        assert_eq!(
            text,
            r#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"T"}:7}}"#
        );
    }

    #[test]
    fn running_info_uses_java_field_names() {
        let info = ConsumerRunningInfo {
            properties: BTreeMap::from([(PROP_CONSUME_TYPE.into(), "CONSUME_PASSIVELY".into())]),
            mq_table: HashMap::from([(queue(0), ProcessQueueInfo::default())]),
            status_table: BTreeMap::from([("T".into(), ConsumeStatus::default())]),
            ..ConsumerRunningInfo::default()
        };
        let text = String::from_utf8(info.encode().expect("encode").to_vec()).expect("utf8");
        for field in [
            r#""PROP_CONSUME_TYPE":"CONSUME_PASSIVELY""#,
            r#""mqTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"#,
            r#""cachedMsgSizeInMiB":0"#,
            r#""droped":false"#,
            r#""pullRT":0"#,
            r#""consumeOKTPS":0"#,
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        assert_eq!(
            ConsumerRunningInfo::decode(text.as_bytes()).expect("decode"),
            info
        );
    }

    #[test]
    fn direct_result_names_the_cm_result_as_java() {
        let result = ConsumeMessageDirectlyResult {
            order: false,
            auto_commit: true,
            consume_result: CmResult::CrLater,
            remark: None,
            spent_time_mills: 3,
        };
        let text = String::from_utf8(result.encode().expect("encode").to_vec()).expect("utf8");
        assert_eq!(
            text,
            r#"{"order":false,"autoCommit":true,"consumeResult":"CR_LATER","spentTimeMills":3}"#
        );
    }
}
