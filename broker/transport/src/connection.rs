//! One TCP connection: socket options, the reader loop and the writer task.
//!
//! Server and client connections are the same machine, since both ends may send requests:
//! - the **reader** owns the read half and a `BytesMut`; it decodes whole frames with
//!   [`FrameCodec`], hands responses to the channel's pending table and requests to the
//!   [`Dispatcher`]. A malformed or oversized frame closes this connection only, with the reason
//!   logged. No frame for `channel_idle` closes it as idle (Java's 120 s all-idle handler).
//! - the **writer** owns the write half behind a `BufWriter` and drains the channel's bounded
//!   queue: it writes every frame already queued before one flush, so bursts of responses leave
//!   in few syscalls, in the order handlers completed. Nobody else touches the socket, so there is
//!   no lock around it. After close it still writes what was queued, for at most [`LINGER`].

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrimq_remoting::{FrameCodec, RemotingCommand};
use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::channel::{Channel, ChannelListener, ChannelParts, ChannelSetup};
use crate::dispatch::Dispatcher;

/// How long a closed connection may keep writing what was queued before it.
pub const LINGER: Duration = Duration::from_secs(3);
/// Frames written before one flush, at most.
const MAX_BATCH: usize = 256;
/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;
/// Write buffer size.
const WRITE_BUFFER: usize = 64 * 1024;

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// Per-connection settings shared by server and client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionConfig {
    pub(crate) codec: FrameCodec,
    pub(crate) channel_idle: Duration,
    pub(crate) write_queue: usize,
    pub(crate) write_timeout: Duration,
    pub(crate) keepalive: Duration,
}

/// The collaborators a connection hands frames and events to.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) listener: Arc<dyn ChannelListener>,
    /// Flips to `true` when the endpoint stops reading new requests (graceful shutdown).
    pub(crate) stop_reading: watch::Receiver<bool>,
}

/// Sets TCP_NODELAY and TCP keepalive, as every RocketMQ socket has.
pub(crate) fn configure_socket(stream: &TcpStream, keepalive: Duration) -> io::Result<()> {
    stream.set_nodelay(true)?;
    SockRef::from(stream).set_tcp_keepalive(&TcpKeepalive::new().with_time(keepalive))
}

/// Wraps a connected socket: returns its channel and the future driving it (the caller spawns
/// it). The future ends once both reader and writer are done.
pub(crate) fn start(
    stream: TcpStream,
    config: ConnectionConfig,
    endpoint: Endpoint,
) -> io::Result<(Channel, impl Future<Output = ()> + Send + 'static)> {
    configure_socket(&stream, config.keepalive)?;
    let setup = ChannelSetup {
        id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
        peer: stream.peer_addr()?,
        local: stream.local_addr()?,
        codec: config.codec,
        write_queue: config.write_queue,
        write_timeout: config.write_timeout,
        listener: Arc::clone(&endpoint.listener),
    };
    let (channel, parts) = Channel::new(setup);
    let (read_half, write_half) = stream.into_split();
    let ChannelParts { outbound, closed } = parts;
    let writer = write_loop(write_half, outbound, channel.clone(), closed.clone());
    let reader = Reader {
        half: read_half,
        channel: channel.clone(),
        config,
        endpoint,
        closed,
    };
    channel.announce_connected();
    let drive = async move {
        let writer = tokio::spawn(writer);
        reader.run().await;
        let _ = writer.await;
    };
    Ok((channel, drive))
}

/// Reading side of one connection.
struct Reader {
    half: OwnedReadHalf,
    channel: Channel,
    config: ConnectionConfig,
    endpoint: Endpoint,
    closed: watch::Receiver<bool>,
}

impl Reader {
    async fn run(mut self) {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut deadline = Instant::now() + self.config.channel_idle;
        loop {
            match self.drain_frames(&mut buf) {
                Ok(0) => {}
                Ok(_) => deadline = Instant::now() + self.config.channel_idle,
                Err(reason) => {
                    tracing::warn!(peer = %self.channel.peer_addr(), %reason, "bad frame, closing connection");
                    self.channel.close();
                    return;
                }
            }
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            let read = tokio::select! {
                read = tokio::time::timeout_at(deadline, self.half.read_buf(&mut buf)) => read,
                _ = self.closed.wait_for(|closed| *closed) => return,
                _ = self.endpoint.stop_reading.wait_for(|stop| *stop) => return,
            };
            if !self.after_read(read, buf.len()) {
                return;
            }
        }
    }

