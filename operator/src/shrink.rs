//! Staged queue-count changes of declared topics, as a pure state machine.
//!
//! RocketMQ producers route by `writeQueueNums` and consumers by `readQueueNums`, so lowering
//! both at once strands every message not yet consumed from the removed queues. The safe order
//! is: lower writes, wait until every consumer group has consumed the queues that will vanish,
//! then lower reads; growth raises reads before writes. One operation covers both directions:
//!
//! 1. `Restricting`: apply `read = max(from.read, to.read)`, `write = min(from.write, to.write)`
//!    on every broker. Raising reads or lowering writes never loses a message.
//! 2. `Draining` (only when `to.read < from.read`): wait `drain_grace_seconds` after the
//!    restricted counts were observed everywhere (producers refresh routes periodically and keep
//!    writing to the old queues until then; brokers accept writes below `max(read, write)`), then
//!    until `maxOffset - consumerOffset == 0` on every queue `>= to.read` for every consumer group
//!    with an offset there. Groups without an online consumer block the drain under
//!    [`OfflineGroupPolicy::Wait`] (phase `Blocked`) and are skipped under `Ignore`.
//!    Retry topics (`%RETRY%<group>`) are separate topics that this machine never touches: a
//!    message a consumer fails is re-sent there and its offset on the original queue advances,
//!    so it counts as consumed here and is redelivered from the retry topic.
//! 3. `Committing`: apply `to` on every broker.
//!
//! All state lives in [`TopicOperation`] inside the topic's status, and every stage decision is
//! made from observed broker facts, so the machine survives operator restarts (even a lost
//! status re-derives the drain range from the observed read count). A spec change while an
//! operation runs replaces it: a new operation starts from what the brokers hold now.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::{OfflineGroupPolicy, QueueCounts, TopicPhase, TopicStatus};

/// At most this many drain blockers are listed in the status.
const MAX_LISTED_BLOCKERS: usize = 10;

/// A queue-count change in progress, persisted in the topic's status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicOperation {
    /// Counts on the brokers when the operation started (largest per broker).
    pub from: QueueCounts,
    /// Counts the spec asks for.
    pub to: QueueCounts,
    /// Current stage.
    pub stage: Stage,
    /// Unix seconds at which every broker was first observed with the restricted counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restricted_at: Option<i64>,
    /// Sum of unconsumed messages on the queues being removed, at the last check.
    #[serde(default)]
    pub remaining_lag: i64,
    /// What the drain waits for (`group@broker:queue lag N`), at most ten entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_on: Vec<String>,
}

/// Stage of a [`TopicOperation`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Stage {
    /// Reads raised / writes lowered on every broker (the safe half of the change).
    Restricting,
    /// Waiting for consumers to empty the queues being removed.
    Draining,
    /// Final counts being applied.
    Committing,
}

/// What one broker (group master) holds for the topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerFacts {
    /// `brokerName` of the group.
    pub broker_name: String,
    /// Whether its admin port answered.
    pub online: bool,
    /// Counts of the topic there; `None` when the topic does not exist there.
    pub counts: Option<QueueCounts>,
    /// Permission of the topic there.
    pub perm: Option<i32>,
}

/// Progress of one consumer group on one queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueProgress {
    /// `brokerName` holding the queue.
    pub broker_name: String,
    /// Consumer group.
    pub group: String,
    /// Queue id.
    pub queue_id: i32,
    /// Committed offset of the group (the queue's min offset when the group never committed).
    pub consumer_offset: i64,
    /// Max offset of the queue.
    pub max_offset: i64,
    /// Whether the group has at least one online consumer.
    pub group_online: bool,
}

/// Everything observed about a topic, gathered by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicFacts {
    /// One entry per broker group.
    pub brokers: Vec<BrokerFacts>,
    /// Consumer progress on the topic's queues.
    pub progress: Vec<QueueProgress>,
}

/// The spec side of a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// Topic name.
    pub name: String,
    /// Declared counts.
    pub counts: QueueCounts,
    /// Declared permission.
    pub perm: i32,
    /// Policy for groups without online consumers.
    pub offline_groups: OfflineGroupPolicy,
}

