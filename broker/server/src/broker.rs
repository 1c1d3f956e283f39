//! The broker process: resolves its addresses, opens the store and the metadata tables,
//! creates the system topics, serves one dispatch table on `listenPort`, registers with every
//! NameServer, persists consumer offsets periodically, and shuts everything down in order.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use ferrimq_config::{BrokerConfig, BrokerSettings};
use ferrimq_remoting::RequestCode;
use ferrimq_store::dispatch::DispatchListener;
use ferrimq_store::metadata::Metadata;
use ferrimq_store::store::{MessageStore, StoreHooks};
use ferrimq_transport::{DispatchTable, RemotingServer, ServerConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::AdminProcessor;
use crate::client::{ClientCleaner, ClientProcessor};
use crate::consumers::ConsumerRegistry;
use crate::error::{Result, ServerError};
use crate::long_polling::PullHold;
use crate::offset::OffsetProcessor;
use crate::pull::{PullPolicy, PullProcessor};
use crate::registration::{BrokerIdentity, Registrar};
use crate::send::{SendPolicy, SendProcessor};
use crate::topics::TopicRegistry;

/// Time in-flight requests get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running broker.
pub struct Broker {
    server: RemotingServer,
    store: Arc<MessageStore>,
    metadata: Arc<Metadata>,
    topics: Arc<TopicRegistry>,
    hold: Arc<PullHold>,
    registrar: Arc<Registrar>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    advertised: SocketAddr,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("local_addr", &self.server.local_addr())
            .field("advertised", &self.advertised)
            .finish()
    }
}

/// The shared handles every processor picks from.
struct Handles {
    store: Arc<MessageStore>,
    metadata: Arc<Metadata>,
    topics: Arc<TopicRegistry>,
    consumers: Arc<ConsumerRegistry>,
    hold: Arc<PullHold>,
}

impl Broker {
    /// Starts a broker from a resolved configuration.
    pub async fn start(config: BrokerConfig) -> Result<Broker> {
        let settings = &config.broker;
        if !settings.broker_role.is_master() || settings.broker_id != 0 {
            return Err(ServerError::Config(
                "only a master broker (brokerId 0) is supported yet".into(),
            ));
        }
        let listen = listen_addr(settings.listen_port)?;
        let advertised = SocketAddr::new(advertised_ip(settings)?, listen.port());
        let handles = open_handles(&config)?;
        let table = dispatch_table(&handles, &config, advertised);
        let cleaner = Arc::new(ClientCleaner {
            consumers: Arc::clone(&handles.consumers),
            notify_ids_changed: settings.notify_consumer_ids_changed_enable,
        });
        let server_config = ServerConfig {
            listen,
            ..ServerConfig::default()
        };
        let server = RemotingServer::bind(server_config, table, cleaner).await?;
        let registrar = Arc::new(registrar(settings, &config, advertised, &handles.topics));
        if let Err(err) = registrar.register_all().await {
            tracing::warn!(error = %err, "initial registration incomplete; retrying periodically");
        }
        let (stop, stop_rx) = watch::channel(false);
        let period = Duration::from_millis(settings.register_name_server_period.max(1000));
        let persist = Duration::from_millis(settings.flush_consumer_offset_interval.max(100));
        let tasks = vec![
            tokio::spawn(Arc::clone(&registrar).run(period, stop_rx.clone())),
            tokio::spawn(persist_offsets(
                Arc::clone(&handles.metadata),
                persist,
                stop_rx,
            )),
        ];
        tracing::info!(%advertised, cluster = %settings.broker_cluster_name, name = %settings.broker_name, "broker started");
        Ok(Broker {
            server,
            store: handles.store,
            metadata: handles.metadata,
            topics: handles.topics,
            hold: handles.hold,
            registrar,
            stop,
            tasks,
            advertised,
        })
    }

    /// The address actually listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `brokerIP1:listenPort`: the address registered with NameServers and written as STOREHOST.
    pub fn advertised_addr(&self) -> SocketAddr {
        self.advertised
    }

    /// The message store.
    pub fn store(&self) -> &Arc<MessageStore> {
        &self.store
    }

