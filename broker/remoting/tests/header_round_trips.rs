//! Every typed header survives extFields -> frame -> extFields in both serializations, and a
//! missing required field is reported by its Java name.

use bytes::BytesMut;
use ferrimq_remoting::header::typed::*;
use ferrimq_remoting::{ExtFields, FrameCodec, RemotingCommand, RemotingError, SerializeType};

/// Fills every field with a value valid for any field type ("1" parses as string, int, long;
/// booleans read it as false), reads the header, then sends it through both serializations.
fn round_trip<H: CommandHeader + PartialEq + std::fmt::Debug>() {
    let filled: ExtFields = H::FIELD_NAMES
        .iter()
        .map(|name| (name.to_string(), "1".to_string()))
        .collect();
    let header = H::read_fields(&filled).expect("all fields present and parsable");
    let mut written = ExtFields::new();
    header.write_fields(&mut written);
    assert_eq!(written.len(), H::FIELD_NAMES.len(), "every field written");
    let codec = FrameCodec::default();
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let cmd = RemotingCommand::request(10, 1)
            .with_header(&header)
            .with_serialize_type(serialize_type);
        let mut buf = BytesMut::new();
        codec.encode(&cmd, &mut buf).expect("encodes");
        let decoded = codec.decode(&mut buf).expect("valid").expect("complete");
        assert_eq!(
            decoded.decode_header::<H>().as_ref(),
            Ok(&header),
            "{serialize_type:?}"
        );
    }
}

/// Removing any field either leaves a valid header (optional) or names that field.
fn required_fields_are_named<H: CommandHeader + std::fmt::Debug>() -> usize {
    let filled: ExtFields = H::FIELD_NAMES
        .iter()
        .map(|name| (name.to_string(), "1".to_string()))
        .collect();
    let mut required = 0;
    for name in H::FIELD_NAMES {
        let mut fields = filled.clone();
        fields.remove(name);
        match H::read_fields(&fields) {
            Ok(_) => {}
            Err(RemotingError::MissingField { field }) => {
                assert_eq!(field, *name);
                required += 1;
            }
            Err(other) => panic!("unexpected error {other:?} removing {name}"),
        }
    }
    required
}

macro_rules! check_headers {
    ($($header:ty => $required:expr),* $(,)?) => {
        #[test]
        fn every_header_round_trips_in_both_serializations() {
            $( round_trip::<$header>(); )*
        }

        #[test]
        fn required_field_counts_match_java_annotations() {
            $( assert_eq!(required_fields_are_named::<$header>(), $required, stringify!($header)); )*
        }
    };
}

check_headers! {
    SendMessageRequestHeader => 8,
    SendMessageRequestHeaderV2 => 8,
    SendMessageResponseHeader => 3,
    PullMessageRequestHeader => 9,
    PullMessageResponseHeader => 4,
    QueryConsumerOffsetRequestHeader => 3,
    OffsetResponseHeader => 1,
    UpdateConsumerOffsetRequestHeader => 4,
    GetMaxOffsetRequestHeader => 2,
    TopicQueueRequestHeader => 2,
    GetEarliestMsgStoretimeResponseHeader => 1,
    SearchOffsetRequestHeader => 3,
    UnregisterClientRequestHeader => 1,
    ConsumerGroupRequestHeader => 1,
    ConsumerSendMsgBackRequestHeader => 3,
    EndTransactionRequestHeader => 5,
    CheckTransactionStateRequestHeader => 2,
    QueryMessageRequestHeader => 5,
    QueryMessageResponseHeader => 2,
    ViewMessageRequestHeader => 1,
    RegisterBrokerRequestHeader => 5,
    RegisterBrokerResponseHeader => 0,
    UnregisterBrokerRequestHeader => 4,
    GetRouteInfoRequestHeader => 1,
    PutKvConfigRequestHeader => 3,
    KvConfigKeyRequestHeader => 2,
    GetKvConfigResponseHeader => 0,
    GetKvListByNamespaceRequestHeader => 1,
    BrokerNameRequestHeader => 1,
    WipeWritePermOfBrokerResponseHeader => 1,
    AddWritePermOfBrokerResponseHeader => 1,
    DeleteTopicFromNamesrvRequestHeader => 1,
    GetTopicsByClusterRequestHeader => 1,
    CreateTopicRequestHeader => 7,
    TopicRequestHeader => 1,
    GetConsumeStatsRequestHeader => 1,
    GetProducerConnectionListRequestHeader => 1,
    DeleteSubscriptionGroupRequestHeader => 1,
    GetConsumerRunningInfoRequestHeader => 2,
    EmptyHeader => 0,
}

#[test]
fn v2_send_header_converts_through_the_wire() {
    let v2 = SendMessageRequestHeaderV2 {
        a: "PG".into(),
        b: "T".into(),
        c: "TBW102".into(),
        d: 4,
        e: -1,
        f: 0x301,
        g: i64::MAX,
        h: i32::MIN,
        i: Some("A\u{1}1".into()),
        l: Some(16),
        m: Some(true),
        ..Default::default()
    };
    let cmd = RemotingCommand::request(320, 1)
        .with_header(&v2)
        .with_serialize_type(SerializeType::RocketMq);
    let mut buf = BytesMut::new();
    FrameCodec::default()
        .encode(&cmd, &mut buf)
        .expect("encodes");
    let decoded = FrameCodec::default()
        .decode(&mut buf)
        .expect("valid")
        .expect("complete");
    let v1 = SendMessageRequestHeader::from_command_fields(decoded.code, &decoded.ext_fields)
        .expect("v2 keys");
    assert_eq!(v1.clone(), SendMessageRequestHeader::from(v2.clone()));
    assert!(v1.is_batch());
    assert_eq!(
        (v1.queue_id, v1.sys_flag, v1.born_timestamp, v1.flag),
        (-1, 0x301, i64::MAX, i32::MIN)
    );
    assert_eq!(SendMessageRequestHeaderV2::from(v1), v2);
}

ferrimq_remoting::command_header! {
    /// A header declared outside the crate, as the client or server may need to.
    pub struct ExternalHeader {
        /// Required long.
        pub offset: i64 => "offset",
        /// Optional string.
        pub note: Option<String> => "note",
    }
}

#[test]
fn headers_can_be_declared_by_other_crates() {
    round_trip::<ExternalHeader>();
    assert_eq!(ExternalHeader::FIELD_NAMES, ["offset", "note"]);
    assert_eq!(required_fields_are_named::<ExternalHeader>(), 1);
}
