//! Peers that misbehave (bad frames, too-large frames, silence, too many connections) lose their
//! own connection and nothing else.

mod fixture;

use std::time::{Duration, Instant};

use ferrimq_remoting::RemotingCommand;
use ferrimq_transport::{
    ClientConfig, DispatchTable, RemotingClient, ServerConfig, TransportError,
};
use fixture::{ECHO, RawPeer, SOON, echo, loopback_config, start};

fn echo_table() -> DispatchTable {
    DispatchTable::new().route(ECHO, echo)
}

async fn assert_echo(client: &RemotingClient, addr: &str, body: &'static [u8]) {
    let request = RemotingCommand::request(ECHO, 0).with_body(body);
    let response = client.invoke(addr, request, SOON).await.expect("answered");
    assert_eq!((response.code, &response.body[..]), (0, body));
}

/// Frames that cannot be decoded: each must close its own connection only.
fn malformed_frames() -> Vec<(&'static str, Vec<u8>)> {
    let mut garbage_json = 10i32.to_be_bytes().to_vec();
    garbage_json.extend_from_slice(&6u32.to_be_bytes());
    garbage_json.extend_from_slice(b"garbag");
    let mut unknown_kind = 6i32.to_be_bytes().to_vec();
    unknown_kind.extend_from_slice(&((7u32 << 24) | 2).to_be_bytes());
    unknown_kind.extend_from_slice(b"{}");
    let mut long_header = 8i32.to_be_bytes().to_vec();
    long_header.extend_from_slice(&100u32.to_be_bytes());
    long_header.extend_from_slice(b"{}{}");
    vec![
        ("negative length", (-1i32).to_be_bytes().to_vec()),
        ("length below the header word", 2i32.to_be_bytes().to_vec()),
        ("garbage JSON header", garbage_json),
        ("unknown serialize type", unknown_kind),
        ("header longer than frame", long_header),
    ]
}

#[tokio::test]
async fn malformed_frame_closes_only_that_connection() {
    let (server, events) = start(loopback_config(), echo_table()).await;
    let addr = server.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default(), DispatchTable::new());
    assert_echo(&client, &addr, b"before").await;
    let good = client.existing_channel(&addr).expect("connected");

    for (what, bytes) in malformed_frames() {
        let mut bad = RawPeer::connect(server.local_addr()).await;
        bad.send_bytes(&bytes).await;
        assert_eq!(
            bad.read_until_closed().await,
            0,
            "{what}: closed without a reply"
        );
        assert_echo(&client, &addr, b"still served").await;
    }
    assert!(good.is_active());
    assert_eq!(
        client.existing_channel(&addr).expect("open").id(),
        good.id()
    );
    // connected + closed for each bad peer, plus the good client's connect.
    let seen = events.wait_for(1 + 2 * malformed_frames().len()).await;
    assert_eq!(
        seen.iter().filter(|(kind, _)| *kind == "closed").count(),
        malformed_frames().len()
    );
    assert_eq!(server.channels().len(), 1);
}

#[tokio::test]
async fn oversized_frame_is_refused_before_it_is_buffered() {
    let config = ServerConfig {
        max_frame_len: 1024,
        ..loopback_config()
    };
    let (server, _) = start(config, echo_table()).await;
    let addr = server.local_addr().to_string();

    // Only the length prefix is sent: the server must not wait for the announced 2000 bytes.
    let mut raw = RawPeer::connect(server.local_addr()).await;
    raw.send_bytes(&2000i32.to_be_bytes()).await;
    assert_eq!(raw.read_until_closed().await, 0);

    // The real client sending a too-large request sees its connection closed...
    let client = RemotingClient::new(ClientConfig::default(), DispatchTable::new());
    assert_echo(&client, &addr, b"small").await;
    let big = RemotingCommand::request(ECHO, 0).with_body(vec![7u8; 2000]);
    let err = client
        .invoke(&addr, big, SOON)
        .await
        .expect_err("connection closed");
    assert!(
        matches!(&err, TransportError::ChannelClosed { addr: a } if *a == addr),
        "got {err:?}"
    );
    // ...and reconnects on the next call.
    assert_echo(&client, &addr, b"reconnected").await;
}

