//! Topic configuration as RocketMQ persists it (`topics.json`) and sends it
//! (`TopicConfigSerializeWrapper` in REGISTER_BROKER, GET_ALL_TOPIC_CONFIG), with the exact Java
//! JSON names, plus TopicValidator's naming rules and the system topic names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::perm::Perm;

/// `TBW102`: template for auto-created topics (created with perm 7 when autoCreateTopicEnable).
pub const AUTO_CREATE_TOPIC_KEY_TOPIC: &str = "TBW102";
/// Delayed messages wait here; queue id = delay level - 1.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Benchmark topic (1024 queues).
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
/// Transaction half messages.
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// Transaction op records.
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Half messages that reached transactionCheckMax.
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// Default message trace topic.
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
/// Self-test topic.
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
/// Offset-moved events.
pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
/// 5.x RocksDB offset checkpoint topic.
pub const ROCKSDB_OFFSET_TOPIC: &str = "CHECKPOINT_TOPIC";
/// Prefix of 5.x system topics.
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";
/// Prefix of a consumer group's retry topic.
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// Prefix of a consumer group's dead-letter topic.
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
/// Prefix of light message queues.
pub const LMQ_PREFIX: &str = "%LMQ%";
/// Suffix of the request/reply topic `<cluster>_REPLY_TOPIC`.
pub const REPLY_TOPIC_POSTFIX: &str = "REPLY_TOPIC";

/// Topics TopicValidator treats as system topics.
pub const SYSTEM_TOPICS: &[&str] = &[
    AUTO_CREATE_TOPIC_KEY_TOPIC,
    SCHEDULE_TOPIC,
    BENCHMARK_TOPIC,
    TRANS_HALF_TOPIC,
    TRACE_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_CHECK_MAX_TIME_TOPIC,
    SELF_TEST_TOPIC,
    OFFSET_MOVED_EVENT,
    ROCKSDB_OFFSET_TOPIC,
];

/// System topics clients may not send to.
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    SCHEDULE_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    TRANS_CHECK_MAX_TIME_TOPIC,
    SELF_TEST_TOPIC,
    OFFSET_MOVED_EVENT,
];

/// Longest ordinary topic name.
pub const TOPIC_MAX_LENGTH: usize = 127;
/// Longest retry/DLQ topic name (5.x).
pub const RETRY_OR_DLQ_TOPIC_MAX_LENGTH: usize = 255;
/// Longest group name (it becomes part of `%RETRY%group`).
pub const GROUP_MAX_LENGTH: usize = 120;

/// How tags are matched (`TopicFilterType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TopicFilterType {
    /// One tag per message (the default).
    #[default]
    SingleTag,
    /// Several tags per message.
    MultiTag,
}

impl TopicFilterType {
    /// The Java enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            TopicFilterType::SingleTag => "SINGLE_TAG",
            TopicFilterType::MultiTag => "MULTI_TAG",
        }
    }

    /// Parses the Java enum name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "SINGLE_TAG" => Some(TopicFilterType::SingleTag),
            "MULTI_TAG" => Some(TopicFilterType::MultiTag),
            _ => None,
        }
    }
}

/// One topic's configuration (`TopicConfig`). Missing JSON fields take Java's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// Topic name.
    pub topic_name: String,
    /// Queues consumers read (pulls beyond are refused).
    pub read_queue_nums: u32,
    /// Queues producers write.
    pub write_queue_nums: u32,
    /// Permission bits.
    pub perm: Perm,
    /// Tag filter type.
    pub topic_filter_type: TopicFilterType,
    /// `TopicSysFlag` bits (unit flags).
    pub topic_sys_flag: u32,
    /// Ordered topic.
    pub order: bool,
    /// 5.x attributes (e.g. `message.type` = `NORMAL`).
    pub attributes: BTreeMap<String, String>,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self::new("")
    }
}

impl TopicConfig {
    /// Java's `defaultReadQueueNums` / `defaultWriteQueueNums`.
    pub const DEFAULT_QUEUE_NUMS: u32 = 16;

    /// A topic with Java's defaults: 16/16 queues, perm 6, SINGLE_TAG.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            topic_name: name.into(),
            read_queue_nums: Self::DEFAULT_QUEUE_NUMS,
            write_queue_nums: Self::DEFAULT_QUEUE_NUMS,
            perm: Perm::READ_WRITE,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: 0,
            order: false,
            attributes: BTreeMap::new(),
        }
    }

    /// A topic with `queues` read and write queues and `perm`.
    pub fn with_queues(name: impl Into<String>, queues: u32, perm: Perm) -> Self {
        Self {
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm,
            ..Self::new(name)
        }
    }

    /// `TopicConfig.encode()`, the line used by compressed broker registration:
    /// `name readQ writeQ perm topicFilterType`.
    pub fn encode_line(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.topic_name,
            self.read_queue_nums,
            self.write_queue_nums,
            self.perm.0,
            self.topic_filter_type.as_str()
        )
    }
}

