//! [`RemoteAdmin`]: the [`TopicAdmin`] of real clusters, composed from [`BrokerCalls`].
//!
//! - Brokers: the NameServers' cluster info maps each group's `brokerName` to its master
//!   address; a group without a registered master, or whose master does not answer, is offline.
//! - Topic facts: the topic's config on each master (GET_ALL_TOPIC_CONFIG), then, per master,
//!   every group that consumes the topic there (QUERY_TOPIC_CONSUME_BY_WHO: online subscribers
//!   and groups with committed offsets) and its progress on each readable queue
//!   (GET_CONSUME_STATS). A group that never committed on a queue is reported by the broker with
//!   offset 0 (<= the queue's min offset), so its unread messages count as lag.
//! - Group liveness: GET_CONSUMER_CONNECTION_LIST; a group is online when any broker of the
//!   cluster knows a connection of it (consumers heartbeat to every broker they read from).
//! - Retry topics are consumed through their own group subscription (`%RETRY%<group>`); the
//!   topic machine never touches them, the group drain counts them like any other topic.
//! - Actions: UPDATE_AND_CREATE_TOPIC on the group's master, keeping the attributes the broker
//!   already holds (order, filter type, 5.x attributes) and changing counts and perm only;
//!   WIPE/ADD_WRITE_PERM_OF_BROKER on every NameServer.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrimq_config::{Perm, TopicConfig};
use ferrimq_remoting::body::{ClusterInfo, ConsumeStats};
use futures::future::BoxFuture;

use crate::broker_calls::{BrokerCalls, CallResult};
use crate::crd::QueueCounts;
use crate::drain::{Backlog, DrainAction, GroupFacts};
use crate::shrink::{BrokerFacts, QueueProgress, TopicAction, TopicFacts};
use crate::topics::{AdminError, AdminTarget, TopicAdmin};

/// Topics a group drain does not wait for: internal topics without consumer groups of users.
const INTERNAL_TOPICS: [&str; 3] = ["TBW102", "SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC"];

/// [`TopicAdmin`] over real NameServers and brokers.
pub struct RemoteAdmin {
    calls: Arc<dyn BrokerCalls>,
    namesrv_override: Option<String>,
}

impl RemoteAdmin {
    /// Admin over `calls`; `namesrv_override` replaces every cluster's in-cluster NameServer
    /// address (for an operator running outside the cluster, or tests).
    pub fn new(calls: Arc<dyn BrokerCalls>, namesrv_override: Option<String>) -> Self {
        Self {
            calls,
            namesrv_override,
        }
    }

    fn namesrv<'a>(&'a self, target: &'a AdminTarget) -> &'a str {
        self.namesrv_override
            .as_deref()
            .unwrap_or(&target.namesrv_addr)
    }

    async fn topic_facts(&self, target: &AdminTarget, topic: &str) -> CallResult<TopicFacts> {
        let info = self.calls.cluster_info(self.namesrv(target)).await?;
        let every_master = masters_of(&info);
        let mut facts = TopicFacts::default();
        let mut liveness = Liveness::default();
        for g in 0..target.groups {
            let broker_name = target.names.broker_name(g);
            let Some(addr) = master_of(&info, &broker_name) else {
                facts.brokers.push(offline(broker_name));
                continue;
            };
            let Ok(mut configs) = self.calls.topic_configs(&addr).await else {
                facts.brokers.push(offline(broker_name));
                continue;
            };
            let config = configs.remove(topic);
            if let Some(config) = &config {
                for group in self.calls.consumer_groups(&addr, topic).await? {
                    let stats = self.calls.consume_stats(&addr, &group, topic).await?;
                    let online = liveness
                        .online(self.calls.as_ref(), &every_master, &group)
                        .await?;
                    let progress = progress_of(&broker_name, &group, &stats, config, online);
                    facts.progress.extend(progress);
                }
            }
            facts
                .brokers
                .push(broker_facts(broker_name, config.as_ref()));
        }
        Ok(facts)
    }

    async fn apply(
        &self,
        target: &AdminTarget,
        broker_name: &str,
        topic: &str,
        counts: QueueCounts,
        perm: i32,
    ) -> CallResult<()> {
        let info = self.calls.cluster_info(self.namesrv(target)).await?;
        let addr = master_of(&info, broker_name).ok_or_else(|| AdminError {
            target: broker_name.to_string(),
            message: "no master registered with the NameServers".to_string(),
        })?;
        let existing = self.calls.topic_configs(&addr).await?.remove(topic);
        let config = updated_config(existing, topic, counts, perm);
        self.calls.update_topic(&addr, &config).await
    }

    async fn drain_facts(&self, target: &AdminTarget, group: i32) -> CallResult<GroupFacts> {
        let broker_name = target.names.broker_name(group);
        let info = self.calls.cluster_info(self.namesrv(target)).await?;
        let Some(addr) = master_of(&info, &broker_name) else {
            return Ok(GroupFacts::default());
        };
        let Ok(topics) = self.calls.topic_configs(&addr).await else {
            return Ok(GroupFacts::default());
        };
        let every_master = masters_of(&info);
        let mut facts = GroupFacts {
            registered: true,
            backlog: Vec::new(),
        };
        let mut liveness = Liveness::default();
        for (topic, config) in topics
            .iter()
            .filter(|(t, _)| !INTERNAL_TOPICS.contains(&t.as_str()))
        {
            for group in self.calls.consumer_groups(&addr, topic).await? {
                let stats = self.calls.consume_stats(&addr, &group, topic).await?;
                let online = liveness
                    .online(self.calls.as_ref(), &every_master, &group)
                    .await?;
                let progress = progress_of(&broker_name, &group, &stats, config, online);
                facts.backlog.extend(progress.into_iter().map(|p| Backlog {
                    topic: topic.clone(),
                    group: p.group,
                    queue_id: p.queue_id,
                    consumer_offset: p.consumer_offset,
                    max_offset: p.max_offset,
                    group_online: p.group_online,
                }));
            }
        }
        Ok(facts)
    }
}

