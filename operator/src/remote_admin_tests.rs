//! The composition of [`RemoteAdmin`] over canned [`BrokerCalls`] answers (unit tests only; the
//! real wire is exercised by `tests/shrink_brokers.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use ferrimq_remoting::body::{BrokerData, MessageQueue, OffsetWrapper};

use super::*;
use crate::build::names::Names;

/// (broker addr, group, topic) -> rows of (queue id, consumer offset, max offset).
type StatsTable = HashMap<(&'static str, &'static str, &'static str), Vec<(i32, i64, i64)>>;

/// Two groups: `bc-broker-0` at 10.0.0.1, `bc-broker-1` at 10.0.0.2 (unless unregistered).
#[derive(Default)]
struct MockCalls {
    registered: Vec<(&'static str, &'static str)>,
    down: BTreeSet<&'static str>,
    topics: BTreeMap<&'static str, BTreeMap<String, TopicConfig>>,
    groups: BTreeMap<(&'static str, &'static str), Vec<&'static str>>,
    stats: StatsTable,
    online: BTreeSet<(&'static str, &'static str)>,
    log: Mutex<Vec<String>>,
}

fn err(target: &str) -> AdminError {
    AdminError {
        target: target.to_string(),
        message: "connection refused".to_string(),
    }
}

impl MockCalls {
    fn record(&self, line: String) {
        self.log.lock().expect("log").push(line);
    }
    fn up(&self, addr: &str) -> CallResult<()> {
        if self.down.contains(addr) {
            Err(err(addr))
        } else {
            Ok(())
        }
    }
    fn key(&self, addr: &str) -> &'static str {
        self.registered
            .iter()
            .find(|(_, a)| *a == addr)
            .map(|(_, a)| *a)
            .expect("known addr")
    }
}

impl BrokerCalls for MockCalls {
    fn cluster_info<'a>(&'a self, namesrv: &'a str) -> BoxFuture<'a, CallResult<ClusterInfo>> {
        self.record(format!("cluster_info {namesrv}"));
        let mut info = ClusterInfo::default();
        for (name, addr) in &self.registered {
            info.broker_addr_table.insert(
                name.to_string(),
                BrokerData {
                    broker_addrs: BTreeMap::from([
                        (0, addr.to_string()),
                        (1, "10.9.9.9:10911".into()),
                    ]),
                    broker_name: name.to_string(),
                    cluster: "bc".into(),
                    ..BrokerData::default()
                },
            );
        }
        Box::pin(async move { Ok(info) })
    }
    fn topic_configs<'a>(
        &'a self,
        addr: &'a str,
    ) -> BoxFuture<'a, CallResult<BTreeMap<String, TopicConfig>>> {
        let out = self
            .up(addr)
            .map(|()| self.topics.get(self.key(addr)).cloned().unwrap_or_default());
        Box::pin(async move { out })
    }
    fn consumer_groups<'a>(
        &'a self,
        addr: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, CallResult<BTreeSet<String>>> {
        let key = (self.key(addr), topic);
        let groups = self
            .groups
            .iter()
            .find(|((a, t), _)| (*a, *t) == key)
            .map(|(_, g)| g.iter().map(|g| g.to_string()).collect())
            .unwrap_or_default();
        Box::pin(async move { Ok(groups) })
    }
    fn consume_stats<'a>(
        &'a self,
        addr: &'a str,
        group: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, CallResult<ConsumeStats>> {
        let broker = self
            .registered
            .iter()
            .find(|(_, a)| *a == addr)
            .map(|(n, _)| *n)
            .expect("known addr");
        let mut stats = ConsumeStats::default();
        let rows = self
            .stats
            .iter()
            .find(|((a, g, t), _)| *a == addr && *g == group && *t == topic)
            .map(|(_, rows)| rows.clone())
            .unwrap_or_default();
        for (queue_id, consumer, max) in rows {
            let queue = MessageQueue {
                broker_name: broker.to_string(),
                queue_id,
                topic: topic.to_string(),
            };
            stats.offset_table.insert(
                queue,
                OffsetWrapper {
                    broker_offset: max,
                    consumer_offset: consumer,
                    ..OffsetWrapper::default()
                },
            );
        }
        Box::pin(async move { Ok(stats) })
    }
    fn group_online<'a>(
        &'a self,
        addr: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, CallResult<bool>> {
        self.record(format!("online? {group}@{addr}"));
        let online = self.online.iter().any(|(a, g)| *a == addr && *g == group);
        Box::pin(async move { Ok(online) })
    }
    fn update_topic<'a>(
        &'a self,
        addr: &'a str,
        config: &'a TopicConfig,
    ) -> BoxFuture<'a, CallResult<()>> {
        self.record(format!(
            "update {addr} {} r{} w{} p{} order={}",
            config.topic_name,
            config.read_queue_nums,
            config.write_queue_nums,
            config.perm.0,
            config.order
        ));
        Box::pin(async move { Ok(()) })
    }
    fn wipe_write_perm<'a>(
        &'a self,
        namesrv: &'a str,
        broker_name: &'a str,
    ) -> BoxFuture<'a, CallResult<()>> {
        self.record(format!("wipe {broker_name} via {namesrv}"));
        Box::pin(async move { Ok(()) })
    }
    fn add_write_perm<'a>(
        &'a self,
        namesrv: &'a str,
        broker_name: &'a str,
    ) -> BoxFuture<'a, CallResult<()>> {
        self.record(format!("add {broker_name} via {namesrv}"));
        Box::pin(async move { Ok(()) })
    }
}

