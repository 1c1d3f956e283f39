//! Schema and CEL tests of the `BrokerCluster` CRD.

use super::*;
use kube::CustomResourceExt;
use serde_json::{Value, json};

fn crd_json() -> Value {
    serde_json::to_value(BrokerCluster::crd()).expect("crd json")
}

fn spec_schema() -> Value {
    crd_json()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
}

#[test]
fn crd_identity_scope_short_name_and_subresource() {
    let crd = crd_json();
    assert_eq!(crd["metadata"]["name"], "brokerclusters.ferrimq.io");
    assert_eq!(crd["spec"]["group"], "ferrimq.io");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["bc"]));
    assert_eq!(crd["spec"]["names"]["kind"], "BrokerCluster");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert_eq!(version["subresources"]["status"], json!({}));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        vec!["Groups", "Phase", "Topics-Changing", "Image", "Age"]
    );
}

#[test]
fn ranges_and_enums_are_in_the_schema() {
    let spec = spec_schema();
    let brokers = &spec["properties"]["brokers"]["properties"];
    assert_eq!(brokers["groups"]["minimum"], json!(1.0));
    assert_eq!(brokers["groups"]["maximum"], json!(64.0));
    assert_eq!(brokers["slavesPerGroup"]["maximum"], json!(2.0));
    assert_eq!(
        brokers["replicationMode"]["enum"],
        json!(["SYNC_MASTER", "ASYNC_MASTER"])
    );
    assert_eq!(
        brokers["storage"]["properties"]["reclaimOnScaleIn"]["enum"],
        json!(["Delete", "Retain"])
    );
    assert_eq!(
        spec["properties"]["topics"]["x-kubernetes-list-type"],
        "map"
    );
    assert_eq!(
        spec["properties"]["topics"]["x-kubernetes-list-map-keys"],
        json!(["name"])
    );
    assert_eq!(spec["required"], json!(["brokers", "image"]));
}

fn topic(v: Value) -> Result<(), String> {
    TopicSpec::validate_cel(&v, None).map_err(|e| format!("{e:?}"))
}

#[test]
fn topic_cel_rules_accept_either_queues_or_both_counts() {
    assert_eq!(topic(json!({"name": "t", "queues": 8, "perm": 6})), Ok(()));
    assert_eq!(
        topic(json!({"name": "t", "readQueueNums": 8, "writeQueueNums": 4, "perm": 6})),
        Ok(())
    );
    assert!(topic(json!({"name": "t", "queues": 8, "readQueueNums": 8, "perm": 6})).is_err());
    assert!(topic(json!({"name": "t", "readQueueNums": 8, "perm": 6})).is_err());
    assert!(
        topic(json!({"name": "t", "readQueueNums": 4, "writeQueueNums": 8, "perm": 6})).is_err()
    );
}

#[test]
fn brokers_cel_rule_requires_a_slave_for_sync_master() {
    let base = json!({"groups": 1, "slavesPerGroup": 0, "replicationMode": "SYNC_MASTER", "storage": {"size": "1Gi"}});
    assert!(BrokersSpec::validate_cel(&base, None).is_err());
    let mut ok = base.clone();
    ok["replicationMode"] = json!("ASYNC_MASTER");
    assert!(BrokersSpec::validate_cel(&ok, None).is_ok());
}

#[test]
fn spec_defaults_fill_in_when_absent() {
    let spec: BrokerClusterSpec = serde_json::from_value(json!({
        "image": "ferrimq:1",
        "brokers": {"groups": 2, "storage": {"size": "5Gi"}},
        "topics": [{"name": "t", "queues": 4}]
    }))
    .expect("spec");
    assert_eq!(spec.name_server.replicas, 2);
    assert_eq!(spec.brokers.slaves_per_group, 1);
    assert_eq!(spec.brokers.replication_mode, ReplicationMode::AsyncMaster);
    assert_eq!(spec.brokers.flush_disk_type, FlushDiskType::AsyncFlush);
    assert_eq!(
        spec.brokers.storage.reclaim_on_scale_in,
        ReclaimPolicy::Retain
    );
    assert_eq!(spec.topics[0].perm, 6);
    assert_eq!(
        spec.topics[0].queue_counts(),
        QueueCounts { read: 4, write: 4 }
    );
}
