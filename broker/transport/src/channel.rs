//! `Channel`: a cloneable handle to one live connection, and the listener of its lifecycle.
//!
//! Whoever holds a `Channel` can write to the peer without touching the socket: commands are
//! encoded by the caller and queued to the connection's writer task (module `connection`).
//! Both ends of the protocol may send requests on the same connection (the broker asks a
//! producer `CHECK_TRANSACTION_STATE`, a consumer answers `GET_CONSUMER_RUNNING_INFO`), so every
//! channel owns a pending table matching responses to the requests *it* sent, by opaque. Opaques
//! come from one per-process counter, like Java's `RemotingCommand.requestId`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrimq_remoting::command::{FLAG_ONEWAY, FLAG_RESPONSE};
use ferrimq_remoting::{FrameCodec, RemotingCommand};
use tokio::sync::{mpsc, watch};

use crate::error::{Result, TransportError};
use crate::pending::PendingTable;

/// Per-process request id counter (Java's `RemotingCommand.requestId`).
static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(0);

/// Allocates a fresh opaque for a request this process originates. Wraps around at `i32::MAX`.
pub fn next_opaque() -> i32 {
    NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed)
}

/// Receives connection lifecycle events: the broker cleans its client tables on `closed`, the
/// namesrv expires brokers whose channel closed. Callbacks run on the connection's tasks; keep
/// them short and non-blocking (hand work to a task if it is long).
pub trait ChannelListener: Send + Sync + 'static {
    /// A connection was established (accepted by a server or opened by a client).
    fn on_connected(&self, channel: &Channel) {
        let _ = channel;
    }
    /// The connection is closed; called exactly once per connection, whatever the cause.
    fn on_closed(&self, channel: &Channel) {
        let _ = channel;
    }
    /// No frame arrived within the idle time; `on_closed` follows immediately.
    fn on_idle(&self, channel: &Channel) {
        let _ = channel;
    }
}

/// A listener that ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopListener;

impl ChannelListener for NoopListener {}

/// Cloneable handle to a live connection.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<ChannelInner>,
}

struct ChannelInner {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    codec: FrameCodec,
    write_timeout: Duration,
    outbound: mpsc::Sender<Bytes>,
    pending: PendingTable,
    closed: watch::Sender<bool>,
    listener: Arc<dyn ChannelListener>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .field("active", &self.is_active())
            .finish()
    }
}

/// The pieces of a new channel the connection tasks keep for themselves.
pub(crate) struct ChannelParts {
    /// Encoded frames to write, in order.
    pub(crate) outbound: mpsc::Receiver<Bytes>,
    /// Flips to `true` once the channel is closed.
    pub(crate) closed: watch::Receiver<bool>,
}

/// What a new channel needs to know about its connection.
pub(crate) struct ChannelSetup {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) codec: FrameCodec,
    pub(crate) write_queue: usize,
    pub(crate) write_timeout: Duration,
    pub(crate) listener: Arc<dyn ChannelListener>,
}

impl Channel {
    /// Creates the handle and the receiving ends its connection tasks consume.
    pub(crate) fn new(setup: ChannelSetup) -> (Channel, ChannelParts) {
        let (outbound, outbound_rx) = mpsc::channel(setup.write_queue.max(1));
        let (closed, closed_rx) = watch::channel(false);
        let inner = ChannelInner {
            id: setup.id,
            peer: setup.peer,
            local: setup.local,
            codec: setup.codec,
            write_timeout: setup.write_timeout,
            outbound,
            pending: PendingTable::default(),
            closed,
            listener: setup.listener,
        };
        let parts = ChannelParts {
            outbound: outbound_rx,
            closed: closed_rx,
        };
        (
            Channel {
                inner: Arc::new(inner),
            },
            parts,
        )
    }

