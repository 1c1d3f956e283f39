//! Desired children of a `BrokerCluster`, built by pure functions (no I/O).
//!
//! [`desired_children`] turns a validated cluster into every object the reconciler applies:
//! broker.conf ConfigMaps, headless and client Services, the NameServer and broker
//! StatefulSets and the PodDisruptionBudgets. Each object carries the common
//! `app.kubernetes.io/*` labels and a controller owner reference to the cluster, so Kubernetes'
//! garbage collector removes it with the cluster.

mod broker;
mod config;
pub mod names;
mod namesrv;
mod pdb;
mod pod;
mod services;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;

use crate::crd::{BrokerCluster, BrokerClusterSpec};
pub use config::{MANAGED_BROKER_KEYS, broker_properties, render_broker_conf};
use names::Names;

/// Why children cannot be built (the object is not a stored API object yet).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// The cluster has no namespace.
    #[error("BrokerCluster {name} has no namespace")]
    MissingNamespace {
        /// Cluster name.
        name: String,
    },
    /// The cluster has no uid, so no owner reference can point at it.
    #[error("BrokerCluster {name} has no uid (not read from the API server?)")]
    MissingUid {
        /// Cluster name.
        name: String,
    },
}

/// Every object a `BrokerCluster` owns, in apply order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Children {
    /// broker.conf files, one ConfigMap per group and role.
    pub config_maps: Vec<ConfigMap>,
    /// Headless Services (stable DNS) and the client Service.
    pub services: Vec<Service>,
    /// NameServer StatefulSet, then per group the slave and master StatefulSets.
    pub stateful_sets: Vec<StatefulSet>,
    /// One budget for the NameServers, one per broker group.
    pub pdbs: Vec<PodDisruptionBudget>,
}

/// What every builder needs: the spec, the names and the owner reference.
pub(crate) struct Context<'a> {
    pub spec: &'a BrokerClusterSpec,
    pub names: Names,
    pub owner: OwnerReference,
}

impl Context<'_> {
    /// Metadata of a child: name, namespace, common labels plus `selector`, owner reference.
    pub fn meta(&self, name: String, selector: &BTreeMap<String, String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.names.namespace.clone()),
            labels: Some(self.names.labels_with(selector)),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }
}

/// Builds every child of `cluster`. The spec must have passed [`crate::validate`].
pub fn desired_children(cluster: &BrokerCluster) -> Result<Children, BuildError> {
    let name = cluster.name_any();
    let namespace = cluster
        .namespace()
        .ok_or_else(|| BuildError::MissingNamespace { name: name.clone() })?;
    let owner = cluster
        .controller_owner_ref(&())
        .ok_or(BuildError::MissingUid { name: name.clone() })?;
    let ctx = Context {
        spec: &cluster.spec,
        names: Names::new(&name, &namespace),
        owner,
    };
    let groups = 0..cluster.spec.brokers.groups;
    let mut children = Children {
        config_maps: groups
            .clone()
            .flat_map(|g| config::group_config_maps(&ctx, g))
            .collect(),
        services: services::all(&ctx),
        stateful_sets: vec![namesrv::stateful_set(&ctx)],
        pdbs: vec![pdb::namesrv(&ctx)],
    };
    for group in groups {
        children
            .stateful_sets
            .extend(broker::group_sets(&ctx, group));
        children.pdbs.push(pdb::group(&ctx, group));
    }
    Ok(children)
}

#[cfg(test)]
pub(crate) mod fixture;
