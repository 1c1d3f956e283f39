//! A master and a slave `Broker` of one brokerName in one process, with a NameServer: the
//! slave registers under the master's name, learns the master from the registration answer,
//! copies topics, groups, consumer and delay offsets, refuses writes, serves reads of the
//! replicated CommitLog, and hands consumer offsets committed on it back to a returning master.

mod fixture;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ferrimq_config::BrokerConfig;
use ferrimq_namesrv::NameServer;
use ferrimq_remoting::body::{JsonBody, KvTable, SubscriptionGroupWrapper, TopicRouteData};
use ferrimq_remoting::header::typed::{
    ConsumerSendMsgBackRequestHeader, CreateTopicRequestHeader, GetRouteInfoRequestHeader,
    OffsetResponseHeader, PullMessageResponseHeader, QueryConsumerOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_server::Broker;
use ferrimq_store::metadata::delay_offsets::DelayOffsetWrapper;
use ferrimq_transport::{ClientConfig, DispatchTable, RemotingClient, ServerConfig, next_opaque};

use fixture::{TIMEOUT, broker_config, props, pull, pull_header, send_v2};

const TOPIC: &str = "SlaveTopic";
const GROUP: &str = "SlaveGroup";

/// Lines every broker of the group gets: fast re-registration so the slave notices the master
/// leaving and returning within a second.
const COMMON: &str = "registerNameServerPeriod=1000\n";
/// A slave consumers may read from.
const READABLE_SLAVE: &str = "slaveReadEnable=true\n";

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Fixed ports of one broker, so a restarted master is found at the same addresses.
#[derive(Clone, Copy)]
struct Ports {
    listen: u16,
    ha: u16,
}

impl Ports {
    fn pick() -> Result<Ports> {
        let (listen, ha) = (free_port()?, free_port()?);
        if listen == ha {
            bail!("the OS returned the same free port twice");
        }
        Ok(Ports { listen, ha })
    }
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.listen)
    }
}

struct Group {
    namesrv: NameServer,
    master: Option<Broker>,
    slave: Option<Broker>,
    client: RemotingClient,
    dir: tempfile::TempDir,
    master_ports: Ports,
    slave_ports: Ports,
}

fn config(root: PathBuf, namesrv: SocketAddr, extra: &str, ports: Ports) -> Result<BrokerConfig> {
    let mut config = broker_config(&root, namesrv, &format!("{COMMON}{extra}"))?;
    config.broker.listen_port = ports.listen;
    config.broker.ha_listen_port = Some(ports.ha);
    Ok(config)
}

impl Group {
    async fn start(master_extra: &str, slave_extra: &str) -> Result<Group> {
        let dir = tempfile::tempdir()?;
        let namesrv = NameServer::start_with(
            ferrimq_config::NamesrvConfig {
                kv_config_path: dir.path().join("kvConfig.json"),
                ..Default::default()
            },
            ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..Default::default()
            },
        )
        .await?;
        let mut group = Group {
            namesrv,
            master: None,
            slave: None,
            client: RemotingClient::new(ClientConfig::default(), DispatchTable::new()),
            dir,
            master_ports: Ports::pick()?,
            slave_ports: Ports::pick()?,
        };
        group.start_master(master_extra).await?;
        let slave = config(
            group.dir.path().join("slave"),
            group.namesrv.local_addr(),
            &format!("brokerRole=SLAVE\nbrokerId=1\n{slave_extra}"),
            group.slave_ports,
        )?;
        group.slave = Some(Broker::start(slave).await.context("slave start")?);
        Ok(group)
    }

    async fn start_master(&mut self, extra: &str) -> Result<()> {
        let master = config(
            self.dir.path().join("master"),
            self.namesrv.local_addr(),
            extra,
            self.master_ports,
        )?;
        self.master = Some(Broker::start(master).await.context("master start")?);
        Ok(())
    }

    async fn call(&self, addr: &str, request: RemotingCommand) -> Result<RemotingCommand> {
        Ok(self.client.invoke(addr, request, TIMEOUT).await?)
    }

    async fn master(&self, request: RemotingCommand) -> Result<RemotingCommand> {
        self.call(&self.master_ports.addr(), request).await
    }

    async fn slave(&self, request: RemotingCommand) -> Result<RemotingCommand> {
        self.call(&self.slave_ports.addr(), request).await
    }

    async fn stop(mut self) -> Result<()> {
        for broker in [self.slave.take(), self.master.take()]
            .into_iter()
            .flatten()
        {
            broker.shutdown().await?;
        }
        self.client.shutdown();
        self.namesrv.shutdown(Duration::from_secs(1)).await;
        Ok(())
    }
}

