//! PullConsumer against an in-process fake name server + broker: position resolution when no
//! offset is committed (code 22), pull status mapping, tag re-filtering, MIN/MAX_OFFSET
//! properties, offset-illegal correction, and commits.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use ferrimq_client::{ConsumerConfig, PullConsumer, PullStatus, Session, SessionConfig};
use ferrimq_remoting::body::{BrokerData, JsonBody, MessageQueue, QueueData, TopicRouteData};
use ferrimq_remoting::header::typed::{
    OffsetResponseHeader, PullMessageRequestHeader, PullMessageResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_transport::{
    Channel, DispatchTable, HandlerResult, NoopListener, RemotingServer, ServerConfig,
};

const QUEUE_LEN: i64 = 5;

/// A §4.1 V1 record of topic "T", queue 0, with IPv4 hosts.
fn record(queue_offset: i64, body: &[u8], props: &str) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&0i32.to_be_bytes());
    r.extend_from_slice(&(-626_843_481i32).to_be_bytes());
    r.extend_from_slice(&0i32.to_be_bytes());
    r.extend_from_slice(&0i32.to_be_bytes());
    r.extend_from_slice(&0i32.to_be_bytes());
    r.extend_from_slice(&queue_offset.to_be_bytes());
    r.extend_from_slice(&(queue_offset * 100).to_be_bytes());
    r.extend_from_slice(&0i32.to_be_bytes());
    r.extend_from_slice(&1i64.to_be_bytes());
    r.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0, 1]);
    r.extend_from_slice(&2i64.to_be_bytes());
    r.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0, 2]);
    r.extend_from_slice(&0i32.to_be_bytes());
    r.extend_from_slice(&0i64.to_be_bytes());
    r.extend_from_slice(&(body.len() as i32).to_be_bytes());
    r.extend_from_slice(body);
    r.push(1);
    r.push(b'T');
    r.extend_from_slice(&(props.len() as i16).to_be_bytes());
    r.extend_from_slice(props.as_bytes());
    let total = r.len() as i32;
    r[..4].copy_from_slice(&total.to_be_bytes());
    r
}

fn pull_reply(
    req: &RemotingCommand,
) -> Result<RemotingCommand, Box<dyn std::error::Error + Send + Sync>> {
    let h: PullMessageRequestHeader = req.decode_header()?;
    let header = |next| PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: next,
        min_offset: 0,
        max_offset: QUEUE_LEN,
        ..PullMessageResponseHeader::default()
    };
    if h.queue_offset > QUEUE_LEN {
        let reply = RemotingCommand::response_to(req, ResponseCode::PullOffsetMoved);
        return Ok(reply.with_header(&header(QUEUE_LEN)));
    }
    if h.queue_offset == QUEUE_LEN {
        let reply = RemotingCommand::response_to(req, ResponseCode::PullNotFound);
        return Ok(reply.with_header(&header(QUEUE_LEN)));
    }
    let end = (h.queue_offset + i64::from(h.max_msg_nums)).min(QUEUE_LEN);
    let mut body = Vec::new();
    for offset in h.queue_offset..end {
        let tag = if offset % 2 == 0 { "even" } else { "odd" };
        let props = format!("TAGS\u{1}{tag}\u{2}UNIQ_KEY\u{1}ID{offset}");
        body.extend(record(offset, format!("m{offset}").as_bytes(), &props));
    }
    let reply = RemotingCommand::response_to(req, ResponseCode::Success);
    Ok(reply.with_header(&header(end)).with_body(body))
}

async fn serve(table: DispatchTable) -> RemotingServer {
    let config = ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..ServerConfig::default()
    };
    RemotingServer::bind(config, table, Arc::new(NoopListener))
        .await
        .expect("binds")
}

struct Fake {
    _servers: (RemotingServer, RemotingServer),
    commits: Arc<Mutex<BTreeMap<i32, i64>>>,
    pulls: Arc<Mutex<Vec<PullMessageRequestHeader>>>,
    session: Arc<Session>,
}

