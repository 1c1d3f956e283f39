//! Admin statistics bodies: ConsumeStats (GET_CONSUME_STATS), TopicStatsTable
//! (GET_TOPIC_STATS_INFO), connection lists (GET_CONSUMER/PRODUCER_CONNECTION_LIST) and GroupList
//! (QUERY_TOPIC_CONSUME_BY_WHO).
//!
//! ConsumeStats and TopicStatsTable are maps keyed by `MessageQueue` *objects*, which only
//! fastjson's dialect can hold, so they always encode through `ferrimq-fastjson`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    ConsumeFromWhere, ConsumeType, JsonBody, MessageModel, MessageQueue, SubscriptionData,
};
use crate::codes::LanguageCode;
use crate::error::Result;

/// Progress of a consumer group on one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    /// Queue max offset.
    pub broker_offset: i64,
    /// Committed consumer offset.
    pub consumer_offset: i64,
    /// Store time of the last consumed message, ms.
    pub last_timestamp: i64,
    /// 5.x: pull offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_offset: Option<i64>,
}

/// GET_CONSUME_STATS body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumeStats {
    /// Consume rate.
    pub consume_tps: f64,
    /// Queue -> progress.
    #[serde(with = "ferrimq_fastjson::object_keys")]
    pub offset_table: HashMap<MessageQueue, OffsetWrapper>,
}

impl JsonBody for ConsumeStats {
    fn encode(&self) -> Result<Bytes> {
        self.encode_fastjson()
    }
}

/// Offsets of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    /// Store time of the last message, ms.
    pub last_update_timestamp: i64,
    /// Queue max offset.
    pub max_offset: i64,
    /// Queue min offset.
    pub min_offset: i64,
}

/// GET_TOPIC_STATS_INFO body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicStatsTable {
    /// Queue -> offsets.
    #[serde(with = "ferrimq_fastjson::object_keys")]
    pub offset_table: HashMap<MessageQueue, TopicOffset>,
}

impl JsonBody for TopicStatsTable {
    fn encode(&self) -> Result<Bytes> {
        self.encode_fastjson()
    }
}

/// One client connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// Remote "ip:port".
    pub client_addr: String,
    /// Client id.
    pub client_id: String,
    /// Client language.
    pub language: LanguageCode,
    /// Client version ordinal.
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    /// Connections of the group.
    pub connection_set: BTreeSet<Connection>,
    /// Start position.
    pub consume_from_where: Option<ConsumeFromWhere>,
    /// Consume type.
    pub consume_type: Option<ConsumeType>,
    /// Message model.
    pub message_model: Option<MessageModel>,
    /// Topic -> subscription.
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

impl JsonBody for ConsumerConnection {}

/// GET_PRODUCER_CONNECTION_LIST body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    /// Connections of the group.
    pub connection_set: BTreeSet<Connection>,
}

impl JsonBody for ProducerConnection {}

/// QUERY_TOPIC_CONSUME_BY_WHO body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    /// Group names.
    pub group_list: BTreeSet<String>,
}

impl JsonBody for GroupList {}

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
    fn consume_stats_use_object_keys() {
        let wrapper = OffsetWrapper {
            broker_offset: 5,
            consumer_offset: 3,
            last_timestamp: 9,
            pull_offset: None,
        };
        let stats = ConsumeStats {
            consume_tps: 0.0,
            offset_table: HashMap::from([(queue(0), wrapper)]),
        };
        let bytes = stats.encode().expect("encodes");
        let text = std::str::from_utf8(&bytes).expect("utf8");
        assert!(
            text.contains(r#"{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":5,"consumerOffset":3,"lastTimestamp":9}}"#),
            "{text}"
        );
        assert_eq!(ConsumeStats::decode(&bytes), Ok(stats));
    }

    #[test]
    fn parses_java_topic_stats() {
        let java = br#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"T"}:{"lastUpdateTimestamp":7,"maxOffset":10,"minOffset":2}},"topicPutTps":0.0}"#;
        let table = TopicStatsTable::decode(java).expect("parses");
        assert_eq!(
            table.offset_table.get(&queue(1)),
            Some(&TopicOffset {
                last_update_timestamp: 7,
                max_offset: 10,
                min_offset: 2
            })
        );
        assert_eq!(
            TopicStatsTable::decode(&table.encode().expect("encodes")),
            Ok(table)
        );
    }

    #[test]
    fn connection_language_by_name() {
        let java = br#"{"connectionSet":[{"clientAddr":"1.2.3.4:5","clientId":"c","language":"JAVA","version":409}],"consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionTable":{}}"#;
        let connection = ConsumerConnection::decode(java).expect("parses");
        let first = connection.connection_set.first().expect("one connection");
        assert_eq!((first.language, first.version), (LanguageCode::Java, 409));
        assert_eq!(connection.message_model, Some(MessageModel::Clustering));
    }
}