#[tokio::test]
async fn oversized_outgoing_frame_is_refused_locally() {
    let (server, _) = start(loopback_config(), echo_table()).await;
    let addr = server.local_addr().to_string();
    let config = ClientConfig {
        max_frame_len: 1024,
        ..ClientConfig::default()
    };
    let client = RemotingClient::new(config, DispatchTable::new());
    let big = RemotingCommand::request(ECHO, 0).with_body(vec![7u8; 2000]);
    let err = client.invoke(&addr, big, SOON).await.expect_err("refused");
    assert!(
        matches!(
            err,
            TransportError::Remoting(ferrimq_remoting::RemotingError::FrameTooLarge {
                max: 1024,
                ..
            })
        ),
        "got {err:?}"
    );
    let channel = client.existing_channel(&addr).expect("still open");
    assert_eq!(channel.pending_requests(), 0);
    assert_echo(&client, &addr, b"fine").await;
}

#[tokio::test]
async fn idle_connection_is_closed_after_the_configured_time() {
    let idle = Duration::from_millis(300);
    let config = ServerConfig {
        channel_idle: idle,
        ..loopback_config()
    };
    let (server, events) = start(config, echo_table()).await;
    let addr = server.local_addr().to_string();

    let started = Instant::now();
    let mut silent = RawPeer::connect(server.local_addr()).await;
    // A busy client sends a request every 100 ms and must outlive the idle time.
    let client = RemotingClient::new(ClientConfig::default(), DispatchTable::new());
    for _ in 0..6 {
        assert_echo(&client, &addr, b"tick").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(silent.read_until_closed().await, 0);
    let waited = started.elapsed();
    assert!(waited >= idle, "closed after {waited:?}");
    assert!(
        client
            .existing_channel(&addr)
            .expect("busy one stays")
            .is_active()
    );

    let seen = events.snapshot();
    let silent_id = seen[0].1;
    let of_silent: Vec<_> = seen
        .iter()
        .filter(|(_, id)| *id == silent_id)
        .map(|(kind, _)| *kind)
        .collect();
    assert_eq!(of_silent, vec!["connected", "idle", "closed"]);
    assert_eq!(server.channels().len(), 1);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let config = ServerConfig {
        max_connections: 1,
        ..loopback_config()
    };
    let (server, _) = start(config, echo_table()).await;
    let addr = server.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default(), DispatchTable::new());
    assert_echo(&client, &addr, b"first").await;

    // Nothing is sent: a refused socket closed with unread bytes would be reset, not closed.
    let mut second = RawPeer::connect(server.local_addr()).await;
    assert_eq!(second.read_until_closed().await, 0);
    assert_echo(&client, &addr, b"first still served").await;
    assert_eq!(server.channels().len(), 1);
}

#[tokio::test]
async fn peer_that_never_reads_is_closed_and_releases_its_handlers() {
    let config = ServerConfig {
        write_queue: 1,
        write_timeout: Duration::from_millis(300),
        max_in_flight: 4,
        ..loopback_config()
    };
    let (server, events) = start(config, echo_table()).await;
    let addr = server.local_addr().to_string();

    // 32 MiB of echo responses: more than loopback socket buffers hold, and nobody reads them.
    let mut deaf = RawPeer::connect(server.local_addr()).await;
    let deaf_id = events.wait_for(1).await[0].1;
    let flood = tokio::spawn(async move {
        for opaque in 0..32 {
            let request = RemotingCommand::request(ECHO, opaque).with_body(vec![1u8; 1 << 20]);
            let mut frame = bytes::BytesMut::new();
            ferrimq_remoting::FrameCodec::default()
                .encode(&request, &mut frame)
                .expect("encodes");
            // Writes start failing once the server gives up on this connection.
            if tokio::io::AsyncWriteExt::write_all(&mut deaf.stream, &frame)
                .await
                .is_err()
            {
                break;
            }
        }
        deaf
    });

    let seen = events.wait_for(2).await;
    assert_eq!(seen[..2], [("connected", deaf_id), ("closed", deaf_id)]);
    let client = RemotingClient::new(ClientConfig::default(), DispatchTable::new());
    assert_echo(&client, &addr, b"others still served").await;
    assert_eq!(server.channels().len(), 1);
    flood.abort();
}
