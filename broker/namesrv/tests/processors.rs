//! Every name-server processor driven through `process`, as the transport will: exact codes,
//! remarks, headers and bodies that Java clients and brokers expect.

use std::collections::BTreeMap;

use anyhow::Result;
use ferrimq_config::{NamesrvConfig, Perm, TopicConfig};
use ferrimq_namesrv::processor::{NamesrvState, RequestContext, process, processor_for};
use ferrimq_remoting::body::{
    DataVersion, JsonBody, KvTable, RegisterBrokerBody, TopicConfigSerializeWrapper, TopicList,
    TopicRouteData,
};
use ferrimq_remoting::header::typed::{
    BrokerNameRequestHeader, DeleteTopicFromNamesrvRequestHeader, GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader, KvConfigKeyRequestHeader, PutKvConfigRequestHeader,
    RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, SerializeType};

const NOW: u64 = 1_700_000_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    state: NamesrvState,
}

fn fixture(edit: impl FnOnce(&mut NamesrvConfig)) -> Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let mut config = NamesrvConfig {
        kv_config_path: dir.path().join("kvConfig.json"),
        ..Default::default()
    };
    edit(&mut config);
    Ok(Fixture {
        state: NamesrvState::open(config)?,
        _dir: dir,
    })
}

fn ctx(connection: u64) -> RequestContext {
    RequestContext {
        peer_addr: "127.0.0.1:50000".into(),
        connection,
        now_ms: NOW,
    }
}

fn call(f: &Fixture, request: &RemotingCommand) -> RemotingCommand {
    process(&f.state, request, &ctx(1)).expect("two-way request is answered")
}

fn topic(name: &str, queues: u32) -> TopicConfig {
    TopicConfig {
        topic_name: name.into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: Perm(6),
        ..Default::default()
    }
}

fn register_body(counter: i64, topics: &[TopicConfig]) -> RegisterBrokerBody {
    RegisterBrokerBody {
        filter_server_list: vec![],
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            data_version: DataVersion {
                counter,
                state_version: None,
                timestamp: 1_700_000_000_000,
            },
            topic_config_table: topics
                .iter()
                .map(|t| (t.topic_name.clone(), t.clone()))
                .collect(),
        },
    }
}

fn register_request(id: i64, host: &str, body: bytes::Bytes, crc: Option<i32>) -> RemotingCommand {
    let header = RegisterBrokerRequestHeader {
        broker_name: "broker-a".into(),
        broker_addr: format!("{host}:10911"),
        cluster_name: "DefaultCluster".into(),
        ha_server_addr: format!("{host}:10912"),
        broker_id: id,
        compressed: Some(false),
        body_crc32: crc,
        ..Default::default()
    };
    RemotingCommand::request(RequestCode::RegisterBroker, 7)
        .with_header(&header)
        .with_body(body)
}

fn masked_crc(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

/// Registers master 10.0.0.1 (topic TopicTest, 4 queues) and slave 10.0.0.2 of broker-a.
fn register_pair(f: &Fixture) -> Result<RemotingCommand> {
    let body = register_body(1, &[topic("TopicTest", 4)]).encode()?;
    let crc = masked_crc(&body);
    let master = call(f, &register_request(0, "10.0.0.1", body, Some(crc)));
    assert_eq!(master.code, 0);
    assert_eq!(master.ext_fields.get("masterAddr"), None);
    let slave_body = register_body(1, &[]).encode()?;
    Ok(call(f, &register_request(1, "10.0.0.2", slave_body, None)))
}

fn route_request(topic: &str, version: i32) -> RemotingCommand {
    let mut request = RemotingCommand::request(RequestCode::GetRouteinfoByTopic, 9).with_header(
        &GetRouteInfoRequestHeader {
            topic: topic.into(),
            accept_standard_json_only: None,
        },
    );
    request.version = version;
    request
}

#[test]
fn slave_registration_returns_master_addresses() -> Result<()> {
    let f = fixture(|_| {})?;
    let slave = register_pair(&f)?;
    assert_eq!(
        (slave.code, slave.opaque, slave.is_response()),
        (0, 7, true)
    );
    assert_eq!(
        slave.ext_fields.get("masterAddr").map(String::as_str),
        Some("10.0.0.1:10911")
    );
    assert_eq!(
        slave.ext_fields.get("haServerAddr").map(String::as_str),
        Some("10.0.0.1:10912")
    );
    assert!(slave.body.is_empty(), "no ORDER_TOPIC_CONFIG namespace yet");
    Ok(())
}

#[test]
fn route_json_is_byte_exact_in_both_key_styles() -> Result<()> {
    let f = fixture(|_| {})?;
    register_pair(&f)?;
    let new_client = call(&f, &route_request("TopicTest", 409));
    assert_eq!((new_client.code, new_client.remark.as_deref()), (0, None));
    assert_eq!(
        std::str::from_utf8(&new_client.body)?,
        r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"topicSysFlag":0,"writeQueueNums":4}]}"#
    );
    let old_client = call(&f, &route_request("TopicTest", 373));
    assert_eq!(
        std::str::from_utf8(&old_client.body)?,
        r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"topicSysFlag":0,"writeQueueNums":4}]}"#
    );
    let asked = route_request("TopicTest", 373).with_ext_field("acceptStandardJsonOnly", "true");
    assert_eq!(call(&f, &asked).body, new_client.body);
    Ok(())
}

