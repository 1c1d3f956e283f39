//! Transition tests of the queue-change state machine.

use super::*;

const GRACE: i64 = 60;

fn qc(read: i32, write: i32) -> QueueCounts {
    QueueCounts { read, write }
}

fn desired(read: i32, write: i32, policy: OfflineGroupPolicy) -> Desired {
    Desired {
        name: "orders".into(),
        counts: qc(read, write),
        perm: 6,
        offline_groups: policy,
    }
}

fn broker(name: &str, counts: Option<QueueCounts>) -> BrokerFacts {
    BrokerFacts {
        broker_name: name.into(),
        online: true,
        counts,
        perm: counts.map(|_| 6),
    }
}

fn facts(counts: &[Option<QueueCounts>]) -> TopicFacts {
    let brokers = counts
        .iter()
        .enumerate()
        .map(|(i, c)| broker(&format!("bc-broker-{i}"), *c))
        .collect();
    TopicFacts {
        brokers,
        progress: Vec::new(),
    }
}

fn progress(group: &str, queue_id: i32, consumer: i64, max: i64, online: bool) -> QueueProgress {
    QueueProgress {
        broker_name: "bc-broker-0".into(),
        group: group.into(),
        queue_id,
        consumer_offset: consumer,
        max_offset: max,
        group_online: online,
    }
}

fn clock(now: i64) -> Clock {
    Clock {
        now,
        drain_grace_seconds: GRACE,
    }
}

fn apply_all(n: usize, counts: QueueCounts) -> Vec<TopicAction> {
    (0..n)
        .map(|i| TopicAction::Apply {
            broker_name: format!("bc-broker-{i}"),
            counts,
            perm: 6,
        })
        .collect()
}

fn reasons(plan: &Plan) -> Vec<&'static str> {
    plan.transitions.iter().map(|t| t.reason).collect()
}

fn op(from: QueueCounts, to: QueueCounts, stage: Stage, at: Option<i64>) -> TopicOperation {
    TopicOperation {
        from,
        to,
        stage,
        restricted_at: at,
        remaining_lag: 0,
        waiting_on: vec![],
    }
}

fn status_with(op: TopicOperation, phase: TopicPhase) -> TopicStatus {
    TopicStatus {
        name: "orders".into(),
        phase,
        observed: Some(op.from),
        operation: Some(op),
        message: None,
    }
}

#[test]
fn new_topic_is_created_on_every_broker_with_declared_counts() {
    let plan = step(
        &desired(8, 8, OfflineGroupPolicy::Wait),
        None,
        &facts(&[None, None]),
        clock(0),
    );
    assert_eq!(plan.status.phase, TopicPhase::Creating);
    assert_eq!(plan.actions, apply_all(2, qc(8, 8)));
    assert_eq!(plan.status.operation, None);
    assert_eq!(plan.status.observed, None);
    assert!(plan.needs_requeue());
}

#[test]
fn topic_at_declared_counts_is_ready_without_actions() {
    let f = facts(&[Some(qc(8, 8)), Some(qc(8, 8))]);
    let plan = step(&desired(8, 8, OfflineGroupPolicy::Wait), None, &f, clock(0));
    assert_eq!(plan.status.phase, TopicPhase::Ready);
    assert!(plan.actions.is_empty());
    assert!(plan.transitions.is_empty());
    assert_eq!(plan.status.observed, Some(qc(8, 8)));
    assert!(!plan.needs_requeue());
}

#[test]
fn new_broker_group_gets_the_topic_while_others_stay_untouched() {
    let f = facts(&[Some(qc(8, 8)), None]);
    let plan = step(&desired(8, 8, OfflineGroupPolicy::Wait), None, &f, clock(0));
    assert_eq!(plan.status.phase, TopicPhase::Creating);
    assert_eq!(
        plan.actions,
        vec![TopicAction::Apply {
            broker_name: "bc-broker-1".into(),
            counts: qc(8, 8),
            perm: 6
        }]
    );
}

#[test]
fn permission_drift_is_corrected_in_place() {
    let mut f = facts(&[Some(qc(8, 8)), Some(qc(8, 8))]);
    f.brokers[1].perm = Some(4);
    let plan = step(&desired(8, 8, OfflineGroupPolicy::Wait), None, &f, clock(0));
    assert_eq!(plan.status.phase, TopicPhase::Ready);
    assert_eq!(
        plan.actions,
        vec![TopicAction::Apply {
            broker_name: "bc-broker-1".into(),
            counts: qc(8, 8),
            perm: 6
        }]
    );
}

