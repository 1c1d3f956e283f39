//! Producer retry, queue selection, TBW102 fallback, cached routes with the name server down,
//! compression and batch encoding, checked against in-process fake name server and brokers built
//! on `ferrimq-transport` (each records what it received and answers as scripted).

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use ferrimq_client::route::RouteCache;
use ferrimq_client::{ClientError, Message, Producer, ProducerConfig, Session, SessionConfig};
use ferrimq_remoting::body::{BrokerData, JsonBody, QueueData, TopicRouteData};
use ferrimq_remoting::header::typed::{
    GetRouteInfoRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use ferrimq_remoting::message::{decode_batch, parse_properties};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_transport::{
    Channel, DispatchTable, HandlerResult, NoopListener, RemotingServer, ServerConfig,
};

async fn serve(table: DispatchTable) -> RemotingServer {
    let config = ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..ServerConfig::default()
    };
    RemotingServer::bind(config, table, Arc::new(NoopListener))
        .await
        .expect("binds")
}

/// A broker answering sends with `code`, recording each request.
async fn broker(code: ResponseCode, seen: Arc<Mutex<Vec<RemotingCommand>>>) -> RemotingServer {
    let handler = move |req: RemotingCommand, _channel: Channel| {
        let seen = Arc::clone(&seen);
        async move {
            let header: SendMessageRequestHeaderV2 = req.decode_header()?;
            let offset = {
                let mut seen = seen.lock().unwrap();
                seen.push(req.clone());
                seen.len() as i64 - 1
            };
            let reply = RemotingCommand::response_to(&req, code).with_remark("scripted");
            if code != ResponseCode::Success {
                return HandlerResult::Ok(Some(reply));
            }
            let out = SendMessageResponseHeader {
                msg_id: format!("{offset:032X}"),
                queue_id: header.e,
                queue_offset: offset,
                transaction_id: None,
                batch_uniq_id: None,
            };
            Ok(Some(
                reply
                    .with_header(&out)
                    .with_ext_field("MSG_REGION", "DefaultRegion"),
            ))
        }
    };
    let table = DispatchTable::new()
        .route(RequestCode::SendMessageV2, handler.clone())
        .route(RequestCode::SendBatchMessage, handler);
    serve(table).await
}

fn route(brokers: &[(&str, String)], queues: i32) -> TopicRouteData {
    TopicRouteData {
        broker_datas: brokers
            .iter()
            .map(|(name, addr)| BrokerData {
                broker_addrs: [(0, addr.clone())].into(),
                broker_name: (*name).to_owned(),
                cluster: "c".to_owned(),
                enable_acting_master: None,
                zone_name: None,
            })
            .collect(),
        queue_datas: brokers
            .iter()
            .map(|(name, _)| QueueData {
                broker_name: (*name).to_owned(),
                read_queue_nums: queues,
                write_queue_nums: queues,
                perm: 6,
                topic_sys_flag: 0,
            })
            .collect(),
        ..TopicRouteData::default()
    }
}

/// A name server knowing `known` and TBW102 (both with `data`); other topics get 17.
async fn namesrv(data: TopicRouteData, known: &'static str) -> RemotingServer {
    let body = data.encode().unwrap();
    let handler = move |req: RemotingCommand, _channel: Channel| {
        let body = body.clone();
        async move {
            let header: GetRouteInfoRequestHeader = req.decode_header()?;
            if header.topic == known || header.topic == "TBW102" {
                return HandlerResult::Ok(Some(
                    RemotingCommand::response_to(&req, ResponseCode::Success).with_body(body),
                ));
            }
            Ok(Some(RemotingCommand::response_to(
                &req,
                ResponseCode::TopicNotExist,
            )))
        }
    };
    serve(DispatchTable::new().route(RequestCode::GetRouteinfoByTopic, handler)).await
}

