//! Broker StatefulSets: per group one for the master (1 pod, brokerId 0) and one for the
//! slaves (`slavesPerGroup` pods, brokerId = ordinal + 1), slaves listed first so rollouts
//! touch slaves before masters.

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;

use super::Context;
use super::config::{STORE_ROOT, conf_file, render_broker_conf, role_replicas};
use super::names::{BROKER_HA_PORT, BROKER_PORT, BROKER_VIP_PORT, Role};
use super::pod::{
    CONFIG_HASH_ANNOTATION, config_hash, downward_env, exec_probe, security_context, tcp_probe,
    with_anti_affinity,
};
use crate::crd::ReclaimPolicy;

/// Mount point of the broker.conf ConfigMap.
pub const CONFIG_DIR: &str = "/etc/ferrimq";
/// Name of the volume claim template (and of each pod's store volume).
pub const STORE_VOLUME: &str = "store";

/// The slave set (when the group has slaves) then the master set of `group`.
pub(super) fn group_sets(ctx: &Context<'_>, group: i32) -> Vec<StatefulSet> {
    [Role::Slave, Role::Master]
        .into_iter()
        .filter(|role| role_replicas(ctx.spec, *role) > 0)
        .map(|role| stateful_set(ctx, group, role))
        .collect()
}

fn stateful_set(ctx: &Context<'_>, group: i32, role: Role) -> StatefulSet {
    let selector = ctx.names.set_selector(group, role);
    let reclaim = match ctx.spec.brokers.storage.reclaim_on_scale_in {
        ReclaimPolicy::Delete => "Delete",
        ReclaimPolicy::Retain => "Retain",
    };
    StatefulSet {
        metadata: ctx.meta(ctx.names.broker_set(group, role), &selector),
        spec: Some(StatefulSetSpec {
            replicas: Some(role_replicas(ctx.spec, role)),
            service_name: Some(ctx.names.broker_headless_service()),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..LabelSelector::default()
            },
            template: pod_template(ctx, group, role),
            volume_claim_templates: Some(vec![store_claim(ctx)]),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some(reclaim.to_string()),
                    when_scaled: Some(reclaim.to_string()),
                },
            ),
            ..StatefulSetSpec::default()
        }),
        status: None,
    }
}

fn pod_template(ctx: &Context<'_>, group: i32, role: Role) -> PodTemplateSpec {
    let files: BTreeMap<String, String> = (0..role_replicas(ctx.spec, role))
        .map(|i| {
            (
                conf_file(i),
                render_broker_conf(ctx.spec, &ctx.names, group, role, i),
            )
        })
        .collect();
    let placement = ctx.spec.brokers.placement.clone().unwrap_or_default();
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(ctx.names.labels_with(&ctx.names.set_selector(group, role))),
            annotations: Some(BTreeMap::from([(
                CONFIG_HASH_ANNOTATION.to_string(),
                config_hash(&files),
            )])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container(ctx)],
            volumes: Some(vec![Volume {
                name: "config".to_string(),
                config_map: Some(ConfigMapVolumeSource {
                    name: ctx.names.broker_config_map(group, role),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            }]),
            affinity: Some(with_anti_affinity(
                placement.affinity.as_ref(),
                ctx.names.group_selector(group),
            )),
            node_selector: (!placement.node_selector.is_empty()).then_some(placement.node_selector),
            tolerations: (!placement.tolerations.is_empty()).then_some(placement.tolerations),
            termination_grace_period_seconds: Some(120),
            security_context: Some(security_context()),
            ..PodSpec::default()
        }),
    }
}

fn container(ctx: &Context<'_>) -> Container {
    Container {
        name: "broker".to_string(),
        image: Some(ctx.spec.image.clone()),
        image_pull_policy: ctx.spec.image_pull_policy.map(|p| p.as_str().to_string()),
        args: Some(vec![
            "broker".to_string(),
            "-c".to_string(),
            format!("{CONFIG_DIR}/broker-$(POD_INDEX).conf"),
        ]),
        env: Some(downward_env()),
        ports: Some(vec![
            port("broker", BROKER_PORT),
            port("vip", BROKER_VIP_PORT),
            port("ha", BROKER_HA_PORT),
        ]),
        resources: ctx.spec.brokers.resources.clone(),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "config".to_string(),
                mount_path: CONFIG_DIR.to_string(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: STORE_VOLUME.to_string(),
                mount_path: STORE_ROOT.to_string(),
                ..VolumeMount::default()
            },
        ]),
        // TCP for startup: the port is bound only after store recovery, which may take
        // minutes; then a real request for readiness and liveness (see docs/operator.md).
        startup_probe: Some(tcp_probe(BROKER_PORT, 5, 120)),
        readiness_probe: Some(exec_probe("broker", BROKER_PORT, 10, 3)),
        liveness_probe: Some(exec_probe("broker", BROKER_PORT, 15, 4)),
        ..Container::default()
    }
}

/// Named TCP container port.
pub(super) fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_string()),
        container_port: number,
        protocol: Some("TCP".to_string()),
        ..ContainerPort::default()
    }
}

fn store_claim(ctx: &Context<'_>) -> PersistentVolumeClaim {
    let storage = &ctx.spec.brokers.storage;
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(STORE_VOLUME.to_string()),
            labels: Some(ctx.names.common_labels()),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_string()]),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    storage.size.clone(),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
#[path = "broker_tests.rs"]
mod tests;
