//! Pieces shared by the NameServer and broker pod templates: environment, probes, placement
//! and the config hash that rolls pods when their broker.conf changes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, EnvVarSource, ExecAction, ObjectFieldSelector, PodAffinityTerm,
    PodAntiAffinity, PodSecurityContext, Probe, SeccompProfile, TCPSocketAction,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Pod template annotation carrying [`config_hash`], so a config change rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "ferrimq.io/config-hash";
/// Node label spreading pods of one group across nodes.
const HOSTNAME_TOPOLOGY: &str = "kubernetes.io/hostname";

/// The uid/gid the `ferrimq` image runs as (deploy/Containerfile.ferrimq).
pub const IMAGE_UID: i64 = 65532;

/// Pod security context of every ferrimq pod: non-root as the image's user, and `fsGroup` so the
/// store volume (a fresh PVC is owned by root) is writable by that user.
pub fn security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(IMAGE_UID),
        run_as_group: Some(IMAGE_UID),
        fs_group: Some(IMAGE_UID),
        fs_group_change_policy: Some("OnRootMismatch".to_string()),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

/// `POD_INDEX`, `POD_NAME` and `POD_NAMESPACE` from the downward API.
pub fn downward_env() -> Vec<EnvVar> {
    vec![
        field_env(
            "POD_INDEX",
            "metadata.labels['apps.kubernetes.io/pod-index']",
        ),
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
    ]
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_string(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// Probe opening a TCP connection to `port`.
pub fn tcp_probe(port: i32, period: i32, failures: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(port),
            ..TCPSocketAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(3),
        ..Probe::default()
    }
}

/// Path of the `ferrimq` binary in the broker image (`deploy/Containerfile.ferrimq`).
pub const FERRIMQ_BIN: &str = "/usr/local/bin/ferrimq";

/// Exec probe running `ferrimq probe <target> --addr 127.0.0.1:<port>`: a real request answered
/// with SUCCESS (the image has no shell, so the probe is the binary itself).
pub fn exec_probe(target: &str, port: i32, period: i32, failures: i32) -> Probe {
    let command = [
        FERRIMQ_BIN,
        "probe",
        target,
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "3",
    ];
    Probe {
        exec: Some(ExecAction {
            command: Some(command.iter().map(|s| s.to_string()).collect()),
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(5),
        ..Probe::default()
    }
}

/// `base` (the user's affinity) plus a preferred anti-affinity term keeping pods matching
/// `selector` on different nodes.
pub fn with_anti_affinity(base: Option<&Affinity>, selector: BTreeMap<String, String>) -> Affinity {
    let mut affinity = base.cloned().unwrap_or_default();
    let anti = affinity
        .pod_anti_affinity
        .get_or_insert_with(PodAntiAffinity::default);
    let preferred = anti
        .preferred_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new);
    preferred.push(WeightedPodAffinityTerm {
        weight: 100,
        pod_affinity_term: PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            }),
            topology_key: HOSTNAME_TOPOLOGY.to_string(),
            ..PodAffinityTerm::default()
        },
    });
    affinity
}

/// Stable 64-bit FNV-1a hash of config files (name and content), as 16 hex digits.
pub fn config_hash(files: &BTreeMap<String, String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, content) in files {
        for byte in name.bytes().chain([0]).chain(content.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pod_runs_as_the_image_user_with_a_writable_volume() {
        let children =
            super::super::desired_children(&super::super::fixture::cluster()).expect("children");
        assert!(!children.stateful_sets.is_empty());
        for set in &children.stateful_sets {
            let pod = set.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
            let sc = pod.security_context.as_ref().expect("security context");
            assert_eq!(sc.fs_group, Some(IMAGE_UID), "{:?}", set.metadata.name);
            assert_eq!(sc.run_as_user, Some(IMAGE_UID));
            assert_eq!(sc.run_as_non_root, Some(true));
        }
    }

    #[test]
    fn config_hash_is_stable_and_content_sensitive() {
        let a = BTreeMap::from([("broker-0.conf".to_string(), "brokerId=0\n".to_string())]);
        let b = BTreeMap::from([("broker-0.conf".to_string(), "brokerId=1\n".to_string())]);
        assert_eq!(config_hash(&a), config_hash(&a.clone()));
        assert_ne!(config_hash(&a), config_hash(&b));
        assert_eq!(config_hash(&BTreeMap::new()), "cbf29ce484222325");
    }

    #[test]
    fn anti_affinity_is_added_next_to_user_terms() {
        let user = with_anti_affinity(None, BTreeMap::from([("x".into(), "1".into())]));
        let merged = with_anti_affinity(Some(&user), BTreeMap::from([("y".into(), "2".into())]));
        let terms = merged
            .pod_anti_affinity
            .and_then(|a| a.preferred_during_scheduling_ignored_during_execution)
            .unwrap_or_default();
        assert_eq!(terms.len(), 2);
        assert_eq!(
            terms[1].pod_affinity_term.topology_key,
            "kubernetes.io/hostname"
        );
    }

    #[test]
    fn pod_index_comes_from_the_statefulset_label() {
        let env = downward_env();
        let path = env[0]
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str());
        assert_eq!(env[0].name, "POD_INDEX");
        assert_eq!(
            path,
            Some("metadata.labels['apps.kubernetes.io/pod-index']")
        );
    }
}
