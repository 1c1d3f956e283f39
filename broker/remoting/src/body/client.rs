//! Client-facing bodies: HeartbeatData (HEART_BEAT), the consumer id list
//! (GET_CONSUMER_LIST_BY_GROUP) and the orderly lock bodies (LOCK/UNLOCK_BATCH_MQ).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::JsonBody;

/// One queue of a topic on a broker; also the object key of stats maps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Topic.
    pub topic: String,
}

/// How a consumer consumes (`ConsumeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsumeType {
    /// Pull and lite-pull consumers.
    ConsumeActively,
    /// Push consumers.
    #[default]
    ConsumePassively,
    /// 5.x pop consumers.
    ConsumePop,
}

/// Delivery model (`MessageModel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageModel {
    /// Every consumer of the group gets every message.
    Broadcasting,
    /// Queues are shared out among the group.
    #[default]
    Clustering,
}

/// Where a new consumer starts (`ConsumeFromWhere`, deprecated values included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsumeFromWhere {
    /// From the end of each queue.
    #[default]
    ConsumeFromLastOffset,
    /// Deprecated.
    ConsumeFromLastOffsetAndFromMinWhenBootFirst,
    /// Deprecated.
    ConsumeFromMinOffset,
    /// Deprecated.
    ConsumeFromMaxOffset,
    /// From the start of each queue.
    ConsumeFromFirstOffset,
    /// From a timestamp.
    ConsumeFromTimestamp,
}

/// A consumer's subscription to one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    /// Class filter mode (legacy filter servers).
    pub class_filter_mode: bool,
    /// Java `String.hashCode` of each tag.
    pub code_set: BTreeSet<i32>,
    /// "TAG" or "SQL92".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression_type: Option<String>,
    /// The expression: "*", "tagA || tagB", or SQL92.
    pub sub_string: String,
    /// Version (ms timestamp) of the subscription.
    pub sub_version: i64,
    /// Tags of a TAG expression.
    pub tags_set: BTreeSet<String>,
    /// Topic.
    pub topic: String,
}

/// A consumer group as reported by one client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    /// Start position for new queues.
    pub consume_from_where: ConsumeFromWhere,
    /// Pull, push or pop.
    pub consume_type: ConsumeType,
    /// Group name.
    pub group_name: String,
    /// Clustering or broadcasting.
    pub message_model: MessageModel,
    /// Subscriptions.
    pub subscription_data_set: Vec<SubscriptionData>,
    /// Unit mode.
    pub unit_mode: bool,
}

/// A producer group as reported by one client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    /// Group name.
    pub group_name: String,
}

/// HEART_BEAT body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    /// `clientIP@instanceName[@unitName]` (Java getter `getClientID`).
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Consumer groups of the client.
    pub consumer_data_set: Vec<ConsumerData>,
    /// 5.x heartbeat v2 fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_fingerprint: Option<i32>,
    /// Producer groups of the client.
    pub producer_data_set: Vec<ProducerData>,
    /// 5.x: subscriptions omitted (heartbeat v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub without_sub: Option<bool>,
}

impl JsonBody for HeartbeatData {}

/// GET_CONSUMER_LIST_BY_GROUP response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetConsumerListByGroupResponseBody {
    /// Client ids of the group's consumers.
    pub consumer_id_list: Vec<String>,
}

impl JsonBody for GetConsumerListByGroupResponseBody {}

/// LOCK_BATCH_MQ and UNLOCK_BATCH_MQ request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    /// Client asking.
    pub client_id: String,
    /// Consumer group.
    pub consumer_group: String,
    /// Queues to lock or unlock.
    pub mq_set: BTreeSet<MessageQueue>,
    /// Lock only on this broker.
    pub only_this_broker: bool,
}

impl JsonBody for LockBatchRequestBody {}

/// UNLOCK_BATCH_MQ request body (same shape as the lock request).
pub type UnlockBatchRequestBody = LockBatchRequestBody;

/// LOCK_BATCH_MQ response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LockBatchResponseBody {
    /// Queues now locked by the client (Java getter `getLockOKMQSet`).
    #[serde(rename = "lockOKMQSet", default)]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

impl JsonBody for LockBatchResponseBody {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heartbeat as a 4.9.x Java push consumer sends it (fastjson output).
    const JAVA_HEARTBEAT: &str = r#"{"clientID":"192.168.1.5@12345#2380712938","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"CG","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919,2598920],"expressionType":"TAG","subString":"TagA || TagB","subVersion":1700000000000,"tagsSet":["TagA","TagB"],"topic":"TopicTest"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%CG"}],"unitMode":false}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}"#;

    #[test]
    fn parses_java_heartbeat_and_writes_it_back_identically() {
        let data = HeartbeatData::decode(JAVA_HEARTBEAT.as_bytes()).expect("parses");
        assert_eq!(data.client_id, "192.168.1.5@12345#2380712938");
        let consumer = &data.consumer_data_set[0];
        assert_eq!(
            consumer.consume_from_where,
            ConsumeFromWhere::ConsumeFromFirstOffset
        );
        assert_eq!(consumer.consume_type, ConsumeType::ConsumePassively);
        assert_eq!(
            consumer.subscription_data_set[0].code_set,
            BTreeSet::from([2598919, 2598920])
        );
        assert_eq!(consumer.subscription_data_set[1].topic, "%RETRY%CG");
        let encoded = data.encode().expect("encodes");
        assert_eq!(std::str::from_utf8(&encoded), Ok(JAVA_HEARTBEAT));
    }

    #[test]
    fn lock_bodies_use_java_names() {
        let mq = MessageQueue {
            broker_name: "b".into(),
            queue_id: 1,
            topic: "T".into(),
        };
        let response = LockBatchResponseBody {
            lock_ok_mq_set: BTreeSet::from([mq.clone()]),
        };
        let text = response.encode().expect("encodes");
        assert_eq!(
            std::str::from_utf8(&text),
            Ok(r#"{"lockOKMQSet":[{"brokerName":"b","queueId":1,"topic":"T"}]}"#)
        );
        let request = br#"{"consumerGroup":"CG","clientId":"c1","onlyThisBroker":true,"mqSet":[{"topic":"T","brokerName":"b","queueId":1}]}"#;
        let request = LockBatchRequestBody::decode(request).expect("parses");
        assert_eq!((request.only_this_broker, request.mq_set.len()), (true, 1));
        assert!(request.mq_set.contains(&mq));
    }
}
