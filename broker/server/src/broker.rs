//! The broker process: resolves its addresses, opens the store and the metadata tables,
//! creates the system topics, serves one dispatch table on `listenPort`, registers with every
//! NameServer, persists consumer offsets periodically, and shuts everything down in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrimq_config::{BrokerConfig, BrokerSettings};
use ferrimq_store::dispatch::DispatchListener;
use ferrimq_store::metadata::Metadata;
use ferrimq_store::store::{MessageStore, StoreHooks};
use ferrimq_transport::{RemotingServer, ServerConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::address::Addresses;
use crate::client::ClientCleaner;
use crate::consumers::ConsumerRegistry;
use crate::error::{Result, ServerError};
use crate::locks::LockTable;
use crate::long_polling::PullHold;
use crate::registration::{BrokerIdentity, Registrar};
use crate::replication::Replication;
use crate::routes;
use crate::schedule::ScheduleService;
use crate::slave::{self, LocalCommits, MasterLink, ReplicationView};
use crate::slave_sync::SYNC_PERIOD;
use crate::topics::TopicRegistry;

/// Time in-flight requests get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running broker.
pub struct Broker {
    server: RemotingServer,
    /// The VIP channel on listenPort - 2 ([`crate::vip`]), when bound.
    vip: Option<RemotingServer>,
    store: Arc<MessageStore>,
    metadata: Arc<Metadata>,
    topics: Arc<TopicRegistry>,
    hold: Arc<PullHold>,
    registrar: Arc<Registrar>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    addresses: Addresses,
    master_link: Option<Arc<MasterLink>>,
    ha: Arc<Replication>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("local_addr", &self.server.local_addr())
            .field("addresses", &self.addresses)
            .finish()
    }
}

/// The shared handles every processor picks from.
pub(crate) struct Handles {
    pub(crate) store: Arc<MessageStore>,
    pub(crate) metadata: Arc<Metadata>,
    pub(crate) topics: Arc<TopicRegistry>,
    pub(crate) consumers: Arc<ConsumerRegistry>,
    pub(crate) producers: Arc<crate::producers::ProducerRegistry>,
    pub(crate) hold: Arc<PullHold>,
    pub(crate) locks: Arc<LockTable>,
    /// Consumer commits a slave received that its master has not seen (empty on a master).
    pub(crate) local_commits: Arc<LocalCommits>,
    /// Replication state for runtime info (the master link of a slave, the HA service's state).
    pub(crate) replication: Arc<ReplicationView>,
    /// The HA service of this broker's role (listener on a master, client on a slave).
    pub(crate) ha: Arc<Replication>,
}

impl Broker {
    /// Starts a broker from a resolved configuration.
    pub async fn start(config: BrokerConfig) -> Result<Broker> {
        Broker::start_with(config, StoreHooks::default()).await
    }

    /// Starts with explicit store hooks (tests inject a file seam or a clock); the dispatch
    /// listener is always the broker's own (long polling).
    pub async fn start_with(config: BrokerConfig, hooks: StoreHooks) -> Result<Broker> {
        let settings = &config.broker;
        let addresses = Addresses::resolve(settings, config.ha_port()).await?;
        let store_host = addresses.store_host;
        let handles = open_handles(&config, hooks)?;
        let table = routes::dispatch_table(&handles, &config, store_host);
        let cleaner = Arc::new(ClientCleaner {
            consumers: Arc::clone(&handles.consumers),
            producers: Arc::clone(&handles.producers),
            notify_ids_changed: settings.notify_consumer_ids_changed_enable,
        });
        let server_config = ServerConfig {
            listen: addresses.listen,
            ..ServerConfig::default()
        };
        let vip = crate::vip::bind(
            settings.listen_port,
            addresses.listen,
            table.clone(),
            Arc::clone(&cleaner) as Arc<dyn ferrimq_transport::ChannelListener>,
        )
        .await;
        let server = RemotingServer::bind(server_config, table, cleaner).await?;
        let master_link = handles.replication.master_link().cloned();
        if let Some(link) = &master_link {
            handles.ha.start_slave(&handles.store, link.watch_ha());
        }
        let (ha, ha_store) = (Arc::clone(&handles.ha), Arc::clone(&handles.store));
        handles
            .replication
            .set_source(Box::new(move || ha.status(&ha_store)));
        let registrar = Arc::new(
            registrar(settings, &addresses, &handles.topics).with_master_link(master_link.clone()),
        );
        if let Err(err) = registrar.register_all().await {
            tracing::warn!(error = %err, "initial registration incomplete; retrying periodically");
        }
        let (stop, stop_rx) = watch::channel(false);
        let period = Duration::from_millis(settings.register_name_server_period.max(1000));
        let persist = Duration::from_millis(settings.flush_consumer_offset_interval.max(100));
        let schedule = Arc::new(ScheduleService::new(
            Arc::clone(&handles.store),
            Arc::clone(&handles.metadata),
            &config.store.message_delay_level.0,
        ));
        let mut tasks = vec![
            tokio::spawn(Arc::clone(&registrar).run(period, stop_rx.clone())),
            tokio::spawn(persist_offsets(
                Arc::clone(&handles.metadata),
                persist,
                stop_rx.clone(),
            )),
        ];
        if master_link.is_none() {
            // Only masters check transactions back (slaves hold copies of the half queue).
            let checker = crate::transaction::check::checker_for(&config, &handles, store_host);
            tasks.push(tokio::spawn(checker.run(stop_rx.clone())));
        }
        match &master_link {
            // A slave copies delay progress from its master and never delivers delayed messages.
            Some(link) => tasks.push(tokio::spawn(
                slave::sync_task(link, &handles, settings).run(SYNC_PERIOD, stop_rx),
            )),
            None => tasks.push(tokio::spawn(schedule.run(persist, stop_rx))),
        }
        tracing::info!(addr = %addresses.broker_addr, store_host = %store_host,
            cluster = %settings.broker_cluster_name, name = %settings.broker_name, "broker started");
        Ok(Broker {
            server,
            vip,
            store: handles.store,
            metadata: handles.metadata,
            topics: handles.topics,
            hold: handles.hold,
            registrar,
            stop,
            tasks,
            addresses,
            master_link,
            ha: handles.ha,
        })
    }