    /// The topic table.
    pub fn topics(&self) -> &Arc<TopicRegistry> {
        &self.topics
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

fn open_handles(config: &BrokerConfig) -> Result<Handles> {
    let hold = Arc::new(PullHold::new());
    let hooks = StoreHooks {
        listener: Some(Arc::clone(&hold) as Arc<dyn DispatchListener>),
        ..StoreHooks::default()
    };
    let seam = hooks.seam.clone();
    let store = Arc::new(MessageStore::open_with((&config.store).into(), hooks)?);
    let metadata = Arc::new(Metadata::open(&config.store.config_dir(), seam)?);
    let topics = Arc::new(TopicRegistry::new(Arc::clone(&metadata), &config.broker));
    topics.create_system_topics(&config.broker)?;
    Ok(Handles {
        store,
        metadata,
        topics,
        consumers: Arc::new(ConsumerRegistry::new()),
        hold,
    })
}

fn registrar(
    settings: &BrokerSettings,
    config: &BrokerConfig,
    advertised: SocketAddr,
    topics: &Arc<TopicRegistry>,
) -> Registrar {
    let ha_ip = settings
        .broker_ip2
        .as_ref()
        .and_then(|h| h.ip())
        .unwrap_or(advertised.ip());
    let identity = BrokerIdentity {
        cluster: settings.broker_cluster_name.clone(),
        name: settings.broker_name.clone(),
        id: settings.broker_id as i64,
        addr: advertised.to_string(),
        ha_addr: SocketAddr::new(ha_ip, config.ha_port()).to_string(),
    };
    let timeout = Duration::from_millis(settings.register_broker_timeout_mills.max(1000));
    Registrar::new(
        identity,
        settings.namesrv_addr.0.clone(),
        Arc::clone(topics),
        timeout,
    )
}

/// The one dispatch table of the broker: request code -> processor method.
fn dispatch_table(h: &Handles, config: &BrokerConfig, advertised: SocketAddr) -> DispatchTable {
    let s = &config.broker;
    let send = Arc::new(SendProcessor {
        store: Arc::clone(&h.store),
        topics: Arc::clone(&h.topics),
        metadata: Arc::clone(&h.metadata),
        policy: SendPolicy {
            store_host: advertised,
            cluster: s.broker_cluster_name.clone(),
            region: s.region_id.clone(),
            trace_on: s.trace_on,
            broker_permission: s.broker_permission,
            max_message_size: config.store.max_message_size as usize,
            auto_create_group: s.auto_create_subscription_group,
        },
    });
    let pull = Arc::new(PullProcessor {
        store: Arc::clone(&h.store),
        topics: Arc::clone(&h.topics),
        metadata: Arc::clone(&h.metadata),
        consumers: Arc::clone(&h.consumers),
        hold: Arc::clone(&h.hold),
        policy: PullPolicy {
            broker_permission: s.broker_permission,
            auto_create_group: s.auto_create_subscription_group,
            long_polling: s.long_polling_enable,
            short_polling: Duration::from_millis(s.short_polling_time_mills),
        },
    });
    let offsets = Arc::new(OffsetProcessor {
        store: Arc::clone(&h.store),
        metadata: Arc::clone(&h.metadata),
    });
    let clients = Arc::new(ClientProcessor {
        consumers: Arc::clone(&h.consumers),
        topics: Arc::clone(&h.topics),
        notify_ids_changed: s.notify_consumer_ids_changed_enable,
    });
    let admin = Arc::new(AdminProcessor {
        store: Arc::clone(&h.store),
        topics: Arc::clone(&h.topics),
        metadata: Arc::clone(&h.metadata),
        consumers: Arc::clone(&h.consumers),
        broker_name: s.broker_name.clone(),
    });
    let mut table = DispatchTable::new();
    for code in [
        RequestCode::SendMessage,
        RequestCode::SendMessageV2,
        RequestCode::SendBatchMessage,
    ] {
        let p = Arc::clone(&send);
        table.insert(code, move |req, ch| Arc::clone(&p).handle(req, ch));
    }
    for code in [RequestCode::PullMessage, RequestCode::LitePullMessage] {
        let p = Arc::clone(&pull);
        table.insert(code, move |req, ch| Arc::clone(&p).handle(req, ch));
    }
    macro_rules! sync_route {
        ($code:expr, $proc:expr, |$p:ident, $req:ident, $ch:ident| $call:expr) => {{
            let $p = Arc::clone(&$proc);
            table.insert(
                $code,
                move |$req: ferrimq_remoting::RemotingCommand, $ch: ferrimq_transport::Channel| {
                    let $p = Arc::clone(&$p);
                    async move { $call }
                },
            );
        }};
    }
    sync_route!(RequestCode::QueryConsumerOffset, offsets, |p, req, _ch| p
        .query(&req));
    sync_route!(RequestCode::UpdateConsumerOffset, offsets, |p, req, _ch| p
        .update(&req));
    sync_route!(RequestCode::GetMaxOffset, offsets, |p, req, _ch| p
        .max(&req));
    sync_route!(RequestCode::GetMinOffset, offsets, |p, req, _ch| p
        .min(&req));
    sync_route!(
        RequestCode::GetEarliestMsgStoretime,
        offsets,
        |p, req, _ch| p.earliest_time(&req)
    );
    sync_route!(
        RequestCode::SearchOffsetByTimestamp,
        offsets,
        |p, req, _ch| p.search(&req)
    );
    sync_route!(RequestCode::HeartBeat, clients, |p, req, ch| p
        .heartbeat(&req, &ch));
    sync_route!(RequestCode::UnregisterClient, clients, |p, req, _ch| p
        .unregister(&req));
    sync_route!(
        RequestCode::GetConsumerListByGroup,
        clients,
        |p, req, _ch| p.consumer_list(&req)
    );
    sync_route!(RequestCode::UpdateAndCreateTopic, admin, |p, req, _ch| p
        .create_topic(&req));
    sync_route!(RequestCode::DeleteTopicInBroker, admin, |p, req, _ch| p
        .delete_topic(&req));
    sync_route!(RequestCode::GetAllTopicConfig, admin, |p, req, _ch| p
        .all_topic_config(&req));
    sync_route!(
        RequestCode::UpdateAndCreateSubscriptionGroup,
        admin,
        |p, req, _ch| p.update_group(&req)
    );
    sync_route!(RequestCode::GetTopicStatsInfo, admin, |p, req, _ch| p
        .topic_stats(&req));
    sync_route!(RequestCode::GetConsumeStats, admin, |p, req, _ch| p
        .consume_stats(&req));
    sync_route!(RequestCode::QueryTopicConsumeByWho, admin, |p, req, _ch| p
        .consumed_by(&req));
    sync_route!(RequestCode::GetBrokerRuntimeInfo, admin, |p, req, _ch| p
        .runtime_info(&req));
    sync_route!(RequestCode::ViewMessageById, admin, |p, req, _ch| p
        .view_message(&req));
    sync_route!(RequestCode::QueryMessage, admin, |p, req, _ch| p
        .query_message(&req));
    table
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

/// `0.0.0.0:port`; port 0 is resolved to a free port now, because the port is part of the
/// STOREHOST written into every message and must be known before the server starts.
fn listen_addr(port: u16) -> Result<SocketAddr> {
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    if port != 0 {
        return Ok(any);
    }
    let probe = std::net::TcpListener::bind(any).map_err(|_| ServerError::Listen(any))?;
    probe.local_addr().map_err(|_| ServerError::Listen(any))
}

/// `brokerIP1`, else the address of the interface that routes outwards, else 127.0.0.1.
fn advertised_ip(settings: &BrokerSettings) -> Result<IpAddr> {
    if let Some(host) = &settings.broker_ip1 {
        return host
            .ip()
            .ok_or_else(|| ServerError::BadBrokerIp(host.0.clone()));
    }
    // Connecting a UDP socket sends nothing; it only selects the outgoing interface.
    let detected = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("8.8.8.8:80").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified());
    Ok(detected.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)))
}
