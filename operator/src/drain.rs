//! Scale-in of broker groups, as a pure state machine persisted in `status.groupDrains`.
//!
//! Deleting a group's StatefulSets right away would strand every message its consumers have not
//! read yet (and lose them when the volumes go with `reclaimOnScaleIn: Delete`). A group whose
//! index is no longer below `spec.brokers.groups` therefore drains first:
//!
//! 1. `Draining`: write permission of the group's `brokerName` is wiped on every NameServer
//!    (`WIPE_WRITE_PERM_OF_BROKER`), re-issued on every step because a broker re-registering
//!    with a new topic-table version restores it. The group's children are kept. After
//!    `drain_grace_seconds` (producers refresh routes periodically and keep sending to the
//!    group until then), the step waits until every consumer group with an offset or an online
//!    subscriber on any topic of the broker (retry topics included) has `consumerOffset ==
//!    maxOffset` on every queue there. Groups without an online consumer hold the drain under
//!    [`OfflineGroupPolicy::Wait`] (stage `Blocked`) and are skipped under `Ignore`.
//! 2. `Removing`: the group's children are no longer built, so the reconciler prunes its
//!    StatefulSets (volumes follow `reclaimOnScaleIn` through the claim retention policy); the
//!    entry disappears once no StatefulSet of the group is left.
//!
//! Raising `groups` again while a group drains aborts its drain: write permission is given back
//! (`ADD_WRITE_PERM_OF_BROKER`) and the group stays. A group that is already `Removing` is
//! removed first and then created afresh by the normal reconcile.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::OfflineGroupPolicy;
use crate::shrink::{Clock, Transition};

/// At most this many drain blockers are listed in the status.
const MAX_LISTED_BLOCKERS: usize = 10;

/// The drain of one broker group being scaled in, persisted in the cluster's status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupDrain {
    /// Index of the group.
    pub group: i32,
    /// Its `brokerName`.
    pub broker_name: String,
    /// Current stage.
    pub stage: DrainStage,
    /// Unix seconds of the first step after write permission was wiped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_wiped_at: Option<i64>,
    /// Sum of unconsumed messages on the group's broker, at the last check.
    #[serde(default)]
    pub remaining_lag: i64,
    /// What the drain waits for (`group@topic:queue lag N`), at most ten entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_on: Vec<String>,
    /// Why the drain is blocked or what it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Stage of a [`GroupDrain`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DrainStage {
    /// Writes wiped; waiting for consumers to empty the broker.
    Draining,
    /// Cannot progress: the broker is not registered, or only offline groups hold messages.
    Blocked,
    /// Drained; its StatefulSets are being removed.
    Removing,
}

/// Unconsumed messages of one consumer group on one queue of the draining broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backlog {
    /// Topic of the queue.
    pub topic: String,
    /// Consumer group.
    pub group: String,
    /// Queue id.
    pub queue_id: i32,
    /// Committed offset of the group.
    pub consumer_offset: i64,
    /// Max offset of the queue.
    pub max_offset: i64,
    /// Whether the group has an online consumer.
    pub group_online: bool,
}

/// What is observed about one draining group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupFacts {
    /// Whether the group's master is registered with the NameServers and answered.
    pub registered: bool,
    /// Consumer progress on every queue of every consumed topic of the broker.
    pub backlog: Vec<Backlog>,
}

/// A side effect performed after the new status is persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrainAction {
    /// `WIPE_WRITE_PERM_OF_BROKER` on every NameServer.
    WipeWritePerm {
        /// Broker name.
        broker_name: String,
    },
    /// `ADD_WRITE_PERM_OF_BROKER` on every NameServer (drain aborted).
    AddWritePerm {
        /// Broker name.
        broker_name: String,
    },
}

/// What the reconciler knows before a drain step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainInput<'a> {
    /// `spec.brokers.groups`.
    pub spec_groups: i32,
    /// Groups that still have a StatefulSet.
    pub existing_groups: &'a [i32],
    /// Drains persisted in status.
    pub persisted: &'a [GroupDrain],
    /// Policy for consumer groups without online consumers.
    pub offline_groups: OfflineGroupPolicy,
}

/// Result of one drain step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainPlan {
    /// Drains to persist.
    pub drains: Vec<GroupDrain>,
    /// Actions to perform after persisting.
    pub actions: Vec<DrainAction>,
    /// Groups `0..keep_groups` whose children must be built (spec groups plus draining ones).
    pub keep_groups: i32,
    /// Transitions worth an Event.
    pub transitions: Vec<Transition>,
}

impl DrainPlan {
    /// Whether a drain is still in progress.
    pub fn busy(&self) -> bool {
        !self.drains.is_empty()
    }
}

