//! `PushConsumer`: the Java `DefaultMQPushConsumer` in Rust — messages are pulled in the
//! background and handed to a listener.
//!
//! How it works:
//! - Membership: a heartbeat (CONSUME_PASSIVELY, the group's model and subscriptions, plus
//!   `%RETRY%<group>` in clustering) goes to every master of the subscribed topics.
//! - Rebalance (module `rebalance`) every `rebalance_interval` (20 s) and at once when a broker sends
//!   NOTIFY_CONSUMER_IDS_CHANGED: clustering shares each topic's queues among the group's members
//!   with an [`AllocateStrategy`]; broadcasting takes every queue.
//! - Each owned queue has a [`ProcessQueue`] and a pull task (module `pull_loop`) long-polling the
//!   broker (`brokerSuspendMaxTimeMillis`, 15 s) with flow control on held messages.
//! - Consumption (module `consume`): concurrently (retries sent back with CONSUMER_SEND_MSG_BACK) or
//!   orderly (one batch per queue at a time, broker lock held in clustering, module `queue_locks`).
//! - Offsets ([`OffsetStore`]) are updated as batches finish and persisted every
//!   `persist_interval` (5 s) and on shutdown: on the brokers in clustering, in a local file in
//!   broadcasting.
//! - Broker calls (module `broker_calls`): the consumer answers GET_CONSUMER_RUNNING_INFO (module
//!   `running_info`), GET_CONSUMER_STATUS_FROM_CLIENT, CONSUME_MESSAGE_DIRECTLY and
//!   RESET_CONSUMER_CLIENT_OFFSET on its broker connections, as Java consumers do.

pub mod admin_bodies;
mod broker_calls;
mod consume;
mod listener;
mod membership;
mod process_queue;
mod pull_loop;
mod queue_locks;
mod rebalance;
mod running_info;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrimq_remoting::body::{MessageModel, MessageQueue};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::allocate::{AllocateStrategy, Averagely};
use crate::consumer::{ConsumerConfig, PullConsumer, StartPosition};
use crate::error::Result;
use crate::offset_store::OffsetStore;
use crate::route::RouteCache;
use crate::session::{Session, SessionConfig};

pub use admin_bodies::ConsumerRunningInfo;
pub use listener::{
    ConcurrentContext, ConsumeConcurrentlyStatus, ConsumeOrderlyStatus, Listener,
    MessageListenerConcurrently, MessageListenerOrderly, OrderlyContext,
};
pub use process_queue::ProcessQueue;

/// Settings of a [`PushConsumer`]; `new` gives Java's defaults.
#[derive(Debug, Clone)]
pub struct PushConsumerConfig {
    /// Consumer group.
    pub group: String,
    /// Clustering (queues shared out) or broadcasting (every member gets everything).
    pub model: MessageModel,
    /// Start of queues without a stored offset (`consumeFromWhere`).
    pub consume_from: StartPosition,
    /// How clustering members share queues.
    pub strategy: Arc<dyn AllocateStrategy>,
    /// Messages asked for per pull (`pullBatchSize`, 32).
    pub pull_batch_size: i32,
    /// Messages per listener call (`consumeMessageBatchMaxSize`, 1).
    pub consume_batch_size: usize,
    /// Listener calls running at once (`consumeThreadMax`, 20).
    pub consume_threads: usize,
    /// Held messages per queue above which pulls pause (`pullThresholdForQueue`, 1000).
    pub pull_threshold_for_queue: usize,
    /// Held body bytes per queue above which pulls pause (`pullThresholdSizeForQueue`, 100 MiB).
    pub pull_threshold_bytes_for_queue: usize,
    /// Time the broker may hold an empty pull (`brokerSuspendMaxTimeMillis`, 15 s).
    pub broker_suspend_max: Duration,
    /// Pause of a queue's pulls after a failed pull (3 s).
    pub pull_delay_on_error: Duration,
    /// Periodic rebalance (20 s).
    pub rebalance_interval: Duration,
    /// Periodic offset persistence (`persistConsumerOffsetInterval`, 5 s).
    pub persist_interval: Duration,
    /// Periodic relock of orderly queues (20 s).
    pub lock_interval: Duration,
    /// Lock age after which an orderly queue stops being consumed unless renewed (30 s).
    pub lock_expiry: Duration,
    /// Retries before the dead-letter queue (`maxReconsumeTimes`; `None` = 16 concurrently,
    /// unlimited orderly).
    pub max_reconsume_times: Option<i32>,
    /// Orderly pause before redelivering a suspended batch (`suspendCurrentQueueTimeMillis`, 1 s).
    pub suspend_current_queue_time: Duration,
    /// Directory of broadcasting offset files (`<dir>/<clientId>/<group>/offsets.json`).
    pub offset_dir: PathBuf,
}

