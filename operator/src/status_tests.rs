//! Tests of status computation.

use super::*;
use crate::build::{desired_children, fixture};
use k8s_openapi::api::apps::v1::StatefulSetStatus;
use k8s_openapi::jiff::Timestamp;

fn time(secs: i64) -> Time {
    Time(Timestamp::from_second(1_800_000_000 + secs).expect("time"))
}

fn observed(ready: bool) -> Vec<StatefulSet> {
    let mut sets = desired_children(&fixture::cluster())
        .expect("children")
        .stateful_sets;
    for set in &mut sets {
        let replicas = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        set.metadata.generation = Some(1);
        set.status = Some(StatefulSetStatus {
            observed_generation: Some(1),
            replicas,
            ready_replicas: Some(if ready { replicas } else { 0 }),
            updated_replicas: Some(replicas),
            current_revision: Some("r1".into()),
            update_revision: Some("r1".into()),
            ..StatefulSetStatus::default()
        });
    }
    sets
}

fn names() -> Names {
    Names::new("bc", "mq")
}

#[test]
fn all_ready_sets_make_the_cluster_ready() {
    let spec = fixture::cluster().spec;
    let status = applied(None, 3, &names(), &spec, &observed(true), &time(0));
    assert_eq!(status.phase, Some(ClusterPhase::Ready));
    assert_eq!(status.ready_groups.as_deref(), Some("2/2"));
    assert_eq!(status.observed_generation, Some(3));
    assert_eq!(
        status.groups[1],
        GroupStatus {
            broker_name: "bc-broker-1".into(),
            master_ready: true,
            ready_slaves: 2,
            desired_slaves: 2
        }
    );
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == READY)
        .expect("ready condition");
    assert_eq!(
        (
            ready.status.as_str(),
            ready.reason.as_str(),
            ready.observed_generation
        ),
        ("True", "AllPodsReady", Some(3))
    );
    let kinds: Vec<_> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(kinds, vec![VALID, CHILDREN_APPLIED, READY]);
}

#[test]
fn unready_after_ready_is_degraded_and_transition_time_moves_only_on_change() {
    let spec = fixture::cluster().spec;
    let ready = applied(None, 3, &names(), &spec, &observed(true), &time(0));
    let again = applied(Some(&ready), 3, &names(), &spec, &observed(true), &time(50));
    assert_eq!(
        again.conditions, ready.conditions,
        "unchanged conditions keep their transition time"
    );
    let degraded = applied(
        Some(&again),
        3,
        &names(),
        &spec,
        &observed(false),
        &time(100),
    );
    assert_eq!(degraded.phase, Some(ClusterPhase::Degraded));
    assert_eq!(degraded.ready_groups.as_deref(), Some("0/2"));
    let cond = degraded
        .conditions
        .iter()
        .find(|c| c.type_ == READY)
        .expect("ready");
    assert_eq!(cond.status, "False");
    assert_eq!(cond.last_transition_time, time(100));
    let valid = degraded
        .conditions
        .iter()
        .find(|c| c.type_ == VALID)
        .expect("valid");
    assert_eq!(valid.last_transition_time, time(0));
}

#[test]
fn new_cluster_without_sets_is_pending_and_rollout_in_progress_is_not_ready() {
    let spec = fixture::cluster().spec;
    assert_eq!(
        applied(None, 1, &names(), &spec, &[], &time(0)).phase,
        Some(ClusterPhase::Pending)
    );
    let mut sets = observed(true);
    if let Some(s) = sets[2].status.as_mut() {
        s.update_revision = Some("r2".into());
    }
    let status = applied(None, 1, &names(), &spec, &sets, &time(0));
    assert_eq!(status.phase, Some(ClusterPhase::Reconciling));
    assert!(
        !status.groups[0].master_ready,
        "master of group 0 is mid-rollout"
    );
}

#[test]
fn invalid_spec_sets_condition_and_keeps_the_rest() {
    let spec = fixture::cluster().spec;
    let ready = applied(None, 3, &names(), &spec, &observed(true), &time(0));
    let problems = vec![Invalid {
        field: "spec.brokers.config.brokerId".into(),
        message: "is managed by the operator".into(),
    }];
    let status = invalid(Some(&ready), 4, &problems, &time(10));
    assert_eq!(status.phase, Some(ClusterPhase::Invalid));
    assert_eq!(status.observed_generation, Some(4));
    assert_eq!(status.groups, ready.groups);
    let valid = status
        .conditions
        .iter()
        .find(|c| c.type_ == VALID)
        .expect("valid");
    assert_eq!(
        (valid.status.as_str(), valid.reason.as_str()),
        ("False", "InvalidSpec")
    );
    assert_eq!(
        valid.message,
        "spec.brokers.config.brokerId: is managed by the operator"
    );
}