#[test]
fn shrink_starts_by_lowering_writes_only() {
    let f = facts(&[Some(qc(8, 8)), Some(qc(8, 8))]);
    let plan = step(
        &desired(4, 4, OfflineGroupPolicy::Wait),
        None,
        &f,
        clock(100),
    );
    assert_eq!(plan.status.phase, TopicPhase::Shrinking);
    assert_eq!(plan.actions, apply_all(2, qc(8, 4)));
    assert_eq!(
        plan.status.operation,
        Some(op(qc(8, 8), qc(4, 4), Stage::Restricting, None))
    );
    assert_eq!(reasons(&plan), vec!["QueueChangeStarted"]);
}

#[test]
fn restricting_reapplies_only_to_brokers_not_yet_restricted() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Restricting, None),
        TopicPhase::Shrinking,
    );
    let f = facts(&[Some(qc(8, 4)), Some(qc(8, 8))]);
    let plan = step(
        &desired(4, 4, OfflineGroupPolicy::Wait),
        Some(&persisted),
        &f,
        clock(100),
    );
    assert_eq!(
        plan.actions,
        vec![TopicAction::Apply {
            broker_name: "bc-broker-1".into(),
            counts: qc(8, 4),
            perm: 6
        }]
    );
    assert_eq!(
        plan.status.operation.as_ref().map(|o| o.stage),
        Some(Stage::Restricting)
    );
    assert!(plan.transitions.is_empty());
}

#[test]
fn restricted_everywhere_enters_drain_and_waits_for_route_refresh() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Restricting, None),
        TopicPhase::Shrinking,
    );
    let f = facts(&[Some(qc(8, 4)), Some(qc(8, 4))]);
    let plan = step(
        &desired(4, 4, OfflineGroupPolicy::Wait),
        Some(&persisted),
        &f,
        clock(100),
    );
    assert!(plan.actions.is_empty());
    assert_eq!(plan.status.phase, TopicPhase::Shrinking);
    assert_eq!(
        plan.status.operation,
        Some(op(qc(8, 8), qc(4, 4), Stage::Draining, Some(100)))
    );
    assert_eq!(
        plan.status.message.as_deref(),
        Some("waiting 60s for producers to refresh routes")
    );
}

#[test]
fn drain_zero_lag_inside_grace_period_still_waits() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Draining, Some(100)),
        TopicPhase::Shrinking,
    );
    let f = facts(&[Some(qc(8, 4))]);
    let plan = step(
        &desired(4, 4, OfflineGroupPolicy::Wait),
        Some(&persisted),
        &f,
        clock(159),
    );
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.status.operation.as_ref().map(|o| o.stage),
        Some(Stage::Draining)
    );
    assert_eq!(
        plan.status.message.as_deref(),
        Some("waiting 1s for producers to refresh routes")
    );
}

#[test]
fn drain_waits_on_lag_of_removed_queues_only() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Draining, Some(100)),
        TopicPhase::Shrinking,
    );
    let mut f = facts(&[Some(qc(8, 4))]);
    f.progress = vec![
        progress("g1", 3, 10, 50, true), // kept queue: its lag does not matter
        progress("g1", 4, 20, 20, true),
        progress("g1", 5, 7, 10, true),
        progress("g2", 7, 0, 2, true),
    ];
    let plan = step(
        &desired(4, 4, OfflineGroupPolicy::Wait),
        Some(&persisted),
        &f,
        clock(160),
    );
    assert!(plan.actions.is_empty());
    assert_eq!(plan.status.phase, TopicPhase::Shrinking);
    let op = plan.status.operation.expect("operation kept");
    assert_eq!(op.stage, Stage::Draining);
    assert_eq!(op.remaining_lag, 5);
    assert_eq!(
        op.waiting_on,
        vec!["g1@bc-broker-0:5 lag 3", "g2@bc-broker-0:7 lag 2"]
    );
    assert_eq!(plan.status.message.as_deref(), Some("draining 5 messages"));
}

#[test]
fn offline_group_with_wait_policy_blocks_the_drain() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Draining, Some(100)),
        TopicPhase::Shrinking,
    );
    let mut f = facts(&[Some(qc(8, 4))]);
    f.progress = vec![progress("idle", 6, 0, 9, false)];
    let plan = step(
        &desired(4, 4, OfflineGroupPolicy::Wait),
        Some(&persisted),
        &f,
        clock(200),
    );
    assert_eq!(plan.status.phase, TopicPhase::Blocked);
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.status.operation.as_ref().map(|o| o.remaining_lag),
        Some(9)
    );
}