impl PushConsumerConfig {
    /// Java defaults for `group`: clustering, averagely, from the last offset.
    pub fn new(group: impl Into<String>) -> Self {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        PushConsumerConfig {
            group: group.into(),
            model: MessageModel::Clustering,
            consume_from: StartPosition::Last,
            strategy: Arc::new(Averagely),
            pull_batch_size: 32,
            consume_batch_size: 1,
            consume_threads: 20,
            pull_threshold_for_queue: 1000,
            pull_threshold_bytes_for_queue: 100 << 20,
            broker_suspend_max: Duration::from_secs(15),
            pull_delay_on_error: Duration::from_secs(3),
            rebalance_interval: Duration::from_secs(20),
            persist_interval: Duration::from_secs(5),
            lock_interval: Duration::from_secs(20),
            lock_expiry: Duration::from_secs(30),
            max_reconsume_times: None,
            suspend_current_queue_time: Duration::from_secs(1),
            offset_dir: home.join(".rocketmq_offsets"),
        }
    }

    fn retry_limit(&self, orderly: bool) -> i32 {
        match self.max_reconsume_times {
            Some(max) if max >= 0 => max,
            _ if orderly => i32::MAX,
            _ => 16,
        }
    }
}

/// State shared by the consumer's tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: PushConsumerConfig,
    pub(crate) listener: Listener,
    pub(crate) routes: Arc<RouteCache>,
    pub(crate) pull: PullConsumer,
    pub(crate) offsets: OffsetStore,
    /// Topic -> tag expression, retry topic included in clustering.
    pub(crate) subscriptions: Mutex<BTreeMap<String, String>>,
    pub(crate) queues: Mutex<BTreeMap<MessageQueue, Arc<ProcessQueue>>>,
    pub(crate) rebalance_now: Arc<Notify>,
    pub(crate) stopping: watch::Receiver<bool>,
    pub(crate) consume_permits: Arc<Semaphore>,
    /// Start time, ms since the epoch (0 before `start`).
    pub(crate) started_at: AtomicI64,
}

impl Shared {
    pub(crate) fn session(&self) -> &Arc<Session> {
        self.routes.session()
    }

    pub(crate) fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    pub(crate) fn started_at(&self) -> i64 {
        self.started_at.load(Ordering::Relaxed)
    }

    pub(crate) fn clustering(&self) -> bool {
        self.config.model == MessageModel::Clustering
    }

    pub(crate) fn retry_topic(&self) -> String {
        format!("%RETRY%{}", self.config.group)
    }

