//! A real `ferrimq standalone` under hostile peers: malformed and oversized frames sent to the
//! broker and NameServer ports close only their own connection (with a logged reason), an unknown
//! request code is answered with REQUEST_CODE_NOT_SUPPORTED on a connection that stays open, and a
//! producer running at the same time loses nothing: a consumer receives exactly what it sent.

mod cli_harness;
mod compat_harness;
mod ports;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use cli_harness::{client, consumed, create_topic, generated_body};
use compat_harness::{Result, Standalone};
use ferrimq_remoting::{FrameCodec, RemotingCommand, ResponseCode};

const MESSAGES: usize = 300;
const BODY: usize = 64;
const ROUNDS: usize = 3;

/// Frames no server may accept; each must cost only its own connection.
fn malformed_frames() -> Vec<(&'static str, Vec<u8>)> {
    let frame = |length: i32, word: u32, rest: &[u8]| {
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&word.to_be_bytes());
        bytes.extend_from_slice(rest);
        bytes
    };
    vec![
        ("negative length", (-7i32).to_be_bytes().to_vec()),
        ("length below the header word", 3i32.to_be_bytes().to_vec()),
        ("oversized frame (17 MiB)", frame(17 << 20, 2, b"{}")),
        ("garbage JSON header", frame(10, 6, b"garbag")),
        ("unknown serialize type", frame(6, (9 << 24) | 2, b"{}")),
        ("header longer than frame", frame(8, 100, b"{}{}")),
        (
            "truncated binary header",
            frame(7, (1 << 24) | 3, b"\0\x01\0"),
        ),
    ]
}

/// Sends `bytes` on a fresh connection and returns how many bytes came back before the server
/// closed it; panics if the connection is still open after 10 s.
fn closed_after(port: u16, what: &str, bytes: &[u8]) -> usize {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // A server that closes early may reset the rest of a long write: that is a close too.
    let _ = stream.write_all(bytes);
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => got.len(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => got.len(),
        Err(e) => panic!("{what} to port {port}: connection not closed ({e})"),
    }
}

/// One request/response on `stream` with the library codec.
fn round_trip(stream: &mut TcpStream, request: &RemotingCommand) -> RemotingCommand {
    let codec = FrameCodec::default();
    let mut out = BytesMut::new();
    codec.encode(request, &mut out).expect("encode");
    stream.write_all(&out).expect("write");
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(response) = codec.decode(&mut buf).expect("well-formed response") {
            return response;
        }
        let n = stream.read(&mut chunk).expect("read response");
        assert!(n > 0, "closed before answering code {}", request.code);
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn assert_unknown_code_answered(port: u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    for opaque in [41, 42] {
        let response = round_trip(&mut stream, &RemotingCommand::request(9_999, opaque));
        assert_eq!(response.opaque, opaque, "port {port}");
        assert_eq!(
            response.code,
            i32::from(ResponseCode::RequestCodeNotSupported),
            "port {port}: {:?}",
            response.remark
        );
    }
}

/// Rounds of every hostile frame against both ports until `done` (and at least ROUNDS rounds);
/// returns how many rounds ran.
fn attack(ports: [u16; 2], done: &AtomicBool) -> usize {
    let mut round = 0;
    while round < ROUNDS || !done.load(Ordering::Acquire) {
        round += 1;
        for port in ports {
            for (what, bytes) in malformed_frames() {
                let replied = closed_after(port, what, &bytes);
                assert_eq!(replied, 0, "{what} (round {round}, port {port})");
            }
            assert_unknown_code_answered(port);
        }
    }
    round
}

fn produce(ns: &str, topic: &str) -> BTreeSet<(String, String)> {
    let count = MESSAGES.to_string();
    let size = BODY.to_string();
    let args = [
        "--topic", topic, "--count", &count, "--size", &size, "--json",
    ];
    let sent = client("produce", ns, &args).json("produce");
    let sent = sent.as_array().expect("array");
    assert!(sent.iter().all(|r| r["status"] == "SEND_OK"), "{sent:?}");
    sent.iter()
        .map(|r| {
            let index = r["index"].as_u64().expect("index") as usize;
            let id = r["msgId"].as_str().expect("msgId").to_owned();
            (id, generated_body(index, BODY))
        })
        .collect()
}

fn consume(ns: &str, topic: &str) -> Vec<(String, String)> {
    let count = MESSAGES.to_string();
    let args = [
        "--topic",
        topic,
        "--group",
        "MalformedPeersGroup",
        "--from-beginning",
        "--count",
        &count,
        "--timeout",
        "30",
        "--json",
    ];
    let out = client("consume", ns, &args).success("consume");
    consumed(&out)
        .iter()
        .map(|m| {
            let field = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
            (field("msgId"), field("body"))
        })
        .collect()
}

#[test]
fn hostile_frames_cost_only_their_own_connection() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let ns = node.namesrv();
    let topic = "MalformedPeers";
    create_topic(&ns, topic, "4");

    let ports = [node.broker_port, node.namesrv_port];
    let done = Arc::new(AtomicBool::new(false));
    let attacking = Arc::clone(&done);
    let attacker = std::thread::spawn(move || attack(ports, &attacking));
    let sent = produce(&ns, topic);
    done.store(true, Ordering::Release);
    let rounds = attacker.join().expect("attacks all rejected as expected");
    assert_eq!(sent.len(), MESSAGES, "message ids must be distinct");

    let got = consume(&ns, topic);
    assert_eq!(got.len(), MESSAGES, "no duplicates, none missing");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), sent);

    let log = process.log();
    let closes = log.matches("bad frame, closing connection").count();
    assert_eq!(
        closes,
        rounds * ports.len() * malformed_frames().len(),
        "each malformed frame logs its reason once:\n{log}"
    );
    process.stop()
}