#[test]
fn unknown_topic_is_topic_not_exist() -> Result<()> {
    let f = fixture(|_| {})?;
    let response = call(&f, &route_request("Nope", 409));
    assert_eq!(response.code, 17);
    assert_eq!(
        response.remark.as_deref(),
        Some(
            "No topic route info in name server for the topic: Nope\nSee http://rocketmq.apache.org/docs/faq/ for further details."
        )
    );
    assert!(response.body.is_empty());
    Ok(())
}

#[test]
fn crc_mismatch_is_rejected_and_registers_nothing() -> Result<()> {
    let f = fixture(|_| {})?;
    let body = register_body(1, &[topic("T", 4)]).encode()?;
    let bad = masked_crc(&body) ^ 1;
    let response = call(&f, &register_request(0, "10.0.0.1", body, Some(bad)));
    assert_eq!(
        (response.code, response.remark.as_deref()),
        (1, Some("crc32 not match"))
    );
    assert_eq!(call(&f, &route_request("T", 409)).code, 17);
    Ok(())
}

#[test]
fn compressed_and_legacy_registration_bodies() -> Result<()> {
    let f = fixture(|_| {})?;
    let body = register_body(1, &[topic("Zipped", 2)]).encode_compressed()?;
    let crc = masked_crc(&body);
    let request =
        register_request(0, "10.0.0.1", body, Some(crc)).with_ext_field("compressed", "true");
    assert_eq!(call(&f, &request).code, 0);
    assert_eq!(call(&f, &route_request("Zipped", 409)).code, 0);

    // 5.x brokers compress with compressedRegister=true but still send compressed=false.
    let body = register_body(1, &[topic("Unflagged", 2)]).encode_compressed()?;
    let request = register_request(0, "10.0.2.1", body, None)
        .with_ext_field("brokerName", "broker-z")
        .with_ext_field("compressed", "false");
    assert_eq!(call(&f, &request).code, 0);
    assert_eq!(call(&f, &route_request("Unflagged", 409)).code, 0);

    // A sender that never set its remoting version (0) still sends RegisterBrokerBody JSON.
    let mut unversioned = register_request(
        0,
        "10.0.3.1",
        register_body(1, &[topic("V0", 2)]).encode()?,
        None,
    )
    .with_ext_field("brokerName", "broker-v0");
    unversioned.version = 0;
    assert_eq!(call(&f, &unversioned).code, 0);
    let route = TopicRouteData::decode(&call(&f, &route_request("V0", 409)).body)?;
    assert_eq!(route.queue_datas[0].broker_name, "broker-v0");

    let legacy_wrapper = register_body(1, &[topic("Legacy", 2)]).topic_config_serialize_wrapper;
    let mut legacy = register_request(0, "10.0.1.1", legacy_wrapper.encode()?, None)
        .with_ext_field("brokerName", "broker-old");
    legacy.version = 36;
    assert_eq!(call(&f, &legacy).code, 0);
    let route = TopicRouteData::decode(&call(&f, &route_request("Legacy", 409)).body)?;
    assert_eq!(route.queue_datas[0].broker_name, "broker-old");
    Ok(())
}

#[test]
fn order_topic_conf_and_register_response_body_come_from_kv() -> Result<()> {
    let f = fixture(|c| c.order_message_enable = true)?;
    let put = RemotingCommand::request(RequestCode::PutKvConfig, 1).with_header(
        &PutKvConfigRequestHeader {
            namespace: "ORDER_TOPIC_CONFIG".into(),
            key: "TopicTest".into(),
            value: "broker-a:4".into(),
        },
    );
    assert_eq!(call(&f, &put).code, 0);
    let slave = register_pair(&f)?;
    assert_eq!(
        KvTable::decode(&slave.body)?.table,
        BTreeMap::from([("TopicTest".into(), "broker-a:4".into())])
    );
    let route = TopicRouteData::decode(&call(&f, &route_request("TopicTest", 409)).body)?;
    assert_eq!(route.order_topic_conf.as_deref(), Some("broker-a:4"));
    Ok(())
}