/// `TopicValidator.validateTopic`: not blank, only `[%|a-zA-Z0-9_-]`, at most 127 characters
/// (255 for `%RETRY%` / `%DLQ%` topics).
pub fn validate_topic(topic: &str) -> Result<(), ConfigError> {
    check_chars(topic)?;
    let retry_or_dlq =
        topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) || topic.starts_with(DLQ_GROUP_TOPIC_PREFIX);
    let max = if retry_or_dlq {
        RETRY_OR_DLQ_TOPIC_MAX_LENGTH
    } else {
        TOPIC_MAX_LENGTH
    };
    if topic.len() > max {
        return Err(invalid_name(
            topic,
            format!("longer than the topic max length {max}"),
        ));
    }
    Ok(())
}

/// `TopicValidator.validateGroup`: like a topic, at most 120 characters.
pub fn validate_group(group: &str) -> Result<(), ConfigError> {
    check_chars(group)?;
    if group.len() > GROUP_MAX_LENGTH {
        return Err(invalid_name(
            group,
            format!("longer than the group max length {GROUP_MAX_LENGTH}"),
        ));
    }
    Ok(())
}

fn check_chars(name: &str) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(invalid_name(name, "blank".to_owned()));
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-');
    if !name.chars().all(legal) {
        return Err(invalid_name(
            name,
            "contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$".into(),
        ));
    }
    Ok(())
}

fn invalid_name(name: &str, reason: String) -> ConfigError {
    ConfigError::InvalidName {
        name: name.to_owned(),
        reason,
    }
}

/// A system topic: one of [`SYSTEM_TOPICS`] or starting with `rmq_sys_`.
pub fn is_system_topic(topic: &str) -> bool {
    SYSTEM_TOPICS.contains(&topic) || topic.starts_with(SYSTEM_TOPIC_PREFIX)
}

/// A topic clients may not send to.
pub fn is_not_allowed_send_topic(topic: &str) -> bool {
    NOT_ALLOWED_SEND_TOPICS.contains(&topic)
}

/// `%RETRY%<group>`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}")
}

/// `%DLQ%<group>`.
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_GROUP_TOPIC_PREFIX}{group}")
}

/// A consumer group's retry topic.
pub fn is_retry_topic(topic: &str) -> bool {
    topic.starts_with(RETRY_GROUP_TOPIC_PREFIX)
}

/// A consumer group's dead-letter topic.
pub fn is_dlq_topic(topic: &str) -> bool {
    topic.starts_with(DLQ_GROUP_TOPIC_PREFIX)
}

/// `<cluster>_REPLY_TOPIC`.
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}_{REPLY_TOPIC_POSTFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_json_names_and_defaults() {
        let t = TopicConfig::with_queues("TopicTest", 4, Perm::READ_WRITE);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"topicName":"TopicTest","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false,"attributes":{}}"#
        );
        let java_49 = r#"{"order":false,"perm":7,"readQueueNums":8,"topicFilterType":"MULTI_TAG","topicName":"TBW102","topicSysFlag":0,"writeQueueNums":8}"#;
        let parsed: TopicConfig = serde_json::from_str(java_49).unwrap();
        assert_eq!(parsed.perm, Perm::ALL);
        assert_eq!(parsed.topic_filter_type, TopicFilterType::MultiTag);
        assert!(parsed.attributes.is_empty());
        let sparse: TopicConfig = serde_json::from_str(r#"{"topicName":"x"}"#).unwrap();
        assert_eq!(sparse, TopicConfig::new("x"));
    }

    #[test]
    fn encode_line_matches_java() {
        let t = TopicConfig::with_queues("T", 8, Perm::ALL);
        assert_eq!(t.encode_line(), "T 8 8 7 SINGLE_TAG");
    }

    #[test]
    fn topic_names() {
        assert!(validate_topic("Topic_Test-1|%x").is_ok());
        assert!(validate_topic(&"a".repeat(127)).is_ok());
        let err = validate_topic(&"a".repeat(128)).unwrap_err();
        assert!(err.to_string().contains("topic max length 127"), "{err}");
        assert!(validate_topic(&format!("%RETRY%{}", "a".repeat(200))).is_ok());
        assert!(validate_topic(&format!("%DLQ%{}", "a".repeat(251))).is_err());
        assert!(validate_topic("a.b").is_err());
        assert!(validate_topic("é").is_err());
        assert!(validate_topic(" ").is_err());
        assert!(validate_topic("").is_err());
    }

    #[test]
    fn group_names() {
        assert!(validate_group(&"g".repeat(120)).is_ok());
        assert!(validate_group(&"g".repeat(121)).is_err());
        assert!(validate_group("g/1").is_err());
    }

    #[test]
    fn system_topics() {
        assert!(is_system_topic("TBW102"));
        assert!(is_system_topic("rmq_sys_wheel_timer"));
        assert!(!is_system_topic("TopicTest"));
        assert!(is_not_allowed_send_topic("SCHEDULE_TOPIC_XXXX"));
        assert!(!is_not_allowed_send_topic("TBW102"));
        assert_eq!(retry_topic("g"), "%RETRY%g");
        assert_eq!(dlq_topic("g"), "%DLQ%g");
        assert!(is_retry_topic("%RETRY%g") && is_dlq_topic("%DLQ%g"));
        assert_eq!(reply_topic("DefaultCluster"), "DefaultCluster_REPLY_TOPIC");
    }
}
