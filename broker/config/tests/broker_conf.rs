//! broker.conf files as users write them (the samples shipped with Apache RocketMQ, plus a
//! tuned production-style file) resolve to the expected typed values, and render/resolve round
//! trips are lossless.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferrimq_config::broker::Host;
use ferrimq_config::{BrokerConfig, BrokerRole, ConfigError, FlushDiskType, Perm, Properties};

/// distribution/conf/broker.conf of apache/rocketmq.
const DISTRIBUTION_BROKER_CONF: &str = "\
# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.
brokerClusterName = DefaultCluster
brokerName = broker-a
brokerId = 0
deleteWhen = 04
fileReservedTime = 48
brokerRole = ASYNC_MASTER
flushDiskType = ASYNC_FLUSH
";

/// distribution/conf/2m-2s-sync/broker-a-s.properties.
const SYNC_SLAVE: &str = "\
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=1
deleteWhen=04
fileReservedTime=48
brokerRole=SLAVE
flushDiskType=ASYNC_FLUSH
";

const TUNED: &str = r"
brokerClusterName=prod
brokerName=broker-b
brokerId=0
brokerIP1=10.1.2.3
listenPort=30911
namesrvAddr=ns-0.ns:9876; ns-1.ns:9876
brokerRole=SYNC_MASTER
flushDiskType=SYNC_FLUSH
storePathRootDir=/data/rocketmq/store
storePathCommitLog=/data/rocketmq/store/commitlog
mappedFileSizeCommitLog=268435456
maxMessageSize=8388608
autoCreateTopicEnable=false
autoCreateSubscriptionGroup=false
messageDelayLevel=1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h 1d
deleteWhen=03;15
diskMaxUsedSpaceRatio=88
slaveReadEnable=true
transactionCheckInterval=60000
sendMessageThreadPoolNums=4
aclEnable=false
serverWorkerThreads=16
";

#[test]
fn distribution_broker_conf() {
    let loaded = BrokerConfig::from_text(DISTRIBUTION_BROKER_CONF).unwrap();
    let c = loaded.config;
    assert_eq!(c.broker.broker_name, "broker-a");
    assert_eq!(c.broker.broker_role, BrokerRole::AsyncMaster);
    assert_eq!(c.store.file_reserved_time, 48);
    assert_eq!(c.store.flush_disk_type, FlushDiskType::AsyncFlush);
    assert!(loaded.unknown_keys.is_empty());
}

#[test]
fn sync_slave_sample() {
    let c = BrokerConfig::from_text(SYNC_SLAVE).unwrap().config;
    assert_eq!(
        (c.broker.broker_role, c.broker.broker_id),
        (BrokerRole::Slave, 1)
    );
    assert!(!c.broker.broker_role.is_master());
}

#[test]
fn tuned_production_conf() {
    let loaded = BrokerConfig::from_text(TUNED).unwrap();
    let c = &loaded.config;
    let ip1 = c.broker.broker_ip1.as_ref().and_then(Host::ip);
    assert_eq!(ip1, Some("10.1.2.3".parse::<IpAddr>().unwrap()));
    assert_eq!(
        c.broker.namesrv_addr.0,
        vec!["ns-0.ns:9876".to_owned(), "ns-1.ns:9876".to_owned()]
    );
    assert_eq!(c.ha_port(), 30912);
    assert_eq!(c.store.flush_disk_type, FlushDiskType::SyncFlush);
    assert_eq!(c.store.mapped_file_size_commit_log, 256 << 20);
    assert_eq!(
        c.store.commit_log_dir(),
        PathBuf::from("/data/rocketmq/store/commitlog")
    );
    assert_eq!(c.store.message_delay_level.max_level(), 19);
    assert_eq!(
        c.store.message_delay_level.delay(19),
        Some(Duration::from_secs(86_400))
    );
    assert_eq!(c.store.delete_when.0, vec![3, 15]);
    assert_eq!(c.store.disk_max_used_space_ratio, 88);
    assert_eq!(c.broker.send_message_thread_pool_nums, Some(4));
    assert_eq!(c.broker.broker_permission, Perm::READ_WRITE);
    assert_eq!(loaded.unknown_keys, vec!["serverWorkerThreads".to_owned()]);
}

