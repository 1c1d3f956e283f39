//! Bytes produced by the official Java classes (rocketmq-remoting 5.3.3, fastjson 1.2.83), written
//! by `tests/fixtures/JavaFixtures.java` into `tests/fixtures/java/`: we must read every one, and
//! where our output is defined to match Java's, write the very same bytes.

use bytes::BytesMut;
use ferrimq_remoting::body::{ConsumeStats, JsonBody, MessageQueue, OffsetWrapper, TopicRouteData};
use ferrimq_remoting::header::typed::{
    PullMessageRequestHeader, SendMessageRequestHeader, SendMessageResponseHeader,
};
use ferrimq_remoting::{FrameCodec, LanguageCode, RemotingCommand, SerializeType};

const SEND_V2_JSON: &[u8] = include_bytes!("fixtures/java/send_v2_json.bin");
const SEND_V2_ROCKETMQ: &[u8] = include_bytes!("fixtures/java/send_v2_rocketmq.bin");
const SEND_RESPONSE_JSON: &[u8] = include_bytes!("fixtures/java/send_response_json.bin");
const SEND_RESPONSE_ROCKETMQ: &[u8] = include_bytes!("fixtures/java/send_response_rocketmq.bin");
const PULL_JSON: &[u8] = include_bytes!("fixtures/java/pull_json.bin");
const ROUTE_FASTJSON: &[u8] = include_bytes!("fixtures/java/route_fastjson.json");
const ROUTE_STANDARD: &[u8] = include_bytes!("fixtures/java/route_standard.json");
const CONSUME_STATS: &[u8] = include_bytes!("fixtures/java/consume_stats.json");

fn decode(frame: &[u8]) -> RemotingCommand {
    let mut buf = BytesMut::from(frame);
    let cmd = FrameCodec::default()
        .decode(&mut buf)
        .expect("valid")
        .expect("complete");
    assert!(buf.is_empty(), "exactly one frame");
    cmd
}

fn encode(cmd: &RemotingCommand) -> Vec<u8> {
    let mut buf = BytesMut::new();
    FrameCodec::default()
        .encode(cmd, &mut buf)
        .expect("encodes");
    buf.to_vec()
}

#[test]
fn java_send_v2_in_both_serializations() {
    let json = decode(SEND_V2_JSON);
    let binary = decode(SEND_V2_ROCKETMQ);
    assert_eq!(json.serialize_type, SerializeType::Json);
    assert_eq!(binary.serialize_type, SerializeType::RocketMq);
    for cmd in [&json, &binary] {
        assert_eq!(
            (cmd.code, cmd.opaque, cmd.flag, cmd.version),
            (310, 7, 0, 479)
        );
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!(&cmd.body[..], b"Hello RocketMQ 0");
        let header = SendMessageRequestHeader::from_command_fields(cmd.code, &cmd.ext_fields)
            .expect("complete header");
        assert_eq!(header.producer_group, "please_rename_unique_group_name");
        assert_eq!(
            (header.queue_id, header.born_timestamp),
            (2, 1_700_000_000_123)
        );
        assert_eq!(
            (header.unit_mode, header.batch, header.broker_name),
            (Some(false), Some(false), None)
        );
    }
    assert_eq!(json.ext_fields, binary.ext_fields);
    // fastjson sorts bean keys and HashMap puts "a".."m" in order: our JSON is Java's, byte for byte.
    assert_eq!(encode(&json), SEND_V2_JSON);
    assert_eq!(encode(&binary), SEND_V2_ROCKETMQ);
}

#[test]
fn java_send_response_in_both_serializations() {
    for frame in [SEND_RESPONSE_JSON, SEND_RESPONSE_ROCKETMQ] {
        let cmd = decode(frame);
        assert!(cmd.is_response());
        assert_eq!((cmd.code, cmd.opaque), (0, 7));
        assert_eq!(cmd.remark.as_deref(), Some("not set any response code"));
        let header: SendMessageResponseHeader = cmd.decode_header().expect("complete header");
        assert_eq!(header.msg_id, "7F00000100002A9F0000000000000C8A");
        assert_eq!((header.queue_id, header.queue_offset), (2, 17));
        assert_eq!(
            cmd.ext_fields.get("MSG_REGION").map(String::as_str),
            Some("DefaultRegion")
        );
        assert_eq!(
            cmd.ext_fields.get("TRACE_ON").map(String::as_str),
            Some("true")
        );
        assert!(cmd.body.is_empty());
    }
}

#[test]
fn java_pull_request() {
    let cmd = decode(PULL_JSON);
    let header: PullMessageRequestHeader = cmd.decode_header().expect("complete header");
    assert_eq!(
        (header.consumer_group.as_str(), header.topic.as_str()),
        ("CG", "TopicTest")
    );
    assert_eq!(
        (header.queue_id, header.queue_offset, header.max_msg_nums),
        (1, 42, 32)
    );
    assert_eq!(
        (header.sys_flag, header.suspend_timeout_millis),
        (2, 15_000)
    );
    assert_eq!(header.expression_type.as_deref(), Some("TAG"));
    assert_eq!(header.subscription, None);
}

#[test]
fn java_route_in_both_key_styles() {
    let fastjson = TopicRouteData::decode(ROUTE_FASTJSON).expect("unquoted keys parse");
    let standard = TopicRouteData::decode(ROUTE_STANDARD).expect("quoted keys parse");
    assert_eq!(fastjson, standard);
    let broker = &standard.broker_datas[0];
    assert_eq!(broker.master_addr(), Some("10.0.0.1:10911"));
    assert_eq!(
        broker.broker_addrs.get(&1).map(String::as_str),
        Some("10.0.0.2:10911")
    );
    assert_eq!(broker.enable_acting_master, Some(false));
    assert_eq!(standard.queue_datas[0].perm, 6);
    // What we send old clients parses back to the same route.
    let ours = standard.encode_for_version(300, false).expect("encodes");
    assert!(
        std::str::from_utf8(&ours)
            .expect("utf8")
            .contains(r#"{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}"#)
    );
    assert_eq!(TopicRouteData::decode(&ours), Ok(standard));
}

#[test]
fn java_consume_stats_with_object_keys() {
    let stats = ConsumeStats::decode(CONSUME_STATS).expect("object keys parse");
    let queue = MessageQueue {
        broker_name: "broker-a".into(),
        queue_id: 0,
        topic: "TopicTest".into(),
    };
    assert_eq!(
        stats.offset_table.get(&queue),
        Some(&OffsetWrapper {
            broker_offset: 5,
            consumer_offset: 3,
            last_timestamp: 1_700_000_000_000,
            pull_offset: Some(0)
        })
    );
    // Single-entry map, fields in Java's order: our text is Java's.
    assert_eq!(&stats.encode().expect("encodes")[..], CONSUME_STATS);
}