fn request(code: RequestCode) -> RemotingCommand {
    RemotingCommand::request(code, next_opaque())
}

fn create_topic(topic: &str) -> RemotingCommand {
    request(RequestCode::UpdateAndCreateTopic).with_header(&CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: 2,
        write_queue_nums: 2,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order: false,
        attributes: None,
        force: None,
    })
}

fn commit(queue_id: i32, offset: i64) -> RemotingCommand {
    request(RequestCode::UpdateConsumerOffset).with_header(&UpdateConsumerOffsetRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id,
        commit_offset: offset,
    })
}

fn query(queue_id: i32) -> RemotingCommand {
    request(RequestCode::QueryConsumerOffset).with_header(&QueryConsumerOffsetRequestHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id,
        set_zero_if_not_found: Some(false),
    })
}

/// The committed offset a broker answers (None: QUERY_NOT_FOUND or unreachable).
async fn offset_at(group: &Group, addr: &str, queue_id: i32) -> Option<i64> {
    let r = group.call(addr, query(queue_id)).await.ok()?;
    if r.code != 0 {
        return None;
    }
    let h: OffsetResponseHeader = r.decode_header().ok()?;
    Some(h.offset)
}

/// Polls `probe` every 100 ms for up to `secs` seconds.
async fn eventually<F, Fut>(secs: u64, what: &str, mut probe: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs * 10 {
        if probe().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("timed out waiting for {what}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_registers_copies_metadata_and_refuses_writes() -> Result<()> {
    let group = Group::start("", "").await?;
    assert_eq!(group.master(create_topic(TOPIC)).await?.code, 0);
    assert_eq!(group.master(commit(1, 7)).await?.code, 0);
    // The sync source in Java's dialect: queue ids as unquoted numeric keys.
    let all = group
        .master(request(RequestCode::GetAllConsumerOffset))
        .await?;
    let text = String::from_utf8(all.body.to_vec())?;
    assert!(text.contains(r#""SlaveTopic@SlaveGroup":{1:7}"#), "{text}");
    let delayed = props(&[("DELAY", "1"), ("WAIT", "true")]);
    assert_eq!(
        group
            .master(send_v2(TOPIC, 0, &delayed, b"later"))
            .await?
            .code,
        0
    );

    let slave_addr = group.slave_ports.addr();
    eventually(
        25,
        "topic, offset and delay progress on the slave",
        || async {
            let topics = group.slave(request(RequestCode::GetAllTopicConfig)).await;
            let has_topic = topics.is_ok_and(|r| {
                ferrimq_remoting::body::TopicConfigSerializeWrapper::decode(&r.body)
                    .is_ok_and(|w| w.topic_config_table.contains_key(TOPIC))
            });
            let delay = group.slave(request(RequestCode::GetAllDelayOffset)).await;
            let delivered = delay.is_ok_and(|r| {
                ferrimq_fastjson::from_slice::<DelayOffsetWrapper>(&r.body)
                    .is_ok_and(|w| w.offset_table.get(&1) == Some(&1))
            });
            has_topic && delivered && offset_at(&group, &slave_addr, 1).await == Some(7)
        },
    )
    .await?;

    // Groups: the pull of the delivered message auto-created GROUP on the master.
    let pulled = group
        .master(pull(&pull_header(GROUP, TOPIC, 0, 0, 0x2 | 0x4)))
        .await?;
    assert_eq!(pulled.code, 0, "{:?}", pulled.remark);
    eventually(25, "group on the slave", || async {
        let r = group
            .slave(request(RequestCode::GetAllSubscriptionGroupConfig))
            .await;
        r.is_ok_and(|r| {
            SubscriptionGroupWrapper::decode(&r.body)
                .is_ok_and(|w| w.subscription_group_table.contains_key(GROUP))
        })
    })
    .await?;

    // Route: master 0 and slave 1 under one brokerName.
    let r = group
        .call(
            &group.namesrv.local_addr().to_string(),
            request(RequestCode::GetRouteinfoByTopic).with_header(&GetRouteInfoRequestHeader {
                topic: TOPIC.into(),
                accept_standard_json_only: Some(true),
            }),
        )
        .await?;
    assert_eq!(r.code, 0);
    let route = TopicRouteData::decode(&r.body)?;
    let addrs: Vec<(i64, String)> = route.broker_datas[0]
        .broker_addrs
        .iter()
        .map(|(id, a)| (*id, a.clone()))
        .collect();
    assert_eq!(
        addrs,
        vec![
            (0, group.master_ports.addr()),
            (1, group.slave_ports.addr())
        ]
    );

    // Writes are refused with the codes the Java broker uses.
    let sent = group.slave(send_v2(TOPIC, 0, "", b"x")).await?;
    assert_eq!(sent.code, ResponseCode::ServiceNotAvailable.code());
    let created = group.slave(create_topic("OnSlave")).await?;
    assert_eq!(created.code, ResponseCode::SystemError.code());
    let ended = group.slave(request(RequestCode::EndTransaction)).await?;
    assert_eq!(ended.code, ResponseCode::SlaveNotAvailable.code());

    // Runtime info names the master.
    let info = group
        .slave(request(RequestCode::GetBrokerRuntimeInfo))
        .await?;
    let table = KvTable::decode(&info.body)?.table;
    assert_eq!(table.get("masterAddr"), Some(&group.master_ports.addr()));
    assert_eq!(
        table.get("haMasterAddress"),
        Some(&format!("127.0.0.1:{}", group.master_ports.ha))
    );
    let info = group
        .master(request(RequestCode::GetBrokerRuntimeInfo))
        .await?;
    let table = KvTable::decode(&info.body)?.table;
    assert!(table.contains_key("masterPutWhere"), "{table:?}");
    group.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_serves_replicated_messages_and_suggests_like_java() -> Result<()> {
    // accessMessageInMemoryMaxRatio=0: any unread byte counts as "lagging" on the master.
    let group = Group::start(
        "accessMessageInMemoryMaxRatio=0\nslaveReadEnable=true\n",
        READABLE_SLAVE,
    )
    .await?;
    assert_eq!(group.master(create_topic(TOPIC)).await?.code, 0);
    for body in [b"m0", b"m1", b"m2"] {
        let r = group.master(send_v2(TOPIC, 0, "", body)).await?;
        assert_eq!(r.code, 0, "{:?}", r.remark);
    }
    let master_end = group
        .master
        .as_ref()
        .map(|b| b.store().commit_log_max_offset());
    let slave_store = group
        .slave
        .as_ref()
        .map(|b| b.store().clone())
        .context("slave")?;
    eventually(30, "slave CommitLog catching up", || {
        let store = slave_store.clone();
        async move {
            Some(store.commit_log_max_offset()) == master_end
                && store.max_offset_in_queue(TOPIC, 0) == 3
        }
    })
    .await?;
    eventually(25, "topic on the slave", || async {
        group.slave(pull(&one(0))).await.is_ok_and(|r| r.code == 0)
    })
    .await?;

    // A master with slaveReadEnable suggests the group's whichBrokerWhenConsumeSlowly (1)
    // when the reader lags beyond the memory window (0 bytes here, Java's rule counts the
    // last record pulled), ...
    let mut all = one(0);
    all.max_msg_nums = 32;
    let r = group.master(pull(&all)).await?;
    assert_eq!((r.code, suggest(&r)?), (0, 1));

    // ... and the slave (default window: 40% of RAM) suggests the group's brokerId (0) while
    // serving the replicated records.
    let r = group.slave(pull(&all)).await?;
    assert_eq!((r.code, suggest(&r)?), (0, 0), "{:?}", r.remark);
    let bodies: Vec<Vec<u8>> = fixture::decode_pulled(&r.body)?
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies, vec![b"m0".to_vec(), b"m1".to_vec(), b"m2".to_vec()]);
    group.stop().await
}

/// A one-message pull of queue 0 from `offset`, carrying its subscription.
fn one(offset: i64) -> ferrimq_remoting::header::typed::PullMessageRequestHeader {
    let mut h = pull_header(GROUP, TOPIC, 0, offset, 0x4);
    h.max_msg_nums = 1;
    h
}

fn suggest(r: &RemotingCommand) -> Result<i64> {
    let h: PullMessageResponseHeader = r.decode_header()?;
    Ok(h.suggest_which_broker_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_committed_on_the_slave_survive_the_masters_return() -> Result<()> {
    let mut group = Group::start("", "").await?;
    assert_eq!(group.master(create_topic(TOPIC)).await?.code, 0);
    assert_eq!(group.master(commit(0, 3)).await?.code, 0);
    let slave_addr = group.slave_ports.addr();
    eventually(25, "offset 3 on the slave", || async {
        offset_at(&group, &slave_addr, 0).await == Some(3)
    })
    .await?;
    // Without slaveReadEnable a slave sends readers back to the master, at the same offset.
    let r = group.slave(pull(&one(5))).await?;
    let h: PullMessageResponseHeader = r.decode_header()?;
    assert_eq!(
        (r.code, h.suggest_which_broker_id, h.next_begin_offset),
        (ResponseCode::PullRetryImmediately.code(), 0, 5)
    );

    // The master leaves; the consumer commits to the slave meanwhile.
    group.master.take().context("master")?.shutdown().await?;
    eventually(10, "the slave noticing the master left", || async {
        group
            .slave
            .as_ref()
            .and_then(|s| s.master_link())
            .is_some_and(|l| l.master_addr().is_none())
    })
    .await?;
    assert_eq!(group.slave(commit(0, 10)).await?.code, 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(offset_at(&group, &slave_addr, 0).await, Some(10));

    // The master returns with its old table (3): the slave hands it 10 and keeps 10.
    group.start_master("").await?;
    let master_addr = group.master_ports.addr();
    eventually(25, "offset 10 forwarded to the master", || async {
        offset_at(&group, &master_addr, 0).await == Some(10)
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(offset_at(&group, &slave_addr, 0).await, Some(10));
    assert_eq!(offset_at(&group, &master_addr, 0).await, Some(10));
    group.stop().await
}

fn send_back(offset: i64) -> RemotingCommand {
    RemotingCommand::request(RequestCode::ConsumerSendMsgBack, next_opaque()).with_header(
        &ConsumerSendMsgBackRequestHeader {
            offset,
            group: GROUP.into(),
            delay_level: 0,
            origin_msg_id: None,
            origin_topic: Some(TOPIC.into()),
            unit_mode: Some(false),
            max_reconsume_times: Some(16),
        },
    )
}

/// Under SYNC_MASTER a retry copy (CONSUMER_SEND_MSG_BACK) is acknowledged like a send: only once
/// the slave has it, and SLAVE_NOT_AVAILABLE once no slave is connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_acknowledges_send_backs_only_with_a_slave() -> Result<()> {
    let mut group = Group::start("brokerRole=SYNC_MASTER\n", "").await?;
    group.master(create_topic(TOPIC)).await?;
    eventually(20, "a send acknowledged by the slave", || async {
        group
            .master(send_v2(TOPIC, 0, "", b"first"))
            .await
            .is_ok_and(|r| r.code == 0)
    })
    .await?;
    let (_, offset) = ferrimq_store::record::msg_id::decode(
        group
            .master(send_v2(TOPIC, 0, "", b"second"))
            .await?
            .ext_fields["msgId"]
            .as_str(),
    )
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(group.master(send_back(offset)).await?.code, 0);

    let slave = group.slave.take().context("slave running")?;
    slave.shutdown().await?;
    eventually(20, "send-back refused without a slave", || async {
        group
            .master(send_back(offset))
            .await
            .is_ok_and(|r| r.code == ResponseCode::SlaveNotAvailable.code())
    })
    .await?;
    let sent = group.master(send_v2(TOPIC, 0, "", b"third")).await?;
    assert_eq!(sent.code, ResponseCode::SlaveNotAvailable.code());
    group.stop().await
}
