//! `RemotingClient`: the dialing side (producers, consumers, admin, broker -> namesrv).
//!
//! One connection per address, opened on first use and reopened on the next call after it
//! closed. Each address has its own async slot, so a slow connect to one namesrv never delays
//! calls to another, and concurrent first calls to one address open a single connection.
//! Requests the server sends back on these connections (NOTIFY_CONSUMER_IDS_CHANGED,
//! CHECK_TRANSACTION_STATE, GET_CONSUMER_RUNNING_INFO) go to the client's own dispatch table.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrimq_remoting::frame::DEFAULT_MAX_FRAME_LEN;
use ferrimq_remoting::{FrameCodec, RemotingCommand, SerializeType};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::channel::{Channel, ChannelListener};
use crate::connection::{self, ConnectionConfig, Endpoint};
use crate::dispatch::{DispatchTable, Dispatcher};
use crate::error::{Result, TransportError};

/// Settings of a client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Time allowed to open a connection (Java: 3 s); not counted in an invoke's timeout.
    pub connect_timeout: Duration,
    /// A connection with no frame read for this long is closed (Java: 120 s).
    pub channel_idle: Duration,
    /// Largest frame accepted or sent, length prefix included.
    pub max_frame_len: usize,
    /// Frames queued per connection before senders wait.
    pub write_queue: usize,
    /// How long a response may wait for room in a full write queue before the connection is
    /// closed as not reading.
    pub write_timeout: Duration,
    /// Server-originated requests handled at once; past this, SYSTEM_BUSY.
    pub max_in_flight: usize,
    /// Idle time before the kernel sends TCP keepalive probes.
    pub keepalive: Duration,
    /// Header serialization forced on every request this client sends (Java's
    /// `rocketmq.serialize.type`); `None` keeps each command's own (JSON unless set). Servers
    /// answer in the type of the request.
    pub serialize_type: Option<SerializeType>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(3),
            channel_idle: Duration::from_secs(120),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            write_queue: 1024,
            write_timeout: Duration::from_secs(10),
            max_in_flight: 1024,
            keepalive: Duration::from_secs(60),
            serialize_type: None,
        }
    }
}

/// Slot holding the connection of one address, locked while (re)connecting.
type Slot = Arc<tokio::sync::Mutex<Option<Channel>>>;

/// Connections to any number of peers, by address.
pub struct RemotingClient {
    config: ClientConfig,
    endpoint: Endpoint,
    /// Never flipped: client connections read until they close. Kept so the receivers stay valid.
    _reading: watch::Sender<bool>,
    slots: Mutex<HashMap<String, Slot>>,
}

impl RemotingClient {
    /// A client answering server-originated requests from `table`, ignoring lifecycle events.
    pub fn new(config: ClientConfig, table: DispatchTable) -> RemotingClient {
        RemotingClient::with_listener(config, table, Arc::new(crate::channel::NoopListener))
    }

    /// A client that also reports connection lifecycle events to `listener`.
    pub fn with_listener(
        config: ClientConfig,
        table: DispatchTable,
        listener: Arc<dyn ChannelListener>,
    ) -> RemotingClient {
        let (reading, stop_reading) = watch::channel(false);
        let endpoint = Endpoint {
            dispatcher: Arc::new(Dispatcher::new(table, config.max_in_flight)),
            listener,
            stop_reading,
        };
        RemotingClient {
            config,
            endpoint,
            _reading: reading,
            slots: Mutex::default(),
        }
    }

    /// Sends `command` to `addr` ("host:port") and waits up to `timeout` for its response.
    pub async fn invoke(
        &self,
        addr: &str,
        mut command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        self.apply_serialize_type(&mut command);
        self.channel(addr).await?.invoke(command, timeout).await
    }

    /// Sends a oneway `command` to `addr`; nothing comes back.
    pub async fn invoke_oneway(&self, addr: &str, mut command: RemotingCommand) -> Result<()> {
        self.apply_serialize_type(&mut command);
        self.channel(addr).await?.send_oneway(command)
    }

    fn apply_serialize_type(&self, command: &mut RemotingCommand) {
        if let Some(serialize_type) = self.config.serialize_type {
            command.serialize_type = serialize_type;
        }
    }

    /// The live connection to `addr`, opening one if there is none.
    pub async fn channel(&self, addr: &str) -> Result<Channel> {
        let slot = self.slot(addr);
        let mut current = slot.lock().await;
        if let Some(channel) = current.as_ref().filter(|channel| channel.is_active()) {
            return Ok(channel.clone());
        }
        let channel = self.connect(addr).await?;
        *current = Some(channel.clone());
        Ok(channel)
    }

    /// The connection to `addr` if one is open, without connecting.
    pub fn existing_channel(&self, addr: &str) -> Option<Channel> {
        let slot = self.lock_slots().get(addr).cloned()?;
        let current = slot.try_lock().ok()?;
        current
            .as_ref()
            .filter(|channel| channel.is_active())
            .cloned()
    }

    /// Closes the connection to `addr`, if any; the next call reconnects.
    pub fn close_channel(&self, addr: &str) {
        if let Some(channel) = self.existing_channel(addr) {
            channel.close();
        }
    }

    /// Closes every connection.
    pub fn shutdown(&self) {
        let slots: Vec<Slot> = self.lock_slots().values().cloned().collect();
        for slot in slots {
            if let Ok(current) = slot.try_lock() {
                if let Some(channel) = current.as_ref() {
                    channel.close();
                }
            }
        }
    }

    async fn connect(&self, addr: &str) -> Result<Channel> {
        let failed = |source| TransportError::ConnectFailed {
            addr: addr.to_owned(),
            source,
        };
        let stream =
            match tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(addr)).await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return Err(failed(err)),
                Err(_) => return Err(failed(io::ErrorKind::TimedOut.into())),
            };
        let config = ConnectionConfig {
            codec: FrameCodec::new(self.config.max_frame_len),
            channel_idle: self.config.channel_idle,
            write_queue: self.config.write_queue,
            write_timeout: self.config.write_timeout,
            keepalive: self.config.keepalive,
        };
        let (channel, drive) =
            connection::start(stream, config, self.endpoint.clone()).map_err(failed)?;
        tokio::spawn(drive);
        tracing::debug!(addr, id = channel.id(), "connected");
        Ok(channel)
    }

    fn slot(&self, addr: &str) -> Slot {
        let mut slots = self.lock_slots();
        Arc::clone(slots.entry(addr.to_owned()).or_default())
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // Single inserts only: a poisoned map is still consistent.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for RemotingClient {
    fn drop(&mut self) {
        self.shutdown();
    }
}
