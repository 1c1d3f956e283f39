//! Stable-Rust stand-in for the fuzz targets: many thousands of random and mutated inputs through
//! the same entry points (frame decode, both headers, batch bodies, JSON bodies), with a fixed
//! seed so failures reproduce. Beyond "no panic", every successful decode must survive a
//! re-encode/decode round trip unchanged.

use bytes::{Bytes, BytesMut};
use ferrimq_remoting::body::{HeartbeatData, JsonBody, TopicRouteData};
use ferrimq_remoting::message::{BatchEntry, decode_batch, encode_batch};
use ferrimq_remoting::{FrameCodec, LanguageCode, RemotingCommand, SerializeType};

/// xorshift64*: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Applies 1–4 random edits: flip, overwrite with an interesting value, insert, delete, truncate.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len());
        match rng.below(5) {
            0 if !out.is_empty() => out[at] ^= 1 << rng.below(8),
            1 if !out.is_empty() => {
                out[at] = [0x00, 0xFF, 0x7F, 0x80, b'{', b'"', b'['][rng.below(7)]
            }
            2 => out.insert(at, rng.next() as u8),
            3 if !out.is_empty() => {
                out.remove(at);
            }
            _ => out.truncate(at),
        }
    }
    out
}

fn seeds() -> Vec<Vec<u8>> {
    let codec = FrameCodec::default();
    let mut frames = Vec::new();
    for (index, serialize_type) in [SerializeType::Json, SerializeType::RocketMq]
        .into_iter()
        .enumerate()
    {
        let mut cmd = RemotingCommand::request(310, 7 + index as i32)
            .with_serialize_type(serialize_type)
            .with_ext_field("a", "PG")
            .with_ext_field("b", "TopicTest")
            .with_ext_field("i", "KEYS\u{1}k\u{2}TAGS\u{1}t")
            .with_remark("r\u{e9}mark")
            .with_body(&b"hello body"[..]);
        cmd.language = LanguageCode::Go;
        let mut buf = BytesMut::new();
        codec.encode(&cmd, &mut buf).expect("seed encodes");
        frames.push(buf.to_vec());
    }
    frames
}

/// Decodes every frame in `input`; for each success checks the round-trip property.
/// Returns (frames decoded, whether it ended in an error).
fn drive_frames(input: &[u8]) -> (usize, bool) {
    let codec = FrameCodec::new(64 * 1024);
    let mut buf = BytesMut::from(input);
    let mut decoded = 0;
    loop {
        let before = buf.len();
        match codec.decode(&mut buf) {
            Ok(Some(cmd)) => {
                decoded += 1;
                assert!(buf.len() < before, "a decoded frame must consume bytes");
                let mut again = BytesMut::new();
                if codec.encode(&cmd, &mut again).is_ok() {
                    let back = codec.decode(&mut again).expect("re-encoded frame decodes");
                    assert_eq!(back.as_ref(), Some(&cmd));
                    assert!(again.is_empty());
                }
            }
            Ok(None) => {
                assert_eq!(
                    buf.len(),
                    before,
                    "an incomplete frame must not be consumed"
                );
                return (decoded, false);
            }
            Err(_) => return (decoded, true),
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5EED_0001);
    let mut errors = 0;
    for _ in 0..20_000 {
        let len = rng.below(64);
        let mut input = rng.bytes(len);
        if input.len() >= 4 && rng.below(2) == 0 {
            // Make the length prefix plausible so header parsing is reached.
            let frame_len = (input.len() - 4) as u32;
            input[..4].copy_from_slice(&frame_len.to_be_bytes());
            if input.len() >= 8 {
                input[4] = rng.below(2) as u8;
                input[5] = 0;
                input[6] = 0;
            }
        }
        errors += usize::from(drive_frames(&input).1);
    }
    assert!(
        errors > 10_000,
        "random input should mostly be refused, got {errors} errors"
    );
}

#[test]
fn mutated_frames_never_panic_and_round_trip_when_accepted() {
    let mut rng = Rng(0x5EED_0002);
    let seeds = seeds();
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..40_000 {
        let seed = &seeds[round % seeds.len()];
        let (decoded, failed) = drive_frames(&mutate(&mut rng, seed));
        accepted += decoded;
        refused += usize::from(failed);
    }
    assert!(
        accepted > 1_000 && refused > 1_000,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn concatenated_streams_split_at_random_points() {
    let mut rng = Rng(0x5EED_0003);
    let stream: Vec<u8> = seeds().concat().repeat(3);
    let codec = FrameCodec::default();
    for _ in 0..2_000 {
        let mut buf = BytesMut::new();
        let mut decoded = 0;
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let take = 1 + rng.below(rest.len().min(40));
            buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            while let Some(cmd) = codec.decode(&mut buf).expect("valid stream") {
                assert_eq!(&cmd.body[..], b"hello body");
                decoded += 1;
            }
        }
        assert_eq!(decoded, 6);
    }
}

#[test]
fn mutated_batches_never_panic_and_round_trip_when_accepted() {
    let mut rng = Rng(0x5EED_0004);
    let entries = vec![
        BatchEntry {
            flag: 1,
            body: Bytes::from_static(b"first"),
            properties: "UNIQ_KEY\u{1}A".into(),
        },
        BatchEntry {
            flag: 2,
            body: Bytes::from_static(b""),
            properties: String::new(),
        },
        BatchEntry {
            flag: 3,
            body: Bytes::from_static(b"third body"),
            properties: "K\u{1}V".into(),
        },
    ];
    let mut seed = BytesMut::new();
    encode_batch(&entries, &mut seed).expect("encodes");
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..30_000 {
        let input = if round % 10 == 0 {
            let len = rng.below(80);
            rng.bytes(len)
        } else {
            mutate(&mut rng, &seed)
        };
        match decode_batch(&Bytes::from(input)) {
            Ok(decoded) => {
                accepted += 1;
                let mut again = BytesMut::new();
                encode_batch(&decoded, &mut again).expect("decoded entries re-encode");
                assert_eq!(decode_batch(&again.freeze()).as_ref(), Ok(&decoded));
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        accepted > 100 && refused > 10_000,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn mutated_json_bodies_never_panic() {
    let mut rng = Rng(0x5EED_0005);
    let heartbeat = br#"{"clientID":"c@1","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"G","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[1],"subString":"a","subVersion":1,"tagsSet":["a"],"topic":"T"}],"unitMode":false}],"producerDataSet":[{"groupName":"P"}]}"#;
    let route = br#"{"brokerDatas":[{"brokerAddrs":{0:"1.2.3.4:10911"},"brokerName":"b","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSynFlag":0,"writeQueueNums":4}]}"#;
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..20_000 {
        let ok = if round % 2 == 0 {
            HeartbeatData::decode(&mutate(&mut rng, heartbeat)).is_ok()
        } else {
            TopicRouteData::decode(&mutate(&mut rng, route)).is_ok()
        };
        if ok { accepted += 1 } else { refused += 1 }
    }
    assert!(
        accepted > 100 && refused > 5_000,
        "accepted {accepted}, refused {refused}"
    );
}
