//! Broker registration bodies: RegisterBrokerBody (plain JSON form, REGISTER_BROKER with request
//! version >= 37) and TopicConfigSerializeWrapper (also the GET_ALL_TOPIC_CONFIG body). Topic
//! configs are `ferrimq-config`'s `TopicConfig`, so broker, namesrv and operator agree on keys.
//! Also SubscriptionGroupWrapper (GET_ALL_SUBSCRIPTIONGROUP_CONFIG), built on its
//! `SubscriptionGroupConfig`.

use std::collections::BTreeMap;

use ferrimq_config::{SubscriptionGroupConfig, TopicConfig};
use serde::{Deserialize, Serialize};

use super::{DataVersion, JsonBody};

/// GET_ALL_TOPIC_CONFIG body and the heart of a broker registration: every topic config of the
/// broker with the table's version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    /// Version of the topic table.
    pub data_version: DataVersion,
    /// Topic name -> config.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
}

impl JsonBody for TopicConfigSerializeWrapper {}

/// REGISTER_BROKER body (uncompressed form, request version >= 37).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    /// Filter server addresses (legacy, usually empty).
    pub filter_server_list: Vec<String>,
    /// The broker's topics.
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

impl JsonBody for RegisterBrokerBody {}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG body (also subscriptionGroup.json).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    /// Version of the group table.
    pub data_version: DataVersion,
    /// 5.x: group -> topic -> forbidden bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forbidden_table: Option<BTreeMap<String, BTreeMap<String, i32>>>,
    /// Group name -> config.
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

impl JsonBody for SubscriptionGroupWrapper {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registration body as a 4.9.x Java broker sends it.
    const JAVA_REGISTER: &str = r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4},"TBW102":{"order":false,"perm":7,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,"writeQueueNums":8}}}}"#;

    #[test]
    fn parses_java_registration() {
        let body = RegisterBrokerBody::decode(JAVA_REGISTER.as_bytes()).expect("parses");
        let wrapper = &body.topic_config_serialize_wrapper;
        assert_eq!(
            wrapper.data_version,
            DataVersion {
                counter: 3,
                state_version: None,
                timestamp: 1_700_000_000_000
            }
        );
        let tbw = &wrapper.topic_config_table["TBW102"];
        assert_eq!((tbw.read_queue_nums, tbw.perm.0), (8, 7));
        assert_eq!(wrapper.topic_config_table["TopicTest"].write_queue_nums, 4);
        assert_eq!(
            RegisterBrokerBody::decode(&body.encode().expect("encodes")),
            Ok(body)
        );
    }

    #[test]
    fn parses_java_subscription_groups() {
        let java = br#"{"dataVersion":{"counter":2,"timestamp":1700000000000},"subscriptionGroupTable":{"CG":{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":false,"consumeFromMinEnable":true,"groupName":"CG","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":5,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}}}"#;
        let wrapper = SubscriptionGroupWrapper::decode(java).expect("parses");
        assert_eq!(wrapper.data_version.counter, 2);
        let group = &wrapper.subscription_group_table["CG"];
        assert_eq!(
            (
                group.group_name.as_str(),
                group.consume_enable,
                group.retry_max_times
            ),
            ("CG", false, 5)
        );
        assert_eq!(
            SubscriptionGroupWrapper::decode(&wrapper.encode().expect("encodes")),
            Ok(wrapper)
        );
    }
}
