//! The running name server: the processors behind a `ferrimq-transport` TCP server, a periodic
//! scan expiring silent brokers, and removal of a broker when its connection closes.
//!
//! All behaviour lives in [`crate::processor`] and [`crate::route`]; this module only supplies
//! what they take as arguments (the connection id, the peer, the current time) and closes the
//! connections of expired brokers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrimq_config::NamesrvConfig;
use ferrimq_remoting::RemotingCommand;
use ferrimq_transport::{
    Channel, ChannelListener, DispatchTable, HandlerResult, RemotingServer, ServerConfig,
    ShutdownOutcome,
};
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::processor::{NamesrvState, PROCESSORS, RequestContext, process};

/// A running name server. Dropping it without [`NameServer::shutdown`] stops it abruptly.
pub struct NameServer {
    server: RemotingServer,
    state: Arc<NamesrvState>,
    scan: JoinHandle<()>,
}

impl std::fmt::Debug for NameServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameServer")
            .field("local_addr", &self.server.local_addr())
            .finish_non_exhaustive()
    }
}

impl NameServer {
    /// Starts on `0.0.0.0:listenPort` with default transport settings.
    pub async fn start(config: NamesrvConfig) -> Result<NameServer> {
        let transport = ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], config.listen_port)),
            ..Default::default()
        };
        NameServer::start_with(config, transport).await
    }

    /// Starts with explicit transport settings (tests bind port 0).
    pub async fn start_with(config: NamesrvConfig, transport: ServerConfig) -> Result<NameServer> {
        let scan_every = Duration::from_millis(config.scan_not_active_broker_interval.max(1));
        let state = Arc::new(NamesrvState::open(config)?);
        let connections = Arc::new(Connections {
            state: Arc::clone(&state),
            open: Mutex::default(),
        });
        let server = RemotingServer::bind(
            transport,
            dispatch_table(&state),
            Arc::clone(&connections) as Arc<dyn ChannelListener>,
        )
        .await?;
        let scan = tokio::spawn(scan_loop(connections, scan_every));
        tracing::info!(addr = %server.local_addr(), "name server started");
        Ok(NameServer {
            server,
            state,
            scan,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The route table, KV config and settings being served.
    pub fn state(&self) -> &Arc<NamesrvState> {
        &self.state
    }

    /// Stops the expiry scan, then the server (in-flight requests get `grace` to finish).
    pub async fn shutdown(self, grace: Duration) -> ShutdownOutcome {
        self.scan.abort();
        self.server.shutdown(grace).await
    }
}

/// One transport handler per code of [`PROCESSORS`], each running [`process`].
fn dispatch_table(state: &Arc<NamesrvState>) -> DispatchTable {
    let mut table = DispatchTable::new();
    for (code, _) in PROCESSORS {
        let state = Arc::clone(state);
        table.insert(*code, move |request: RemotingCommand, channel: Channel| {
            let state = Arc::clone(&state);
            async move {
                let ctx = RequestContext {
                    peer_addr: channel.peer_addr().to_string(),
                    connection: channel.id(),
                    now_ms: now_ms(),
                };
                HandlerResult::Ok(process(&state, &request, &ctx))
            }
        });
    }
    table
}

/// Open connections by id, so expired brokers' connections can be closed, and the hook that
/// removes a broker when its connection closes.
struct Connections {
    state: Arc<NamesrvState>,
    open: Mutex<HashMap<u64, Channel>>,
}

impl ChannelListener for Connections {
    fn on_connected(&self, channel: &Channel) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.insert(channel.id(), channel.clone());
    }

    fn on_closed(&self, channel: &Channel) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&channel.id());
        for addr in self.state.routes.on_connection_closed(channel.id()) {
            tracing::info!(broker = %addr, peer = %channel.peer_addr(), "broker connection closed, removed");
        }
    }
}

/// Every `period`, expires silent brokers and closes their connections.
async fn scan_loop(connections: Arc<Connections>, period: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for expired in connections.state.routes.scan_not_active(now_ms()) {
            let channel = connections
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&expired.connection)
                .cloned();
            if let Some(channel) = channel {
                channel.close();
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
