//! Route bodies served by the name server: TopicRouteData (GET_ROUTEINFO_BY_TOPIC) and
//! ClusterInfo (GET_BROKER_CLUSTER_INFO).
//!
//! Two compatibility quirks live here. `QueueData` is written with both `topicSysFlag` and the
//! pre-4.9 typo `topicSynFlag`, and read from either. `BrokerData.brokerAddrs` is a map keyed by
//! broker id: [`TopicRouteData::encode_for_version`] writes it with quoted keys for clients of
//! version >= 401 (or that asked for standard JSON) and with fastjson's unquoted keys otherwise.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::JsonBody;
use crate::error::Result;

/// `MQVersion` ordinal of 4.9.4, from which clients get standard JSON route data.
pub const STANDARD_JSON_ROUTE_VERSION: i32 = 401;

/// Queues of one topic on one broker.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "QueueDataWire", into = "QueueDataWire")]
pub struct QueueData {
    /// Broker holding the queues.
    pub broker_name: String,
    /// Readable queue count.
    pub read_queue_nums: i32,
    /// Writable queue count.
    pub write_queue_nums: i32,
    /// PermName bits.
    pub perm: i32,
    /// Topic sys flag.
    pub topic_sys_flag: i32,
}

/// Wire form of [`QueueData`] carrying both spellings of the sys flag.
#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct QueueDataWire {
    broker_name: String,
    perm: i32,
    read_queue_nums: i32,
    topic_syn_flag: Option<i32>,
    topic_sys_flag: Option<i32>,
    write_queue_nums: i32,
}

impl From<QueueDataWire> for QueueData {
    fn from(wire: QueueDataWire) -> Self {
        QueueData {
            broker_name: wire.broker_name,
            read_queue_nums: wire.read_queue_nums,
            write_queue_nums: wire.write_queue_nums,
            perm: wire.perm,
            topic_sys_flag: wire.topic_sys_flag.or(wire.topic_syn_flag).unwrap_or(0),
        }
    }
}

impl From<QueueData> for QueueDataWire {
    fn from(data: QueueData) -> Self {
        QueueDataWire {
            broker_name: data.broker_name,
            perm: data.perm,
            read_queue_nums: data.read_queue_nums,
            topic_syn_flag: Some(data.topic_sys_flag),
            topic_sys_flag: Some(data.topic_sys_flag),
            write_queue_nums: data.write_queue_nums,
        }
    }
}

/// The addresses of one broker group (master id 0, slaves 1..).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    /// Broker id -> "ip:port".
    pub broker_addrs: BTreeMap<i64, String>,
    /// Broker name.
    pub broker_name: String,
    /// Cluster name.
    pub cluster: String,
    /// 5.x: acting-master mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_acting_master: Option<bool>,
    /// 5.x: zone name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
}

impl BrokerData {
    /// Address of the master (broker id 0), if registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&0).map(String::as_str)
    }
}

/// Route of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    /// Broker groups serving the topic.
    pub broker_datas: Vec<BrokerData>,
    /// Broker address -> filter servers (usually empty).
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// "brokerName:queueNum;..." for ordered topics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    /// Queues per broker.
    pub queue_datas: Vec<QueueData>,
}

impl JsonBody for TopicRouteData {}

impl TopicRouteData {
    /// Encodes for a client of `version`: standard JSON for 4.9.4+ or when asked, fastjson's
    /// unquoted numeric keys otherwise (what older Java name servers sent).
    pub fn encode_for_version(&self, version: i32, standard_json_only: bool) -> Result<Bytes> {
        if standard_json_only || version >= STANDARD_JSON_ROUTE_VERSION {
            self.encode()
        } else {
            self.encode_fastjson()
        }
    }
}

/// GET_BROKER_CLUSTER_INFO body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    /// Broker name -> its addresses.
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name -> broker names.
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

impl JsonBody for ClusterInfo {}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> TopicRouteData {
        TopicRouteData {
            broker_datas: vec![BrokerData {
                broker_addrs: BTreeMap::from([
                    (0, "10.0.0.1:10911".into()),
                    (1, "10.0.0.2:10911".into()),
                ]),
                broker_name: "broker-a".into(),
                cluster: "DefaultCluster".into(),
                ..Default::default()
            }],
            queue_datas: vec![QueueData {
                broker_name: "broker-a".into(),
                read_queue_nums: 4,
                write_queue_nums: 4,
                perm: 6,
                topic_sys_flag: 0,
            }],
            ..Default::default()
        }
    }

    const STANDARD: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"topicSysFlag":0,"writeQueueNums":4}]}"#;

    #[test]
    fn standard_json_for_new_clients() {
        let bytes = route().encode_for_version(409, false).expect("encodes");
        assert_eq!(std::str::from_utf8(&bytes), Ok(STANDARD));
        let bytes = route().encode_for_version(0, true).expect("encodes");
        assert_eq!(std::str::from_utf8(&bytes), Ok(STANDARD));
    }

    #[test]
    fn fastjson_keys_for_old_clients() {
        let bytes = route().encode_for_version(400, false).expect("encodes");
        let text = std::str::from_utf8(&bytes).expect("utf8");
        assert!(
            text.contains(r#""brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}"#),
            "{text}"
        );
        assert_eq!(TopicRouteData::decode(&bytes), Ok(route()));
    }

    #[test]
    fn reads_java_route_with_legacy_flag_and_unknown_keys() {
        let java = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"b","cluster":"c","enableActingMaster":false,"zoneName":"z"}],
            "filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":8,"topicSynFlag":3,"writeQueueNums":8}],
            "topicQueueMappingByBroker":{"x":{}}}"#;
        let route = TopicRouteData::decode(java.as_bytes()).expect("parses");
        assert_eq!(route.queue_datas[0].topic_sys_flag, 3);
        assert_eq!(route.broker_datas[0].master_addr(), Some("10.0.0.1:10911"));
        assert_eq!(route.broker_datas[0].zone_name.as_deref(), Some("z"));
        assert_eq!(route.order_topic_conf, None);
    }

    #[test]
    fn cluster_info_round_trip() {
        let info = ClusterInfo {
            broker_addr_table: BTreeMap::from([(
                "broker-a".into(),
                route().broker_datas[0].clone(),
            )]),
            cluster_addr_table: BTreeMap::from([(
                "DefaultCluster".into(),
                BTreeSet::from(["broker-a".into()]),
            )]),
        };
        let bytes = info.encode().expect("encodes");
        assert_eq!(ClusterInfo::decode(&bytes), Ok(info.clone()));
        assert_eq!(
            ClusterInfo::decode(&info.encode_fastjson().expect("encodes")),
            Ok(info)
        );
    }
}
