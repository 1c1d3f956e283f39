//! A fully specified `BrokerCluster` for builder tests, and shared assertions.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::crd::{
    BrokerCluster, BrokerClusterSpec, BrokersSpec, FlushDiskType, ImagePullPolicy, NameServerSpec,
    OfflineGroupPolicy, Placement, ReclaimPolicy, ReplicationMode, StorageSpec, TopicSpec,
};

/// UID given to the fixture cluster.
pub const UID: &str = "5b1f0c1e-0000-4000-8000-000000000001";

fn resources(cpu: &str, memory: &str) -> ResourceRequirements {
    let q = BTreeMap::from([
        ("cpu".to_string(), Quantity(cpu.to_string())),
        ("memory".to_string(), Quantity(memory.to_string())),
    ]);
    ResourceRequirements {
        limits: Some(q.clone()),
        requests: Some(q),
        ..ResourceRequirements::default()
    }
}

/// `bc` in namespace `mq`: 2 NameServers, 2 groups of 1 master + 2 slaves, SYNC_MASTER.
pub fn cluster() -> BrokerCluster {
    let spec = BrokerClusterSpec {
        image: "ferrimq:test".to_string(),
        image_pull_policy: Some(ImagePullPolicy::IfNotPresent),
        name_server: NameServerSpec {
            replicas: 2,
            resources: Some(resources("250m", "512Mi")),
        },
        brokers: BrokersSpec {
            groups: 2,
            slaves_per_group: 2,
            replication_mode: ReplicationMode::SyncMaster,
            flush_disk_type: FlushDiskType::AsyncFlush,
            storage: StorageSpec {
                size: Quantity("10Gi".to_string()),
                storage_class_name: Some("fast".to_string()),
                reclaim_on_scale_in: ReclaimPolicy::Delete,
            },
            resources: Some(resources("1", "2Gi")),
            config: BTreeMap::from([
                ("autoCreateTopicEnable".to_string(), "false".to_string()),
                ("deleteWhen".to_string(), "04".to_string()),
            ]),
            placement: Some(Placement {
                node_selector: BTreeMap::from([("disk".to_string(), "ssd".to_string())]),
                tolerations: vec![Toleration {
                    key: Some("dedicated".to_string()),
                    operator: Some("Equal".to_string()),
                    value: Some("mq".to_string()),
                    effect: Some("NoSchedule".to_string()),
                    ..Toleration::default()
                }],
                affinity: None,
            }),
            scale_in_offline_groups: OfflineGroupPolicy::Wait,
        },
        topics: vec![TopicSpec {
            name: "orders".to_string(),
            queues: Some(8),
            read_queue_nums: None,
            write_queue_nums: None,
            perm: 6,
            offline_groups: OfflineGroupPolicy::Wait,
        }],
    };
    let mut bc = BrokerCluster::new("bc", spec);
    bc.metadata = ObjectMeta {
        name: Some("bc".to_string()),
        namespace: Some("mq".to_string()),
        uid: Some(UID.to_string()),
        generation: Some(3),
        ..ObjectMeta::default()
    };
    bc
}

/// Asserts the owner reference to the fixture and the common labels.
pub fn assert_owned_and_labelled(meta: &ObjectMeta) {
    let owners = meta.owner_references.as_ref().expect("owner references");
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].kind, "BrokerCluster");
    assert_eq!(owners[0].api_version, "ferrimq.io/v1alpha1");
    assert_eq!(owners[0].name, "bc");
    assert_eq!(owners[0].uid, UID);
    assert_eq!(owners[0].controller, Some(true));
    assert_eq!(meta.namespace.as_deref(), Some("mq"));
    let labels = meta.labels.as_ref().expect("labels");
    assert_eq!(
        labels.get("app.kubernetes.io/name").map(String::as_str),
        Some("ferrimq")
    );
    assert_eq!(
        labels.get("app.kubernetes.io/instance").map(String::as_str),
        Some("bc")
    );
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("ferrimq-operator")
    );
    assert_eq!(
        labels.get("app.kubernetes.io/part-of").map(String::as_str),
        Some("ferrimq")
    );
}
