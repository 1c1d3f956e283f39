//! Byte-exact checks against the worked examples of the protocol reference (§1.3, §1.4a) and
//! against headers shaped exactly as the Java client writes them.

use bytes::BytesMut;
use ferrimq_remoting::header::typed::{SendMessageRequestHeader, SendMessageResponseHeader};
use ferrimq_remoting::{
    FrameCodec, LanguageCode, RemotingCommand, RequestCode, ResponseCode, SerializeType,
};

fn success_response(serialize_type: SerializeType) -> RemotingCommand {
    let request =
        RemotingCommand::request(RequestCode::HeartBeat, 5).with_serialize_type(serialize_type);
    RemotingCommand::response_to(&request, ResponseCode::Success)
}

fn encode(cmd: &RemotingCommand) -> Vec<u8> {
    let mut buf = BytesMut::new();
    FrameCodec::default()
        .encode(cmd, &mut buf)
        .expect("encodes");
    buf.to_vec()
}

#[test]
fn json_success_response_matches_reference_example() {
    let header = br#"{"code":0,"flag":1,"language":"JAVA","opaque":5,"serializeTypeCurrentRPC":"JSON","version":409}"#;
    assert_eq!(header.len(), 95);
    let mut expected = vec![0x00, 0x00, 0x00, 0x63, 0x00, 0x00, 0x00, 0x5F];
    expected.extend_from_slice(header);
    assert_eq!(encode(&success_response(SerializeType::Json)), expected);
}

#[test]
fn binary_success_response_matches_reference_example() {
    let expected: Vec<u8> = vec![
        0x00, 0x00, 0x00, 0x19, 0x01, 0x00, 0x00, 0x15, // length 25, type 1, header 21
        0x00, 0x00, // code 0
        0x00, // language JAVA
        0x01, 0x99, // version 409
        0x00, 0x00, 0x00, 0x05, // opaque
        0x00, 0x00, 0x00, 0x01, // flag: response
        0x00, 0x00, 0x00, 0x00, // remark length 0 = null
        0x00, 0x00, 0x00, 0x00, // extFields length 0
    ];
    assert_eq!(encode(&success_response(SerializeType::RocketMq)), expected);
    let decoded = FrameCodec::default()
        .decode(&mut BytesMut::from(&expected[..]))
        .expect("valid")
        .expect("complete");
    assert_eq!(decoded, success_response(SerializeType::RocketMq));
}

/// SEND_MESSAGE_V2 header text as a 4.9.8 Java producer writes it (fastjson, a..n in HashMap
/// order, properties with \u0001/\u0002 separators escaped).
const JAVA_SEND_V2: &str = r#"{"code":310,"extFields":{"a":"please_rename_unique_group_name","b":"TopicTest","c":"TBW102","d":"4","e":"2","f":"0","g":"1700000000123","h":"0","i":"KEYS\u0001OrderID188\u0002UNIQ_KEY\u0001C0A8010512342A9F3B5E1A2B00000000\u0002WAIT\u0001true\u0002TAGS\u0001TagA","j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":409}"#;

fn java_frame(header: &str, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(header.as_bytes());
    frame.extend_from_slice(body);
    frame
}

#[test]
fn java_send_v2_request_parses_and_re_encodes_identically() {
    let frame = java_frame(JAVA_SEND_V2, b"Hello RocketMQ 0");
    let cmd = FrameCodec::default()
        .decode(&mut BytesMut::from(&frame[..]))
        .expect("valid")
        .expect("complete");
    assert_eq!((cmd.code, cmd.opaque, cmd.version), (310, 7, 409));
    assert_eq!(cmd.language, LanguageCode::Java);
    assert!(!cmd.is_response() && !cmd.is_oneway());
    assert_eq!(&cmd.body[..], b"Hello RocketMQ 0");
    let header =
        SendMessageRequestHeader::from_command_fields(cmd.code, &cmd.ext_fields).expect("header");
    assert_eq!(header.producer_group, "please_rename_unique_group_name");
    assert_eq!(
        (header.queue_id, header.born_timestamp),
        (2, 1_700_000_000_123)
    );
    assert_eq!(header.broker_name.as_deref(), Some("broker-a"));
    assert_eq!(header.max_reconsume_times, None);
    let properties =
        ferrimq_remoting::message::parse_properties(header.properties.as_deref().unwrap_or(""));
    assert_eq!(properties.get("TAGS").map(String::as_str), Some("TagA"));
    assert_eq!(
        properties.get("UNIQ_KEY").map(String::as_str),
        Some("C0A8010512342A9F3B5E1A2B00000000")
    );
    assert_eq!(encode(&cmd), frame);
}

#[test]
fn send_response_is_answered_in_the_request_dialect() {
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let request = RemotingCommand::request(RequestCode::SendMessageV2, 77)
            .with_serialize_type(serialize_type);
        let header = SendMessageResponseHeader {
            msg_id: "0A00000100002A9F0000000000000000".into(),
            queue_id: 2,
            queue_offset: 10,
            ..Default::default()
        };
        let response = RemotingCommand::response_to(&request, ResponseCode::Success)
            .with_header(&header)
            .with_ext_field("MSG_REGION", "DefaultRegion")
            .with_ext_field("TRACE_ON", "true");
        let bytes = encode(&response);
        assert_eq!(bytes[4], serialize_type.as_byte());
        let decoded = FrameCodec::default()
            .decode(&mut BytesMut::from(&bytes[..]))
            .expect("valid")
            .expect("complete");
        assert_eq!(decoded.opaque, 77);
        assert!(decoded.is_response());
        assert_eq!(
            decoded.decode_header::<SendMessageResponseHeader>(),
            Ok(header)
        );
        assert_eq!(
            decoded.ext_fields.get("MSG_REGION").map(String::as_str),
            Some("DefaultRegion")
        );
    }
}

#[test]
fn json_response_with_remark_matches_fastjson_text() {
    let request = RemotingCommand::request(9999, 3);
    let response = RemotingCommand::error_response(
        &request,
        ResponseCode::RequestCodeNotSupported,
        " request type 9999 not supported",
    );
    let bytes = encode(&response);
    assert_eq!(
        std::str::from_utf8(&bytes[8..]),
        Ok(
            r#"{"code":3,"flag":1,"language":"JAVA","opaque":3,"remark":" request type 9999 not supported","serializeTypeCurrentRPC":"JSON","version":409}"#
        )
    );
}
