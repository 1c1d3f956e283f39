//! Requests and responses between a real server and the real client (or a raw socket).

mod fixture;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrimq_remoting::command::{FLAG_ONEWAY, FLAG_RESPONSE};
use ferrimq_remoting::{RemotingCommand, ResponseCode, SerializeType};
use ferrimq_transport::dispatch::BUSY_REMARK;
use ferrimq_transport::{ClientConfig, DispatchTable, RemotingClient, TransportError};
use fixture::{ECHO, RawPeer, SOON, echo, loopback_config, start};
use tokio::sync::Notify;

const SLOW: i32 = 7002;
const FAILING: i32 = 7003;
const COUNTED: i32 = 7004;
const BLOCKING: i32 = 7005;

/// Sleeps for the `delayMs` ext field, then echoes.
async fn slow(
    request: RemotingCommand,
    channel: ferrimq_transport::Channel,
) -> ferrimq_transport::HandlerResult {
    let millis: u64 = request
        .ext_fields
        .get("delayMs")
        .map_or(Ok(0), |v| v.parse())?;
    tokio::time::sleep(Duration::from_millis(millis)).await;
    echo(request, channel).await
}

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default(), DispatchTable::new())
}

#[tokio::test]
async fn many_concurrent_requests_are_matched_by_opaque() {
    let table = DispatchTable::new().route(SLOW, slow);
    let (server, _) = start(loopback_config(), table).await;
    let addr = server.local_addr().to_string();
    let client = Arc::new(client());

    let mut calls = Vec::new();
    for i in 0..200u64 {
        let (client, addr) = (client.clone(), addr.clone());
        calls.push(tokio::spawn(async move {
            // Later requests finish first, so responses come back out of order.
            let request = RemotingCommand::request(SLOW, 0)
                .with_ext_field("delayMs", ((200 - i) % 50).to_string())
                .with_body(format!("payload-{i}").into_bytes());
            let response = client.invoke(&addr, request, SOON).await.expect("answered");
            (i, response)
        }));
    }
    for call in calls {
        let (i, response) = call.await.expect("task ran");
        assert_eq!(response.code, 0);
        assert_eq!(response.flag, FLAG_RESPONSE);
        assert_eq!(&response.body[..], format!("payload-{i}").as_bytes());
    }
    let channel = client.existing_channel(&addr).expect("one connection");
    assert_eq!(channel.pending_requests(), 0);
    assert_eq!(server.channels().len(), 1);
}

#[tokio::test]
async fn responses_leave_in_order_of_completion() {
    let (server, _) = start(loopback_config(), DispatchTable::new().route(SLOW, slow)).await;
    let mut peer = RawPeer::connect(server.local_addr()).await;
    for (opaque, delay) in [(1, "400"), (2, "200"), (3, "0")] {
        let request = RemotingCommand::request(SLOW, opaque).with_ext_field("delayMs", delay);
        peer.send(&request).await;
    }
    let mut order = Vec::new();
    for _ in 0..3 {
        order.push(peer.recv().await.1.opaque);
    }
    assert_eq!(order, vec![3, 2, 1]);
}

