//! The controller: read -> validate -> build -> apply -> status, for every `BrokerCluster`.
//!
//! Children are applied by the `children` module with server-side apply, so
//! spec changes (image, resources, config) roll out and drift is repaired; children the spec no
//! longer asks for are pruned. Within a group the slave StatefulSet is applied first and the
//! master's update waits until the slaves have rolled out. A finalizer removes the broker
//! volumes when `reclaimOnScaleIn: Delete`. Nothing here sleeps: long work is requeued.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::build::names::{FIELD_MANAGER, Names};
use crate::build::{BuildError, desired_children};
use crate::children;
use crate::crd::{BrokerCluster, BrokerClusterStatus, ClusterPhase, ReclaimPolicy};
use crate::endpoints::Metrics;
use crate::scale_in;
use crate::shrink::Clock;
use crate::status;
use crate::topics::{AdminError, AdminTarget, TopicAdmin, act_all, plan_all};
use crate::validate::{summary, validate};

/// Finalizer guarding volume clean-up.
pub const FINALIZER: &str = "ferrimq.io/cleanup";
/// Requeue while something is in progress.
const BUSY_REQUEUE: Duration = Duration::from_secs(10);
/// Periodic resync of a settled cluster.
const IDLE_REQUEUE: Duration = Duration::from_secs(300);

/// Shared state of all reconciles.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// Exported metrics.
    pub metrics: Arc<Metrics>,
    /// Broker admin access for declared topics; `None` leaves topics untouched.
    pub admin: Option<Arc<dyn TopicAdmin>>,
    /// Seconds to wait after lowering write queues before trusting a zero lag.
    pub drain_grace_seconds: i64,
}

/// Why a reconcile failed (it is retried by [`error_policy`]).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// An API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Children could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A broker admin call failed.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<ReconcileError>>),
}

