use std::collections::BTreeMap;

use super::*;

const GRACE: i64 = 60;

fn clock(now: i64) -> Clock {
    Clock {
        now,
        drain_grace_seconds: GRACE,
    }
}

fn name(g: i32) -> String {
    format!("bc-broker-{g}")
}

fn backlog(group: &str, queue_id: i32, lag: i64, online: bool) -> Backlog {
    Backlog {
        topic: "Orders".into(),
        group: group.into(),
        queue_id,
        consumer_offset: 100 - lag,
        max_offset: 100,
        group_online: online,
    }
}

fn facts(group: i32, registered: bool, backlog: Vec<Backlog>) -> BTreeMap<i32, GroupFacts> {
    BTreeMap::from([(
        group,
        GroupFacts {
            registered,
            backlog,
        },
    )])
}

fn step(
    spec_groups: i32,
    existing: &[i32],
    persisted: &[GroupDrain],
    facts: &BTreeMap<i32, GroupFacts>,
    now: i64,
) -> DrainPlan {
    let input = DrainInput {
        spec_groups,
        existing_groups: existing,
        persisted,
        offline_groups: OfflineGroupPolicy::Wait,
    };
    step_drains(&input, facts, name, clock(now))
}

fn wipe(g: i32) -> DrainAction {
    DrainAction::WipeWritePerm {
        broker_name: name(g),
    }
}

#[test]
fn no_group_above_the_spec_means_no_drain_and_no_action() {
    let plan = step(2, &[0, 1], &[], &BTreeMap::new(), 1000);
    assert_eq!(
        plan,
        DrainPlan {
            keep_groups: 2,
            ..DrainPlan::default()
        }
    );
    assert!(!plan.busy());
}

#[test]
fn scale_in_starts_by_wiping_writes_and_keeps_the_group() {
    let plan = step(1, &[0, 1], &[], &facts(1, true, vec![]), 1000);
    assert_eq!(plan.keep_groups, 2);
    assert_eq!(plan.actions, vec![wipe(1)]);
    assert_eq!(plan.drains.len(), 1);
    let d = &plan.drains[0];
    assert_eq!(
        (d.group, d.stage, d.write_wiped_at),
        (1, DrainStage::Draining, None)
    );
    assert_eq!(plan.transitions[0].reason, "GroupDrainStarted");
}

#[test]
fn grace_starts_on_the_step_after_the_wipe_was_persisted_and_waits_it_out() {
    let first = step(1, &[0, 1], &[], &facts(1, true, vec![]), 1000);
    let second = step(1, &[0, 1], &first.drains, &facts(1, true, vec![]), 1005);
    assert_eq!(second.drains[0].write_wiped_at, Some(1005));
    assert_eq!(
        second.actions,
        vec![wipe(1)],
        "the wipe is re-issued every step"
    );
    let third = step(
        1,
        &[0, 1],
        &second.drains,
        &facts(1, true, vec![]),
        1005 + GRACE - 1,
    );
    assert_eq!(third.drains[0].stage, DrainStage::Draining);
    assert_eq!(
        third.drains[0].message.as_deref(),
        Some("waiting 1s for producers to refresh routes")
    );
    assert_eq!(third.keep_groups, 2);
}

fn wiped(at: i64) -> Vec<GroupDrain> {
    vec![GroupDrain {
        group: 1,
        broker_name: name(1),
        stage: DrainStage::Draining,
        write_wiped_at: Some(at),
        remaining_lag: 0,
        waiting_on: Vec::new(),
        message: None,
    }]
}

#[test]
fn online_backlog_holds_the_group_with_its_lag_listed() {
    let seen = facts(
        1,
        true,
        vec![backlog("g1", 3, 7, true), backlog("g2", 0, 0, true)],
    );
    let plan = step(1, &[0, 1], &wiped(0), &seen, 1000);
    let d = &plan.drains[0];
    assert_eq!(d.stage, DrainStage::Draining);
    assert_eq!(d.remaining_lag, 7);
    assert_eq!(d.waiting_on, vec!["g1@Orders:3 lag 7".to_string()]);
    assert_eq!(plan.keep_groups, 2);
}

