//! `RemotingServer`: the listening side (broker, namesrv).
//!
//! The accept loop admits connections up to `max_connections`, sets socket options and spawns one
//! task per connection (reader, plus its writer task). Requests go to
//! one [`DispatchTable`]. Every live channel is kept in a registry so shutdown can reach it.
//!
//! Graceful shutdown, in order: stop accepting and stop reading new requests; wait for in-flight
//! requests to finish (their responses are queued) until the deadline; close every channel (the
//! writers flush what is queued, for at most [`LINGER`]); abort whatever is left.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrimq_remoting::FrameCodec;
use ferrimq_remoting::frame::DEFAULT_MAX_FRAME_LEN;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::channel::{Channel, ChannelListener};
use crate::connection::{self, ConnectionConfig, Endpoint, LINGER};
use crate::dispatch::{DispatchTable, Dispatcher};
use crate::error::{Result, TransportError};

/// Settings of a server, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (see [`RemotingServer::local_addr`]).
    pub listen: SocketAddr,
    /// Connections served at once; further connections are accepted and closed immediately.
    pub max_connections: usize,
    /// A connection with no frame read for this long is closed (Java: 120 s).
    pub channel_idle: Duration,
    /// Largest frame accepted or sent, length prefix included (Java: 16 MiB).
    pub max_frame_len: usize,
    /// Frames queued per connection before senders wait.
    pub write_queue: usize,
    /// How long a response may wait for room in a full write queue before the connection is
    /// closed as not reading.
    pub write_timeout: Duration,
    /// Requests handled at once over all connections; past this, SYSTEM_BUSY.
    pub max_in_flight: usize,
    /// Idle time before the kernel sends TCP keepalive probes.
    pub keepalive: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 10911)),
            max_connections: 10_000,
            channel_idle: Duration::from_secs(120),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            write_queue: 1024,
            write_timeout: Duration::from_secs(10),
            max_in_flight: 16_384,
            keepalive: Duration::from_secs(60),
        }
    }
}

impl ServerConfig {
    fn connection(&self) -> ConnectionConfig {
        ConnectionConfig {
            codec: FrameCodec::new(self.max_frame_len),
            channel_idle: self.channel_idle,
            write_queue: self.write_queue,
            write_timeout: self.write_timeout,
            keepalive: self.keepalive,
        }
    }
}

/// How a graceful shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownOutcome {
    /// Every in-flight request finished before the deadline.
    pub requests_drained: bool,
    /// Every connection flushed and ended before the deadline plus [`LINGER`].
    pub connections_closed: bool,
}

/// A running server. Dropping it without [`RemotingServer::shutdown`] stops it abruptly.
pub struct RemotingServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<JoinSet<()>>>,
    registry: Arc<Registry>,
    dispatcher: Arc<Dispatcher>,
}

impl RemotingServer {
    /// Binds `config.listen` and starts serving `table`, reporting lifecycle events to `listener`.
    pub async fn bind(
        config: ServerConfig,
        table: DispatchTable,
        listener: Arc<dyn ChannelListener>,
    ) -> Result<RemotingServer> {
        let bind_error = |source| TransportError::Bind {
            addr: config.listen,
            source,
        };
        let socket = TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let local_addr = socket.local_addr().map_err(bind_error)?;
        let (stop, stop_rx) = watch::channel(false);
        let registry = Arc::new(Registry {
            channels: Mutex::default(),
            user: listener,
        });
        let dispatcher = Arc::new(Dispatcher::new(table, config.max_in_flight));
        let endpoint = Endpoint {
            dispatcher: Arc::clone(&dispatcher),
            listener: Arc::clone(&registry) as Arc<dyn ChannelListener>,
            stop_reading: stop_rx.clone(),
        };
        let acceptor = Acceptor {
            socket,
            config,
            endpoint,
        };
        let accept = tokio::spawn(acceptor.run(stop_rx));
        tracing::info!(%local_addr, "remoting server listening");
        Ok(RemotingServer {
            local_addr,
            stop,
            accept: Some(accept),
            registry,
            dispatcher,
        })
    }

    /// The address actually bound (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Live connections, in no particular order.
    pub fn channels(&self) -> Vec<Channel> {
        self.registry.snapshot()
    }

    /// Stops gracefully: in-flight requests get until `grace` to finish and have their
    /// responses written; then every connection is closed.
    pub async fn shutdown(mut self, grace: Duration) -> ShutdownOutcome {
        let deadline = Instant::now() + grace;
        self.stop.send_replace(true);
        let mut connections = match self.accept.take() {
            Some(accept) => accept.await.unwrap_or_default(),
            None => JoinSet::new(),
        };
        let requests_drained = self.dispatcher.drain(deadline).await;
        for channel in self.registry.snapshot() {
            channel.close();
        }
        let ended = async { while connections.join_next().await.is_some() {} };
        let connections_closed =
            tokio::time::timeout_at(deadline.max(Instant::now()) + LINGER, ended)
                .await
                .is_ok();
        connections.shutdown().await;
        tracing::info!(local_addr = %self.local_addr, requests_drained, connections_closed, "remoting server stopped");
        ShutdownOutcome {
            requests_drained,
            connections_closed,
        }
    }
}

impl Drop for RemotingServer {
    /// Abrupt stop: no more accepts, every channel closed (listeners hear `on_closed`).
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for channel in self.registry.snapshot() {
            channel.close();
        }
    }
}

/// The accept loop and what it needs.
struct Acceptor {
    socket: TcpListener,
    config: ServerConfig,
    endpoint: Endpoint,
}

impl Acceptor {
    /// Accepts until `stop`; returns the connection tasks still running.
    async fn run(self, mut stop: watch::Receiver<bool>) -> JoinSet<()> {
        let mut connections = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                accepted = self.socket.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => self.admit(stream, peer, &mut connections),
                Err(err) => {
                    // Typically EMFILE: back off instead of spinning on the error.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        connections
    }

    fn admit(&self, stream: TcpStream, peer: SocketAddr, connections: &mut JoinSet<()>) {
        while connections.try_join_next().is_some() {}
        if connections.len() >= self.config.max_connections {
            tracing::warn!(%peer, limit = self.config.max_connections, "connection limit reached, refused");
            return;
        }
        match connection::start(stream, self.config.connection(), self.endpoint.clone()) {
            Ok((channel, drive)) => {
                tracing::debug!(%peer, id = channel.id(), "connection accepted");
                connections.spawn(drive);
            }
            Err(err) => tracing::warn!(%peer, %err, "connection setup failed"),
        }
    }
}

/// Keeps the live channels, then forwards every event to the user's listener.
struct Registry {
    channels: Mutex<HashMap<u64, Channel>>,
    user: Arc<dyn ChannelListener>,
}

impl Registry {
    fn snapshot(&self) -> Vec<Channel> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Channel>> {
        // Single inserts/removes only: a poisoned map is still consistent.
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ChannelListener for Registry {
    fn on_connected(&self, channel: &Channel) {
        self.lock().insert(channel.id(), channel.clone());
        self.user.on_connected(channel);
    }

    fn on_closed(&self, channel: &Channel) {
        self.lock().remove(&channel.id());
        self.user.on_closed(channel);
    }

    fn on_idle(&self, channel: &Channel) {
        self.user.on_idle(channel);
    }
}