#[test]
fn cluster_info_json_shape() -> Result<()> {
    let f = fixture(|_| {})?;
    register_pair(&f)?;
    let response = call(
        &f,
        &RemotingCommand::request(RequestCode::GetBrokerClusterInfo, 3),
    );
    assert_eq!(response.code, 0);
    assert_eq!(
        std::str::from_utf8(&response.body)?,
        r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#
    );
    let mut old = RemotingCommand::request(RequestCode::GetBrokerClusterInfo, 3);
    old.version = 373;
    let text = String::from_utf8(call(&f, &old).body.to_vec())?;
    assert!(
        text.contains(r#""brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}"#),
        "{text}"
    );
    Ok(())
}

#[test]
fn wipe_and_add_write_perm_report_counts_and_change_routes() -> Result<()> {
    let f = fixture(|_| {})?;
    register_pair(&f)?;
    let header = BrokerNameRequestHeader {
        broker_name: "broker-a".into(),
    };
    let wipe = call(
        &f,
        &RemotingCommand::request(RequestCode::WipeWritePermOfBroker, 4).with_header(&header),
    );
    assert_eq!(
        (
            wipe.code,
            wipe.ext_fields.get("wipeTopicCount").map(String::as_str)
        ),
        (0, Some("1"))
    );
    let route = TopicRouteData::decode(&call(&f, &route_request("TopicTest", 409)).body)?;
    assert_eq!(route.queue_datas[0].perm, 4);
    let add = call(
        &f,
        &RemotingCommand::request(RequestCode::AddWritePermOfBroker, 5).with_header(&header),
    );
    assert_eq!(
        (
            add.code,
            add.ext_fields.get("addTopicCount").map(String::as_str)
        ),
        (0, Some("1"))
    );
    let route = TopicRouteData::decode(&call(&f, &route_request("TopicTest", 409)).body)?;
    assert_eq!(route.queue_datas[0].perm, 6);
    Ok(())
}

#[test]
fn topic_lists_delete_topic_and_disabled_lists() -> Result<()> {
    let f = fixture(|_| {})?;
    register_pair(&f)?;
    let all = call(
        &f,
        &RemotingCommand::request(RequestCode::GetAllTopicListFromNameserver, 1),
    );
    assert_eq!(
        std::str::from_utf8(&all.body)?,
        r#"{"topicList":["TopicTest"]}"#
    );
    let by_cluster = RemotingCommand::request(RequestCode::GetTopicsByCluster, 2).with_header(
        &GetTopicsByClusterRequestHeader {
            cluster: "DefaultCluster".into(),
        },
    );
    assert_eq!(
        TopicList::decode(&call(&f, &by_cluster).body)?
            .topic_list
            .len(),
        1
    );
    let system = call(
        &f,
        &RemotingCommand::request(RequestCode::GetSystemTopicListFromNs, 2),
    );
    assert_eq!(
        std::str::from_utf8(&system.body)?,
        r#"{"brokerAddr":"10.0.0.1:10911","topicList":["DefaultCluster","broker-a"]}"#
    );

    let delete = RemotingCommand::request(RequestCode::DeleteTopicInNamesrv, 3).with_header(
        &DeleteTopicFromNamesrvRequestHeader {
            topic: "TopicTest".into(),
            cluster_name: None,
        },
    );
    assert_eq!(call(&f, &delete).code, 0);
    assert_eq!(call(&f, &route_request("TopicTest", 409)).code, 17);

    let off = fixture(|c| {
        c.enable_all_topic_list = false;
        c.enable_topic_list = false;
    })?;
    for request in [
        RemotingCommand::request(RequestCode::GetAllTopicListFromNameserver, 1),
        by_cluster,
    ] {
        let response = call(&off, &request);
        assert_eq!(
            (response.code, response.remark.as_deref()),
            (1, Some("disable"))
        );
    }
    Ok(())
}

#[test]
fn kv_processors_and_not_found_answers() -> Result<()> {
    let f = fixture(|_| {})?;
    let key = KvConfigKeyRequestHeader {
        namespace: "ns".into(),
        key: "k".into(),
    };
    let get = RemotingCommand::request(RequestCode::GetKvConfig, 1).with_header(&key);
    let missing = call(&f, &get);
    assert_eq!(
        (missing.code, missing.remark.as_deref()),
        (22, Some("No config item, Namespace: ns Key: k"))
    );
    let list = RemotingCommand::request(RequestCode::GetKvlistByNamespace, 2)
        .with_ext_field("namespace", "ns");
    let missing = call(&f, &list);
    assert_eq!(
        (missing.code, missing.remark.as_deref()),
        (22, Some("No config item, Namespace: ns"))
    );

    let put = RemotingCommand::request(RequestCode::PutKvConfig, 3).with_header(
        &PutKvConfigRequestHeader {
            namespace: "ns".into(),
            key: "k".into(),
            value: "v".into(),
        },
    );
    assert_eq!(call(&f, &put).code, 0);
    let found = call(&f, &get);
    assert_eq!(
        (
            found.code,
            found.ext_fields.get("value").map(String::as_str)
        ),
        (0, Some("v"))
    );
    assert_eq!(
        std::str::from_utf8(&call(&f, &list).body)?,
        r#"{"table":{"k":"v"}}"#
    );
    let reloaded = ferrimq_namesrv::KvConfig::load(f.state.kv.path())?;
    assert_eq!(reloaded.get("ns", "k").as_deref(), Some("v"));

    let delete = RemotingCommand::request(RequestCode::DeleteKvConfig, 4).with_header(&key);
    assert_eq!(call(&f, &delete).code, 0);
    assert_eq!(call(&f, &get).code, 22);
    Ok(())
}

#[test]
fn unregister_query_data_version_and_heartbeat() -> Result<()> {
    let f = fixture(|_| {})?;
    register_pair(&f)?;
    let query = |counter: i64| -> Result<RemotingCommand> {
        let version = register_body(counter, &[])
            .topic_config_serialize_wrapper
            .data_version;
        Ok(RemotingCommand::request(RequestCode::QueryDataVersion, 6)
            .with_ext_field("brokerName", "broker-a")
            .with_ext_field("brokerAddr", "10.0.0.1:10911")
            .with_ext_field("clusterName", "DefaultCluster")
            .with_ext_field("brokerId", "0")
            .with_body(serde_json::to_vec(&version)?))
    };
    let same = call(&f, &query(1)?);
    assert_eq!(
        (
            same.code,
            same.ext_fields.get("changed").map(String::as_str)
        ),
        (0, Some("false"))
    );
    assert_eq!(
        std::str::from_utf8(&same.body)?,
        r#"{"counter":1,"timestamp":1700000000000}"#
    );
    let newer = call(&f, &query(2)?);
    assert_eq!(
        newer.ext_fields.get("changed").map(String::as_str),
        Some("true")
    );

    let heartbeat = RemotingCommand::request(RequestCode::BrokerHeartbeat, 8)
        .with_ext_field("clusterName", "DefaultCluster")
        .with_ext_field("brokerAddr", "10.0.0.1:10911")
        .with_ext_field("brokerName", "broker-a");
    assert_eq!(call(&f, &heartbeat).code, 0);

    for (id, host) in [(0, "10.0.0.1"), (1, "10.0.0.2")] {
        let unregister = RemotingCommand::request(RequestCode::UnregisterBroker, 9).with_header(
            &UnregisterBrokerRequestHeader {
                broker_name: "broker-a".into(),
                broker_addr: format!("{host}:10911"),
                cluster_name: "DefaultCluster".into(),
                broker_id: id,
            },
        );
        assert_eq!(call(&f, &unregister).code, 0);
    }
    assert_eq!(call(&f, &route_request("TopicTest", 409)).code, 17);
    Ok(())
}

#[test]
fn connection_close_removes_every_broker_of_that_connection() -> Result<()> {
    let f = fixture(|_| {})?;
    register_pair(&f)?;
    // Both brokers registered over connection 1 in this fixture: closing it removes both.
    assert_eq!(
        f.state.routes.on_connection_closed(1),
        ["10.0.0.1:10911", "10.0.0.2:10911"]
    );
    assert_eq!(f.state.routes.scan_not_active(NOW + 120_001), vec![]);
    assert_eq!(call(&f, &route_request("TopicTest", 409)).code, 17);
    Ok(())
}

#[test]
fn unknown_codes_oneway_and_bad_headers() -> Result<()> {
    let f = fixture(|_| {})?;
    let unknown = call(&f, &RemotingCommand::request(RequestCode::SendMessage, 11));
    assert_eq!(
        (unknown.code, unknown.remark.as_deref()),
        (3, Some(" request type 10 not supported"))
    );
    assert!(processor_for(10).is_none());
    assert!(processor_for(105).is_some());

    let oneway = RemotingCommand::request(RequestCode::GetBrokerClusterInfo, 12).into_oneway();
    assert_eq!(process(&f.state, &oneway, &ctx(1)), None);

    let no_topic = RemotingCommand::request(RequestCode::GetRouteinfoByTopic, 13)
        .with_serialize_type(SerializeType::RocketMq);
    let response = call(&f, &no_topic);
    assert_eq!(
        (response.code, response.remark.as_deref()),
        (1, Some("missing required field topic"))
    );
    assert_eq!(response.serialize_type, SerializeType::RocketMq);

    let config = call(
        &f,
        &RemotingCommand::request(RequestCode::GetNamesrvConfig, 14),
    );
    let text = String::from_utf8(config.body.to_vec())?;
    assert!(text.lines().any(|line| line == "listenPort=9876"), "{text}");
    Ok(())
}
