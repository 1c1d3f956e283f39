//! Server-side apply and pruning of a cluster's children.
//!
//! Every child is applied with the `ferrimq-operator` field manager (forced, so the operator
//! wins over hand edits of the fields it sets). Within a group the slave StatefulSet goes
//! first; an existing master's update waits until the slave set has rolled out. Children the
//! spec no longer asks for (found by label, confirmed by owner uid) are deleted.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::info;

use crate::build::Children;
use crate::build::names::{FIELD_MANAGER, LABEL_ROLE};
use crate::crd::BrokerCluster;

/// Applies every child in order; returns how many master updates wait for their slaves.
pub(crate) async fn apply_children(
    client: &Client,
    namespace: &str,
    children: &Children,
) -> Result<usize, kube::Error> {
    for cm in &children.config_maps {
        ssa(client, namespace, cm).await?;
    }
    for svc in &children.services {
        ssa(client, namespace, svc).await?;
    }
    let mut held = 0;
    let mut slaves_rolled_out = true;
    for set in &children.stateful_sets {
        let role = set
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_ROLE))
            .map(String::as_str);
        if role == Some("master")
            && !slaves_rolled_out
            && exists::<StatefulSet>(client, namespace, set).await?
        {
            held += 1;
            slaves_rolled_out = true;
            continue;
        }
        let applied = ssa(client, namespace, set).await?;
        slaves_rolled_out = role != Some("slave") || rolled_out(&applied);
    }
    for pdb in &children.pdbs {
        ssa(client, namespace, pdb).await?;
    }
    Ok(held)
}

/// Whether a StatefulSet's controller has seen its latest spec and every pod runs it, ready.
fn rolled_out(set: &StatefulSet) -> bool {
    let (Some(spec), Some(st)) = (set.spec.as_ref(), set.status.as_ref()) else {
        return false;
    };
    let replicas = spec.replicas.unwrap_or(1);
    st.observed_generation >= set.metadata.generation
        && st.current_revision == st.update_revision
        && st.updated_replicas.unwrap_or(0) >= replicas
        && st.ready_replicas.unwrap_or(0) >= replicas
}

async fn ssa<K>(client: &Client, namespace: &str, obj: &K) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Serialize + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&obj.name_any(), &params, &Patch::Apply(obj))
        .await
}

async fn exists<K>(client: &Client, namespace: &str, obj: &K) -> Result<bool, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    Ok(api.get_opt(&obj.name_any()).await?.is_some())
}

pub(crate) fn owned_selector(cluster: &str) -> String {
    format!("app.kubernetes.io/instance={cluster},app.kubernetes.io/managed-by={FIELD_MANAGER}")
}

pub(crate) async fn owned_list<K>(
    client: &Client,
    namespace: &str,
    cluster: &str,
) -> Result<Vec<K>, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    Ok(api
        .list(&ListParams::default().labels(&owned_selector(cluster)))
        .await?
        .items)
}

/// Deletes children of kind `K` this cluster owns that `keep` does not list.
async fn prune_kind<K>(
    client: &Client,
    cluster: &BrokerCluster,
    keep: &[&K],
) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let namespace = cluster.namespace().unwrap_or_default();
    let uid = cluster.uid();
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    for obj in owned_list::<K>(client, &namespace, &cluster.name_any()).await? {
        let owned = obj
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == uid.as_ref());
        if owned && !keep.iter().any(|k| k.name_any() == obj.name_any()) {
            info!(child = %obj.name_any(), "pruning child the spec no longer asks for");
            api.delete(&obj.name_any(), &DeleteParams::default())
                .await?;
        }
    }
    Ok(())
}

pub(crate) async fn prune(
    client: &Client,
    cluster: &BrokerCluster,
    children: &Children,
) -> Result<(), kube::Error> {
    prune_kind(
        client,
        cluster,
        &children.stateful_sets.iter().collect::<Vec<_>>(),
    )
    .await?;
    prune_kind(
        client,
        cluster,
        &children.config_maps.iter().collect::<Vec<_>>(),
    )
    .await?;
    prune_kind(
        client,
        cluster,
        &children.services.iter().collect::<Vec<_>>(),
    )
    .await?;
    prune_kind(client, cluster, &children.pdbs.iter().collect::<Vec<_>>()).await
}
