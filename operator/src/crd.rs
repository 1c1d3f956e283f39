//! The `BrokerCluster` custom resource (group `ferrimq.io`, version `v1alpha1`).
//!
//! This module owns the wire shape of the CRD: the spec users write, the status the operator
//! reports, and every rule the API server can enforce by itself (ranges, enums, CEL
//! `x-kubernetes-validations`). Rules that need more than one object or more context than CEL
//! has live in [`crate::validate`]. The YAML under `crds/` is generated from these types by the
//! `crdgen` binary and must never be edited by hand.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::drain::GroupDrain;
use crate::shrink::TopicOperation;

/// API group of every ferrimq custom resource.
pub const GROUP: &str = "ferrimq.io";
/// Served and stored version of `BrokerCluster`.
pub const VERSION: &str = "v1alpha1";

/// Desired state of a ferrimq cluster: NameServers, broker groups and declared topics.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "ferrimq.io",
    version = "v1alpha1",
    kind = "BrokerCluster",
    plural = "brokerclusters",
    shortname = "bc",
    category = "ferrimq",
    namespaced,
    status = "BrokerClusterStatus",
    printcolumn = r#"{"name":"Groups","type":"string","description":"broker groups whose master and slaves are ready","jsonPath":".status.readyGroups"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Topics-Changing","type":"integer","description":"topics with a queue change in progress","jsonPath":".status.topicsChanging"}"#,
    printcolumn = r#"{"name":"Image","type":"string","priority":1,"jsonPath":".spec.image"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BrokerClusterSpec {
    /// Container image holding the `ferrimq` binary (NameServer and broker).
    #[schemars(length(min = 1))]
    pub image: String,
    /// Pull policy for `image`; Kubernetes' default applies when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// NameServer tier.
    #[serde(default)]
    pub name_server: NameServerSpec,
    /// Broker groups (one master and `slavesPerGroup` slaves each).
    pub brokers: BrokersSpec,
    /// Topics the operator creates and keeps at the declared queue counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 512))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub topics: Vec<TopicSpec>,
}

/// Kubernetes image pull policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImagePullPolicy {
    /// Always pull.
    Always,
    /// Pull only when the image is not on the node.
    IfNotPresent,
    /// Never pull.
    Never,
}

impl ImagePullPolicy {
    /// The value Kubernetes expects in a container spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// NameServer tier: a fixed set of stateless pods with stable DNS names.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NameServerSpec {
    /// Number of NameServer pods; every broker registers with all of them.
    #[serde(default = "default_name_server_replicas")]
    #[schemars(range(min = 1, max = 9))]
    pub replicas: i32,
    /// CPU and memory of each NameServer container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl Default for NameServerSpec {
    fn default() -> Self {
        Self {
            replicas: default_name_server_replicas(),
            resources: None,
        }
    }
}

fn default_name_server_replicas() -> i32 {
    2
}

/// Broker tier: `groups` broker groups, each one master and `slavesPerGroup` slaves.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(cel)]
#[x_kube(validation = Rule::new("self.replicationMode != 'SYNC_MASTER' || self.slavesPerGroup >= 1").message("replicationMode SYNC_MASTER needs slavesPerGroup >= 1"))]
pub struct BrokersSpec {
    /// Number of broker groups (each is one `brokerName`).
    #[schemars(range(min = 1, max = 64))]
    pub groups: i32,
    /// Slaves per group (0 to 2).
    #[serde(default = "default_slaves_per_group")]
    #[schemars(range(min = 0, max = 2))]
    pub slaves_per_group: i32,
    /// How a master acknowledges writes relative to its slaves.
    #[serde(default)]
    pub replication_mode: ReplicationMode,
    /// When the commit log is flushed to disk.
    #[serde(default)]
    pub flush_disk_type: FlushDiskType,
    /// Persistent volume of each broker pod.
    pub storage: StorageSpec,
    /// CPU and memory of each broker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra broker.conf keys (RocketMQ key names); keys the operator manages are rejected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Scheduling constraints of broker pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// What a group scale-in drain does about consumer groups with no online consumer.
    #[serde(default)]
    pub scale_in_offline_groups: OfflineGroupPolicy,
}

fn default_slaves_per_group() -> i32 {
    1
}

/// RocketMQ `brokerRole` of masters.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReplicationMode {
    /// The master acknowledges a write once a slave has it.
    SyncMaster,
    /// The master acknowledges a write once it has it; slaves catch up asynchronously.
    #[default]
    AsyncMaster,
}

impl ReplicationMode {
    /// The `brokerRole` value written to broker.conf for a master.
    pub fn broker_role(self) -> &'static str {
        match self {
            Self::SyncMaster => "SYNC_MASTER",
            Self::AsyncMaster => "ASYNC_MASTER",
        }
    }
}

/// RocketMQ `flushDiskType`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlushDiskType {
    /// Flush in the background.
    #[default]
    AsyncFlush,
    /// Flush before acknowledging each write.
    SyncFlush,
}

impl FlushDiskType {
    /// The `flushDiskType` value written to broker.conf.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AsyncFlush => "ASYNC_FLUSH",
            Self::SyncFlush => "SYNC_FLUSH",
        }
    }
}

/// Persistent storage of broker pods (one PersistentVolumeClaim per pod).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Requested size of each volume, e.g. `50Gi`.
    pub size: Quantity,
    /// StorageClass of the claims; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// What happens to the volumes of broker groups removed by scale-in.
    #[serde(default)]
    pub reclaim_on_scale_in: ReclaimPolicy,
}

/// Fate of broker volumes when a group is removed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReclaimPolicy {
    /// Delete the claims with the group.
    Delete,
    /// Keep the claims (the data can be recovered by scaling out again).
    #[default]
    Retain,
}

