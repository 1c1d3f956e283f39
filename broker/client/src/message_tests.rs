//! Unit tests of the stored-record decoder.

use super::*;

/// Encodes one V1 record with IPv4 hosts, the §4.1 layout.
fn record(
    topic: &str,
    queue_offset: i64,
    phys: i64,
    flags: i32,
    body: &[u8],
    props: &str,
) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&0i32.to_be_bytes());
    r.extend_from_slice(&MAGIC_V1.to_be_bytes());
    r.extend_from_slice(&0x1234i32.to_be_bytes());
    r.extend_from_slice(&3i32.to_be_bytes()); // queue id
    r.extend_from_slice(&7i32.to_be_bytes()); // flag
    r.extend_from_slice(&queue_offset.to_be_bytes());
    r.extend_from_slice(&phys.to_be_bytes());
    r.extend_from_slice(&flags.to_be_bytes());
    r.extend_from_slice(&1_000i64.to_be_bytes());
    r.extend_from_slice(&[192, 168, 1, 2]);
    r.extend_from_slice(&5555i32.to_be_bytes());
    r.extend_from_slice(&2_000i64.to_be_bytes());
    r.extend_from_slice(&[127, 0, 0, 1]);
    r.extend_from_slice(&10911i32.to_be_bytes());
    r.extend_from_slice(&1i32.to_be_bytes()); // reconsume
    r.extend_from_slice(&0i64.to_be_bytes());
    r.extend_from_slice(&(body.len() as i32).to_be_bytes());
    r.extend_from_slice(body);
    r.push(topic.len() as u8);
    r.extend_from_slice(topic.as_bytes());
    r.extend_from_slice(&(props.len() as i16).to_be_bytes());
    r.extend_from_slice(props.as_bytes());
    let total = r.len() as i32;
    r[..4].copy_from_slice(&total.to_be_bytes());
    r
}

#[test]
fn decodes_consecutive_records_with_every_field() {
    let mut body = record(
        "T",
        0,
        0,
        0,
        b"hello",
        "UNIQ_KEY\u{1}ABC\u{2}TAGS\u{1}tagA\u{2}KEYS\u{1}k1 k2",
    );
    let first_len = body.len() as i64;
    body.extend(record("T", 1, first_len, 0, b"", ""));
    let messages = decode_records(&Bytes::from(body)).unwrap();
    assert_eq!(messages.len(), 2);
    let m = &messages[0];
    assert_eq!(m.topic, "T");
    assert_eq!(m.queue_id, 3);
    assert_eq!(m.flag, 7);
    assert_eq!(m.body_crc, 0x1234);
    assert_eq!((m.queue_offset, m.commit_log_offset), (0, 0));
    assert_eq!(m.born_host, "192.168.1.2:5555".parse().unwrap());
    assert_eq!(m.store_host, "127.0.0.1:10911".parse().unwrap());
    assert_eq!(
        (m.born_timestamp, m.store_timestamp, m.reconsume_times),
        (1_000, 2_000, 1)
    );
    assert_eq!(&m.body[..], b"hello");
    assert_eq!(m.msg_id(), "ABC");
    assert_eq!(m.tags(), Some("tagA"));
    assert_eq!(m.keys(), vec!["k1", "k2"]);
    assert_eq!(m.offset_msg_id, "7F00000100002A9F0000000000000000");
    assert_eq!(messages[1].queue_offset, 1);
    assert_eq!(messages[1].commit_log_offset, first_len);
    assert_eq!(messages[1].msg_id(), messages[1].offset_msg_id);
}

#[test]
fn inflates_zlib_bodies_by_sys_flag() {
    let plain = vec![b'x'; 10_000];
    let packed = compress(&plain, 5).unwrap();
    assert!(packed.len() < plain.len());
    let body = record("T", 0, 0, 0x301, &packed, "");
    let messages = decode_records(&Bytes::from(body)).unwrap();
    assert_eq!(&messages[0].body[..], &plain[..]);
    let lz4 = record("T", 0, 0, 0x101, &packed, "");
    assert!(matches!(
        decode_records(&Bytes::from(lz4)),
        Err(ClientError::Compression {
            op: "decompress",
            ..
        })
    ));
}

#[test]
fn truncated_or_corrupt_records_are_typed_errors() {
    let full = record("Topic", 0, 0, 0, b"body", "A\u{1}B");
    for cut in [1, 3, 10, 40, full.len() - 1] {
        let err = decode_records(&Bytes::copy_from_slice(&full[..cut])).unwrap_err();
        assert!(
            matches!(err, ClientError::Record { offset: 0, .. }),
            "cut {cut}: {err}"
        );
    }
    let mut bad_magic = full.clone();
    bad_magic[4..8].copy_from_slice(&0i32.to_be_bytes());
    assert!(matches!(
        decode_records(&Bytes::from(bad_magic)),
        Err(ClientError::Record { offset: 0, .. })
    ));
    let mut long_body = full.clone();
    // body length field sits after the 84 fixed bytes of an IPv4 record
    long_body[84..88].copy_from_slice(&1000i32.to_be_bytes());
    assert!(matches!(
        decode_records(&Bytes::from(long_body)),
        Err(ClientError::Record { .. })
    ));
}
