//! Names, labels and DNS addresses of every child of a `BrokerCluster`.
//!
//! One place decides how children are called so that builders, the reconciler and tests agree.
//! Every StatefulSet gets a selector unique to it (component + group + role), unlike the
//! overlapping selectors of apache/rocketmq-operator.

use std::collections::BTreeMap;

/// NameServer listen port.
pub const NAMESRV_PORT: i32 = 9876;
/// Broker listen port (`listenPort`).
pub const BROKER_PORT: i32 = 10911;
/// Broker VIP channel port (`listenPort - 2`).
pub const BROKER_VIP_PORT: i32 = 10909;
/// Broker HA port (`haListenPort`, `listenPort + 1`).
pub const BROKER_HA_PORT: i32 = 10912;

/// Label: group of the broker.
pub const LABEL_GROUP: &str = "ferrimq.io/broker-group";
/// Label: master or slave.
pub const LABEL_ROLE: &str = "ferrimq.io/broker-role";
/// Field manager used for server-side apply.
pub const FIELD_MANAGER: &str = "ferrimq-operator";

/// Tier of a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// NameServer pods.
    NameServer,
    /// Broker pods.
    Broker,
}

impl Component {
    /// Value of `app.kubernetes.io/component`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NameServer => "namesrv",
            Self::Broker => "broker",
        }
    }
}

/// Role of a broker StatefulSet inside its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// brokerId 0.
    Master,
    /// brokerId 1.. (pod index + 1).
    Slave,
}

impl Role {
    /// Value of the role label and name suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Slave => "slave",
        }
    }

    /// `brokerId` of the pod with StatefulSet ordinal `index`.
    pub fn broker_id(self, index: i32) -> i32 {
        match self {
            Self::Master => 0,
            Self::Slave => index + 1,
        }
    }
}

/// Naming scheme of one cluster (its name and namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// `metadata.name` of the BrokerCluster (also RocketMQ `brokerClusterName`).
    pub cluster: String,
    /// Namespace of the BrokerCluster and all its children.
    pub namespace: String,
}

impl Names {
    /// Names for cluster `cluster` in `namespace`.
    pub fn new(cluster: &str, namespace: &str) -> Self {
        Self {
            cluster: cluster.to_string(),
            namespace: namespace.to_string(),
        }
    }

    /// NameServer StatefulSet (and PDB) name.
    pub fn namesrv(&self) -> String {
        format!("{}-namesrv", self.cluster)
    }

    /// Client-facing NameServer Service (ClusterIP).
    pub fn namesrv_client_service(&self) -> String {
        self.namesrv()
    }

    /// Headless Service giving each NameServer pod a stable DNS name.
    pub fn namesrv_headless_service(&self) -> String {
        format!("{}-namesrv-headless", self.cluster)
    }

    /// Headless Service giving each broker pod a stable DNS name.
    pub fn broker_headless_service(&self) -> String {
        format!("{}-broker-headless", self.cluster)
    }

    /// RocketMQ `brokerName` of group `group`.
    pub fn broker_name(&self, group: i32) -> String {
        format!("{}-broker-{group}", self.cluster)
    }

    /// StatefulSet of `role` in `group`.
    pub fn broker_set(&self, group: i32, role: Role) -> String {
        format!("{}-{}", self.broker_name(group), role.as_str())
    }

    /// ConfigMap holding broker.conf files of `role` in `group`.
    pub fn broker_config_map(&self, group: i32, role: Role) -> String {
        format!("{}-config", self.broker_set(group, role))
    }

    /// PodDisruptionBudget of `group`.
    pub fn broker_pdb(&self, group: i32) -> String {
        self.broker_name(group)
    }

    /// Stable DNS name of NameServer pod `index`.
    pub fn namesrv_host(&self, index: i32) -> String {
        format!(
            "{}-{index}.{}.{}.svc",
            self.namesrv(),
            self.namesrv_headless_service(),
            self.namespace
        )
    }

    /// `namesrvAddr`: every NameServer pod, `host:9876` joined by `;`.
    pub fn namesrv_addr(&self, replicas: i32) -> String {
        (0..replicas)
            .map(|i| format!("{}:{NAMESRV_PORT}", self.namesrv_host(i)))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Stable DNS name (`brokerIP1`) of broker pod `index` of `role` in `group`.
    pub fn broker_host(&self, group: i32, role: Role, index: i32) -> String {
        format!(
            "{}-{index}.{}.{}.svc",
            self.broker_set(group, role),
            self.broker_headless_service(),
            self.namespace
        )
    }

    /// Labels shared by every child of the cluster.
    pub fn common_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "ferrimq".to_string()),
            (
                "app.kubernetes.io/instance".to_string(),
                self.cluster.clone(),
            ),
            (
                "app.kubernetes.io/managed-by".to_string(),
                FIELD_MANAGER.to_string(),
            ),
            (
                "app.kubernetes.io/part-of".to_string(),
                "ferrimq".to_string(),
            ),
        ])
    }

    /// Selector of every pod of one component.
    pub fn component_selector(&self, component: Component) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "ferrimq".to_string()),
            (
                "app.kubernetes.io/instance".to_string(),
                self.cluster.clone(),
            ),
            (
                "app.kubernetes.io/component".to_string(),
                component.as_str().to_string(),
            ),
        ])
    }

    /// Selector of every broker pod of `group` (master and slaves).
    pub fn group_selector(&self, group: i32) -> BTreeMap<String, String> {
        let mut labels = self.component_selector(Component::Broker);
        labels.insert(LABEL_GROUP.to_string(), group.to_string());
        labels
    }

    /// Selector of the pods of one broker StatefulSet.
    pub fn set_selector(&self, group: i32, role: Role) -> BTreeMap<String, String> {
        let mut labels = self.group_selector(group);
        labels.insert(LABEL_ROLE.to_string(), role.as_str().to_string());
        labels
    }

    /// Labels of a child: the common labels plus `selector`.
    pub fn labels_with(&self, selector: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut labels = self.common_labels();
        labels.extend(selector.clone());
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_follow_statefulset_and_headless_service() {
        let n = Names::new("bc", "mq");
        assert_eq!(n.namesrv_host(1), "bc-namesrv-1.bc-namesrv-headless.mq.svc");
        assert_eq!(
            n.namesrv_addr(2),
            "bc-namesrv-0.bc-namesrv-headless.mq.svc:9876;bc-namesrv-1.bc-namesrv-headless.mq.svc:9876"
        );
        assert_eq!(
            n.broker_host(3, Role::Slave, 1),
            "bc-broker-3-slave-1.bc-broker-headless.mq.svc"
        );
        assert_eq!(
            n.broker_config_map(0, Role::Master),
            "bc-broker-0-master-config"
        );
    }

    #[test]
    fn selectors_of_different_sets_never_overlap() {
        let n = Names::new("bc", "mq");
        let a = n.set_selector(0, Role::Master);
        let b = n.set_selector(0, Role::Slave);
        let c = n.set_selector(1, Role::Master);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.get(LABEL_ROLE).map(String::as_str), Some("master"));
        assert_eq!(c.get(LABEL_GROUP).map(String::as_str), Some("1"));
        assert_eq!(a.len(), 5);
    }

    #[test]
    fn broker_ids_are_zero_for_master_and_index_plus_one_for_slaves() {
        assert_eq!(Role::Master.broker_id(0), 0);
        assert_eq!(Role::Slave.broker_id(0), 1);
        assert_eq!(Role::Slave.broker_id(1), 2);
    }
}
