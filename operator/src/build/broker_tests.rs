//! Shape tests of the broker StatefulSets.

use k8s_openapi::api::apps::v1::StatefulSet;

use super::super::{BuildError, desired_children, fixture};

fn sets() -> Vec<StatefulSet> {
    desired_children(&fixture::cluster())
        .expect("children")
        .stateful_sets
}

fn find<'a>(sets: &'a [StatefulSet], name: &str) -> &'a StatefulSet {
    sets.iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .expect(name)
}

#[test]
fn one_slave_and_one_master_set_per_group_slaves_first() {
    let names: Vec<_> = sets()
        .iter()
        .map(|s| s.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        vec![
            "bc-namesrv",
            "bc-broker-0-slave",
            "bc-broker-0-master",
            "bc-broker-1-slave",
            "bc-broker-1-master"
        ]
    );
}

#[test]
fn master_set_shape() {
    let all = sets();
    let set = find(&all, "bc-broker-1-master");
    fixture::assert_owned_and_labelled(&set.metadata);
    let spec = set.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.service_name.as_deref(), Some("bc-broker-headless"));
    let selector = spec.selector.match_labels.clone().expect("selector");
    assert_eq!(
        selector.get("ferrimq.io/broker-group").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        selector.get("ferrimq.io/broker-role").map(String::as_str),
        Some("master")
    );
    let retention = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .expect("retention");
    assert_eq!(retention.when_deleted.as_deref(), Some("Delete"));
    assert_eq!(retention.when_scaled.as_deref(), Some("Delete"));
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .expect("labels");
    for (k, v) in &selector {
        assert_eq!(
            template_labels.get(k),
            Some(v),
            "template carries selector label {k}"
        );
    }
}

#[test]
fn broker_container_ports_args_env_and_mounts() {
    let all = sets();
    let pod = find(&all, "bc-broker-0-slave")
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .expect("pod");
    let c = &pod.containers[0];
    assert_eq!(c.name, "broker");
    assert_eq!(c.image.as_deref(), Some("ferrimq:test"));
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        c.args,
        Some(vec![
            "broker".to_string(),
            "-c".to_string(),
            "/etc/ferrimq/broker-$(POD_INDEX).conf".to_string()
        ])
    );
    let ports: Vec<_> = c
        .ports
        .as_ref()
        .expect("ports")
        .iter()
        .map(|p| (p.name.clone().unwrap_or_default(), p.container_port))
        .collect();
    assert_eq!(
        ports,
        vec![
            ("broker".into(), 10911),
            ("vip".into(), 10909),
            ("ha".into(), 10912)
        ]
    );
    let env: Vec<_> = c
        .env
        .as_ref()
        .expect("env")
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(env, vec!["POD_INDEX", "POD_NAME", "POD_NAMESPACE"]);
    let mounts: Vec<_> = c
        .volume_mounts
        .as_ref()
        .expect("mounts")
        .iter()
        .map(|m| (m.name.as_str(), m.mount_path.as_str(), m.read_only))
        .collect();
    assert_eq!(
        mounts,
        vec![
            ("config", "/etc/ferrimq", Some(true)),
            ("store", "/var/lib/ferrimq/store", None)
        ]
    );
    let port = c
        .startup_probe
        .as_ref()
        .and_then(|p| p.tcp_socket.as_ref())
        .map(|t| t.port.clone());
    assert_eq!(
        port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(10911))
    );
    for probe in [&c.readiness_probe, &c.liveness_probe] {
        let command = probe
            .as_ref()
            .and_then(|p| p.exec.as_ref())
            .and_then(|e| e.command.clone());
        assert_eq!(
            command,
            Some(
                [
                    "/usr/local/bin/ferrimq",
                    "probe",
                    "broker",
                    "--addr",
                    "127.0.0.1:10911",
                    "--timeout",
                    "3"
                ]
                .map(String::from)
                .to_vec()
            )
        );
    }
    let volume = &pod.volumes.as_ref().expect("volumes")[0];
    assert_eq!(
        volume.config_map.as_ref().map(|c| c.name.as_str()),
        Some("bc-broker-0-slave-config")
    );
    assert_eq!(
        pod.node_selector
            .as_ref()
            .and_then(|n| n.get("disk"))
            .map(String::as_str),
        Some("ssd")
    );
    assert_eq!(pod.tolerations.as_ref().map(Vec::len), Some(1));
    assert_eq!(pod.termination_grace_period_seconds, Some(120));
}

#[test]
fn slave_set_has_slave_count_and_claim_template() {
    let all = sets();
    let spec = find(&all, "bc-broker-0-slave").spec.clone().expect("spec");
    assert_eq!(spec.replicas, Some(2));
    let claims = spec.volume_claim_templates.expect("claims");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].metadata.name.as_deref(), Some("store"));
    let claim = claims[0].spec.as_ref().expect("claim spec");
    assert_eq!(claim.storage_class_name.as_deref(), Some("fast"));
    assert_eq!(claim.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
    let size = claim
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone());
    assert_eq!(size.as_deref(), Some("10Gi"));
}

#[test]
fn master_and_slaves_of_a_group_repel_each_other() {
    let all = sets();
    let pod = find(&all, "bc-broker-1-master")
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .expect("pod");
    let terms = pod
        .affinity
        .and_then(|a| a.pod_anti_affinity)
        .and_then(|a| a.preferred_during_scheduling_ignored_during_execution)
        .expect("anti-affinity");
    let labels = terms[0]
        .pod_affinity_term
        .label_selector
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
        "matches master and slaves of the group"
    );
}

#[test]
fn config_change_changes_the_pod_template_hash() {
    let before = sets();
    let mut bc = fixture::cluster();
    bc.spec
        .brokers
        .config
        .insert("deleteWhen".into(), "05".into());
    let after = desired_children(&bc).expect("children").stateful_sets;
    let hash = |s: &StatefulSet| {
        s.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.clone())
            .and_then(|a| a.get("ferrimq.io/config-hash").cloned())
    };
    assert!(hash(&before[2]).is_some());
    assert_ne!(hash(&before[2]), hash(&after[2]));
}

#[test]
fn no_slave_set_without_slaves() {
    let mut bc = fixture::cluster();
    bc.spec.brokers.slaves_per_group = 0;
    bc.spec.brokers.replication_mode = crate::crd::ReplicationMode::AsyncMaster;
    let children = desired_children(&bc).expect("children");
    assert_eq!(children.stateful_sets.len(), 3);
}

#[test]
fn cluster_without_uid_cannot_own_children() {
    let mut bc = fixture::cluster();
    bc.metadata.uid = None;
    assert_eq!(
        desired_children(&bc),
        Err(BuildError::MissingUid { name: "bc".into() })
    );
}