/// A side effect the caller performs after persisting the new status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicAction {
    /// Create or update the topic on one broker (RocketMQ `UPDATE_AND_CREATE_TOPIC`).
    Apply {
        /// Target broker.
        broker_name: String,
        /// Counts to set.
        counts: QueueCounts,
        /// Permission to set.
        perm: i32,
    },
}

/// A transition worth an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Event reason (CamelCase).
    pub reason: &'static str,
    /// Human-readable note.
    pub message: String,
}

/// Result of one step: the status to persist, then the actions to take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// New topic status (persist before acting).
    pub status: TopicStatus,
    /// Idempotent actions.
    pub actions: Vec<TopicAction>,
    /// Transitions that happened in this step.
    pub transitions: Vec<Transition>,
}

impl Plan {
    /// Whether the topic needs another look soon (anything other than Ready).
    pub fn needs_requeue(&self) -> bool {
        self.status.phase != TopicPhase::Ready
    }
}

/// Tunables of the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Current time, unix seconds.
    pub now: i64,
    /// Seconds to wait after restricting before trusting a zero lag (route refresh of producers).
    pub drain_grace_seconds: i64,
}

/// Advances one topic by one step. Pure: the same inputs always give the same plan.
pub fn step(
    desired: &Desired,
    persisted: Option<&TopicStatus>,
    facts: &TopicFacts,
    clock: Clock,
) -> Plan {
    let mut plan = Plan {
        status: TopicStatus {
            name: desired.name.clone(),
            phase: TopicPhase::Ready,
            observed: observed_counts(facts),
            operation: None,
            message: None,
        },
        actions: Vec::new(),
        transitions: Vec::new(),
    };
    let previous_op = persisted.and_then(|s| s.operation.clone());
    if let Some(offline) = facts.brokers.iter().find(|b| !b.online) {
        plan.status.phase = TopicPhase::Blocked;
        plan.status.operation = previous_op;
        plan.status.message = Some(format!("broker {} is offline", offline.broker_name));
        return plan;
    }
    create_missing(desired, facts, &mut plan);
    let op = match previous_op {
        Some(op) if op.to == desired.counts => Some(op),
        Some(op) => {
            plan.transitions.push(Transition {
                reason: "QueueChangeReplaced",
                message: format!(
                    "spec changed to {} during the change to {}; restarting from the brokers' counts",
                    show(desired.counts),
                    show(op.to)
                ),
            });
            None
        }
        None => None,
    };
    let op = op.or_else(|| start_operation(desired, &mut plan));
    match op {
        Some(op) => advance(desired, op, facts, clock, &mut plan),
        None => sync_perm(desired, facts, &mut plan),
    }
    let missing = facts.brokers.iter().any(|b| b.counts.is_none());
    if plan.status.phase == TopicPhase::Ready && missing {
        plan.status.phase = TopicPhase::Creating;
    }
    plan
}

/// Largest read and write counts over the brokers that hold the topic.
fn observed_counts(facts: &TopicFacts) -> Option<QueueCounts> {
    facts
        .brokers
        .iter()
        .filter_map(|b| b.counts)
        .reduce(|a, b| QueueCounts {
            read: a.read.max(b.read),
            write: a.write.max(b.write),
        })
}

/// Brokers without the topic get it with the declared counts: they hold no message of it.
fn create_missing(desired: &Desired, facts: &TopicFacts, plan: &mut Plan) {
    for broker in facts.brokers.iter().filter(|b| b.counts.is_none()) {
        plan.actions
            .push(apply(desired, &broker.broker_name, desired.counts));
    }
}

fn start_operation(desired: &Desired, plan: &mut Plan) -> Option<TopicOperation> {
    let from = plan.status.observed?;
    if from == desired.counts {
        return None;
    }
    plan.transitions.push(Transition {
        reason: "QueueChangeStarted",
        message: format!(
            "changing queues from {} to {}",
            show(from),
            show(desired.counts)
        ),
    });
    Some(TopicOperation {
        from,
        to: desired.counts,
        stage: Stage::Restricting,
        restricted_at: None,
        remaining_lag: 0,
        waiting_on: Vec::new(),
    })
}

fn sync_perm(desired: &Desired, facts: &TopicFacts, plan: &mut Plan) {
    for broker in facts.brokers.iter() {
        if broker.counts.is_some() && broker.perm != Some(desired.perm) {
            plan.actions
                .push(apply(desired, &broker.broker_name, desired.counts));
        }
    }
}