struct Cluster {
    namesrv: Option<RemotingServer>,
    busy: Arc<Mutex<Vec<RemotingCommand>>>,
    ok: Arc<Mutex<Vec<RemotingCommand>>>,
    _brokers: (RemotingServer, RemotingServer),
}

/// Broker "a" answers SYSTEM_BUSY (retryable), broker "b" stores; 2 queues each.
async fn cluster() -> Cluster {
    let busy = Arc::new(Mutex::new(Vec::new()));
    let ok = Arc::new(Mutex::new(Vec::new()));
    let a = broker(ResponseCode::SystemBusy, Arc::clone(&busy)).await;
    let b = broker(ResponseCode::Success, Arc::clone(&ok)).await;
    let data = route(
        &[
            ("a", a.local_addr().to_string()),
            ("b", b.local_addr().to_string()),
        ],
        2,
    );
    Cluster {
        namesrv: Some(namesrv(data, "T").await),
        busy,
        ok,
        _brokers: (a, b),
    }
}

fn producer(cluster: &Cluster, route_age: Duration, queue_nums: i32) -> Producer {
    let addr = cluster.namesrv.as_ref().unwrap().local_addr().to_string();
    let session = Session::new(SessionConfig::new([addr]));
    let mut config = ProducerConfig::new("pg");
    config.default_topic_queue_nums = queue_nums;
    Producer::with_routes(RouteCache::new(session, route_age), config)
}

#[tokio::test]
async fn busy_broker_is_retried_on_the_other_broker() -> Result<()> {
    let cluster = cluster().await;
    let producer = producer(&cluster, Duration::from_secs(30), 4);
    let mut ids = BTreeSet::new();
    for i in 0..8 {
        let result = producer.send(Message::new("T", format!("m{i}"))).await?;
        assert_eq!(result.queue.broker_name, "b");
        assert_eq!(result.region_id.as_deref(), Some("DefaultRegion"));
        ids.insert(result.msg_id);
    }
    assert_eq!(ids.len(), 8);
    let ok = cluster.ok.lock().unwrap().len();
    let busy = cluster.busy.lock().unwrap().len();
    assert_eq!(ok, 8);
    // Round robin over a0 a1 b0 b1: about half the first attempts hit "a", each retried once.
    assert!((2..=6).contains(&busy), "busy attempts {busy}");
    Ok(())
}

#[tokio::test]
async fn non_retryable_code_fails_after_one_attempt() -> Result<()> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let illegal = broker(ResponseCode::MessageIllegal, Arc::clone(&seen)).await;
    let data = route(&[("x", illegal.local_addr().to_string())], 1);
    let ns = namesrv(data, "T").await;
    let session = Session::new(SessionConfig::new([ns.local_addr().to_string()]));
    let producer = Producer::new(session, ProducerConfig::new("pg"));
    let err = producer.send(Message::new("T", "x")).await.unwrap_err();
    assert!(
        matches!(err, ClientError::SendFailed { attempts: 1, .. }),
        "{err}"
    );
    assert_eq!(err.broker_code(), Some(13));
    assert_eq!(seen.lock().unwrap().len(), 1);
    Ok(())
}

#[tokio::test]
async fn cached_route_serves_while_name_server_is_down() -> Result<()> {
    let mut cluster = cluster().await;
    let producer = producer(&cluster, Duration::ZERO, 4);
    producer.send(Message::new("T", "before")).await?;
    let ns = cluster.namesrv.take().unwrap();
    ns.shutdown(Duration::from_millis(100)).await;
    let result = producer.send(Message::new("T", "after")).await?;
    assert_eq!(result.queue.broker_name, "b");
    assert_eq!(cluster.ok.lock().unwrap().len(), 2);
    Ok(())
}