const A0: &str = "10.0.0.1:10911";
const A1: &str = "10.0.0.2:10911";

fn config(topic: &str, read: u32, write: u32) -> TopicConfig {
    let mut c = TopicConfig::new(topic);
    c.read_queue_nums = read;
    c.write_queue_nums = write;
    c
}

fn target() -> AdminTarget {
    AdminTarget {
        names: Names::new("bc", "mq"),
        groups: 2,
        namesrv_addr: "ns-0:9876;ns-1:9876".into(),
    }
}

fn two_brokers() -> MockCalls {
    let mut calls = MockCalls {
        registered: vec![("bc-broker-0", A0), ("bc-broker-1", A1)],
        ..MockCalls::default()
    };
    calls
        .topics
        .insert(A0, BTreeMap::from([("T".to_string(), config("T", 8, 4))]));
    calls
        .topics
        .insert(A1, BTreeMap::from([("T".to_string(), config("T", 8, 4))]));
    calls.groups.insert((A0, "T"), vec!["g1", "idle"]);
    calls.groups.insert((A1, "T"), vec!["g1"]);
    calls
        .stats
        .insert((A0, "g1", "T"), vec![(0, 10, 10), (5, 3, 9)]);
    calls.stats.insert((A0, "idle", "T"), vec![(6, 0, 4)]);
    calls.stats.insert((A1, "g1", "T"), vec![(7, 2, 2)]);
    calls.online.insert((A1, "g1"));
    calls
}

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

