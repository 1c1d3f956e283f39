//! Checks the CRD schema cannot express, reported as a `Valid=False` condition instead of a
//! crash loop or a half-applied cluster.
//!
//! The schema already enforces ranges, enums and single-object CEL rules; these checks need the
//! operator's own knowledge (keys it manages, names RocketMQ reserves, name-length budgets of
//! derived children). No transition is refused: lowering `brokers.groups` drains the removed
//! groups first ([`crate::drain`]), queue-count changes are staged ([`crate::shrink`]).

use ferrimq_config::BrokerConfig;

use crate::build::names::{Names, Role};
use crate::build::{MANAGED_BROKER_KEYS, broker_properties};
use crate::crd::{BrokerClusterSpec, BrokerClusterStatus, ReplicationMode};

/// Longest cluster name whose derived names all fit Kubernetes limits: the longest
/// StatefulSet name, `<cluster>-broker-63-master` (cluster + 17), must leave room for the
/// 11-character `-<revision hash>` suffix inside a 63-character label value.
pub const MAX_CLUSTER_NAME: usize = 35;

/// Topic names RocketMQ creates or reserves itself.
const RESERVED_TOPICS: &[&str] = &[
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "OFFSET_MOVED_EVENT",
    "SELF_TEST_TOPIC",
    "BenchmarkTest",
];

/// One problem with a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// JSON path of the offending field, e.g. `spec.topics[2].name`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Invalid {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every problem of `spec` for cluster `name`. `_status` (the last status) is accepted for
/// transition rules; none exists today.
pub fn validate(
    name: &str,
    spec: &BrokerClusterSpec,
    _status: Option<&BrokerClusterStatus>,
) -> Vec<Invalid> {
    let mut problems = Vec::new();
    if name.len() > MAX_CLUSTER_NAME {
        problems.push(Invalid::new(
            "metadata.name",
            format!(
                "must be at most {MAX_CLUSTER_NAME} characters (derived StatefulSet names must fit)"
            ),
        ));
    }
    check_brokers(spec, &mut problems);
    if problems.is_empty() {
        check_broker_conf(name, spec, &mut problems);
    }
    check_topics(name, spec, &mut problems);
    problems
}