#[test]
fn offline_group_with_ignore_policy_does_not_hold_the_drain() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Draining, Some(100)),
        TopicPhase::Shrinking,
    );
    let mut f = facts(&[Some(qc(8, 4))]);
    f.progress = vec![
        progress("idle", 6, 0, 9, false),
        progress("live", 6, 9, 9, true),
    ];
    let plan = step(
        &desired(4, 4, OfflineGroupPolicy::Ignore),
        Some(&persisted),
        &f,
        clock(200),
    );
    assert_eq!(plan.status.phase, TopicPhase::Shrinking);
    assert_eq!(plan.actions, apply_all(1, qc(4, 4)));
    assert_eq!(
        plan.status.operation.as_ref().map(|o| o.stage),
        Some(Stage::Committing)
    );
}

#[test]
fn drained_queues_lower_reads() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Draining, Some(100)),
        TopicPhase::Shrinking,
    );
    let mut f = facts(&[Some(qc(8, 4)), Some(qc(8, 4))]);
    f.progress = vec![
        progress("g1", 5, 10, 10, true),
        progress("g1", 7, 3, 3, false),
    ];
    let plan = step(
        &desired(4, 4, OfflineGroupPolicy::Wait),
        Some(&persisted),
        &f,
        clock(160),
    );
    assert_eq!(plan.actions, apply_all(2, qc(4, 4)));
    let op = plan
        .status
        .operation
        .expect("operation kept until observed");
    assert_eq!(op.stage, Stage::Committing);
    assert_eq!(op.remaining_lag, 0);
    assert!(op.waiting_on.is_empty());
}

#[test]
fn committed_counts_observed_completes_the_change() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Committing, Some(100)),
        TopicPhase::Shrinking,
    );
    let f = facts(&[Some(qc(4, 4)), Some(qc(4, 4))]);
    let plan = step(
        &desired(4, 4, OfflineGroupPolicy::Wait),
        Some(&persisted),
        &f,
        clock(300),
    );
    assert_eq!(plan.status.phase, TopicPhase::Ready);
    assert_eq!(plan.status.operation, None);
    assert!(plan.actions.is_empty());
    assert_eq!(reasons(&plan), vec!["QueueChangeCompleted"]);
}

#[test]
fn growth_raises_reads_first_then_writes_without_draining() {
    let f = facts(&[Some(qc(4, 4))]);
    let d = desired(8, 8, OfflineGroupPolicy::Wait);
    let first = step(&d, None, &f, clock(0));
    assert_eq!(first.status.phase, TopicPhase::Growing);
    assert_eq!(first.actions, apply_all(1, qc(8, 4)));
    let second = step(&d, Some(&first.status), &facts(&[Some(qc(8, 4))]), clock(1));
    assert_eq!(second.status.phase, TopicPhase::Growing);
    assert_eq!(second.actions, apply_all(1, qc(8, 8)));
    assert_eq!(
        second.status.operation.as_ref().map(|o| o.stage),
        Some(Stage::Committing)
    );
    let third = step(
        &d,
        Some(&second.status),
        &facts(&[Some(qc(8, 8))]),
        clock(2),
    );
    assert_eq!(third.status.phase, TopicPhase::Ready);
    assert_eq!(third.status.operation, None);
}

#[test]
fn raising_reads_while_lowering_writes_needs_no_drain() {
    let f = facts(&[Some(qc(8, 8))]);
    let d = desired(16, 4, OfflineGroupPolicy::Wait);
    let first = step(&d, None, &f, clock(0));
    assert_eq!(first.status.phase, TopicPhase::Shrinking);
    assert_eq!(first.actions, apply_all(1, qc(16, 4)));
    let second = step(
        &d,
        Some(&first.status),
        &facts(&[Some(qc(16, 4))]),
        clock(1),
    );
    assert_eq!(second.status.phase, TopicPhase::Ready);
    assert!(second.actions.is_empty());
}