#[test]
fn render_then_resolve_is_lossless() {
    for text in [DISTRIBUTION_BROKER_CONF, SYNC_SLAVE, TUNED] {
        let original = BrokerConfig::from_text(text).unwrap().config;
        let rendered = original.to_properties().render();
        let back = BrokerConfig::from_text(&rendered).unwrap();
        assert_eq!(back.config, original, "round trip of:\n{rendered}");
        assert!(back.unknown_keys.is_empty());
        let minimal = original.to_changed_properties().render();
        assert_eq!(
            BrokerConfig::from_text(&minimal).unwrap().config,
            original,
            "minimal:\n{minimal}"
        );
    }
}

#[test]
fn rendered_file_is_stable_and_sorted() {
    let c = BrokerConfig::from_text(TUNED).unwrap().config;
    let first = c.to_properties().render();
    assert_eq!(first, c.clone().to_properties().render());
    let keys: Vec<&str> = first
        .lines()
        .map(|l| l.split('=').next().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    assert!(
        first.contains("\nnamesrvAddr=ns-0.ns\\:9876;ns-1.ns\\:9876\n"),
        "{first}"
    );
    assert!(first.contains(
        "\nmessageDelayLevel=1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h 1d\n"
    ));
}

#[test]
fn all_problems_are_reported_together() {
    let err = BrokerConfig::from_text("brokerId=abc\nlongPollingEnable=maybe\nflushDiskType=NEVER")
        .unwrap_err();
    let ConfigError::Many(problems) = err else {
        panic!("expected several problems, got {err}")
    };
    let keys: Vec<String> = problems
        .iter()
        .map(|p| match p {
            ConfigError::InvalidValue { key, .. } => key.clone(),
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(keys, ["brokerId", "longPollingEnable", "flushDiskType"]);
}

#[test]
fn properties_round_trip_through_text() {
    let props = BrokerConfig::from_text(TUNED)
        .unwrap()
        .config
        .to_properties();
    assert_eq!(Properties::parse(&props.render()).unwrap(), props);
}

/// The broker.conf the Apache RocketMQ 5.3 Java broker ran with to write the store fixture
/// (broker/store/tests/fixtures/java-5.3-store/broker.conf, store path substituted).
const JAVA_FIXTURE_CONF: &str = "\
brokerClusterName=FerrimqCompatCluster
brokerName=ferrimq-compat-broker
brokerId=0
brokerRole=ASYNC_MASTER
brokerIP1=127.0.0.1
listenPort=20911
namesrvAddr=127.0.0.1:19876
storePathRootDir=/tmp/store
storePathCommitLog=/tmp/store/commitlog
mappedFileSizeCommitLog=65536
mappedFileSizeConsumeQueue=1200
maxHashSlotNum=64
maxIndexNum=256
flushDiskType=SYNC_FLUSH
autoCreateTopicEnable=true
autoCreateSubscriptionGroup=true
timerWheelEnable=false
enableConsumeQueueExt=false
deleteWhen=04
fileReservedTime=87600
diskMaxUsedSpaceRatio=95
";

#[test]
fn conf_the_java_broker_ran_with() {
    let loaded = BrokerConfig::from_text(JAVA_FIXTURE_CONF).unwrap();
    let c = &loaded.config;
    assert_eq!(c.store.mapped_file_size_commit_log, 65536);
    assert_eq!(c.store.mapped_file_size_consume_queue, 1200);
    assert_eq!(
        (c.store.max_hash_slot_num, c.store.max_index_num),
        (64, 256)
    );
    assert_eq!(c.store.file_reserved_time, 87600);
    assert_eq!(c.ha_port(), 20912);
    assert_eq!(
        loaded.unknown_keys,
        [
            "enableConsumeQueueExt".to_owned(),
            "timerWheelEnable".to_owned()
        ]
    );
}