/// One line summarising `problems`, for a condition message.
pub fn summary(problems: &[Invalid]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn check_brokers(spec: &BrokerClusterSpec, out: &mut Vec<Invalid>) {
    let brokers = &spec.brokers;
    if brokers.replication_mode == ReplicationMode::SyncMaster && brokers.slaves_per_group == 0 {
        out.push(Invalid::new(
            "spec.brokers.slavesPerGroup",
            "SYNC_MASTER needs at least one slave",
        ));
    }
    for key in brokers.config.keys() {
        let field = format!("spec.brokers.config.{key}");
        if MANAGED_BROKER_KEYS.contains(&key.as_str()) {
            out.push(Invalid::new(field, "is managed by the operator"));
        } else if key.is_empty()
            || key
                .chars()
                .any(|c| c.is_whitespace() || "=:#!\\".contains(c))
        {
            out.push(Invalid::new(field, "is not a valid broker.conf key"));
        }
    }
}

/// Resolves a rendered broker.conf with the broker's own typed config: bad values and keys the
/// broker does not know (it would ignore them) are reported against `spec.brokers.config`.
fn check_broker_conf(cluster: &str, spec: &BrokerClusterSpec, out: &mut Vec<Invalid>) {
    let names = Names::new(cluster, "namespace");
    let props = broker_properties(spec, &names, 0, Role::Master, 0);
    match BrokerConfig::from_properties(&props) {
        Ok(loaded) => {
            for key in loaded.unknown_keys {
                out.push(Invalid::new(
                    format!("spec.brokers.config.{key}"),
                    "is not a broker.conf key ferrimq knows",
                ));
            }
        }
        Err(error) => out.push(Invalid::new("spec.brokers.config", error.to_string())),
    }
}

fn check_topics(cluster: &str, spec: &BrokerClusterSpec, out: &mut Vec<Invalid>) {
    for (i, topic) in spec.topics.iter().enumerate() {
        let field = format!("spec.topics[{i}]");
        let name = topic.name.as_str();
        if name.starts_with("%RETRY%") || name.starts_with("%DLQ%") {
            out.push(Invalid::new(
                format!("{field}.name"),
                "retry and dead-letter topics are managed by the brokers",
            ));
        } else if RESERVED_TOPICS.contains(&name)
            || name.to_ascii_lowercase().starts_with("rmq_sys_")
        {
            out.push(Invalid::new(
                format!("{field}.name"),
                "is a RocketMQ system topic",
            ));
        } else if name == cluster || is_broker_name(cluster, spec.brokers.groups, name) {
            out.push(Invalid::new(
                format!("{field}.name"),
                "brokers create a topic with this name themselves",
            ));
        }
        let counts = topic.queue_counts();
        if counts.write > counts.read {
            out.push(Invalid::new(
                field,
                "writeQueueNums above readQueueNums leaves queues no consumer reads",
            ));
        }
    }
}

fn is_broker_name(cluster: &str, groups: i32, topic: &str) -> bool {
    topic
        .strip_prefix(cluster)
        .and_then(|rest| rest.strip_prefix("-broker-"))
        .and_then(|n| n.parse::<i32>().ok())
        .is_some_and(|g| (0..groups).contains(&g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::fixture;
    use crate::crd::GroupStatus;

    fn fields(problems: &[Invalid]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn fixture_is_valid() {
        let bc = fixture::cluster();
        assert_eq!(validate("bc", &bc.spec, None), vec![]);
    }

    #[test]
    fn managed_and_malformed_config_keys_are_rejected() {
        let mut spec = fixture::cluster().spec;
        spec.brokers.config.insert("brokerId".into(), "3".into());
        spec.brokers.config.insert("bad key".into(), "x".into());
        let problems = validate("bc", &spec, None);
        assert_eq!(
            fields(&problems),
            vec![
                "spec.brokers.config.bad key",
                "spec.brokers.config.brokerId"
            ]
        );
        assert_eq!(problems[1].message, "is managed by the operator");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected_by_the_broker_config() {
        let mut spec = fixture::cluster().spec;
        spec.brokers.config.insert("noSuchKey".into(), "1".into());
        let problems = validate("bc", &spec, None);
        assert_eq!(fields(&problems), vec!["spec.brokers.config.noSuchKey"]);
        let mut spec = fixture::cluster().spec;
        spec.brokers
            .config
            .insert("brokerPermission".into(), "8".into());
        let problems = validate("bc", &spec, None);
        assert_eq!(fields(&problems), vec!["spec.brokers.config"]);
        assert!(
            problems[0].message.contains("brokerPermission"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn reserved_and_derived_topic_names_are_rejected() {
        let mut spec = fixture::cluster().spec;
        let template = spec.topics[0].clone();
        for name in [
            "%RETRY%g1",
            "TBW102",
            "RMQ_SYS_TRACE_TOPIC",
            "bc",
            "bc-broker-1",
            "bc-broker-2",
        ] {
            let mut t = template.clone();
            t.name = name.into();
            spec.topics.push(t);
        }
        let problems = validate("bc", &spec, None);
        assert_eq!(
            fields(&problems),
            vec![
                "spec.topics[1].name",
                "spec.topics[2].name",
                "spec.topics[3].name",
                "spec.topics[4].name",
                "spec.topics[5].name"
            ],
            "bc-broker-2 is not a broker of a 2-group cluster"
        );
    }

    #[test]
    fn write_count_above_read_count_is_rejected() {
        let mut spec = fixture::cluster().spec;
        spec.topics[0].queues = None;
        spec.topics[0].read_queue_nums = Some(4);
        spec.topics[0].write_queue_nums = Some(8);
        let problems = validate("bc", &spec, None);
        assert_eq!(fields(&problems), vec!["spec.topics[0]"]);
    }

    #[test]
    fn sync_master_without_slaves_and_long_names_are_rejected() {
        let mut spec = fixture::cluster().spec;
        spec.brokers.slaves_per_group = 0;
        let long = "a".repeat(MAX_CLUSTER_NAME + 1);
        let problems = validate(&long, &spec, None);
        assert_eq!(
            fields(&problems),
            vec!["metadata.name", "spec.brokers.slavesPerGroup"]
        );
        assert_eq!(
            validate(
                &"a".repeat(MAX_CLUSTER_NAME),
                &fixture::cluster().spec,
                None
            ),
            vec![]
        );
    }

    #[test]
    fn group_scale_in_is_valid_because_removed_groups_drain_first() {
        let spec = fixture::cluster().spec;
        let group = |i: i32| GroupStatus {
            broker_name: format!("bc-broker-{i}"),
            master_ready: true,
            ready_slaves: 2,
            desired_slaves: 2,
        };
        let status = BrokerClusterStatus {
            groups: vec![group(0), group(1), group(2)],
            ..Default::default()
        };
        assert_eq!(spec.brokers.groups, 2);
        assert_eq!(validate("bc", &spec, Some(&status)), vec![]);
    }
}