#[tokio::test]
async fn unknown_topic_uses_tbw102_with_default_queue_count() -> Result<()> {
    let cluster = cluster().await;
    let producer = producer(&cluster, Duration::from_secs(30), 1);
    for _ in 0..3 {
        let result = producer.send(Message::new("NewTopic", "x")).await?;
        assert_eq!(
            (result.queue.broker_name.as_str(), result.queue.queue_id),
            ("b", 0)
        );
    }
    let route = producer.routes().cached("NewTopic").unwrap();
    assert!(route.from_default);
    assert_eq!(route.publish.len(), 2);
    let sent = cluster.ok.lock().unwrap();
    let header: SendMessageRequestHeaderV2 = sent[0].decode_header()?;
    assert_eq!(
        (header.b.as_str(), header.c.as_str(), header.d),
        ("NewTopic", "TBW102", 1)
    );
    Ok(())
}

#[tokio::test]
async fn large_bodies_are_zlib_compressed_and_batches_keep_own_ids() -> Result<()> {
    let cluster = cluster().await;
    let producer = producer(&cluster, Duration::from_secs(30), 4);
    let big = Bytes::from(vec![b'q'; 10_000]);
    producer
        .send_to_queue(Message::new("T", big.clone()), &queue("b"))
        .await?;
    let batch = vec![
        Message::new("T", "one").with_tags("x"),
        Message::new("T", "two"),
    ];
    let result = producer.send_batch(batch).await?;
    let ids: Vec<&str> = result.msg_id.split(',').collect();
    let sent = cluster.ok.lock().unwrap().clone();
    let single = sent.iter().find(|c| c.code == 310).unwrap();
    let header: SendMessageRequestHeaderV2 = single.decode_header()?;
    assert_eq!(header.f, 0x301);
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(&single.body[..]).read_to_end(&mut inflated)?;
    assert_eq!(inflated, big);
    let props = parse_properties(header.i.as_deref().unwrap());
    assert_eq!(props.get("UNIQ_KEY").map(String::len), Some(32));

    let batch_cmd = sent.iter().find(|c| c.code == 320).unwrap();
    let header: SendMessageRequestHeaderV2 = batch_cmd.decode_header()?;
    assert_eq!((header.m, header.f), (Some(true), 0));
    assert!(!header.i.unwrap_or_default().contains("UNIQ_KEY"));
    let entries = decode_batch(&batch_cmd.body)?;
    assert_eq!(entries.len(), 2);
    let keys: Vec<String> = entries
        .iter()
        .map(|e| parse_properties(&e.properties)["UNIQ_KEY"].clone())
        .collect();
    assert_eq!(keys, ids);
    assert_ne!(keys[0], keys[1]);
    assert_eq!(
        (&entries[0].body[..], &entries[1].body[..]),
        (&b"one"[..], &b"two"[..])
    );
    Ok(())
}

fn queue(broker: &str) -> ferrimq_remoting::body::MessageQueue {
    ferrimq_remoting::body::MessageQueue {
        broker_name: broker.to_owned(),
        queue_id: 1,
        topic: "T".to_owned(),
    }
}

#[tokio::test]
async fn refresher_refetches_cached_routes_and_invalidate_forces_a_fetch() -> Result<()> {
    let cluster = cluster().await;
    let addr = cluster.namesrv.as_ref().unwrap().local_addr().to_string();
    let routes = RouteCache::new(
        Session::new(SessionConfig::new([addr])),
        Duration::from_secs(30),
    );
    let first = routes.route("T").await?;
    let again = routes.route("T").await?;
    assert!(
        Arc::ptr_eq(&first, &again),
        "fresh route served from the cache"
    );
    routes.invalidate("T");
    let refetched = routes.route("T").await?;
    assert!(!Arc::ptr_eq(&first, &refetched));
    let refresher = routes.spawn_refresher(Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    refresher.abort();
    let refreshed = routes.cached("T").unwrap();
    assert!(!Arc::ptr_eq(&refetched, &refreshed));
    assert_eq!(refreshed.publish.len(), 4);
    assert!(matches!(
        routes.route("Unknown").await,
        Err(ClientError::NoRoute { .. })
    ));
    assert!(routes.cached("Unknown").is_none());
    Ok(())
}
