//! The server's side of a connection: requests it sends to clients, connection lifecycle, and
//! graceful shutdown.

mod fixture;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_transport::{
    Channel, ClientConfig, DispatchTable, RemotingClient, ShutdownOutcome, TransportError,
};
use fixture::{ECHO, SOON, echo, loopback_config, start};
use tokio::sync::mpsc;

const ASK_BACK: i32 = 7010;
const PARKED: i32 = 7011;

/// Client-side table: answers GET_CONSUMER_RUNNING_INFO, forwards NOTIFY_CONSUMER_IDS_CHANGED.
fn consumer_table(notified: mpsc::UnboundedSender<RemotingCommand>) -> DispatchTable {
    DispatchTable::new()
        .route(
            RequestCode::GetConsumerRunningInfo,
            |request: RemotingCommand, _channel| async move {
                let group = request
                    .ext_fields
                    .get("consumerGroup")
                    .cloned()
                    .unwrap_or_default();
                Ok(Some(
                    RemotingCommand::response_to(&request, ResponseCode::Success)
                        .with_body(format!("running:{group}").into_bytes()),
                ))
            },
        )
        .route(
            RequestCode::NotifyConsumerIdsChanged,
            move |request: RemotingCommand, _channel| {
                let notified = notified.clone();
                async move {
                    notified.send(request).map_err(|_| "test receiver gone")?;
                    Ok(None)
                }
            },
        )
}

/// Server handler that, while handling, asks the client back over the same connection.
async fn ask_back(request: RemotingCommand, channel: Channel) -> ferrimq_transport::HandlerResult {
    let question = RemotingCommand::request(RequestCode::GetConsumerRunningInfo, 0)
        .with_ext_field("consumerGroup", "GID_test");
    let answer = channel.invoke(question, SOON).await?;
    Ok(Some(
        RemotingCommand::response_to(&request, ResponseCode::Success).with_body(answer.body),
    ))
}

#[tokio::test]
async fn server_invokes_and_notifies_the_client_on_the_same_connection() {
    let (server, _) = start(
        loopback_config(),
        DispatchTable::new().route(ASK_BACK, ask_back),
    )
    .await;
    let addr = server.local_addr().to_string();
    let (notified_tx, mut notified) = mpsc::unbounded_channel();
    let client = RemotingClient::new(ClientConfig::default(), consumer_table(notified_tx));

    // Nested: the client's request is answered with what the server learned from the client.
    let response = client
        .invoke(&addr, RemotingCommand::request(ASK_BACK, 0), SOON)
        .await
        .expect("answered");
    assert_eq!(
        (response.code, &response.body[..]),
        (0, &b"running:GID_test"[..])
    );

    let server_side = server.channels().pop().expect("one connection");
    assert_eq!(
        server_side.peer_addr(),
        client.existing_channel(&addr).expect("open").local_addr()
    );
    let direct = server_side
        .invoke(
            RemotingCommand::request(RequestCode::GetConsumerRunningInfo, 0),
            SOON,
        )
        .await
        .expect("client answers");
    assert_eq!(&direct.body[..], b"running:");
    let unknown = server_side
        .invoke(RemotingCommand::request(9999, 0), SOON)
        .await
        .expect("client answers");
    assert_eq!(
        (unknown.code, unknown.remark.as_deref()),
        (3, Some(" request type 9999 not supported"))
    );
    assert_eq!(server_side.pending_requests(), 0);

    let notify = RemotingCommand::request(RequestCode::NotifyConsumerIdsChanged, 0)
        .with_ext_field("consumerGroup", "GID_test");
    server_side.send_oneway(notify).expect("queued");
    let received = tokio::time::timeout(SOON, notified.recv())
        .await
        .expect("in time")
        .expect("sent");
    assert!(received.is_oneway());
    assert_eq!(received.code, 40);
    assert_eq!(
        received.ext_fields.get("consumerGroup").map(String::as_str),
        Some("GID_test")
    );
}

#[tokio::test]
async fn lifecycle_events_follow_each_connection() {
    let (server, events) = start(loopback_config(), DispatchTable::new().route(ECHO, echo)).await;
    let addr = server.local_addr().to_string();
    let client = RemotingClient::new(ClientConfig::default(), DispatchTable::new());
    client
        .invoke(&addr, RemotingCommand::request(ECHO, 0), SOON)
        .await
        .expect("answered");
    let id = server.channels().pop().expect("connected").id();
    assert_eq!(events.snapshot(), vec![("connected", id)]);

    client.close_channel(&addr);
    assert_eq!(
        events.wait_for(2).await,
        vec![("connected", id), ("closed", id)]
    );
    assert!(server.channels().is_empty());
    assert!(client.existing_channel(&addr).is_none());
}