/// Groups that need [`GroupFacts`] for this step: existing or persisted, at or above the spec.
pub fn groups_to_observe(input: &DrainInput<'_>) -> Vec<i32> {
    let mut groups: Vec<i32> = input
        .existing_groups
        .iter()
        .copied()
        .chain(input.persisted.iter().map(|d| d.group))
        .filter(|g| *g >= input.spec_groups)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// Advances every drain by one step. Pure. `facts` holds an entry for each group of
/// [`groups_to_observe`]; `broker_name` maps a group index to its `brokerName`.
pub fn step_drains(
    input: &DrainInput<'_>,
    facts: &BTreeMap<i32, GroupFacts>,
    broker_name: impl Fn(i32) -> String,
    clock: Clock,
) -> DrainPlan {
    let mut plan = DrainPlan {
        keep_groups: input.spec_groups,
        ..DrainPlan::default()
    };
    for old in input
        .persisted
        .iter()
        .filter(|d| d.group < input.spec_groups)
    {
        abort(old, &mut plan);
    }
    for group in groups_to_observe(input) {
        let persisted = input.persisted.iter().find(|d| d.group == group);
        let exists = input.existing_groups.contains(&group);
        let drain = match persisted {
            Some(d) => d.clone(),
            None if exists => start(group, broker_name(group), &mut plan),
            None => continue,
        };
        let observed = facts.get(&group).cloned().unwrap_or_default();
        if let Some(next) = advance(drain, &observed, input, exists, clock, &mut plan) {
            plan.drains.push(next);
        }
    }
    plan.keep_groups = plan
        .drains
        .iter()
        .filter(|d| d.stage != DrainStage::Removing)
        .map(|d| d.group + 1)
        .fold(input.spec_groups, i32::max);
    plan
}

fn abort(old: &GroupDrain, plan: &mut DrainPlan) {
    if old.stage == DrainStage::Removing {
        // Its StatefulSets are (being) deleted; the reconcile recreates the group afresh.
        return;
    }
    plan.actions.push(DrainAction::AddWritePerm {
        broker_name: old.broker_name.clone(),
    });
    plan.transitions.push(Transition {
        reason: "GroupDrainAborted",
        message: format!(
            "{} is in the spec again; write permission restored",
            old.broker_name
        ),
    });
}

fn start(group: i32, broker_name: String, plan: &mut DrainPlan) -> GroupDrain {
    plan.transitions.push(Transition {
        reason: "GroupDrainStarted",
        message: format!("{broker_name}: writes wiped on the NameServers, draining before removal"),
    });
    GroupDrain {
        group,
        broker_name,
        stage: DrainStage::Draining,
        write_wiped_at: None,
        remaining_lag: 0,
        waiting_on: Vec::new(),
        message: None,
    }
}

/// One step of one drain; `None` once the group is gone.
fn advance(
    mut drain: GroupDrain,
    facts: &GroupFacts,
    input: &DrainInput<'_>,
    exists: bool,
    clock: Clock,
    plan: &mut DrainPlan,
) -> Option<GroupDrain> {
    if drain.stage == DrainStage::Removing {
        if exists {
            return Some(drain);
        }
        plan.transitions.push(Transition {
            reason: "GroupRemoved",
            message: format!("{} drained and removed", drain.broker_name),
        });
        return None;
    }
    plan.actions.push(DrainAction::WipeWritePerm {
        broker_name: drain.broker_name.clone(),
    });
    if !facts.registered {
        drain.stage = DrainStage::Blocked;
        drain.message = Some(format!(
            "{} is not registered with the NameServers; its backlog cannot be checked",
            drain.broker_name
        ));
        return Some(drain);
    }
    let Some(wiped_at) = drain.write_wiped_at else {
        // The wipe is first performed after this status is persisted; the grace starts next step.
        drain.write_wiped_at = input
            .persisted
            .iter()
            .any(|d| d.group == drain.group)
            .then_some(clock.now);
        drain.stage = DrainStage::Draining;
        drain.message = Some("waiting for producers to refresh routes".to_string());
        return Some(drain);
    };
    let left = clock.drain_grace_seconds - (clock.now - wiped_at);
    if left > 0 {
        drain.stage = DrainStage::Draining;
        drain.message = Some(format!("waiting {left}s for producers to refresh routes"));
        return Some(drain);
    }
    check_backlog(drain, facts, input.offline_groups, plan)
}

fn check_backlog(
    mut drain: GroupDrain,
    facts: &GroupFacts,
    policy: OfflineGroupPolicy,
    plan: &mut DrainPlan,
) -> Option<GroupDrain> {
    let blockers: Vec<&Backlog> = facts
        .backlog
        .iter()
        .filter(|b| b.max_offset > b.consumer_offset)
        .filter(|b| b.group_online || policy == OfflineGroupPolicy::Wait)
        .collect();
    drain.remaining_lag = blockers
        .iter()
        .map(|b| b.max_offset - b.consumer_offset)
        .sum();
    drain.waiting_on = blockers
        .iter()
        .take(MAX_LISTED_BLOCKERS)
        .map(|b| {
            let lag = b.max_offset - b.consumer_offset;
            format!("{}@{}:{} lag {lag}", b.group, b.topic, b.queue_id)
        })
        .collect();
    if blockers.is_empty() {
        drain.stage = DrainStage::Removing;
        drain.message = None;
        plan.transitions.push(Transition {
            reason: "GroupDrained",
            message: format!("{} drained; removing its StatefulSets", drain.broker_name),
        });
    } else if blockers.iter().all(|b| !b.group_online) {
        drain.stage = DrainStage::Blocked;
        drain.message = Some(
            "consumer groups without online consumers hold unconsumed messages on this broker \
             (brokers.scaleInOfflineGroups: Wait)"
                .to_string(),
        );
    } else {
        drain.stage = DrainStage::Draining;
        drain.message = Some(format!("draining {} messages", drain.remaining_lag));
    }
    Some(drain)
}

#[cfg(test)]
#[path = "drain_tests.rs"]
mod tests;