#[test]
fn spec_reverted_mid_drain_restores_writes_without_waiting() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Draining, Some(100)),
        TopicPhase::Shrinking,
    );
    let mut f = facts(&[Some(qc(8, 4))]);
    f.progress = vec![progress("g1", 6, 0, 100, true)];
    let plan = step(
        &desired(8, 8, OfflineGroupPolicy::Wait),
        Some(&persisted),
        &f,
        clock(120),
    );
    assert_eq!(
        reasons(&plan),
        vec!["QueueChangeReplaced", "QueueChangeStarted"]
    );
    assert_eq!(plan.status.phase, TopicPhase::Growing);
    assert_eq!(plan.actions, apply_all(1, qc(8, 8)));
    assert_eq!(
        plan.status.operation,
        Some(op(qc(8, 4), qc(8, 8), Stage::Committing, Some(120)))
    );
}

#[test]
fn deeper_shrink_mid_drain_restarts_from_observed_counts() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Draining, Some(100)),
        TopicPhase::Shrinking,
    );
    let f = facts(&[Some(qc(8, 4))]);
    let plan = step(
        &desired(2, 2, OfflineGroupPolicy::Wait),
        Some(&persisted),
        &f,
        clock(500),
    );
    assert_eq!(plan.actions, apply_all(1, qc(8, 2)));
    assert_eq!(
        plan.status.operation,
        Some(op(qc(8, 4), qc(2, 2), Stage::Restricting, None))
    );
}

#[test]
fn lost_status_mid_shrink_resumes_the_drain_from_observed_counts() {
    let mut f = facts(&[Some(qc(8, 4))]);
    f.progress = vec![progress("g1", 6, 1, 4, true)];
    let d = desired(4, 4, OfflineGroupPolicy::Wait);
    let first = step(&d, None, &f, clock(1000));
    assert!(
        first.actions.is_empty(),
        "writes already lowered: nothing to apply"
    );
    assert_eq!(
        first.status.operation,
        Some(op(qc(8, 4), qc(4, 4), Stage::Draining, Some(1000)))
    );
    let second = step(&d, Some(&first.status), &f, clock(1000 + GRACE));
    assert!(
        second.actions.is_empty(),
        "lag 3 on queue 6 still holds the drain"
    );
    assert_eq!(
        second.status.operation.as_ref().map(|o| o.remaining_lag),
        Some(3)
    );
}

#[test]
fn restart_with_persisted_status_is_idempotent() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Restricting, None),
        TopicPhase::Shrinking,
    );
    let f = facts(&[Some(qc(8, 8))]);
    let d = desired(4, 4, OfflineGroupPolicy::Wait);
    let a = step(&d, Some(&persisted), &f, clock(5));
    let b = step(&d, Some(&a.status), &f, clock(6));
    assert_eq!(a.actions, b.actions);
    assert_eq!(a.status, b.status);
    assert!(b.transitions.is_empty());
}

#[test]
fn offline_broker_blocks_and_keeps_the_operation() {
    let persisted = status_with(
        op(qc(8, 8), qc(4, 4), Stage::Restricting, None),
        TopicPhase::Shrinking,
    );
    let mut f = facts(&[Some(qc(8, 8)), Some(qc(8, 8))]);
    f.brokers[1].online = false;
    let plan = step(
        &desired(4, 4, OfflineGroupPolicy::Wait),
        Some(&persisted),
        &f,
        clock(5),
    );
    assert_eq!(plan.status.phase, TopicPhase::Blocked);
    assert!(plan.actions.is_empty());
    assert_eq!(plan.status.operation, persisted.operation);
    assert_eq!(
        plan.status.message.as_deref(),
        Some("broker bc-broker-1 is offline")
    );
}

#[test]
fn full_shrink_walk_reaches_ready_with_writes_always_lowered_before_reads() {
    let d = desired(4, 4, OfflineGroupPolicy::Wait);
    let mut on_brokers = qc(8, 8);
    let mut status: Option<TopicStatus> = None;
    let mut applied = Vec::new();
    for t in 0..200 {
        let mut f = facts(&[Some(on_brokers)]);
        let lag = if t < 100 { 1 } else { 0 };
        f.progress = vec![progress("g", 7, 10 - lag, 10, true)];
        let plan = step(&d, status.as_ref(), &f, clock(t));
        for TopicAction::Apply { counts, .. } in &plan.actions {
            on_brokers = *counts;
            applied.push(*counts);
        }
        status = Some(plan.status);
    }
    assert_eq!(applied, vec![qc(8, 4), qc(4, 4)]);
    let status = status.expect("status");
    assert_eq!(status.phase, TopicPhase::Ready);
    assert_eq!(status.operation, None);
}
