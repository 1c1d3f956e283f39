//! Documents written by Java RocketMQ (shapes from the protocol reference §3.9, §3.10, §7.4) read
//! into ordinary serde types, and written back in the form Java reads.

use std::collections::{BTreeMap, HashMap};

use ferrimq_fastjson::{
    SyntaxKind, Value, from_str, object_keys, parse, to_string, to_string_pretty,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct BrokerData {
    broker_addrs: HashMap<i64, String>,
    broker_name: String,
    cluster: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct TopicRouteData {
    queue_datas: Vec<serde_json::Value>,
    broker_datas: Vec<BrokerData>,
}

#[test]
fn route_data_with_unquoted_broker_ids() {
    let text = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
    let route: TopicRouteData = from_str(text).unwrap();
    let broker = &route.broker_datas[0];
    assert_eq!(broker.broker_addrs[&0], "10.0.0.1:10911");
    assert_eq!(broker.broker_addrs[&1], "10.0.0.2:10911");
    assert_eq!(route.queue_datas[0]["writeQueueNums"], 4);
}

#[test]
fn route_data_in_standard_json_too() {
    let text = r#"{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"b","cluster":"c"}"#;
    let data: BrokerData = from_str(text).unwrap();
    assert_eq!(data.broker_addrs[&0], "10.0.0.1:10911");
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ConsumerOffsets {
    offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

#[test]
fn consumer_offset_json_pretty_from_java() {
    let text = "{\n\t\"offsetTable\":{\n\t\t\"%RETRY%g1@g1\":{0:0\n\t\t},\n\t\t\"TopicTest@g1\":{0:123,1:456,2:-1\n\t\t}\n\t}\n}";
    let offsets: ConsumerOffsets = from_str(text).unwrap();
    assert_eq!(offsets.offset_table["TopicTest@g1"][&1], 456);
    assert_eq!(offsets.offset_table["TopicTest@g1"][&2], -1);
    assert_eq!(offsets.offset_table["%RETRY%g1@g1"][&0], 0);
    let written = to_string(&offsets).unwrap();
    assert_eq!(
        written,
        r#"{"offsetTable":{"%RETRY%g1@g1":{0:0},"TopicTest@g1":{0:123,1:456,2:-1}}}"#
    );
    let again: ConsumerOffsets = from_str(&to_string_pretty(&offsets).unwrap()).unwrap();
    assert_eq!(again, offsets);
}

#[derive(Debug, Deserialize, Serialize, PartialEq, Eq, Hash, Clone)]
#[serde(rename_all = "camelCase")]
struct MessageQueue {
    broker_name: String,
    queue_id: i32,
    topic: String,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct OffsetWrapper {
    broker_offset: i64,
    consumer_offset: i64,
    last_timestamp: i64,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ConsumeStats {
    consume_tps: f64,
    #[serde(with = "object_keys")]
    offset_table: HashMap<MessageQueue, OffsetWrapper>,
}

#[test]
fn consume_stats_with_object_keys() {
    let text = r#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"brokerOffset":5,"consumerOffset":3,"lastTimestamp":1700000000000},{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"brokerOffset":7,"consumerOffset":7,"lastTimestamp":0}}}"#;
    let stats: ConsumeStats = from_str(text).unwrap();
    let q1 = MessageQueue {
        broker_name: "broker-a".into(),
        queue_id: 1,
        topic: "T".into(),
    };
    assert_eq!(stats.offset_table.len(), 2);
    assert_eq!(stats.offset_table[&q1].broker_offset, 7);

    let one = ConsumeStats {
        consume_tps: 0.0,
        offset_table: [(
            q1,
            OffsetWrapper {
                broker_offset: 7,
                consumer_offset: 6,
                last_timestamp: 9,
            },
        )]
        .into(),
    };
    let written = to_string(&one).unwrap();
    assert_eq!(
        written,
        r#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"brokerOffset":7,"consumerOffset":6,"lastTimestamp":9}}}"#
    );
    assert_eq!(from_str::<ConsumeStats>(&written).unwrap(), one);
    assert!(
        serde_json::to_string(&one).is_err(),
        "standard JSON cannot carry object keys"
    );
}

#[test]
fn type_mismatch_is_a_data_error() {
    let err = from_str::<ConsumerOffsets>(r#"{"offsetTable":{"t@g":{0:"x"}}}"#).unwrap_err();
    assert!(matches!(err, ferrimq_fastjson::Error::Data(_)), "{err}");
    let err = from_str::<ConsumerOffsets>(r#"{"offsetTable":{"t@g":{x:1}}}"#).unwrap_err();
    match err {
        ferrimq_fastjson::Error::Syntax(e) => {
            assert_eq!((e.kind, e.line, e.column), (SyntaxKind::InvalidKey, 1, 24));
        }
        other => panic!("expected a syntax error, got {other}"),
    }
}

#[test]
fn truncated_file_is_a_syntax_error_with_position() {
    let err = parse("{\n\t\"offsetTable\":{\n\t\t\"t@g\":{0:1").unwrap_err();
    assert_eq!(
        (err.kind, err.line, err.column),
        (SyntaxKind::UnexpectedEnd, 3, 13)
    );
}

#[test]
fn values_convert_both_ways() {
    let json: serde_json::Value = serde_json::from_str(r#"{"a":[1,{"b":null}]}"#).unwrap();
    let value = Value::from_json(json.clone());
    assert_eq!(value.into_json(), json);
}
