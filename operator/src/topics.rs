//! Declared topics: gathers facts through a [`TopicAdmin`], advances each topic's
//! [`crate::shrink`] state machine, persists the result and only then performs its actions.
//!
//! The admin side (RocketMQ remoting to the brokers and NameServers) is a trait so the
//! reconciler does not depend on a client that is still being written; without one the
//! operator leaves topics alone and says so in the `TopicsSynced` condition.

use futures::future::BoxFuture;

use crate::build::names::Names;
use crate::crd::{BrokerClusterSpec, TopicStatus};
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

/// Admin operations the topic machine needs.
pub trait TopicAdmin: Send + Sync {
    /// Topic configs on every broker group of the cluster and consumer progress on its queues.
    fn facts<'a>(
        &'a self,
        names: &'a Names,
        groups: i32,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<TopicFacts, AdminError>>;
    /// Performs one action.
    fn act<'a>(
        &'a self,
        names: &'a Names,
        action: &'a TopicAction,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<(), AdminError>>;
}

/// Plans every declared topic from persisted statuses and fresh facts.
pub async fn plan_all(
    admin: &dyn TopicAdmin,
    names: &Names,
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
        let facts = admin.facts(names, spec.brokers.groups, &topic.name).await?;
        let previous = persisted.iter().find(|t| t.name == topic.name);
        plans.push(step(&desired, previous, &facts, clock));
    }
    Ok(plans)
}

/// Performs the actions of `plans` (call only after their statuses are persisted).
pub async fn act_all(
    admin: &dyn TopicAdmin,
    names: &Names,
    plans: &[Plan],
) -> Result<(), AdminError> {
    for plan in plans {
        for action in &plan.actions {
            admin.act(names, action, &plan.status.name).await?;
        }
    }
    Ok(())
}