    /// Decodes and routes every whole frame in `buf`; returns how many there were.
    fn drain_frames(&self, buf: &mut BytesMut) -> Result<usize, ferrimq_remoting::RemotingError> {
        let mut frames = 0;
        while let Some(command) = self.config.codec.decode(buf)? {
            frames += 1;
            self.route(command);
        }
        Ok(frames)
    }

    fn route(&self, command: RemotingCommand) {
        if command.is_response() {
            self.channel.deliver_response(command);
        } else {
            self.endpoint
                .dispatcher
                .dispatch(command, self.channel.clone());
        }
    }

    /// Handles the outcome of one read; false when the connection is over.
    fn after_read(
        &self,
        read: Result<io::Result<usize>, tokio::time::error::Elapsed>,
        buffered: usize,
    ) -> bool {
        let peer = self.channel.peer_addr();
        match read {
            Ok(Ok(0)) => {
                if buffered > 0 {
                    tracing::warn!(%peer, buffered, "peer closed mid-frame");
                } else {
                    tracing::debug!(%peer, "peer closed the connection");
                }
                self.channel.close();
                false
            }
            Ok(Ok(_)) => true,
            Ok(Err(err)) => {
                tracing::debug!(%peer, %err, "read failed, closing connection");
                self.channel.close();
                false
            }
            Err(_) => {
                tracing::info!(%peer, idle = ?self.config.channel_idle, "connection idle, closing");
                self.channel.close_idle();
                false
            }
        }
    }
}

/// Writing side of one connection: batches queued frames, flushes, lingers after close.
async fn write_loop(
    half: OwnedWriteHalf,
    mut outbound: mpsc::Receiver<Bytes>,
    channel: Channel,
    mut closed: watch::Receiver<bool>,
) {
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, half);
    loop {
        let frame = tokio::select! {
            biased;
            frame = outbound.recv() => frame,
            _ = closed.wait_for(|closed| *closed) => None,
        };
        let Some(frame) = frame else { break };
        // Let handlers that are already runnable finish and queue their frames first: under
        // load one write then carries many frames instead of one syscall per frame.
        tokio::task::yield_now().await;
        let mut close_watch = closed.clone();
        let written = tokio::select! {
            written = write_batch(&mut out, frame, &mut outbound) => written,
            _ = linger_after_close(&mut close_watch) => Err(io::ErrorKind::TimedOut.into()),
        };
        if let Err(err) = written {
            tracing::debug!(peer = %channel.peer_addr(), %err, "write failed, closing connection");
            channel.close();
            return;
        }
    }
    let flushed = tokio::time::timeout(LINGER, flush_remaining(&mut out, &mut outbound)).await;
    if !matches!(flushed, Ok(Ok(()))) {
        tracing::debug!(peer = %channel.peer_addr(), "queued frames dropped at close");
    }
}

/// Writes `first` and whatever else is already queued, then flushes once.
async fn write_batch(
    out: &mut BufWriter<OwnedWriteHalf>,
    first: Bytes,
    outbound: &mut mpsc::Receiver<Bytes>,
) -> io::Result<()> {
    out.write_all(&first).await?;
    for _ in 1..MAX_BATCH {
        match outbound.try_recv() {
            Ok(frame) => out.write_all(&frame).await?,
            Err(_) => break,
        }
    }
    out.flush().await
}

/// After close: writes what is still queued, then shuts the socket's write side down.
async fn flush_remaining(
    out: &mut BufWriter<OwnedWriteHalf>,
    outbound: &mut mpsc::Receiver<Bytes>,
) -> io::Result<()> {
    outbound.close();
    while let Ok(frame) = outbound.try_recv() {
        out.write_all(&frame).await?;
    }
    out.flush().await?;
    out.shutdown().await
}

/// Completes [`LINGER`] after the channel closes: bounds a write stuck on a peer not reading.
async fn linger_after_close(closed: &mut watch::Receiver<bool>) {
    let _ = closed.wait_for(|closed| *closed).await;
    tokio::time::sleep(LINGER).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sockets_get_nodelay_and_keepalive() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("bound");
        let (dialed, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (dialed, (accepted, _)) = (dialed.expect("connects"), accepted.expect("accepts"));
        for stream in [&dialed, &accepted] {
            assert!(!stream.nodelay().expect("readable"));
            configure_socket(stream, Duration::from_secs(45)).expect("configured");
            assert!(stream.nodelay().expect("readable"));
            assert!(SockRef::from(stream).keepalive().expect("readable"));
        }
    }
}