/// Where broker pods may run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Node labels a broker pod's node must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints broker pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Extra affinity; the operator adds master/slave anti-affinity to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
}

/// A topic declared on every broker group.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(cel)]
#[x_kube(validation = Rule::new("has(self.queues) ? !has(self.readQueueNums) && !has(self.writeQueueNums) : has(self.readQueueNums) && has(self.writeQueueNums)").message("set either queues or both readQueueNums and writeQueueNums"))]
#[x_kube(validation = Rule::new("!has(self.readQueueNums) || !has(self.writeQueueNums) || self.readQueueNums >= self.writeQueueNums").message("readQueueNums must be >= writeQueueNums (queues above the read count are never consumed)"))]
pub struct TopicSpec {
    /// Topic name (RocketMQ rules: letters, digits, `%`, `|`, `_`, `-`; at most 127 characters).
    #[schemars(length(min = 1, max = 127), regex(pattern = r"^[%|a-zA-Z0-9_-]+$"))]
    pub name: String,
    /// Read and write queue count per broker group (shorthand for equal counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub queues: Option<i32>,
    /// Queues consumers read from, per broker group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub read_queue_nums: Option<i32>,
    /// Queues producers write to, per broker group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub write_queue_nums: Option<i32>,
    /// RocketMQ permission bits: 6 read+write, 4 read only, 2 write only.
    #[serde(default = "default_perm")]
    #[x_kube(validation = Rule::new("self == 2 || self == 4 || self == 6").message("perm must be 2, 4 or 6"))]
    pub perm: i32,
    /// What a queue shrink does about consumer groups with no online consumer.
    #[serde(default)]
    pub offline_groups: OfflineGroupPolicy,
}

fn default_perm() -> i32 {
    6
}

impl TopicSpec {
    /// Declared (read, write) queue counts, resolving the `queues` shorthand.
    pub fn queue_counts(&self) -> QueueCounts {
        match self.queues {
            Some(q) => QueueCounts { read: q, write: q },
            None => QueueCounts {
                read: self.read_queue_nums.unwrap_or(1),
                write: self.write_queue_nums.unwrap_or(1),
            },
        }
    }
}

/// Read and write queue counts of a topic on one broker.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueCounts {
    /// `readQueueNums`.
    pub read: i32,
    /// `writeQueueNums`.
    pub write: i32,
}

/// Handling of consumer groups without an online consumer while queues drain.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OfflineGroupPolicy {
    /// Wait until the group's consumers come back and drain the queues (never skips a message).
    #[default]
    Wait,
    /// Do not wait for groups with no online consumer: their unconsumed messages in the removed
    /// queues are given up.
    Ignore,
}

/// Observed state of a `BrokerCluster`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerClusterStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Summary: Pending, Reconciling, Ready, Degraded or Invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ClusterPhase>,
    /// Standard conditions: Valid, ChildrenApplied, Ready, TopicsSynced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `namesrvAddr` value clients and brokers use (`host:9876;host:9876`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_server_addresses: Option<String>,
    /// `ready/desired` broker groups, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_groups: Option<String>,
    /// Readiness of each broker group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupStatus>,
    /// Number of topics with a queue change in progress.
    #[serde(default)]
    pub topics_changing: i32,
    /// Per-topic state, including persisted queue-change operations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<TopicStatus>,
    /// Broker groups being scaled in: drained before their StatefulSets are removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_drains: Vec<GroupDrain>,
}

/// Summary phase of a cluster.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ClusterPhase {
    /// Children are being created for the first time.
    Pending,
    /// Children exist; some are not ready yet or a rollout is in progress.
    Reconciling,
    /// Every NameServer and broker pod is ready.
    Ready,
    /// A previously ready cluster has unready brokers.
    Degraded,
    /// The spec failed validation; nothing was changed.
    Invalid,
}

/// Readiness of one broker group.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// RocketMQ `brokerName` of the group.
    pub broker_name: String,
    /// Whether the master pod is ready.
    pub master_ready: bool,
    /// Ready slave pods.
    pub ready_slaves: i32,
    /// Desired slave pods.
    pub desired_slaves: i32,
}

/// State of one declared topic.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    /// Topic name.
    pub name: String,
    /// Creating, Ready, Shrinking, Growing or Blocked.
    pub phase: TopicPhase,
    /// Queue counts last observed on the brokers (the largest when they disagree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<QueueCounts>,
    /// The queue change in progress, persisted so an operator restart resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<TopicOperation>,
    /// Why the topic is blocked or what it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Phase of one topic.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum TopicPhase {
    /// Not yet present on every broker group.
    Creating,
    /// Present everywhere with the declared queue counts.
    Ready,
    /// Queue counts are being lowered (writes first, drain, then reads).
    Shrinking,
    /// Queue counts are being raised (reads first, then writes).
    Growing,
    /// The change cannot progress (offline broker, offline consumer group with `Wait`).
    Blocked,
}

/// First line of the committed CRD file.
pub const CRD_HEADER: &str =
    "# Generated by `cargo run -p ferrimq-operator --bin crdgen`; do not edit by hand.\n";

/// The CustomResourceDefinition of `BrokerCluster` as YAML, with [`CRD_HEADER`] on top.
pub fn crd_yaml() -> Result<String, serde_norway::Error> {
    use kube::CustomResourceExt;
    Ok(format!(
        "{CRD_HEADER}{}",
        serde_norway::to_string(&BrokerCluster::crd())?
    ))
}

#[cfg(test)]
#[path = "crd_tests.rs"]
mod tests;
