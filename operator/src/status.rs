//! Pure computation of the `BrokerCluster` status from what the API server reports about the
//! children: per-group readiness, the summary phase and standard conditions whose
//! `lastTransitionTime` only moves when their status changes.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::build::names::{Names, Role};
use crate::crd::{BrokerClusterSpec, BrokerClusterStatus, ClusterPhase, GroupStatus, TopicPhase};
use crate::validate::{Invalid, summary};

/// Condition type: the spec passed validation.
pub const VALID: &str = "Valid";
/// Condition type: every desired child was applied.
pub const CHILDREN_APPLIED: &str = "ChildrenApplied";
/// Condition type: every NameServer and broker pod is ready and up to date.
pub const READY: &str = "Ready";

/// Inserts or updates condition `kind`, keeping `lastTransitionTime` when the status is unchanged.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    kind: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: i64,
    now: &Time,
) {
    let status = if ok { "True" } else { "False" };
    let previous = conditions.iter().position(|c| c.type_ == kind);
    let since = match previous.map(|i| &conditions[i]) {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => now.clone(),
    };
    let condition = Condition {
        type_: kind.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        last_transition_time: since,
        observed_generation: Some(generation),
    };
    match previous {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

/// Status of a cluster whose spec failed validation: everything else is kept as it was.
pub fn invalid(
    previous: Option<&BrokerClusterStatus>,
    generation: i64,
    problems: &[Invalid],
    now: &Time,
) -> BrokerClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.observed_generation = Some(generation);
    status.phase = Some(ClusterPhase::Invalid);
    set_condition(
        &mut status.conditions,
        VALID,
        false,
        "InvalidSpec",
        summary(problems),
        generation,
        now,
    );
    status
}

/// Pods of a StatefulSet that are ready and run its current revision.
fn ready_updated(set: Option<&StatefulSet>) -> i32 {
    let Some(status) = set.and_then(|s| s.status.as_ref()) else {
        return 0;
    };
    let generation_seen = status.observed_generation >= set.and_then(|s| s.metadata.generation);
    if !generation_seen || status.current_revision != status.update_revision {
        return 0;
    }
    status
        .ready_replicas
        .unwrap_or(0)
        .min(status.updated_replicas.unwrap_or(0))
}

fn find<'a>(sets: &'a [StatefulSet], name: &str) -> Option<&'a StatefulSet> {
    sets.iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
}

/// Readiness of every group from the observed StatefulSets.
pub fn groups(names: &Names, spec: &BrokerClusterSpec, sets: &[StatefulSet]) -> Vec<GroupStatus> {
    (0..spec.brokers.groups)
        .map(|g| GroupStatus {
            broker_name: names.broker_name(g),
            master_ready: ready_updated(find(sets, &names.broker_set(g, Role::Master))) >= 1,
            ready_slaves: ready_updated(find(sets, &names.broker_set(g, Role::Slave))),
            desired_slaves: spec.brokers.slaves_per_group,
        })
        .collect()
}

/// Status after a successful apply, from the StatefulSets the API server reports.
pub fn applied(
    previous: Option<&BrokerClusterStatus>,
    generation: i64,
    names: &Names,
    spec: &BrokerClusterSpec,
    sets: &[StatefulSet],
    now: &Time,
) -> BrokerClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let groups = groups(names, spec, sets);
    let ready_groups = groups
        .iter()
        .filter(|g| g.master_ready && g.ready_slaves >= g.desired_slaves)
        .count();
    let namesrv_ready = ready_updated(find(sets, &names.namesrv())) >= spec.name_server.replicas;
    let all_ready = namesrv_ready && ready_groups == groups.len();
    status.phase = Some(match (all_ready, status.phase) {
        (true, _) => ClusterPhase::Ready,
        _ if sets.is_empty() => ClusterPhase::Pending,
        (false, Some(ClusterPhase::Ready | ClusterPhase::Degraded)) => ClusterPhase::Degraded,
        (false, _) => ClusterPhase::Reconciling,
    });
    status.observed_generation = Some(generation);
    status.name_server_addresses = Some(names.namesrv_addr(spec.name_server.replicas));
    status.ready_groups = Some(format!("{ready_groups}/{}", groups.len()));
    status.groups = groups;
    status.topics_changing = status
        .topics
        .iter()
        .filter(|t| t.phase != TopicPhase::Ready)
        .count() as i32;
    set_condition(
        &mut status.conditions,
        VALID,
        true,
        "SpecValid",
        String::new(),
        generation,
        now,
    );
    set_condition(
        &mut status.conditions,
        CHILDREN_APPLIED,
        true,
        "Applied",
        String::new(),
        generation,
        now,
    );
    let message = if namesrv_ready {
        format!(
            "{ready_groups} of {} broker groups ready",
            status.groups.len()
        )
    } else {
        "NameServers not ready".to_string()
    };
    set_condition(
        &mut status.conditions,
        READY,
        all_ready,
        if all_ready {
            "AllPodsReady"
        } else {
            "PodsNotReady"
        },
        message,
        generation,
        now,
    );
    status
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