/// Runs stages until one has to wait for the outside world.
fn advance(
    desired: &Desired,
    mut op: TopicOperation,
    facts: &TopicFacts,
    clock: Clock,
    plan: &mut Plan,
) {
    plan.status.phase = if op.to.read < op.from.read || op.to.write < op.from.write {
        TopicPhase::Shrinking
    } else {
        TopicPhase::Growing
    };
    loop {
        let progressed = match op.stage {
            Stage::Restricting => restrict(desired, &mut op, facts, clock, plan),
            Stage::Draining => drain(desired, &mut op, facts, clock, plan),
            Stage::Committing => {
                if converge(desired, op.to, facts, plan) {
                    plan.status.phase = TopicPhase::Ready;
                    plan.transitions.push(Transition {
                        reason: "QueueChangeCompleted",
                        message: format!(
                            "queues changed from {} to {}",
                            show(op.from),
                            show(op.to)
                        ),
                    });
                    return;
                }
                false
            }
        };
        if !progressed {
            plan.status.operation = Some(op);
            return;
        }
    }
}

fn restrict(
    desired: &Desired,
    op: &mut TopicOperation,
    facts: &TopicFacts,
    clock: Clock,
    plan: &mut Plan,
) -> bool {
    let restricted = QueueCounts {
        read: op.from.read.max(op.to.read),
        write: op.from.write.min(op.to.write),
    };
    if !converge(desired, restricted, facts, plan) {
        return false;
    }
    op.restricted_at = Some(clock.now);
    op.stage = if op.to.read < op.from.read {
        Stage::Draining
    } else {
        Stage::Committing
    };
    true
}

fn drain(
    desired: &Desired,
    op: &mut TopicOperation,
    facts: &TopicFacts,
    clock: Clock,
    plan: &mut Plan,
) -> bool {
    let since = op.restricted_at.unwrap_or(clock.now);
    let left = clock.drain_grace_seconds - (clock.now - since);
    if left > 0 {
        op.restricted_at = Some(since);
        plan.status.message = Some(format!("waiting {left}s for producers to refresh routes"));
        return false;
    }
    let blockers: Vec<&QueueProgress> = facts
        .progress
        .iter()
        .filter(|p| p.queue_id >= op.to.read && p.max_offset > p.consumer_offset)
        .filter(|p| p.group_online || desired.offline_groups == OfflineGroupPolicy::Wait)
        .collect();
    op.remaining_lag = blockers
        .iter()
        .map(|p| p.max_offset - p.consumer_offset)
        .sum();
    op.waiting_on = blockers
        .iter()
        .take(MAX_LISTED_BLOCKERS)
        .map(|p| {
            let lag = p.max_offset - p.consumer_offset;
            format!("{}@{}:{} lag {lag}", p.group, p.broker_name, p.queue_id)
        })
        .collect();
    if blockers.is_empty() {
        op.stage = Stage::Committing;
        return true;
    }
    if blockers.iter().all(|p| !p.group_online) {
        plan.status.phase = TopicPhase::Blocked;
        plan.status.message = Some(
            "consumer groups without online consumers hold unconsumed messages in the queues \
             being removed (offlineGroups: Wait)"
                .to_string(),
        );
    } else {
        plan.status.message = Some(format!("draining {} messages", op.remaining_lag));
    }
    false
}

/// Applies `counts` where a broker differs; true when every broker already holds them.
fn converge(desired: &Desired, counts: QueueCounts, facts: &TopicFacts, plan: &mut Plan) -> bool {
    let mut converged = true;
    for broker in facts.brokers.iter().filter(|b| b.counts.is_some()) {
        if broker.counts != Some(counts) || broker.perm != Some(desired.perm) {
            plan.actions
                .push(apply(desired, &broker.broker_name, counts));
            converged = false;
        }
    }
    converged
}

fn apply(desired: &Desired, broker_name: &str, counts: QueueCounts) -> TopicAction {
    TopicAction::Apply {
        broker_name: broker_name.to_string(),
        counts,
        perm: desired.perm,
    }
}

fn show(c: QueueCounts) -> String {
    format!("read {}/write {}", c.read, c.write)
}

#[cfg(test)]
#[path = "shrink_tests.rs"]
mod tests;
