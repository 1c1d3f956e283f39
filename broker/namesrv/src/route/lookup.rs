//! Reading the route table (topic routes, cluster info, topic lists) and the admin edits of
//! queue data (write permission, topic deletion).

use std::collections::BTreeSet;

use ferrimq_config::Perm;
use ferrimq_remoting::body::{ClusterInfo, TopicList, TopicRouteData};

use super::{RouteTable, WritePermChange};

/// `TopicSysFlag.FLAG_UNIT`.
const FLAG_UNIT: i32 = 1;
/// `TopicSysFlag.FLAG_UNIT_SUB`.
const FLAG_UNIT_SUB: i32 = 1 << 1;

/// Which topics a unit-topic query (311, 312, 313) selects, by the sys flag of the topic's
/// first queue data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitFilter {
    /// GET_UNIT_TOPIC_LIST: the unit flag is set.
    Unit,
    /// GET_HAS_UNIT_SUB_TOPIC_LIST: the unit-sub flag is set.
    HasUnitSub,
    /// GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: unit-sub set, unit clear.
    HasUnitSubNotUnit,
}

impl UnitFilter {
    fn accepts(self, sys_flag: i32) -> bool {
        let unit = sys_flag & FLAG_UNIT != 0;
        let unit_sub = sys_flag & FLAG_UNIT_SUB != 0;
        match self {
            UnitFilter::Unit => unit,
            UnitFilter::HasUnitSub => unit_sub,
            UnitFilter::HasUnitSubNotUnit => unit_sub && !unit,
        }
    }
}

impl RouteTable {
    /// The route of `topic`: its queue data, the broker groups holding it and their filter
    /// servers. `None` unless both queue data and at least one broker group are known.
    /// `orderTopicConf` is left empty; it comes from the KV config.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let state = self.read();
        let per_broker = state.topics.get(topic)?;
        let mut route = TopicRouteData {
            queue_datas: per_broker.values().cloned().collect(),
            ..Default::default()
        };
        for broker_name in per_broker.keys() {
            let Some(data) = state.brokers.get(broker_name) else {
                continue;
            };
            for addr in data.broker_addrs.values() {
                if let Some(servers) = state.filter_servers.get(addr) {
                    route
                        .filter_server_table
                        .insert(addr.clone(), servers.clone());
                }
            }
            route.broker_datas.push(data.clone());
        }
        (!route.broker_datas.is_empty()).then_some(route)
    }

    /// GET_BROKER_CLUSTER_INFO: every broker group and every cluster.
    pub fn cluster_info(&self) -> ClusterInfo {
        let state = self.read();
        ClusterInfo {
            broker_addr_table: state.brokers.clone(),
            cluster_addr_table: state.clusters.clone(),
        }
    }

    /// Every topic with a route.
    pub fn all_topics(&self) -> TopicList {
        TopicList {
            broker_addr: None,
            topic_list: self.read().topics.keys().cloned().collect(),
        }
    }

    /// Topics served by at least one broker group of `cluster` (empty for unknown clusters).
    pub fn topics_of_cluster(&self, cluster: &str) -> TopicList {
        let state = self.read();
        let mut topic_list = BTreeSet::new();
        if let Some(names) = state.clusters.get(cluster) {
            for (topic, per_broker) in &state.topics {
                if per_broker.keys().any(|name| names.contains(name)) {
                    topic_list.insert(topic.clone());
                }
            }
        }
        TopicList {
            broker_addr: None,
            topic_list,
        }
    }

    /// GET_SYSTEM_TOPIC_LIST_FROM_NS: cluster names and broker names (each is a system topic on
    /// its brokers), plus the address of one broker to ask for details.
    pub fn system_topics(&self) -> TopicList {
        let state = self.read();
        let mut topic_list = BTreeSet::new();
        for (cluster, names) in &state.clusters {
            topic_list.insert(cluster.clone());
            topic_list.extend(names.iter().cloned());
        }
        let broker_addr = state
            .brokers
            .values()
            .find_map(|data| data.broker_addrs.values().next().cloned());
        TopicList {
            broker_addr,
            topic_list,
        }
    }

    /// Topics selected by a unit filter.
    pub fn unit_topics(&self, filter: UnitFilter) -> TopicList {
        let state = self.read();
        let topic_list = state
            .topics
            .iter()
            .filter(|(_, per_broker)| {
                per_broker
                    .values()
                    .next()
                    .is_some_and(|queue| filter.accepts(queue.topic_sys_flag))
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        TopicList {
            broker_addr: None,
            topic_list,
        }
    }

    /// Wipes or restores the write permission of every topic on `broker_name`. Returns the
    /// number of topics the broker serves (all of them are rewritten, as in Java).
    pub fn change_write_perm(&self, broker_name: &str, change: WritePermChange) -> usize {
        let mut state = self.write();
        let mut count = 0;
        for per_broker in state.topics.values_mut() {
            if let Some(queue) = per_broker.get_mut(broker_name) {
                queue.perm = match change {
                    WritePermChange::Wipe => queue.perm & !i32::from(Perm::WRITE),
                    WritePermChange::Add => i32::from(Perm::READ | Perm::WRITE),
                };
                count += 1;
            }
        }
        count
    }

    /// Deletes `topic`'s route: entirely, or only the queue data of `cluster`'s brokers.
    /// Returns true when something was removed.
    pub fn delete_topic(&self, topic: &str, cluster: Option<&str>) -> bool {
        let mut state = self.write();
        let Some(cluster) = cluster else {
            return state.topics.remove(topic).is_some();
        };
        let Some(names) = state.clusters.get(cluster).cloned() else {
            return false;
        };
        let Some(per_broker) = state.topics.get_mut(topic) else {
            return false;
        };
        let before = per_broker.len();
        per_broker.retain(|name, _| !names.contains(name));
        let removed = per_broker.len() != before;
        if per_broker.is_empty() {
            state.topics.remove(topic);
        }
        removed
    }
}