/// Entry point of one reconcile.
pub async fn reconcile(
    cluster: Arc<BrokerCluster>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let name = cluster.name_any();
    let namespace = cluster
        .namespace()
        .ok_or(BuildError::MissingNamespace { name })?;
    let api: Api<BrokerCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, cluster, |event| async {
        match event {
            Finalizer::Apply(c) => apply(&c, &ctx).await,
            Finalizer::Cleanup(c) => cleanup(&c, &ctx).await,
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer(Box::new(e)));
    ctx.metrics.reconciled(started.elapsed());
    result
}

/// Logs the failure, counts it and retries later.
pub fn error_policy(
    cluster: Arc<BrokerCluster>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    warn!(cluster = %cluster.name_any(), %error, "reconcile failed");
    ctx.metrics.failed();
    Action::requeue(Duration::from_secs(30))
}

async fn apply(cluster: &BrokerCluster, ctx: &Context) -> Result<Action, ReconcileError> {
    let (name, namespace) = (cluster.name_any(), cluster.namespace().unwrap_or_default());
    let generation = cluster.metadata.generation.unwrap_or(0);
    let now = Time(Timestamp::now());
    let problems = validate(&name, &cluster.spec, cluster.status.as_ref());
    if !problems.is_empty() {
        ctx.metrics.invalid();
        let next = status::invalid(cluster.status.as_ref(), generation, &problems, &now);
        patch_status(ctx, &namespace, &name, &next).await?;
        publish(
            ctx,
            cluster,
            EventType::Warning,
            "InvalidSpec",
            summary(&problems),
        )
        .await;
        return Ok(Action::await_change());
    }
    let names = Names::new(&name, &namespace);
    let target = AdminTarget::in_cluster(&names, &cluster.spec);
    let before = children::owned_list::<StatefulSet>(&ctx.client, &namespace, &name).await?;
    let drains = scale_in::plan(
        ctx.admin.as_deref(),
        &target,
        cluster,
        &before,
        clock(ctx, &now),
    )
    .await;
    let mut building = cluster.clone();
    building.spec.brokers.groups = drains.keep_groups;
    let children = desired_children(&building)?;
    let masters_held = children::apply_children(&ctx.client, &namespace, &children).await?;
    children::prune(&ctx.client, cluster, &children).await?;
    let sets = children::owned_list::<StatefulSet>(&ctx.client, &namespace, &name).await?;
    let mut next = status::applied(
        cluster.status.as_ref(),
        generation,
        &names,
        &cluster.spec,
        &sets,
        &now,
    );
    next.group_drains = drains.drains.clone();
    let topics_busy = sync_topics(ctx, cluster, &target, &mut next, &now).await?;
    scale_in::act(ctx.admin.as_deref(), &target, &drains).await?;
    for t in &drains.transitions {
        publish(ctx, cluster, EventType::Normal, t.reason, t.message.clone()).await;
    }
    if cluster.status.as_ref().and_then(|s| s.phase) != next.phase {
        let phase = next.phase.map(|p| format!("{p:?}")).unwrap_or_default();
        publish(
            ctx,
            cluster,
            EventType::Normal,
            "PhaseChanged",
            format!("phase is now {phase}"),
        )
        .await;
    }
    let settled = next.phase == Some(ClusterPhase::Ready)
        && !topics_busy
        && !drains.busy()
        && masters_held == 0;
    Ok(Action::requeue(if settled {
        IDLE_REQUEUE
    } else {
        BUSY_REQUEUE
    }))
}

/// Advances declared topics (status persisted before acting); true while any is in progress.
async fn sync_topics(
    ctx: &Context,
    cluster: &BrokerCluster,
    target: &AdminTarget,
    next: &mut BrokerClusterStatus,
    now: &Time,
) -> Result<bool, ReconcileError> {
    let names = &target.names;
    let generation = cluster.metadata.generation.unwrap_or(0);
    let Some(admin) = ctx.admin.as_deref() else {
        let ok = cluster.spec.topics.is_empty();
        let message = if ok {
            String::new()
        } else {
            "no broker admin client configured; topics are not managed".to_string()
        };
        status::set_condition(
            &mut next.conditions,
            "TopicsSynced",
            ok,
            if ok {
                "NoTopics"
            } else {
                "AdminClientUnavailable"
            },
            message,
            generation,
            now,
        );
        patch_status(ctx, &names.namespace, &names.cluster, next).await?;
        return Ok(false);
    };
    let persisted = cluster
        .status
        .as_ref()
        .map(|s| s.topics.clone())
        .unwrap_or_default();
    let plans = match plan_all(admin, target, &cluster.spec, &persisted, clock(ctx, now)).await {
        Ok(plans) => plans,
        Err(error) => {
            // Brokers unreachable (e.g. still starting): say so, keep the persisted operations.
            status::set_condition(
                &mut next.conditions,
                "TopicsSynced",
                false,
                "BrokersUnreachable",
                error.to_string(),
                generation,
                now,
            );
            patch_status(ctx, &names.namespace, &names.cluster, next).await?;
            return Ok(!cluster.spec.topics.is_empty());
        }
    };
    next.topics = plans.iter().map(|p| p.status.clone()).collect();
    next.topics_changing = plans.iter().filter(|p| p.needs_requeue()).count() as i32;
    let synced = next.topics_changing == 0;
    let reason = if synced {
        "TopicsReady"
    } else {
        "TopicsChanging"
    };
    status::set_condition(
        &mut next.conditions,
        "TopicsSynced",
        synced,
        reason,
        String::new(),
        generation,
        now,
    );
    patch_status(ctx, &names.namespace, &names.cluster, next).await?;
    act_all(admin, target, &plans).await?;
    for plan in &plans {
        for t in &plan.transitions {
            publish(
                ctx,
                cluster,
                EventType::Normal,
                t.reason,
                format!("{}: {}", plan.status.name, t.message),
            )
            .await;
        }
    }
    Ok(!synced)
}

fn clock(ctx: &Context, now: &Time) -> Clock {
    Clock {
        now: now.0.as_second(),
        drain_grace_seconds: ctx.drain_grace_seconds,
    }
}

async fn patch_status(
    ctx: &Context,
    namespace: &str,
    name: &str,
    status: &BrokerClusterStatus,
) -> Result<(), kube::Error> {
    let api: Api<BrokerCluster> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": "ferrimq.io/v1alpha1",
        "kind": "BrokerCluster",
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Deletes broker volumes when the cluster asked for it; children go with their owner.
async fn cleanup(cluster: &BrokerCluster, ctx: &Context) -> Result<Action, ReconcileError> {
    let namespace = cluster.namespace().unwrap_or_default();
    if cluster.spec.brokers.storage.reclaim_on_scale_in == ReclaimPolicy::Delete {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
        let lp = ListParams::default().labels(&children::owned_selector(&cluster.name_any()));
        api.delete_collection(&DeleteParams::default(), &lp).await?;
    }
    publish(
        ctx,
        cluster,
        EventType::Normal,
        "CleanedUp",
        "cluster deleted".to_string(),
    )
    .await;
    Ok(Action::await_change())
}

async fn publish(
    ctx: &Context,
    cluster: &BrokerCluster,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &cluster.object_ref(&())).await {
        warn!(%error, reason, "could not publish event");
    }
}

/// Runs the controller until shutdown, watching clusters in `namespace` (all when `None`) and
/// the children they own.
pub async fn run(ctx: Arc<Context>, namespace: Option<&str>) {
    let client = ctx.client.clone();
    let clusters: Api<BrokerCluster> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let children =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={FIELD_MANAGER}"));
    macro_rules! api {
        ($k:ty) => {
            match namespace {
                Some(ns) => Api::<$k>::namespaced(client.clone(), ns),
                None => Api::<$k>::all(client.clone()),
            }
        };
    }
    Controller::new(clusters, watcher::Config::default())
        .owns(api!(StatefulSet), children.clone())
        .owns(api!(ConfigMap), children.clone())
        .owns(api!(Service), children.clone())
        .owns(api!(PodDisruptionBudget), children)
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => info!(cluster = %obj.name, "reconciled"),
                Err(error) => warn!(%error, "controller error"),
            }
        })
        .await;
}