#[tokio::test]
async fn closing_a_connection_fails_all_its_pending_requests_at_once() {
    let table =
        DispatchTable::new().route(PARKED, |_request: RemotingCommand, _channel| async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(None)
        });
    let (server, _) = start(loopback_config(), table).await;
    let addr = server.local_addr().to_string();
    let client = Arc::new(RemotingClient::new(
        ClientConfig::default(),
        DispatchTable::new(),
    ));
    let channel = client.channel(&addr).await.expect("connects");

    let calls: Vec<_> = (0..10)
        .map(|_| {
            let channel = channel.clone();
            tokio::spawn(async move {
                channel
                    .invoke(RemotingCommand::request(PARKED, 0), Duration::from_secs(20))
                    .await
            })
        })
        .collect();
    tokio::time::timeout(SOON, async {
        while channel.pending_requests() < 10 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("all ten pending");

    let started = Instant::now();
    server.channels().pop().expect("server side").close();
    for call in calls {
        let err = call
            .await
            .expect("task ran")
            .expect_err("failed by the close");
        assert!(
            matches!(&err, TransportError::ChannelClosed { addr: a } if *a == addr),
            "got {err:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(channel.pending_requests(), 0);
    assert!(!channel.is_active());
    let err = channel
        .send_oneway(RemotingCommand::request(ECHO, 0))
        .expect_err("closed");
    assert!(
        matches!(err, TransportError::ChannelClosed { .. }),
        "got {err:?}"
    );
}

fn sleeping_echo_table() -> DispatchTable {
    DispatchTable::new().route(PARKED, |request: RemotingCommand, _channel| async move {
        let millis: u64 = request
            .ext_fields
            .get("delayMs")
            .map_or(Ok(0), |v| v.parse())?;
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(Some(
            RemotingCommand::response_to(&request, ResponseCode::Success).with_body(&b"done"[..]),
        ))
    })
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let (server, events) = start(loopback_config(), sleeping_echo_table()).await;
    let addr = server.local_addr().to_string();
    let client = Arc::new(RemotingClient::new(
        ClientConfig::default(),
        DispatchTable::new(),
    ));
    let in_flight = {
        let (client, addr) = (client.clone(), addr.clone());
        tokio::spawn(async move {
            let request = RemotingCommand::request(PARKED, 0).with_ext_field("delayMs", "400");
            client.invoke(&addr, request, SOON).await
        })
    };
    events.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await; // the request is being handled

    let client_side = client.existing_channel(&addr).expect("connected");
    let outcome = server.shutdown(Duration::from_secs(3)).await;
    assert_eq!(
        outcome,
        ShutdownOutcome {
            requests_drained: true,
            connections_closed: true
        }
    );
    let response = in_flight
        .await
        .expect("task ran")
        .expect("answered before close");
    assert_eq!((response.code, &response.body[..]), (0, &b"done"[..]));
    assert_eq!(
        events.wait_for(2).await.last().map(|(kind, _)| *kind),
        Some("closed")
    );
    tokio::time::timeout(SOON, client_side.closed())
        .await
        .expect("client sees the close");

    let err = client
        .invoke(&addr, RemotingCommand::request(PARKED, 0), SOON)
        .await
        .expect_err("no longer listening");
    assert!(
        matches!(err, TransportError::ConnectFailed { .. }),
        "got {err:?}"
    );
}

#[tokio::test]
async fn shutdown_deadline_cuts_off_slow_requests() {
    let (server, events) = start(loopback_config(), sleeping_echo_table()).await;
    let addr = server.local_addr().to_string();
    let client = Arc::new(RemotingClient::new(
        ClientConfig::default(),
        DispatchTable::new(),
    ));
    let in_flight = {
        let (client, addr) = (client.clone(), addr.clone());
        tokio::spawn(async move {
            let request = RemotingCommand::request(PARKED, 0).with_ext_field("delayMs", "5000");
            client.invoke(&addr, request, Duration::from_secs(10)).await
        })
    };
    events.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    let outcome = server.shutdown(Duration::from_millis(200)).await;
    assert_eq!(
        outcome,
        ShutdownOutcome {
            requests_drained: false,
            connections_closed: true
        }
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let err = in_flight.await.expect("task ran").expect_err("cut off");
    assert!(
        matches!(err, TransportError::ChannelClosed { .. }),
        "got {err:?}"
    );
}