#[tokio::test]
async fn oneway_requests_are_handled_but_never_answered() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let table = DispatchTable::new().route(COUNTED, move |request: RemotingCommand, _channel| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(Some(RemotingCommand::response_to(
                &request,
                ResponseCode::Success,
            )))
        }
    });
    let (server, _) = start(loopback_config(), table).await;
    let mut peer = RawPeer::connect(server.local_addr()).await;

    peer.send(&RemotingCommand::request(COUNTED, 11).into_oneway())
        .await;
    assert!(peer.silent_for(Duration::from_millis(300)).await);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // An unknown oneway code is not answered either.
    peer.send(&RemotingCommand::request(9999, 12).into_oneway())
        .await;
    assert!(peer.silent_for(Duration::from_millis(300)).await);

    peer.send(&RemotingCommand::request(COUNTED, 13)).await;
    let (_, response) = peer.recv().await;
    assert_eq!(
        (response.opaque, response.code, response.flag),
        (13, 0, FLAG_RESPONSE)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unknown_code_is_answered_not_supported_with_the_java_remark() {
    let (server, _) = start(loopback_config(), DispatchTable::new()).await;
    let addr = server.local_addr().to_string();
    let response = client()
        .invoke(&addr, RemotingCommand::request(9999, 0), SOON)
        .await
        .expect("answered");
    assert_eq!(response.code, 3);
    assert_eq!(
        response.remark.as_deref(),
        Some(" request type 9999 not supported")
    );
    assert_eq!(response.flag, FLAG_RESPONSE);
}

#[tokio::test]
async fn a_client_can_force_its_serialize_type_on_every_request() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let table = DispatchTable::new().route(ECHO, move |request: RemotingCommand, channel| {
        record.lock().unwrap().push(request.serialize_type);
        echo(request, channel)
    });
    let (server, _) = start(loopback_config(), table).await;
    let addr = server.local_addr().to_string();
    for (forced, expected) in [
        (None, SerializeType::Json),
        (Some(SerializeType::RocketMq), SerializeType::RocketMq),
        (Some(SerializeType::Json), SerializeType::Json),
    ] {
        let config = ClientConfig {
            serialize_type: forced,
            ..ClientConfig::default()
        };
        let client = RemotingClient::new(config, DispatchTable::new());
        let request = RemotingCommand::request(ECHO, 0).with_ext_field("k", "v");
        let response = client.invoke(&addr, request, SOON).await.expect("answered");
        assert_eq!(response.serialize_type, expected);
        client
            .invoke_oneway(&addr, RemotingCommand::request(ECHO, 0))
            .await
            .expect("sent");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    use SerializeType::{Json, RocketMq};
    assert_eq!(
        *seen.lock().unwrap(),
        [Json, Json, RocketMq, RocketMq, Json, Json]
    );
}

#[tokio::test]
async fn each_serialize_type_is_answered_in_kind() {
    let (server, _) = start(loopback_config(), DispatchTable::new().route(ECHO, echo)).await;
    let mut peer = RawPeer::connect(server.local_addr()).await;
    for (opaque, kind, byte) in [
        (21, SerializeType::Json, 0u8),
        (22, SerializeType::RocketMq, 1u8),
    ] {
        let request = RemotingCommand::request(ECHO, opaque)
            .with_serialize_type(kind)
            .with_ext_field("k", "v")
            .with_body(&b"body"[..]);
        peer.send(&request).await;
        let (raw_kind, response) = peer.recv().await;
        assert_eq!(raw_kind, byte);
        assert_eq!(response.serialize_type, kind);
        assert_eq!(
            (response.opaque, response.code, response.flag),
            (opaque, 0, FLAG_RESPONSE)
        );
        assert_eq!(&response.body[..], b"body");
    }
}

#[tokio::test]
async fn handler_response_fields_are_forced_to_the_request() {
    // A sloppy handler: wrong opaque, no response flag, oneway flag, other serialize type.
    let table =
        DispatchTable::new().route(ECHO, |_request: RemotingCommand, _channel| async move {
            Ok(Some(RemotingCommand::request(0, 555).into_oneway()))
        });
    let (server, _) = start(loopback_config(), table).await;
    let mut peer = RawPeer::connect(server.local_addr()).await;
    let request = RemotingCommand::request(ECHO, 31).with_serialize_type(SerializeType::RocketMq);
    peer.send(&request).await;
    let (raw_kind, response) = peer.recv().await;
    assert_eq!(raw_kind, 1);
    assert_eq!((response.opaque, response.flag), (31, FLAG_RESPONSE));
    assert_eq!(response.flag & FLAG_ONEWAY, 0);
}

#[tokio::test]
async fn handler_error_becomes_system_error_with_its_text() {
    let table = DispatchTable::new()
        .route(FAILING, |_request: RemotingCommand, _channel| async move {
            Err("topic TopicTest not exist".into())
        });
    let (server, _) = start(loopback_config(), table).await;
    let response = client()
        .invoke(
            &server.local_addr().to_string(),
            RemotingCommand::request(FAILING, 0),
            SOON,
        )
        .await
        .expect("answered");
    assert_eq!(response.code, 1);
    assert_eq!(
        response.remark.as_deref(),
        Some("topic TopicTest not exist")
    );
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_get_system_busy() {
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let table = DispatchTable::new().route(BLOCKING, move |request: RemotingCommand, _channel| {
        let gate = gate.clone();
        async move {
            gate.notified().await;
            Ok(Some(RemotingCommand::response_to(
                &request,
                ResponseCode::Success,
            )))
        }
    });
    let config = ferrimq_transport::ServerConfig {
        max_in_flight: 1,
        ..loopback_config()
    };
    let (server, _) = start(config, table).await;
    let mut peer = RawPeer::connect(server.local_addr()).await;
    peer.send(&RemotingCommand::request(BLOCKING, 41)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    peer.send(&RemotingCommand::request(BLOCKING, 42)).await;
    let (_, busy) = peer.recv().await;
    assert_eq!((busy.opaque, busy.code), (42, 2));
    assert_eq!(busy.remark.as_deref(), Some(BUSY_REMARK));
    release.notify_one();
    let (_, done) = peer.recv().await;
    assert_eq!((done.opaque, done.code), (41, 0));
}

#[tokio::test]
async fn timed_out_request_leaves_no_pending_entry_and_its_late_response_is_ignored() {
    let (server, _) = start(loopback_config(), DispatchTable::new().route(SLOW, slow)).await;
    let addr = server.local_addr().to_string();
    let client = client();
    let late = RemotingCommand::request(SLOW, 0).with_ext_field("delayMs", "400");
    let err = client
        .invoke(&addr, late, Duration::from_millis(100))
        .await
        .expect_err("times out");
    let TransportError::Timeout {
        addr: failed_addr,
        millis,
        ..
    } = err
    else {
        panic!("expected a timeout, got {err}");
    };
    assert_eq!((failed_addr.as_str(), millis), (addr.as_str(), 100));
    let channel = client
        .existing_channel(&addr)
        .expect("connection stays open");
    assert_eq!(channel.pending_requests(), 0);

    tokio::time::sleep(Duration::from_millis(500)).await; // the late response arrives meanwhile
    assert!(channel.is_active());
    assert_eq!(channel.pending_requests(), 0);
    let next = RemotingCommand::request(SLOW, 0).with_body(&b"after"[..]);
    let response = client.invoke(&addr, next, SOON).await.expect("answered");
    assert_eq!((response.code, &response.body[..]), (0, &b"after"[..]));
    assert_eq!(
        client.existing_channel(&addr).expect("open").id(),
        channel.id()
    );
}

#[tokio::test]
async fn connect_failure_is_reported_with_the_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("bound").to_string();
    drop(listener); // nothing listens there any more
    let err = client()
        .invoke(&addr, RemotingCommand::request(ECHO, 0), SOON)
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, TransportError::ConnectFailed { addr: a, source } if *a == addr && source.kind() == std::io::ErrorKind::ConnectionRefused),
        "got {err:?}"
    );
}

#[tokio::test]
async fn handler_panic_becomes_system_error_and_the_connection_survives() {
    let table = DispatchTable::new()
        .route(FAILING, |_request: RemotingCommand, _channel| async move {
            if true {
                panic!("offset table corrupted");
            }
            Ok(None)
        })
        .route(ECHO, echo);
    let (server, _) = start(loopback_config(), table).await;
    let addr = server.local_addr().to_string();
    let client = client();
    let response = client
        .invoke(&addr, RemotingCommand::request(FAILING, 0), SOON)
        .await
        .expect("answered");
    assert_eq!(response.code, 1);
    assert_eq!(
        response.remark.as_deref(),
        Some("handler panicked: offset table corrupted")
    );
    let echoed = client
        .invoke(
            &addr,
            RemotingCommand::request(ECHO, 0).with_body(&b"ok"[..]),
            SOON,
        )
        .await
        .expect("answered");
    assert_eq!((echoed.code, &echoed.body[..]), (0, &b"ok"[..]));
}
