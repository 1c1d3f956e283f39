//! The name server over real TCP: a broker registers through `ferrimq-transport`'s client, a
//! second client fetches the route, and the broker disappears when its connection closes or
//! when it falls silent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use ferrimq_config::{NamesrvConfig, Perm, TopicConfig};
use ferrimq_namesrv::NameServer;
use ferrimq_remoting::body::{
    DataVersion, JsonBody, RegisterBrokerBody, TopicConfigSerializeWrapper, TopicRouteData,
};
use ferrimq_remoting::header::typed::{GetRouteInfoRequestHeader, RegisterBrokerRequestHeader};
use ferrimq_remoting::{RemotingCommand, RequestCode, SerializeType};
use ferrimq_transport::{ClientConfig, DispatchTable, RemotingClient, ServerConfig};

const TIMEOUT: Duration = Duration::from_secs(3);

async fn start(dir: &tempfile::TempDir, scan_ms: u64) -> Result<NameServer> {
    let config = NamesrvConfig {
        kv_config_path: dir.path().join("kvConfig.json"),
        scan_not_active_broker_interval: scan_ms,
        ..Default::default()
    };
    let transport = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    };
    Ok(NameServer::start_with(config, transport).await?)
}

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default(), DispatchTable::new())
}

fn register_request(timeout_ms: Option<i64>) -> Result<RemotingCommand> {
    let topic = TopicConfig {
        topic_name: "TopicTest".into(),
        read_queue_nums: 4,
        write_queue_nums: 4,
        perm: Perm(6),
        ..Default::default()
    };
    let body = RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            data_version: DataVersion {
                counter: 1,
                state_version: None,
                timestamp: 1_700_000_000_000,
            },
            topic_config_table: [("TopicTest".to_owned(), topic)].into(),
        },
    }
    .encode()?;
    let header = RegisterBrokerRequestHeader {
        broker_name: "broker-a".into(),
        broker_addr: "127.0.0.1:10911".into(),
        cluster_name: "DefaultCluster".into(),
        ha_server_addr: "127.0.0.1:10912".into(),
        broker_id: 0,
        heartbeat_timeout_millis: timeout_ms,
        compressed: Some(false),
        body_crc32: Some((crc32fast::hash(&body) & 0x7FFF_FFFF) as i32),
        ..Default::default()
    };
    Ok(RemotingCommand::request(RequestCode::RegisterBroker, 0)
        .with_header(&header)
        .with_body(body))
}

fn route_request(serialize_type: SerializeType) -> RemotingCommand {
    RemotingCommand::request(RequestCode::GetRouteinfoByTopic, 0)
        .with_header(&GetRouteInfoRequestHeader {
            topic: "TopicTest".into(),
            accept_standard_json_only: None,
        })
        .with_serialize_type(serialize_type)
}

/// Asks for the route until its code is `code`, for at most 3 s.
async fn wait_for_route_code(client: &RemotingClient, addr: &str, code: i32) -> Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let response = client
            .invoke(addr, route_request(SerializeType::Json), TIMEOUT)
            .await?;
        if response.code == code {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("route code still {} instead of {code}", response.code);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn broker_registers_and_clients_fetch_its_route_until_it_disconnects() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let namesrv = start(&dir, 5_000).await?;
    let addr = namesrv.local_addr().to_string();

    let broker = client();
    let registered = broker
        .invoke(&addr, register_request(None)?, TIMEOUT)
        .await?;
    assert_eq!((registered.code, registered.is_response()), (0, true));

    let producer = client();
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let response = producer
            .invoke(&addr, route_request(serialize_type), TIMEOUT)
            .await?;
        assert_eq!(
            (response.code, response.serialize_type),
            (0, serialize_type)
        );
        let route = TopicRouteData::decode(&response.body)?;
        assert_eq!(route.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
        assert_eq!(route.queue_datas[0].write_queue_nums, 4);
    }

    broker.close_channel(&addr);
    wait_for_route_code(&producer, &addr, 17).await?;
    assert!(
        namesrv
            .state()
            .routes
            .cluster_info()
            .broker_addr_table
            .is_empty()
    );
    namesrv.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

#[tokio::test]
async fn silent_broker_expires_and_its_connection_is_closed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let namesrv = start(&dir, 50).await?;
    let addr = namesrv.local_addr().to_string();
    let broker = client();
    let registered = broker
        .invoke(&addr, register_request(Some(200))?, TIMEOUT)
        .await?;
    assert_eq!(registered.code, 0);
    let channel = broker.channel(&addr).await?;
    assert!(channel.is_active());

    let producer = client();
    wait_for_route_code(&producer, &addr, 0).await?;
    wait_for_route_code(&producer, &addr, 17).await?;
    tokio::time::timeout(TIMEOUT, channel.closed()).await?;
    namesrv.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