#[test]
fn drained_group_is_removed_then_forgotten_once_its_sets_are_gone() {
    let seen = facts(1, true, vec![backlog("g1", 3, 0, true)]);
    let plan = step(1, &[0, 1], &wiped(0), &seen, 1000);
    assert_eq!(plan.drains[0].stage, DrainStage::Removing);
    assert_eq!(
        plan.keep_groups, 1,
        "children of the group are no longer built"
    );
    assert_eq!(plan.transitions[0].reason, "GroupDrained");
    let still = step(1, &[0, 1], &plan.drains, &facts(1, false, vec![]), 1010);
    assert_eq!(still.drains, plan.drains);
    assert!(still.actions.is_empty(), "no wipe once removing");
    let gone = step(1, &[0], &plan.drains, &facts(1, false, vec![]), 1020);
    assert!(gone.drains.is_empty());
    assert_eq!(gone.transitions[0].reason, "GroupRemoved");
}

#[test]
fn offline_groups_block_under_wait_and_are_skipped_under_ignore() {
    let seen = facts(1, true, vec![backlog("gone", 2, 5, false)]);
    let plan = step(1, &[0, 1], &wiped(0), &seen, 1000);
    assert_eq!(plan.drains[0].stage, DrainStage::Blocked);
    assert_eq!(plan.drains[0].remaining_lag, 5);
    assert_eq!(plan.keep_groups, 2);
    let input = DrainInput {
        spec_groups: 1,
        existing_groups: &[0, 1],
        persisted: &wiped(0),
        offline_groups: OfflineGroupPolicy::Ignore,
    };
    let ignored = step_drains(&input, &seen, name, clock(1000));
    assert_eq!(ignored.drains[0].stage, DrainStage::Removing);
    assert_eq!(ignored.keep_groups, 1);
}

#[test]
fn unregistered_broker_blocks_instead_of_being_removed_blind() {
    let plan = step(1, &[0, 1], &wiped(0), &facts(1, false, vec![]), 1000);
    assert_eq!(plan.drains[0].stage, DrainStage::Blocked);
    assert_eq!(plan.keep_groups, 2);
    assert_eq!(
        plan.drains[0].message.as_deref(),
        Some("bc-broker-1 is not registered with the NameServers; its backlog cannot be checked")
    );
}

#[test]
fn raising_groups_again_aborts_the_drain_and_restores_writes() {
    let plan = step(2, &[0, 1], &wiped(0), &BTreeMap::new(), 1000);
    assert!(plan.drains.is_empty());
    assert_eq!(plan.keep_groups, 2);
    assert_eq!(
        plan.actions,
        vec![DrainAction::AddWritePerm {
            broker_name: name(1)
        }]
    );
    assert_eq!(plan.transitions[0].reason, "GroupDrainAborted");
}

#[test]
fn several_groups_drain_and_the_highest_still_draining_sets_keep_groups() {
    let mut persisted = wiped(0);
    persisted.push(GroupDrain {
        group: 2,
        broker_name: name(2),
        ..persisted[0].clone()
    });
    let mut seen = facts(1, true, vec![]);
    seen.insert(
        2,
        GroupFacts {
            registered: true,
            backlog: vec![backlog("g1", 0, 1, true)],
        },
    );
    let plan = step(1, &[0, 1, 2], &persisted, &seen, 1000);
    let stages: Vec<_> = plan.drains.iter().map(|d| (d.group, d.stage)).collect();
    assert_eq!(
        stages,
        vec![(1, DrainStage::Removing), (2, DrainStage::Draining)]
    );
    assert_eq!(plan.keep_groups, 3);
    assert_eq!(
        groups_to_observe(&DrainInput {
            spec_groups: 1,
            existing_groups: &[0, 1, 2],
            persisted: &persisted,
            offline_groups: OfflineGroupPolicy::Wait,
        }),
        vec![1, 2]
    );
}

#[test]
fn drain_status_round_trips_through_json() {
    let drain = wiped(42).remove(0);
    let json = serde_json::to_value(&drain).expect("serialize");
    assert_eq!(json["writeWipedAt"], 42);
    assert_eq!(json["stage"], "Draining");
    let back: GroupDrain = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, drain);
}
