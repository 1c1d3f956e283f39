//! Name-server and broker-registration bodies: TopicList, KVTable, DataVersion,
//! and DataVersion (RegisterBrokerBody and TopicConfigSerializeWrapper are in `register`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::JsonBody;

/// GET_ALL_TOPIC_LIST_FROM_NAMESERVER / GET_TOPICS_BY_CLUSTER body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    /// Broker address, set by some broker-side answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
    /// Topic names.
    pub topic_list: BTreeSet<String>,
}

impl JsonBody for TopicList {}

/// KVTable: GET_KVLIST_BY_NAMESPACE, GET_BROKER_RUNTIME_INFO, REGISTER_BROKER response bodies.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KvTable {
    /// Key -> value.
    pub table: BTreeMap<String, String>,
}

impl JsonBody for KvTable {}

/// Version stamp of a broker's topic (or group) table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    /// Change counter.
    pub counter: i64,
    /// 5.x state version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_version: Option<i64>,
    /// Time of the last change, ms.
    pub timestamp: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_table_and_topic_list_shapes() {
        let table = KvTable {
            table: BTreeMap::from([("putTps".into(), "1.0 2.0 3.0".into())]),
        };
        assert_eq!(
            &table.encode().expect("encodes")[..],
            br#"{"table":{"putTps":"1.0 2.0 3.0"}}"#
        );
        let list = TopicList::decode(br#"{"topicList":["b","a","a"]}"#).expect("parses");
        assert_eq!(list.topic_list.into_iter().collect::<Vec<_>>(), ["a", "b"]);
    }
}
