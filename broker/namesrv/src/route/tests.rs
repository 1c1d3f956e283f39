//! Route table behaviour: registration, rebuild rules, expiry, removal, admin edits, lookups.

use std::collections::{BTreeMap, BTreeSet};

use ferrimq_config::{Perm, TopicConfig};
use ferrimq_remoting::body::{DataVersion, QueueData, TopicConfigSerializeWrapper};

use super::*;

const T0: u64 = 1_700_000_000_000;

fn topic(name: &str, queues: u32, perm: u8) -> TopicConfig {
    TopicConfig {
        topic_name: name.to_owned(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: Perm(perm),
        ..Default::default()
    }
}

fn wrapper(counter: i64, topics: &[TopicConfig]) -> TopicConfigSerializeWrapper {
    TopicConfigSerializeWrapper {
        data_version: DataVersion {
            counter,
            state_version: None,
            timestamp: T0 as i64,
        },
        topic_config_table: topics
            .iter()
            .map(|t| (t.topic_name.clone(), t.clone()))
            .collect(),
    }
}

fn registration(
    name: &str,
    id: i64,
    host: &str,
    topics: TopicConfigSerializeWrapper,
) -> Registration {
    Registration {
        cluster_name: "DefaultCluster".into(),
        broker_name: name.into(),
        broker_addr: format!("{host}:10911"),
        broker_id: id,
        ha_server_addr: format!("{host}:10912"),
        topics,
        connection: u64::from(host.bytes().last().unwrap_or(0)) + id as u64 * 1000,
        ..Default::default()
    }
}

fn master_a(counter: i64, topics: &[TopicConfig]) -> Registration {
    registration("broker-a", 0, "10.0.0.1", wrapper(counter, topics))
}

fn slave_a() -> Registration {
    registration("broker-a", 1, "10.0.0.2", wrapper(0, &[]))
}

fn perm_of(table: &RouteTable, topic: &str, broker: &str) -> Option<i32> {
    let route = table.route(topic)?;
    route
        .queue_datas
        .iter()
        .find(|q| q.broker_name == broker)
        .map(|q| q.perm)
}

#[test]
fn master_and_slave_appear_in_the_route_and_the_slave_learns_its_master() {
    let table = RouteTable::new();
    let early_slave = table.register(slave_a(), T0);
    assert_eq!(early_slave, RegisterOutcome::default(), "no master yet");
    let master = table.register(master_a(1, &[topic("T", 4, 6)]), T0);
    assert_eq!(master, RegisterOutcome::default());
    let slave = table.register(slave_a(), T0 + 1);
    assert_eq!(
        slave,
        RegisterOutcome {
            master_addr: Some("10.0.0.1:10911".into()),
            ha_server_addr: Some("10.0.0.1:10912".into()),
        }
    );
    let route = table.route("T").expect("route");
    assert_eq!(
        route.queue_datas,
        vec![QueueData {
            broker_name: "broker-a".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 6,
            topic_sys_flag: 0,
        }]
    );
    assert_eq!(route.broker_datas.len(), 1);
    assert_eq!(
        route.broker_datas[0].broker_addrs,
        BTreeMap::from([(0, "10.0.0.1:10911".into()), (1, "10.0.0.2:10911".into())])
    );
    assert_eq!(route.broker_datas[0].cluster, "DefaultCluster");
    assert_eq!(table.route("unknown"), None);
}

#[test]
fn same_data_version_keeps_queue_data_and_a_new_one_rebuilds_it() {
    let table = RouteTable::new();
    table.register(master_a(1, &[topic("T", 4, 6), topic("Old", 2, 6)]), T0);
    assert_eq!(
        table.change_write_perm("broker-a", WritePermChange::Wipe),
        2
    );
    table.register(
        master_a(1, &[topic("T", 8, 6), topic("New", 1, 6)]),
        T0 + 30_000,
    );
    assert_eq!(perm_of(&table, "T", "broker-a"), Some(4), "not rebuilt");
    assert!(table.route("New").is_none(), "not rebuilt");

    table.register(
        master_a(2, &[topic("T", 8, 6), topic("New", 1, 6)]),
        T0 + 60_000,
    );
    let route = table.route("T").expect("route");
    assert_eq!(
        (
            route.queue_datas[0].perm,
            route.queue_datas[0].read_queue_nums
        ),
        (6, 8)
    );
    assert!(table.route("New").is_some());
    assert_eq!(table.route("Old"), None, "topic the master dropped is gone");
}

#[test]
fn slave_topics_never_build_queue_data() {
    let table = RouteTable::new();
    table.register(
        registration("broker-a", 1, "10.0.0.2", wrapper(5, &[topic("S", 4, 6)])),
        T0,
    );
    assert_eq!(table.route("S"), None);
    assert_eq!(table.all_topics().topic_list, BTreeSet::new());
}

#[test]
fn brokers_expire_after_120_seconds_of_silence_but_not_before() {
    let table = RouteTable::new();
    table.register(master_a(1, &[topic("T", 4, 6)]), T0);
    table.register(slave_a(), T0 + 10_000);
    assert_eq!(
        table.scan_not_active(T0 + BROKER_CHANNEL_EXPIRED_MILLIS),
        vec![]
    );
    let expired = table.scan_not_active(T0 + BROKER_CHANNEL_EXPIRED_MILLIS + 1);
    assert_eq!(
        expired,
        vec![ExpiredBroker {
            broker_addr: "10.0.0.1:10911".into(),
            connection: u64::from(b'1'),
        }]
    );
    let route = table.route("T").expect("slave still serves the group");
    assert_eq!(
        route.broker_datas[0].broker_addrs,
        BTreeMap::from([(1, "10.0.0.2:10911".into())])
    );
    let expired = table.scan_not_active(T0 + 10_000 + BROKER_CHANNEL_EXPIRED_MILLIS + 1);
    assert_eq!(expired.len(), 1);
    assert_eq!(table.route("T"), None);
    assert_eq!(table.cluster_info().cluster_addr_table, BTreeMap::new());
    assert_eq!(table.cluster_info().broker_addr_table, BTreeMap::new());
}

#[test]
fn heartbeat_and_custom_timeout_govern_expiry() {
    let table = RouteTable::new();
    let mut reg = master_a(1, &[topic("T", 4, 6)]);
    reg.heartbeat_timeout_millis = Some(10_000);
    table.register(reg, T0);
    assert!(table.touch("10.0.0.1:10911", T0 + 9_000));
    assert!(!table.touch("10.9.9.9:10911", T0));
    assert_eq!(table.scan_not_active(T0 + 19_000), vec![]);
    assert_eq!(table.scan_not_active(T0 + 19_001).len(), 1);
}

#[test]
fn closing_the_broker_connection_removes_it() {
    let table = RouteTable::new();
    let reg = master_a(1, &[topic("T", 4, 6)]);
    let connection = reg.connection;
    table.register(reg, T0);
    assert_eq!(
        table.on_connection_closed(connection + 77),
        Vec::<String>::new()
    );
    assert!(table.route("T").is_some());
    assert_eq!(
        table.on_connection_closed(connection),
        vec!["10.0.0.1:10911".to_owned()]
    );
    assert_eq!(table.route("T"), None);
    assert_eq!(table.data_version("10.0.0.1:10911"), None);
    assert!(table.cluster_info().cluster_addr_table.is_empty());
}

#[test]
fn unregister_removes_the_address_then_the_group() {
    let table = RouteTable::new();
    table.register(master_a(1, &[topic("T", 4, 6)]), T0);
    table.register(slave_a(), T0);
    table.unregister("DefaultCluster", "broker-a", "10.0.0.1:10911", 0);
    let route = table.route("T").expect("slave remains");
    assert_eq!(route.broker_datas[0].master_addr(), None);
    table.unregister("DefaultCluster", "broker-a", "10.0.0.2:10911", 1);
    assert_eq!(table.route("T"), None);
    assert!(table.cluster_info().cluster_addr_table.is_empty());
}

#[test]
fn wipe_and_add_write_perm_change_route_perms() {
    let table = RouteTable::new();
    table.register(master_a(1, &[topic("T", 4, 7), topic("R", 4, 4)]), T0);
    assert_eq!(
        table.change_write_perm("broker-a", WritePermChange::Wipe),
        2
    );
    assert_eq!(perm_of(&table, "T", "broker-a"), Some(5));
    assert_eq!(perm_of(&table, "R", "broker-a"), Some(4));
    assert_eq!(table.change_write_perm("broker-a", WritePermChange::Add), 2);
    assert_eq!(perm_of(&table, "T", "broker-a"), Some(6));
    assert_eq!(perm_of(&table, "R", "broker-a"), Some(6));
    assert_eq!(
        table.change_write_perm("broker-x", WritePermChange::Wipe),
        0
    );
}

#[test]
fn delete_topic_entirely_or_per_cluster() {
    let table = RouteTable::new();
    table.register(master_a(1, &[topic("T", 4, 6), topic("U", 4, 6)]), T0);
    let mut other = registration("broker-b", 0, "10.0.1.1", wrapper(1, &[topic("T", 2, 6)]));
    other.cluster_name = "OtherCluster".into();
    table.register(other, T0);

    assert!(table.delete_topic("T", Some("OtherCluster")));
    let route = table.route("T").expect("still on broker-a");
    assert_eq!(route.queue_datas.len(), 1);
    assert_eq!(route.queue_datas[0].broker_name, "broker-a");
    assert!(!table.delete_topic("T", Some("NoSuchCluster")));
    assert!(table.delete_topic("T", None));
    assert_eq!(table.route("T"), None);
    assert!(!table.delete_topic("T", None));
    assert!(table.route("U").is_some());
}

#[test]
fn topic_lists_by_cluster_system_and_all() {
    let table = RouteTable::new();
    table.register(master_a(1, &[topic("A", 4, 6), topic("Shared", 4, 6)]), T0);
    let mut other = registration(
        "broker-b",
        0,
        "10.0.1.1",
        wrapper(1, &[topic("B", 2, 6), topic("Shared", 2, 6)]),
    );
    other.cluster_name = "OtherCluster".into();
    table.register(other, T0);
    let names =
        |list: ferrimq_remoting::body::TopicList| list.topic_list.into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(table.topics_of_cluster("DefaultCluster")),
        ["A", "Shared"]
    );
    assert_eq!(
        names(table.topics_of_cluster("OtherCluster")),
        ["B", "Shared"]
    );
    assert!(names(table.topics_of_cluster("Nope")).is_empty());
    assert_eq!(names(table.all_topics()), ["A", "B", "Shared"]);
    let system = table.system_topics();
    assert_eq!(system.broker_addr.as_deref(), Some("10.0.0.1:10911"));
    assert_eq!(
        names(system),
        ["DefaultCluster", "OtherCluster", "broker-a", "broker-b"]
    );
}

