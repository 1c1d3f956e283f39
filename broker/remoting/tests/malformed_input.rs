//! Hostile and broken input: every case gives the right typed error and never panics.

use bytes::{Bytes, BytesMut};
use ferrimq_remoting::body::{HeartbeatData, JsonBody, TopicRouteData};
use ferrimq_remoting::message::decode_batch;
use ferrimq_remoting::{FrameCodec, RemotingCommand, RemotingError, SerializeType};

fn frame(serialize_type: u8, header: &[u8], body: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    buf.extend_from_slice(&((u32::from(serialize_type) << 24) | header.len() as u32).to_be_bytes());
    buf.extend_from_slice(header);
    buf.extend_from_slice(body);
    buf
}

fn decode(buf: &mut BytesMut) -> Result<Option<RemotingCommand>, RemotingError> {
    FrameCodec::default().decode(buf)
}

#[test]
fn several_frames_in_one_buffer_decode_in_order() {
    let mut buf = BytesMut::new();
    let codec = FrameCodec::default();
    for opaque in 0..3 {
        let serialize_type = if opaque % 2 == 0 {
            SerializeType::Json
        } else {
            SerializeType::RocketMq
        };
        let cmd = RemotingCommand::request(34, opaque).with_serialize_type(serialize_type);
        codec.encode(&cmd, &mut buf).expect("encodes");
    }
    let opaques: Vec<i32> = std::iter::from_fn(|| codec.decode(&mut buf).expect("valid"))
        .map(|cmd| cmd.opaque)
        .collect();
    assert_eq!(opaques, [0, 1, 2]);
    assert!(buf.is_empty());
}

#[test]
fn truncated_frames_wait_and_bogus_lengths_fail() {
    let mut partial = frame(0, br#"{"code":1}"#, b"body");
    partial.truncate(partial.len() - 1);
    assert_eq!(decode(&mut partial), Ok(None));
    let mut max = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
    assert_eq!(
        decode(&mut max),
        Err(RemotingError::FrameTooLarge {
            len: i32::MAX as u64 + 4,
            max: 16 * 1024 * 1024
        })
    );
    let mut negative = BytesMut::from(&(-1i32).to_be_bytes()[..]);
    assert_eq!(
        decode(&mut negative),
        Err(RemotingError::InvalidLength { len: -1 })
    );
    let mut zero = BytesMut::from(&[0u8, 0, 0, 0][..]);
    assert_eq!(
        decode(&mut zero),
        Err(RemotingError::InvalidLength { len: 0 })
    );
}

#[test]
fn sixteen_mib_limit_is_inclusive_of_the_prefix() {
    let codec = FrameCodec::default();
    let body = vec![0u8; 16 * 1024 * 1024 - 4 - 4 - 21];
    let at_limit = RemotingCommand::request(10, 1)
        .with_serialize_type(SerializeType::RocketMq)
        .with_body(body);
    let mut buf = BytesMut::new();
    codec
        .encode(&at_limit, &mut buf)
        .expect("exactly 16 MiB is allowed");
    assert_eq!(buf.len(), 16 * 1024 * 1024);
    assert_eq!(
        codec.decode(&mut buf).expect("valid").map(|c| c.body.len()),
        Some(at_limit.body.len())
    );
    let over = at_limit.with_body(vec![0u8; 16 * 1024 * 1024 - 28]);
    assert_eq!(
        codec.encode(&over, &mut buf),
        Err(RemotingError::FrameTooLarge {
            len: 16 * 1024 * 1024 + 1,
            max: 16 * 1024 * 1024
        })
    );
}

#[test]
fn header_length_beyond_frame_is_refused() {
    let mut buf = frame(1, &[0u8; 21], b"");
    buf[5..8].copy_from_slice(&[0x00, 0x00, 0x16]); // header says 22, frame holds 21
    assert_eq!(
        decode(&mut buf),
        Err(RemotingError::HeaderTooLong {
            header_len: 22,
            available: 21
        })
    );
}

#[test]
fn unknown_serialize_type_is_refused() {
    let mut buf = frame(0x7F, b"{}", b"");
    assert_eq!(
        decode(&mut buf),
        Err(RemotingError::UnknownSerializeType(0x7F))
    );
}

#[test]
fn invalid_utf8_is_reported_by_field() {
    let mut binary = Vec::new();
    binary.extend_from_slice(&[0, 10, 0, 1, 0x99, 0, 0, 0, 1, 0, 0, 0, 0]);
    binary.extend_from_slice(&[0, 0, 0, 2, 0xC3, 0x28]); // remark: invalid 2-byte sequence
    binary.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        decode(&mut frame(1, &binary, b"")),
        Err(RemotingError::InvalidUtf8 { field: "remark" })
    );
    let json = b"{\"code\":1,\"remark\":\"\xFF\"}";
    assert!(matches!(
        decode(&mut frame(0, json, b"")),
        Err(RemotingError::InvalidJson { .. })
    ));
}