async fn fake() -> Fake {
    let commits = Arc::new(Mutex::new(BTreeMap::new()));
    let pulls = Arc::new(Mutex::new(Vec::new()));
    let (c, p) = (Arc::clone(&commits), Arc::clone(&pulls));
    let table = DispatchTable::new()
        .route(
            RequestCode::PullMessage,
            move |req: RemotingCommand, _ch: Channel| {
                let pulls = Arc::clone(&p);
                async move {
                    pulls.lock().unwrap().push(req.decode_header()?);
                    HandlerResult::Ok(Some(pull_reply(&req)?))
                }
            },
        )
        .route(
            RequestCode::QueryConsumerOffset,
            |req: RemotingCommand, _ch: Channel| async move {
                HandlerResult::Ok(Some(RemotingCommand::response_to(
                    &req,
                    ResponseCode::QueryNotFound,
                )))
            },
        )
        .route(
            RequestCode::GetMinOffset,
            |req: RemotingCommand, _ch: Channel| async move {
                let reply = RemotingCommand::response_to(&req, ResponseCode::Success);
                HandlerResult::Ok(Some(reply.with_header(&OffsetResponseHeader { offset: 0 })))
            },
        )
        .route(
            RequestCode::UpdateConsumerOffset,
            move |req: RemotingCommand, _ch: Channel| {
                let commits = Arc::clone(&c);
                async move {
                    let h: UpdateConsumerOffsetRequestHeader = req.decode_header()?;
                    commits.lock().unwrap().insert(h.queue_id, h.commit_offset);
                    HandlerResult::Ok(Some(RemotingCommand::response_to(
                        &req,
                        ResponseCode::Success,
                    )))
                }
            },
        );
    let broker = serve(table).await;
    let route = TopicRouteData {
        broker_datas: vec![BrokerData {
            broker_addrs: [(0, broker.local_addr().to_string())].into(),
            broker_name: "b".into(),
            cluster: "c".into(),
            enable_acting_master: None,
            zone_name: None,
        }],
        queue_datas: vec![QueueData {
            broker_name: "b".into(),
            read_queue_nums: 1,
            write_queue_nums: 1,
            perm: 6,
            topic_sys_flag: 0,
        }],
        ..TopicRouteData::default()
    };
    let body = route.encode().unwrap();
    let ns = serve(DispatchTable::new().route(
        RequestCode::GetRouteinfoByTopic,
        move |req: RemotingCommand, _ch: Channel| {
            let body = body.clone();
            async move {
                let reply = RemotingCommand::response_to(&req, ResponseCode::Success);
                HandlerResult::Ok(Some(reply.with_body(body)))
            }
        },
    ))
    .await;
    let session = Session::new(SessionConfig::new([ns.local_addr().to_string()]));
    Fake {
        _servers: (broker, ns),
        commits,
        pulls,
        session,
    }
}

#[tokio::test]
async fn polls_filter_by_tag_and_commit_positions() -> Result<()> {
    let fake = fake().await;
    let mut config = ConsumerConfig::new("g");
    config.pull_batch_size = 2;
    let consumer = PullConsumer::new(fake.session.clone(), config);
    consumer.subscribe("T", "even");
    let queues = consumer.queues("T").await?;
    assert_eq!(queues.len(), 1);
    consumer.assign(queues.clone());
    let mut got = Vec::new();
    for _ in 0..4 {
        got.extend(consumer.poll().await?);
    }
    let ids: Vec<&str> = got.iter().map(|m| m.msg_id()).collect();
    assert_eq!(ids, ["ID0", "ID2", "ID4"]);
    assert_eq!(got[1].queue_offset, 2);
    assert_eq!(got[1].properties["MAX_OFFSET"], "5");
    assert_eq!(got[1].properties["MIN_OFFSET"], "0");
    assert_eq!(consumer.positions()[&queues[0]], Some(QUEUE_LEN));
    let pulls = fake.pulls.lock().unwrap().clone();
    assert_eq!(
        pulls.iter().map(|p| p.queue_offset).collect::<Vec<_>>(),
        [0, 2, 4, 5]
    );
    assert!(
        pulls
            .iter()
            .all(|p| p.sys_flag == 0x4 && p.subscription.as_deref() == Some("even"))
    );
    consumer.commit().await?;
    assert_eq!(
        *fake.commits.lock().unwrap(),
        BTreeMap::from([(0, QUEUE_LEN)])
    );
    Ok(())
}

#[tokio::test]
async fn pull_statuses_map_like_java() -> Result<()> {
    let fake = fake().await;
    let consumer = PullConsumer::new(fake.session.clone(), ConsumerConfig::new("g"));
    let queue = MessageQueue {
        broker_name: "b".into(),
        queue_id: 0,
        topic: "T".into(),
    };
    let found = consumer.pull(&queue, 3, 32).await?;
    assert_eq!(
        (found.status, found.next_begin_offset, found.messages.len()),
        (PullStatus::Found, 5, 2)
    );
    let none = consumer.pull(&queue, 5, 32).await?;
    assert_eq!(
        (none.status, none.messages.len()),
        (PullStatus::NoNewMsg, 0)
    );
    let moved = consumer.pull(&queue, 99, 32).await?;
    assert_eq!(
        (moved.status, moved.next_begin_offset),
        (PullStatus::OffsetIllegal, 5)
    );
    assert_eq!(consumer.committed(&queue).await?, None);
    Ok(())
}
