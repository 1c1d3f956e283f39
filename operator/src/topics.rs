//! Declared topics: gathers facts through a [`TopicAdmin`], advances each topic's
//! [`crate::shrink`] state machine, persists the result and only then performs its actions.
//!
//! The admin side (RocketMQ remoting to the brokers and NameServers) is the [`TopicAdmin`]
//! trait: [`crate::remote_admin::RemoteAdmin`] implements it over the wire, tests implement it in
//! memory. Without one the operator leaves topics alone and says so in the `TopicsSynced`
//! condition. The same trait serves the scale-in drain of broker groups ([`crate::drain`]).

use futures::future::BoxFuture;

use crate::build::names::Names;
use crate::crd::{BrokerClusterSpec, TopicStatus};
use crate::drain::{DrainAction, GroupFacts};
use crate::shrink::{Clock, Desired, Plan, TopicAction, TopicFacts, step};

/// Failure talking to brokers.
#[derive(Debug, thiserror::Error)]
#[error("admin request to {target} failed: {message}")]
pub struct AdminError {
    /// Broker or NameServer address.
    pub target: String,
    /// What went wrong.
    pub message: String,
}

/// Where the brokers of one cluster are reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminTarget {
    /// Naming scheme (broker group `g` is `brokerName` `names.broker_name(g)`).
    pub names: Names,
    /// Broker groups the spec declares (`0..groups`).
    pub groups: i32,
    /// `namesrvAddr` of the cluster (`host:port;host:port`).
    pub namesrv_addr: String,
}

impl AdminTarget {
    /// The cluster's own NameServers, by their stable in-cluster DNS names.
    pub fn in_cluster(names: &Names, spec: &BrokerClusterSpec) -> Self {
        Self {
            names: names.clone(),
            groups: spec.brokers.groups,
            namesrv_addr: names.namesrv_addr(spec.name_server.replicas),
        }
    }
}

/// Admin operations the topic machine and the broker-group drain need.
pub trait TopicAdmin: Send + Sync {
    /// Topic configs on every broker group of the cluster and consumer progress on its queues.
    fn facts<'a>(
        &'a self,
        target: &'a AdminTarget,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<TopicFacts, AdminError>>;
    /// Performs one action.
    fn act<'a>(
        &'a self,
        target: &'a AdminTarget,
        action: &'a TopicAction,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<(), AdminError>>;
    /// Registration and unconsumed backlog of the broker group `group` (being scaled in).
    fn group_facts<'a>(
        &'a self,
        target: &'a AdminTarget,
        group: i32,
    ) -> BoxFuture<'a, Result<GroupFacts, AdminError>>;
    /// Performs one drain action (write permission changes on the NameServers).
    fn act_group<'a>(
        &'a self,
        target: &'a AdminTarget,
        action: &'a DrainAction,
    ) -> BoxFuture<'a, Result<(), AdminError>>;
}

/// Plans every declared topic from persisted statuses and fresh facts.
pub async fn plan_all(
    admin: &dyn TopicAdmin,
    target: &AdminTarget,
    spec: &BrokerClusterSpec,
    persisted: &[TopicStatus],
    clock: Clock,
) -> Result<Vec<Plan>, AdminError> {
    let mut plans = Vec::with_capacity(spec.topics.len());
    for topic in &spec.topics {
        let desired = Desired {
            name: topic.name.clone(),
            counts: topic.queue_counts(),
            perm: topic.perm,
            offline_groups: topic.offline_groups,
        };
        let facts = admin.facts(target, &topic.name).await?;
        let previous = persisted.iter().find(|t| t.name == topic.name);
        plans.push(step(&desired, previous, &facts, clock));
    }
    Ok(plans)
}

/// Performs the actions of `plans` (call only after their statuses are persisted).
pub async fn act_all(
    admin: &dyn TopicAdmin,
    target: &AdminTarget,
    plans: &[Plan],
) -> Result<(), AdminError> {
    for plan in plans {
        for action in &plan.actions {
            admin.act(target, action, &plan.status.name).await?;
        }
    }
    Ok(())
}