#[test]
fn facts_combine_configs_progress_and_liveness_from_every_master() {
    let calls = Arc::new(two_brokers());
    let admin = RemoteAdmin::new(calls.clone(), None);
    let facts = run(admin.facts(&target(), "T")).expect("facts");
    let counts = Some(QueueCounts { read: 8, write: 4 });
    assert_eq!(
        facts.brokers,
        vec![
            BrokerFacts {
                broker_name: "bc-broker-0".into(),
                online: true,
                counts,
                perm: Some(6)
            },
            BrokerFacts {
                broker_name: "bc-broker-1".into(),
                online: true,
                counts,
                perm: Some(6)
            },
        ]
    );
    let rows: Vec<_> = facts
        .progress
        .iter()
        .map(|p| {
            (
                p.broker_name.as_str(),
                p.group.as_str(),
                p.queue_id,
                p.consumer_offset,
                p.max_offset,
                p.group_online,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("bc-broker-0", "g1", 0, 10, 10, true),
            ("bc-broker-0", "g1", 5, 3, 9, true),
            ("bc-broker-0", "idle", 6, 0, 4, false),
            ("bc-broker-1", "g1", 7, 2, 2, true),
        ]
    );
    let log = calls.log.lock().expect("log").clone();
    assert_eq!(log[0], "cluster_info ns-0:9876;ns-1:9876");
    // g1 is online on broker 1 only: asked of every master once, then cached.
    let asked: Vec<_> = log
        .iter()
        .filter(|l| l.starts_with("online?"))
        .cloned()
        .collect();
    assert_eq!(asked.iter().filter(|l| l.contains("g1@")).count(), 2);
    assert_eq!(asked.iter().filter(|l| l.contains("idle@")).count(), 2);
}

#[test]
fn unregistered_or_unreachable_masters_are_offline_and_missing_topics_are_none() {
    let mut calls = two_brokers();
    calls.registered.truncate(1);
    calls.topics.insert(A0, BTreeMap::new());
    let admin = RemoteAdmin::new(Arc::new(calls), None);
    let facts = run(admin.facts(&target(), "T")).expect("facts");
    assert_eq!(
        facts.brokers,
        vec![
            BrokerFacts {
                broker_name: "bc-broker-0".into(),
                online: true,
                counts: None,
                perm: None
            },
            BrokerFacts {
                broker_name: "bc-broker-1".into(),
                online: false,
                counts: None,
                perm: None
            },
        ]
    );
    assert!(facts.progress.is_empty());

    let mut calls = two_brokers();
    calls.down.insert(A1);
    let admin = RemoteAdmin::new(Arc::new(calls), None);
    let facts = run(admin.facts(&target(), "T")).expect("facts");
    assert!(!facts.brokers[1].online);
    assert!(
        facts
            .progress
            .iter()
            .all(|p| p.broker_name == "bc-broker-0")
    );
}

#[test]
fn apply_keeps_the_brokers_attributes_and_targets_the_groups_master() {
    let mut calls = two_brokers();
    let mut ordered = config("T", 8, 4);
    ordered.order = true;
    calls
        .topics
        .insert(A1, BTreeMap::from([("T".to_string(), ordered)]));
    let calls = Arc::new(calls);
    let admin = RemoteAdmin::new(calls.clone(), Some("127.0.0.1:9876".into()));
    let action = TopicAction::Apply {
        broker_name: "bc-broker-1".into(),
        counts: QueueCounts { read: 4, write: 4 },
        perm: 6,
    };
    run(admin.act(&target(), &action, "T")).expect("act");
    let missing = TopicAction::Apply {
        broker_name: "bc-broker-0".into(),
        counts: QueueCounts { read: 2, write: 2 },
        perm: 4,
    };
    run(admin.act(&target(), &missing, "New")).expect("act");
    let log = calls.log.lock().expect("log").clone();
    assert_eq!(
        log,
        vec![
            "cluster_info 127.0.0.1:9876".to_string(),
            format!("update {A1} T r4 w4 p6 order=true"),
            "cluster_info 127.0.0.1:9876".to_string(),
            format!("update {A0} New r2 w2 p4 order=false"),
        ]
    );
}

#[test]
fn apply_to_an_unregistered_broker_fails_with_its_name() {
    let mut calls = two_brokers();
    calls.registered.truncate(1);
    let admin = RemoteAdmin::new(Arc::new(calls), None);
    let action = TopicAction::Apply {
        broker_name: "bc-broker-1".into(),
        counts: QueueCounts { read: 4, write: 4 },
        perm: 6,
    };
    let error = run(admin.act(&target(), &action, "T")).expect_err("no master");
    assert_eq!(error.target, "bc-broker-1");
}

#[test]
fn group_facts_cover_every_consumed_topic_including_retry_but_not_internal_ones() {
    let mut calls = two_brokers();
    calls.topics.get_mut(A1).expect("a1").extend([
        ("%RETRY%g1".to_string(), config("%RETRY%g1", 1, 1)),
        (
            "SCHEDULE_TOPIC_XXXX".to_string(),
            config("SCHEDULE_TOPIC_XXXX", 18, 18),
        ),
    ]);
    calls.groups.insert((A1, "%RETRY%g1"), vec!["g1"]);
    calls
        .groups
        .insert((A1, "SCHEDULE_TOPIC_XXXX"), vec!["DELAY"]);
    calls.stats.insert((A1, "g1", "%RETRY%g1"), vec![(0, 1, 3)]);
    let admin = RemoteAdmin::new(Arc::new(calls), None);
    let facts = run(admin.group_facts(&target(), 1)).expect("group facts");
    assert!(facts.registered);
    let rows: Vec<_> = facts
        .backlog
        .iter()
        .map(|b| {
            (
                b.topic.as_str(),
                b.group.as_str(),
                b.queue_id,
                b.max_offset - b.consumer_offset,
                b.group_online,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![("%RETRY%g1", "g1", 0, 2, true), ("T", "g1", 7, 0, true)]
    );
}

#[test]
fn group_facts_of_an_unregistered_group_say_so() {
    let mut calls = two_brokers();
    calls.registered.truncate(1);
    let admin = RemoteAdmin::new(Arc::new(calls), None);
    let facts = run(admin.group_facts(&target(), 1)).expect("group facts");
    assert_eq!(facts, GroupFacts::default());
}

#[test]
fn drain_actions_go_to_the_clusters_name_servers() {
    let calls = Arc::new(two_brokers());
    let admin = RemoteAdmin::new(calls.clone(), None);
    let wipe = DrainAction::WipeWritePerm {
        broker_name: "bc-broker-1".into(),
    };
    let add = DrainAction::AddWritePerm {
        broker_name: "bc-broker-1".into(),
    };
    run(admin.act_group(&target(), &wipe)).expect("wipe");
    run(admin.act_group(&target(), &add)).expect("add");
    let log = calls.log.lock().expect("log").clone();
    assert_eq!(
        log,
        vec![
            "wipe bc-broker-1 via ns-0:9876;ns-1:9876".to_string(),
            "add bc-broker-1 via ns-0:9876;ns-1:9876".to_string(),
        ]
    );
}

#[test]
fn updated_config_sets_counts_and_perm_on_a_fresh_topic() {
    let c = updated_config(None, "Fresh", QueueCounts { read: 8, write: 4 }, 4);
    assert_eq!(
        (
            c.topic_name.as_str(),
            c.read_queue_nums,
            c.write_queue_nums,
            c.perm.0
        ),
        ("Fresh", 8, 4, 4)
    );
}