    /// The address actually listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `brokerIP1:listenPort` as registered with NameServers.
    pub fn broker_addr(&self) -> &str {
        &self.addresses.broker_addr
    }

    /// The STOREHOST written into every record.
    pub fn store_host(&self) -> SocketAddr {
        self.addresses.store_host
    }

    /// The message store.
    pub fn store(&self) -> &Arc<MessageStore> {
        &self.store
    }

    /// The topic table.
    pub fn topics(&self) -> &Arc<TopicRegistry> {
        &self.topics
    }

    /// Replication (the HA listener of a master, the client of a slave).
    pub fn replication(&self) -> &Arc<Replication> {
        &self.ha
    }

    /// A slave's view of its master (addresses learnt from the NameServer); `None` on a master.
    pub fn master_link(&self) -> Option<&Arc<MasterLink>> {
        self.master_link.as_ref()
    }

    /// Stops in order: periodic tasks, NameServer unregistration, parked pulls answered, the
    /// server (in-flight requests finish), metadata persistence, store shutdown (flush, checkpoint, abort marker removed).
    pub async fn shutdown(self) -> Result<()> {
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.registrar.unregister_all().await;
        self.hold.release_all();
        self.ha.shutdown();
        if let Some(vip) = self.vip {
            vip.shutdown(SHUTDOWN_GRACE).await;
        }
        let outcome = self.server.shutdown(SHUTDOWN_GRACE).await;
        tracing::info!(?outcome, "remoting server stopped");
        self.metadata.persist_all()?;
        let store = self.store;
        tokio::task::spawn_blocking(move || store.shutdown())
            .await
            .map_err(|e| ServerError::Config(format!("store shutdown task failed: {e}")))??;
        tracing::info!("broker stopped");
        Ok(())
    }
}

fn open_handles(config: &BrokerConfig, hooks: StoreHooks) -> Result<Handles> {
    let hold = Arc::new(PullHold::new());
    let hooks = StoreHooks {
        listener: Some(Arc::clone(&hold) as Arc<dyn DispatchListener>),
        ..hooks
    };
    let seam = hooks.seam.clone();
    let store = Arc::new(MessageStore::open_with((&config.store).into(), hooks)?);
    let metadata = Arc::new(Metadata::open(&config.store.config_dir(), seam)?);
    let topics = Arc::new(TopicRegistry::new(Arc::clone(&metadata), &config.broker));
    topics.create_system_topics(&config.broker)?;
    let any_ip = std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    let ha = Arc::new(Replication::start(config, &store, any_ip)?);
    Ok(Handles {
        store,
        metadata,
        topics,
        consumers: Arc::new(ConsumerRegistry::new()),
        producers: Arc::new(crate::producers::ProducerRegistry::new()),
        hold,
        locks: Arc::new(LockTable::default()),
        local_commits: Arc::new(LocalCommits::default()),
        replication: Arc::new(ReplicationView::new(slave::master_link(&config.broker))),
        ha,
    })
}

fn registrar(
    settings: &BrokerSettings,
    addresses: &Addresses,
    topics: &Arc<TopicRegistry>,
) -> Registrar {
    let identity = BrokerIdentity {
        cluster: settings.broker_cluster_name.clone(),
        name: settings.broker_name.clone(),
        id: settings.broker_id as i64,
        addr: addresses.broker_addr.clone(),
        ha_addr: addresses.ha_addr.clone(),
    };
    let timeout = Duration::from_millis(settings.register_broker_timeout_mills.max(1000));
    let namesrvs = settings.namesrv_addr.0.clone();
    Registrar::new(identity, namesrvs, Arc::clone(topics), timeout)
}

/// Writes consumerOffset.json every `period` until stopped (a last write happens at shutdown).
async fn persist_offsets(
    metadata: Arc<Metadata>,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
        let m = Arc::clone(&metadata);
        match tokio::task::spawn_blocking(move || m.consumer_offsets.persist()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "persisting consumer offsets failed"),
            Err(err) => tracing::error!(error = %err, "consumer offset persistence task failed"),
        }
    }
}
