//! Writes frames encoded by ferrimq into a directory, for the Java side of the interop check
//! (`tests/fixtures/JavaFixtures.java` decodes them with the official RemotingCommand):
//! `cargo run -p ferrimq-remoting --example write_fixture_frames -- <dir>`.

use std::path::PathBuf;

use bytes::BytesMut;
use ferrimq_remoting::header::typed::{
    PullMessageResponseHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use ferrimq_remoting::{FrameCodec, RemotingCommand, ResponseCode, SerializeType};

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "ferrimq-frames".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let send = SendMessageRequestHeaderV2 {
        a: "PG".into(),
        b: "TopicTest".into(),
        c: "TBW102".into(),
        d: 4,
        e: 1,
        g: 1_700_000_000_123,
        i: Some("TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}0A0000010001".into()),
        n: Some("broker-a".into()),
        ..Default::default()
    };
    let request = RemotingCommand::request(310, 11)
        .with_header(&send)
        .with_body(&b"hello from ferrimq"[..]);
    let send_response = SendMessageResponseHeader {
        msg_id: "7F00000100002A9F0000000000000C8A".into(),
        queue_id: 1,
        queue_offset: 99,
        ..Default::default()
    };
    let pull_response = PullMessageResponseHeader {
        next_begin_offset: 5,
        max_offset: 5,
        ..Default::default()
    };
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let request = request.clone().with_serialize_type(serialize_type);
        let response = RemotingCommand::response_to(&request, ResponseCode::Success)
            .with_header(&send_response)
            .with_ext_field("MSG_REGION", "DefaultRegion");
        let not_found = RemotingCommand::error_response(
            &request,
            ResponseCode::PullNotFound,
            "OFFSET_OVERFLOW_ONE",
        )
        .with_header(&pull_response);
        for (name, cmd) in [
            ("send_request", &request),
            ("send_response", &response),
            ("pull_not_found", &not_found),
        ] {
            let mut buf = BytesMut::new();
            FrameCodec::default().encode(cmd, &mut buf)?;
            std::fs::write(dir.join(format!("{name}_{serialize_type:?}.bin")), &buf)?;
        }
    }
    Ok(())
}