    pub(crate) fn queue_table(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<MessageQueue, Arc<ProcessQueue>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn subscription_table(&self) -> BTreeMap<String, String> {
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A push consumer; see the module docs.
#[derive(Debug)]
pub struct PushConsumer {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl PushConsumer {
    /// A consumer with its own session on `session` settings (its connections answer the
    /// brokers' NOTIFY_CONSUMER_IDS_CHANGED). Broadcasting consumers load their offset file here.
    pub fn new(
        session: SessionConfig,
        config: PushConsumerConfig,
        listener: Listener,
    ) -> Result<Self> {
        let rebalance_now = Arc::new(Notify::new());
        let slot = broker_calls::SharedSlot::default();
        let table = broker_calls::dispatch_table(&slot, &rebalance_now);
        let session = Session::with_dispatch(session, table);
        let routes = RouteCache::new(Arc::clone(&session), Duration::from_secs(30));
        let mut pull_config = ConsumerConfig::new(config.group.clone());
        pull_config.pull_batch_size = config.pull_batch_size;
        pull_config.long_poll = Some(config.broker_suspend_max);
        pull_config.start = config.consume_from;
        let pull = PullConsumer::with_routes(Arc::clone(&routes), pull_config);
        let offsets = match config.model {
            MessageModel::Clustering => OffsetStore::remote(pull.clone()),
            MessageModel::Broadcasting => OffsetStore::local(
                config
                    .offset_dir
                    .join(session.client_id().replace(['/', '\\'], "_"))
                    .join(&config.group)
                    .join("offsets.json"),
            )?,
        };
        let (stop, stopping) = watch::channel(false);
        let shared = Arc::new(Shared {
            consume_permits: Arc::new(Semaphore::new(config.consume_threads.max(1))),
            config,
            listener,
            routes,
            pull,
            offsets,
            subscriptions: Mutex::default(),
            queues: Mutex::default(),
            rebalance_now,
            stopping,
            started_at: AtomicI64::new(0),
        });
        // Set once, right here: the slot was created empty above.
        let _ = slot.set(Arc::downgrade(&shared));
        Ok(PushConsumer {
            shared,
            stop,
            tasks: Mutex::default(),
        })
    }

    /// Subscribes to `topic` with a tag expression ("*" or "a || b"); call before `start`.
    pub fn subscribe(&self, topic: &str, expression: &str) {
        self.shared.pull.subscribe(topic, expression);
        let mut subs = self
            .shared
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subs.insert(topic.to_owned(), expression.to_owned());
    }

    /// The client id sent in heartbeats (`ip@instanceName`).
    pub fn client_id(&self) -> &str {
        self.shared.session().client_id()
    }

    /// Starts heartbeats, rebalancing, pulling and consuming; the first rebalance is done when
    /// this returns.
    pub async fn start(&self) -> Result<()> {
        let now = crate::message_id::now_millis();
        self.shared.started_at.store(now, Ordering::Relaxed);
        if self.shared.clustering() {
            let retry = self.shared.retry_topic();
            self.subscribe(&retry, "*");
        }
        membership::heartbeat(&self.shared).await?;
        rebalance::rebalance(&self.shared).await;
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.push(tokio::spawn(rebalance::run(Arc::clone(&self.shared))));
        tasks.push(tokio::spawn(persist_loop(Arc::clone(&self.shared))));
        if self.shared.listener.is_orderly() && self.shared.clustering() {
            tasks.push(tokio::spawn(queue_locks::run(Arc::clone(&self.shared))));
        }
        tasks.push(self.shared.routes.spawn_refresher(Duration::from_secs(30)));
        Ok(())
    }

    /// Rebalances now (what a NOTIFY_CONSUMER_IDS_CHANGED does).
    pub async fn rebalance(&self) {
        rebalance::rebalance(&self.shared).await;
    }

    /// Queues this consumer currently owns.
    pub fn assigned_queues(&self) -> Vec<MessageQueue> {
        self.shared.queue_table().keys().cloned().collect()
    }

    /// What GET_CONSUMER_RUNNING_INFO answers (mqadmin `consumerStatus`).
    pub fn running_info(&self) -> ConsumerRunningInfo {
        running_info::collect(&self.shared)
    }

    /// Offsets in memory (next offset to consume per queue).
    pub fn offsets(&self) -> BTreeMap<MessageQueue, i64> {
        self.shared.offsets.snapshot()
    }

    /// Stops pulling, lets running listener calls finish (up to 5 s), persists offsets, releases
    /// orderly locks and unregisters from the brokers.
    pub async fn shutdown(&self) -> Result<()> {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in &tasks {
            task.abort();
        }
        let threads = u32::try_from(self.shared.config.consume_threads.max(1)).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(
            Duration::from_secs(5),
            self.shared.consume_permits.acquire_many(threads),
        )
        .await;
        if drained.is_err() {
            tracing::warn!(group = %self.shared.config.group, "listener calls still running at shutdown");
        }
        // Orderly batches in flight finish (and record their offsets) before offsets persist.
        let owned: Vec<Arc<ProcessQueue>> = self.shared.queue_table().values().cloned().collect();
        let mut in_flight = Vec::new();
        for pq in &owned {
            let wait = tokio::time::timeout(Duration::from_secs(1), pq.consume_lock.lock());
            in_flight.push(wait.await);
        }
        let queues: Vec<MessageQueue> = self.assigned_queues();
        let persisted = self.shared.offsets.persist_all(&queues).await;
        for pq in self.shared.queue_table().values() {
            pq.set_dropped(true);
        }
        if self.shared.listener.is_orderly() && self.shared.clustering() {
            queue_locks::unlock_all(&self.shared).await;
        }
        drop(in_flight);
        let unregistered = self.shared.pull.shutdown().await;
        self.shared.session().shutdown();
        persisted.and(unregistered)
    }
}

async fn persist_loop(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(shared.config.persist_interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let queues: Vec<MessageQueue> = shared.queue_table().keys().cloned().collect();
        if let Err(e) = shared.offsets.persist_all(&queues).await {
            tracing::warn!(group = %shared.config.group, error = %e, "persisting offsets failed");
        }
    }
}
