//! PodDisruptionBudgets: at most one NameServer and at most one broker of each group may be
//! evicted at a time, so a drain never takes a master and its slave down together.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

use super::Context;
use super::names::Component;

/// Budget of the NameServer pods.
pub(super) fn namesrv(ctx: &Context<'_>) -> PodDisruptionBudget {
    budget(
        ctx,
        ctx.names.namesrv(),
        ctx.names.component_selector(Component::NameServer),
    )
}

/// Budget of the pods of broker group `group`.
pub(super) fn group(ctx: &Context<'_>, group: i32) -> PodDisruptionBudget {
    budget(
        ctx,
        ctx.names.broker_pdb(group),
        ctx.names.group_selector(group),
    )
}

fn budget(
    ctx: &Context<'_>,
    name: String,
    selector: BTreeMap<String, String>,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ctx.meta(name, &selector),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{desired_children, fixture};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    #[test]
    fn one_budget_for_namesrv_and_one_per_group() {
        let children = desired_children(&fixture::cluster()).expect("children");
        let names: Vec<_> = children
            .pdbs
            .iter()
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, vec!["bc-namesrv", "bc-broker-0", "bc-broker-1"]);
        let group1 = children.pdbs[2].spec.as_ref().expect("spec");
        assert_eq!(group1.max_unavailable, Some(IntOrString::Int(1)));
        let labels = group1
            .selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
            .expect("labels");
        assert_eq!(
            labels.get("ferrimq.io/broker-group").map(String::as_str),
            Some("1")
        );
        assert_eq!(
            labels.get("ferrimq.io/broker-role"),
            None,
            "covers master and slaves"
        );
        fixture::assert_owned_and_labelled(&children.pdbs[0].metadata);
    }
}