    /// Process-unique id of the connection.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Address of the remote end.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer
    }

    /// Address of our end.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// True until the connection is closed (by either side, an error, idleness or `close`).
    pub fn is_active(&self) -> bool {
        !*self.inner.closed.borrow()
    }

    /// Number of requests sent on this channel still waiting for their response.
    pub fn pending_requests(&self) -> usize {
        self.inner.pending.len()
    }

    /// Sends a oneway request: a fresh opaque, the oneway flag, no answer expected. Refuses
    /// instead of waiting when the write queue is full, so one slow peer cannot stall the caller.
    pub fn send_oneway(&self, mut command: RemotingCommand) -> Result<()> {
        command.opaque = next_opaque();
        command.flag = (command.flag | FLAG_ONEWAY) & !FLAG_RESPONSE;
        let frame = self.encode(&command)?;
        self.ensure_active()?;
        self.inner
            .outbound
            .try_send(frame)
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => TransportError::WriteQueueFull {
                    addr: self.peer_text(),
                },
                mpsc::error::TrySendError::Closed(_) => self.closed_error(),
            })
    }

    /// Sends a request and waits up to `timeout` for the response with the same opaque.
    ///
    /// The opaque is allocated here; on timeout (or if the caller drops the future) the pending
    /// entry is removed, so a late response is logged and dropped.
    pub async fn invoke(
        &self,
        mut command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let opaque = next_opaque();
        command.opaque = opaque;
        command.flag &= !(FLAG_ONEWAY | FLAG_RESPONSE);
        let frame = self.encode(&command)?;
        let receiver = self
            .inner
            .pending
            .register(opaque)
            .ok_or_else(|| self.closed_error())?;
        let _forget = ForgetOnDrop {
            pending: &self.inner.pending,
            opaque,
        };
        let exchange = async {
            self.enqueue(frame).await?;
            receiver.await.map_err(|_| self.closed_error())
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(TransportError::Timeout {
                addr: self.peer_text(),
                opaque,
                millis: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }

    /// Closes the connection: queued frames are still written, then the socket is shut down.
    /// Pending requests fail with `ChannelClosed`. Idempotent.
    pub fn close(&self) {
        let changed = self.inner.closed.send_if_modified(|closed| {
            let was_open = !*closed;
            *closed = true;
            was_open
        });
        if changed {
            self.inner.pending.close();
            self.inner.listener.on_closed(self);
        }
    }

    /// Resolves once the channel is closed.
    pub async fn closed(&self) {
        let mut closed = self.inner.closed.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail while we hold `self`.
        let _ = closed.wait_for(|closed| *closed).await;
    }

    /// Queues a response (or any pre-built command) without touching its opaque or flag, waiting
    /// for room in the write queue. A response too large to encode is replaced by SYSTEM_ERROR.
    ///
    /// A peer that leaves the queue full for the whole write timeout is not reading: the
    /// connection is closed rather than letting handlers (and their in-flight permits) pile up.
    pub(crate) async fn send_response(&self, response: RemotingCommand) -> Result<()> {
        let frame = match self.encode(&response) {
            Ok(frame) => frame,
            Err(err) => {
                tracing::warn!(peer = %self.inner.peer, opaque = response.opaque, %err, "response not encodable");
                let fallback = RemotingCommand {
                    body: Bytes::new(),
                    ext_fields: Default::default(),
                    remark: Some(err.to_string()),
                    code: ferrimq_remoting::ResponseCode::SystemError.code(),
                    ..response
                };
                self.encode(&fallback)?
            }
        };
        match tokio::time::timeout(self.inner.write_timeout, self.enqueue(frame)).await {
            Ok(queued) => queued,
            Err(_) => {
                tracing::warn!(peer = %self.inner.peer, timeout = ?self.inner.write_timeout,
                    "peer is not reading its responses, closing connection");
                self.close();
                Err(TransportError::WriteQueueFull {
                    addr: self.peer_text(),
                })
            }
        }
    }

    /// Routes a received response to its waiter; unmatched responses are logged and dropped.
    pub(crate) fn deliver_response(&self, response: RemotingCommand) {
        if let Err(orphan) = self.inner.pending.complete(response) {
            tracing::debug!(peer = %self.inner.peer, opaque = orphan.opaque, code = orphan.code,
                "response without a waiter (timed out or unknown opaque), dropped");
        }
    }

    /// Reports idleness to the listener, then closes.
    pub(crate) fn close_idle(&self) {
        if self.is_active() {
            self.inner.listener.on_idle(self);
        }
        self.close();
    }

    /// Tells the listener the connection is up.
    pub(crate) fn announce_connected(&self) {
        self.inner.listener.on_connected(self);
    }

    fn encode(&self, command: &RemotingCommand) -> Result<Bytes> {
        let mut buf = BytesMut::with_capacity(command.encoded_len_hint());
        self.inner.codec.encode(command, &mut buf)?;
        Ok(buf.freeze())
    }

    /// Waits for room in the write queue; gives up as soon as the channel closes, so a sender
    /// stuck behind a dead peer is released at once.
    async fn enqueue(&self, frame: Bytes) -> Result<()> {
        let mut closed = self.inner.closed.subscribe();
        if *closed.borrow_and_update() {
            return Err(self.closed_error());
        }
        tokio::select! {
            sent = self.inner.outbound.send(frame) => sent.map_err(|_| self.closed_error()),
            _ = closed.wait_for(|closed| *closed) => Err(self.closed_error()),
        }
    }

    fn ensure_active(&self) -> Result<()> {
        if self.is_active() {
            Ok(())
        } else {
            Err(self.closed_error())
        }
    }

    fn closed_error(&self) -> TransportError {
        TransportError::ChannelClosed {
            addr: self.peer_text(),
        }
    }

    fn peer_text(&self) -> String {
        self.inner.peer.to_string()
    }
}

/// Removes a pending entry when `invoke` ends, whichever way it ends.
struct ForgetOnDrop<'a> {
    pending: &'a PendingTable,
    opaque: i32,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        self.pending.forget(self.opaque);
    }
}