#[test]
fn unit_topic_lists_follow_sys_flags() {
    let table = RouteTable::new();
    let mut unit = topic("Unit", 1, 6);
    unit.topic_sys_flag = 1;
    let mut sub = topic("Sub", 1, 6);
    sub.topic_sys_flag = 2;
    let mut both = topic("Both", 1, 6);
    both.topic_sys_flag = 3;
    table.register(master_a(1, &[unit, sub, both, topic("Plain", 1, 6)]), T0);
    let names = |f| {
        table
            .unit_topics(f)
            .topic_list
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(names(UnitFilter::Unit), ["Both", "Unit"]);
    assert_eq!(names(UnitFilter::HasUnitSub), ["Both", "Sub"]);
    assert_eq!(names(UnitFilter::HasUnitSubNotUnit), ["Sub"]);
}

#[test]
fn promoted_slave_loses_its_old_id_and_filter_servers_show_in_routes() {
    let table = RouteTable::new();
    table.register(slave_a(), T0);
    let mut promoted = registration("broker-a", 0, "10.0.0.2", wrapper(1, &[topic("T", 4, 6)]));
    promoted.filter_servers = vec!["10.0.0.2:9999".into()];
    table.register(promoted, T0 + 1);
    let route = table.route("T").expect("route");
    assert_eq!(
        route.broker_datas[0].broker_addrs,
        BTreeMap::from([(0, "10.0.0.2:10911".into())])
    );
    assert_eq!(
        route.filter_server_table,
        BTreeMap::from([("10.0.0.2:10911".into(), vec!["10.0.0.2:9999".into()])])
    );
    assert!(!table.is_topic_config_changed("10.0.0.2:10911", &wrapper(1, &[]).data_version));
    assert!(table.is_topic_config_changed("10.0.0.2:10911", &wrapper(2, &[]).data_version));
    assert!(table.is_topic_config_changed("10.0.0.9:10911", &wrapper(1, &[]).data_version));
}
