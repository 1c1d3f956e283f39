//! Controller glue of the broker-group drain ([`crate::drain`]): finds the groups that still
//! have StatefulSets, gathers their facts through the [`TopicAdmin`], and returns the plan whose
//! `keep_groups` decides which groups' children are built (and thus which are pruned).
//!
//! Without an admin client no drain is possible and groups above the spec are pruned at once
//! (the behaviour before drains existed); when the NameServers cannot be asked, every existing
//! group is kept and the persisted drains are left as they were, so nothing is removed blind.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use tracing::warn;

use crate::build::names::LABEL_GROUP;
use crate::crd::BrokerCluster;
use crate::drain::{DrainInput, DrainPlan, GroupDrain, groups_to_observe, step_drains};
use crate::shrink::Clock;
use crate::topics::{AdminError, AdminTarget, TopicAdmin};

/// Group indices of broker StatefulSets (NameServer sets carry no group label).
pub fn existing_groups(sets: &[StatefulSet]) -> Vec<i32> {
    let mut groups: Vec<i32> = sets
        .iter()
        .filter_map(|s| s.metadata.labels.as_ref()?.get(LABEL_GROUP)?.parse().ok())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// One drain step for `cluster`.
pub async fn plan(
    admin: Option<&dyn TopicAdmin>,
    target: &AdminTarget,
    cluster: &BrokerCluster,
    sets: &[StatefulSet],
    clock: Clock,
) -> DrainPlan {
    let spec_groups = cluster.spec.brokers.groups;
    let persisted: Vec<GroupDrain> = cluster
        .status
        .as_ref()
        .map(|s| s.group_drains.clone())
        .unwrap_or_default();
    let existing = existing_groups(sets);
    let Some(admin) = admin else {
        return DrainPlan {
            keep_groups: spec_groups,
            ..DrainPlan::default()
        };
    };
    let input = DrainInput {
        spec_groups,
        existing_groups: &existing,
        persisted: &persisted,
        offline_groups: cluster.spec.brokers.scale_in_offline_groups,
    };
    match observe(admin, target, &input).await {
        Ok(facts) => step_drains(&input, &facts, |g| target.names.broker_name(g), clock),
        Err(error) => {
            warn!(%error, "could not observe draining broker groups; keeping them");
            DrainPlan {
                drains: persisted.clone(),
                actions: Vec::new(),
                keep_groups: existing.iter().map(|g| g + 1).fold(spec_groups, i32::max),
                transitions: Vec::new(),
            }
        }
    }
}

async fn observe(
    admin: &dyn TopicAdmin,
    target: &AdminTarget,
    input: &DrainInput<'_>,
) -> Result<BTreeMap<i32, crate::drain::GroupFacts>, AdminError> {
    let mut facts = BTreeMap::new();
    for group in groups_to_observe(input) {
        facts.insert(group, admin.group_facts(target, group).await?);
    }
    Ok(facts)
}

/// Performs the plan's actions (call after its drains are persisted).
pub async fn act(
    admin: Option<&dyn TopicAdmin>,
    target: &AdminTarget,
    plan: &DrainPlan,
) -> Result<(), AdminError> {
    let Some(admin) = admin else {
        return Ok(());
    };
    for action in &plan.actions {
        admin.act_group(target, action).await?;
    }
    Ok(())
}
