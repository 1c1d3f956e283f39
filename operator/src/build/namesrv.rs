//! The NameServer StatefulSet.
//!
//! NameServers are stateless, but every broker must register with every one of them, so each
//! pod needs a stable DNS name for `namesrvAddr`: a StatefulSet behind a headless Service gives
//! that (a Deployment's pods have no stable names, and a load-balanced Service would register
//! each broker with a single NameServer). No volumes, parallel pod management.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::Context;
use super::broker::port;
use super::names::{Component, NAMESRV_PORT};
use super::pod::{downward_env, exec_probe, security_context, with_anti_affinity};

/// The NameServer StatefulSet of the cluster.
pub(super) fn stateful_set(ctx: &Context<'_>) -> StatefulSet {
    let selector = ctx.names.component_selector(Component::NameServer);
    let spec = &ctx.spec.name_server;
    let container = Container {
        name: "namesrv".to_string(),
        image: Some(ctx.spec.image.clone()),
        image_pull_policy: ctx.spec.image_pull_policy.map(|p| p.as_str().to_string()),
        args: Some(vec!["namesrv".to_string()]),
        env: Some(downward_env()),
        ports: Some(vec![port("namesrv", NAMESRV_PORT)]),
        resources: spec.resources.clone(),
        readiness_probe: Some(exec_probe("namesrv", NAMESRV_PORT, 5, 3)),
        liveness_probe: Some(exec_probe("namesrv", NAMESRV_PORT, 10, 6)),
        ..Container::default()
    };
    StatefulSet {
        metadata: ctx.meta(ctx.names.namesrv(), &selector),
        spec: Some(StatefulSetSpec {
            replicas: Some(spec.replicas),
            service_name: Some(ctx.names.namesrv_headless_service()),
            pod_management_policy: Some("Parallel".to_string()),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(ctx.names.labels_with(&selector)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    affinity: Some(with_anti_affinity(None, selector)),
                    security_context: Some(security_context()),
                    ..PodSpec::default()
                }),
            },
            ..StatefulSetSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{desired_children, fixture};

    #[test]
    fn namesrv_set_has_stable_dns_port_and_replicas() {
        let children = desired_children(&fixture::cluster()).expect("children");
        let set = &children.stateful_sets[0];
        assert_eq!(set.metadata.name.as_deref(), Some("bc-namesrv"));
        fixture::assert_owned_and_labelled(&set.metadata);
        let spec = set.spec.as_ref().expect("spec");
        assert_eq!(spec.replicas, Some(2));
        assert_eq!(spec.service_name.as_deref(), Some("bc-namesrv-headless"));
        assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
        assert_eq!(spec.volume_claim_templates, None);
        let pod = spec.template.spec.as_ref().expect("pod");
        let c = &pod.containers[0];
        assert_eq!(c.args, Some(vec!["namesrv".to_string()]));
        let probe = c.readiness_probe.as_ref().and_then(|p| p.exec.as_ref());
        assert_eq!(
            probe.and_then(|e| e.command.as_ref()).map(|c| c.join(" ")),
            Some("/usr/local/bin/ferrimq probe namesrv --addr 127.0.0.1:9876 --timeout 3".into())
        );
        assert_eq!(c.ports.as_ref().map(|p| p[0].container_port), Some(9876));
        assert_eq!(c.image.as_deref(), Some("ferrimq:test"));
        assert_eq!(
            c.resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .and_then(|l| l.get("memory"))
                .map(|q| q.0.as_str()),
            Some("512Mi")
        );
        let selector = spec.selector.match_labels.as_ref().expect("selector");
        assert_eq!(
            selector
                .get("app.kubernetes.io/component")
                .map(String::as_str),
            Some("namesrv")
        );
        assert_eq!(
            spec.template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.as_ref())
                .map(|l| l.len()),
            Some(5)
        );
    }
}