/// Every registered master address (consumers heartbeat to every broker they read from).
fn masters_of(info: &ClusterInfo) -> Vec<String> {
    info.broker_addr_table
        .values()
        .filter_map(|b| b.master_addr().map(str::to_string))
        .collect()
}

/// Caches group liveness for one facts call.
#[derive(Default)]
struct Liveness(BTreeMap<String, bool>);

impl Liveness {
    async fn online(
        &mut self,
        calls: &dyn BrokerCalls,
        addrs: &[String],
        group: &str,
    ) -> CallResult<bool> {
        if let Some(known) = self.0.get(group) {
            return Ok(*known);
        }
        let mut online = false;
        for addr in addrs {
            // A master that does not answer knows nothing; offline is the safe default (under
            // `Wait` an offline group still holds the drain).
            if calls.group_online(addr, group).await.unwrap_or(false) {
                online = true;
                break;
            }
        }
        self.0.insert(group.to_string(), online);
        Ok(online)
    }
}

/// Master address of `broker_name` in the NameServers' cluster info.
pub fn master_of(info: &ClusterInfo, broker_name: &str) -> Option<String> {
    info.broker_addr_table
        .get(broker_name)?
        .master_addr()
        .map(str::to_string)
}

fn offline(broker_name: String) -> BrokerFacts {
    BrokerFacts {
        broker_name,
        online: false,
        counts: None,
        perm: None,
    }
}

/// What one online master holds for the topic (`None`: the topic does not exist there).
pub fn broker_facts(broker_name: String, config: Option<&TopicConfig>) -> BrokerFacts {
    BrokerFacts {
        broker_name,
        online: true,
        counts: config.map(|c| QueueCounts {
            read: c.read_queue_nums as i32,
            write: c.write_queue_nums as i32,
        }),
        perm: config.map(|c| i32::from(c.perm.0)),
    }
}

/// Progress of `group` on the topic's queues at `broker_name`, from that broker's consume stats
/// (which list every readable queue, a never-committed one with offset 0).
pub fn progress_of(
    broker_name: &str,
    group: &str,
    stats: &ConsumeStats,
    config: &TopicConfig,
    online: bool,
) -> Vec<QueueProgress> {
    let mut progress: Vec<QueueProgress> = stats
        .offset_table
        .iter()
        .filter(|(q, _)| q.topic == config.topic_name && q.broker_name == broker_name)
        .map(|(queue, offsets)| QueueProgress {
            broker_name: broker_name.to_string(),
            group: group.to_string(),
            queue_id: queue.queue_id,
            consumer_offset: offsets.consumer_offset.max(0),
            max_offset: offsets.broker_offset,
            group_online: online,
        })
        .collect();
    progress.sort_by_key(|p| p.queue_id);
    progress
}

/// The config to send: the broker's own (attributes kept) with new counts and perm.
pub fn updated_config(
    existing: Option<TopicConfig>,
    topic: &str,
    counts: QueueCounts,
    perm: i32,
) -> TopicConfig {
    let mut config = existing.unwrap_or_else(|| TopicConfig::new(topic));
    config.read_queue_nums = counts.read.max(0) as u32;
    config.write_queue_nums = counts.write.max(0) as u32;
    config.perm = Perm(u8::try_from(perm).unwrap_or(6));
    config
}

impl TopicAdmin for RemoteAdmin {
    fn facts<'a>(
        &'a self,
        target: &'a AdminTarget,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<TopicFacts, AdminError>> {
        Box::pin(self.topic_facts(target, topic))
    }

    fn act<'a>(
        &'a self,
        target: &'a AdminTarget,
        action: &'a TopicAction,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<(), AdminError>> {
        let TopicAction::Apply {
            broker_name,
            counts,
            perm,
        } = action;
        Box::pin(self.apply(target, broker_name, topic, *counts, *perm))
    }

    fn group_facts<'a>(
        &'a self,
        target: &'a AdminTarget,
        group: i32,
    ) -> BoxFuture<'a, Result<GroupFacts, AdminError>> {
        Box::pin(self.drain_facts(target, group))
    }

    fn act_group<'a>(
        &'a self,
        target: &'a AdminTarget,
        action: &'a DrainAction,
    ) -> BoxFuture<'a, Result<(), AdminError>> {
        let namesrv = self.namesrv(target);
        match action {
            DrainAction::WipeWritePerm { broker_name } => {
                self.calls.wipe_write_perm(namesrv, broker_name)
            }
            DrainAction::AddWritePerm { broker_name } => {
                self.calls.add_write_perm(namesrv, broker_name)
            }
        }
    }
}

#[cfg(test)]
#[path = "remote_admin_tests.rs"]
mod tests;
