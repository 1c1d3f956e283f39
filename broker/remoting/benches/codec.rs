//! Codec throughput: how many SEND_MESSAGE_V2 requests (1 KiB body) and their responses one core
//! can decode and encode, per header serialization. Run with
//! `cargo bench -p ferrimq-remoting --bench codec`. Prints figures; asserts nothing about speed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ferrimq_remoting::header::typed::{
    SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use ferrimq_remoting::{FrameCodec, RemotingCommand, ResponseCode, SerializeType};

fn send_request(serialize_type: SerializeType) -> RemotingCommand {
    let header = SendMessageRequestHeaderV2 {
        a: "benchmark_producer_group".into(),
        b: "BenchmarkTest".into(),
        c: "TBW102".into(),
        d: 4,
        e: 3,
        f: 0,
        g: 1_700_000_000_123,
        h: 0,
        i: Some("UNIQ_KEY\u{1}C0A8010512342A9F3B5E1A2B00000000\u{2}WAIT\u{1}true".into()),
        j: Some(0),
        k: Some(false),
        m: Some(false),
        n: Some("broker-a".into()),
        ..Default::default()
    };
    RemotingCommand::request(310, 42)
        .with_header(&header)
        .with_body(vec![b'x'; 1024])
        .with_serialize_type(serialize_type)
}

/// Runs `op` repeatedly for about `budget` and returns operations per second.
fn measure(budget: Duration, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < budget {
        for _ in 0..1_000 {
            op();
        }
        count += 1_000;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let codec = FrameCodec::default();
    let budget = Duration::from_secs(2);
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let request = send_request(serialize_type);
        let mut wire = BytesMut::new();
        codec.encode(&request, &mut wire).expect("encodes");
        let frame = wire.freeze();
        let decode = measure(budget, || {
            let mut buf = BytesMut::from(&frame[..]);
            let cmd = codec.decode(&mut buf).expect("valid").expect("complete");
            let header = SendMessageRequestHeader::from_command_fields(cmd.code, &cmd.ext_fields);
            black_box(header.expect("header"));
        });
        let response_header = SendMessageResponseHeader {
            msg_id: "0A00000100002A9F0000000000000000".into(),
            queue_id: 3,
            queue_offset: 123_456,
            ..Default::default()
        };
        let mut out = BytesMut::with_capacity(4096);
        let encode = measure(budget, || {
            let response = RemotingCommand::response_to(&request, ResponseCode::Success)
                .with_header(&response_header)
                .with_ext_field("MSG_REGION", "DefaultRegion")
                .with_ext_field("TRACE_ON", "true");
            out.clear();
            codec.encode(&response, &mut out).expect("encodes");
            black_box(&out);
        });
        println!(
            "{serialize_type:?}: decode request + typed header {decode:>10.0}/s, build + encode response {encode:>10.0}/s (request frame {} bytes)",
            frame.len()
        );
    }
}