#[test]
fn binary_header_with_lying_inner_lengths() {
    let mut binary = vec![0, 10, 0, 1, 0x99, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    binary.extend_from_slice(&[0, 0, 0, 8]); // extFields area of 8 bytes
    binary.extend_from_slice(&[0x7F, 0xFF, b'k', b'e', b'y', 0, 0, 0]); // key length 32767
    assert_eq!(
        decode(&mut frame(1, &binary, b"")),
        Err(RemotingError::Truncated {
            what: "extFields entry",
            offset: 23,
            need: 32767,
            have: 6
        })
    );
    let mut short_area = vec![0, 10, 0, 1, 0x99, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    short_area.extend_from_slice(&[0x40, 0, 0, 0]); // extFields length 1 GiB
    assert!(matches!(
        decode(&mut frame(1, &short_area, b"")),
        Err(RemotingError::Truncated {
            what: "binary header",
            need: 0x4000_0000,
            ..
        })
    ));
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let mut header = String::from(r#"{"code":1,"x":"#);
    header.push_str(&"[".repeat(depth));
    header.push_str(&"]".repeat(depth));
    header.push('}');
    let result = decode(&mut frame(0, header.as_bytes(), b""));
    assert!(
        matches!(result, Err(RemotingError::InvalidJson { .. })),
        "{result:?}"
    );
    let nested_body = format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    assert!(matches!(
        HeartbeatData::decode(nested_body.as_bytes()),
        Err(RemotingError::InvalidJson { .. })
    ));
    let nested_array = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(matches!(
        TopicRouteData::decode(nested_array.as_bytes()),
        Err(RemotingError::InvalidJson { .. })
    ));
}

#[test]
fn json_header_edge_cases() {
    for (header, ok) in [
        (&br#"{"code":1,"code":2}"#[..], false), // duplicate key: refused rather than guessed
        (br#"{"code":2147483648}"#, false),      // does not fit an int
        (br#"  {"code":1}  "#, true),
        (br#"{"code":1,"extFields":null}"#, true),
        (br#"{"code":1} trailing"#, false),
        (b"\xEF\xBB\xBF{\"code\":1}", false), // BOM
    ] {
        let result = decode(&mut frame(0, header, b""));
        assert_eq!(
            result.is_ok(),
            ok,
            "{:?}: {result:?}",
            String::from_utf8_lossy(header)
        );
        if !ok {
            assert!(matches!(result, Err(RemotingError::InvalidJson { .. })));
        }
    }
}

#[test]
fn hostile_batch_bodies() {
    for body in [
        vec![0u8; 3],
        vec![0xFF; 40],
        [&22i32.to_be_bytes()[..], &[0u8; 18]].concat(), // sizes agree, all zero: valid empty entry
        [
            &22i32.to_be_bytes()[..],
            &[0u8; 12],
            &(-1i32).to_be_bytes(),
            &[0, 0],
        ]
        .concat(), // negative body
        [&22i32.to_be_bytes()[..], &[0u8; 16], &[0xFF, 0xFF]].concat(), // negative properties
    ] {
        let result = decode_batch(&Bytes::from(body.clone()));
        let valid_empty = body.len() == 22 && body[4..].iter().all(|&b| b == 0);
        assert_eq!(result.is_ok(), valid_empty, "{body:?}: {result:?}");
    }
}
