//! [`HaServer`]: the master side. It listens on the HA port; per slave connection one half
//! reads the 8-byte offset reports (each acknowledges bytes to the [`ReplicaWaiter`]) and the
//! other streams CommitLog frames from the first reported offset: from the start of the last
//! CommitLog file when the slave is empty, as RocketMQ does. A slave silent for the
//! housekeeping interval is dropped; a slave ahead of this master is refused (truncating it is
//! not supported).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ferrimq_store::store::MessageStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::HaConfig;
use crate::error::{HaError, Result};
use crate::frame::{self, REPORT_LEN};
use crate::waiter::ReplicaWaiter;

/// One connected slave, as the runtime info shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveState {
    /// The slave's address.
    pub addr: SocketAddr,
    /// The last offset it reported (everything below is on the slave).
    pub acked_offset: u64,
    /// Master CommitLog end minus `acked_offset`.
    pub lag_bytes: u64,
}

/// How often the progress (acknowledged offset, lag) of each slave is logged.
const PROGRESS_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

type Registry = Mutex<BTreeMap<u64, (SocketAddr, u64)>>;

/// What every connection task shares.
struct Shared {
    store: Arc<MessageStore>,
    cfg: HaConfig,
    waiter: ReplicaWaiter,
    slaves: Registry,
    next_id: AtomicU64,
    stop: watch::Receiver<bool>,
}

impl Shared {
    fn slaves(&self) -> MutexGuard<'_, BTreeMap<u64, (SocketAddr, u64)>> {
        self.slaves.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The master's replication listener. See the module docs.
pub struct HaServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for HaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaServer")
            .field("local_addr", &self.local_addr)
            .field("slaves", &self.shared.waiter.slave_count())
            .finish()
    }
}

impl HaServer {
    /// Listens on `listen` (the broker's `haListenPort`) and serves slaves from `store`.
    /// Must be called inside a tokio runtime.
    pub fn start(store: Arc<MessageStore>, listen: SocketAddr, cfg: HaConfig) -> Result<HaServer> {
        let bind_err = |source| HaError::Bind {
            addr: listen,
            source,
        };
        let std_listener = std::net::TcpListener::bind(listen).map_err(bind_err)?;
        std_listener.set_nonblocking(true).map_err(bind_err)?;
        let local_addr = std_listener.local_addr().map_err(bind_err)?;
        let listener = TcpListener::from_std(std_listener).map_err(bind_err)?;
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            store,
            cfg,
            waiter: ReplicaWaiter::new(cfg.slave_fallbehind_max),
            slaves: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            stop: stop_rx,
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        tracing::info!(addr = %local_addr, "HA service listening for slaves");
        Ok(HaServer {
            local_addr,
            shared,
            stop,
            accept: Mutex::new(Some(accept)),
        })
    }

    /// The address actually listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The SYNC_MASTER waiter fed by this server's slaves (also the append signal).
    pub fn waiter(&self) -> &ReplicaWaiter {
        &self.shared.waiter
    }

    /// The connected slaves, oldest connection first.
    pub fn state(&self) -> Vec<SlaveState> {
        let end = self.shared.store.commit_log_max_offset();
        self.shared
            .slaves()
            .values()
            .map(|&(addr, acked)| SlaveState {
                addr,
                acked_offset: acked,
                lag_bytes: end.saturating_sub(acked),
            })
            .collect()
    }

    /// Stops accepting and closes every slave connection.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
        if let Some(h) = self.accept.lock().unwrap_or_else(|p| p.into_inner()).take() {
            h.abort();
        }
        tracing::info!(addr = %self.local_addr, "HA service stopped");
    }
}

impl Drop for HaServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(Arc::clone(&shared), stream, peer));
            }
            Err(err) => {
                tracing::warn!(error = %err, "HA accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// One slave connection, from accept to close.
async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.slaves().insert(id, (peer, 0));
    tracing::info!(slave = %peer, "slave connected");
    // Counted as a slave (for SYNC_MASTER) from its first acceptable report on.
    let counted = AtomicBool::new(false);
    let (rd, wr) = stream.into_split();
    let (reports_tx, reports_rx) = watch::channel(None);
    let mut stop = shared.stop.clone();
    let reason = tokio::select! {
        r = read_reports(&shared, id, rd, peer, reports_tx, &counted) => r,
        r = stream_frames(&shared, wr, peer, reports_rx) => r,
        _ = stop.changed() => Ok(()),
    };
    if counted.load(Ordering::Acquire) {
        shared.waiter.slave_disconnected();
    }
    let acked = shared.slaves().remove(&id).map_or(0, |(_, a)| a);
    match reason {
        Ok(()) => tracing::info!(slave = %peer, acked, "slave connection closed"),
        Err(e @ (HaError::SlaveAhead { .. } | HaError::Store(_))) => {
            tracing::error!(slave = %peer, acked, error = %e, "slave refused");
        }
        Err(e) => tracing::warn!(slave = %peer, acked, error = %e, "slave disconnected"),
    }
}

/// Reads offset reports until the slave goes away or falls silent.
async fn read_reports(
    shared: &Shared,
    id: u64,
    mut rd: OwnedReadHalf,
    peer: SocketAddr,
    reports: watch::Sender<Option<u64>>,
    counted: &AtomicBool,
) -> Result<()> {
    let silence = shared.cfg.housekeeping_interval;
    let mut last_progress_log = Instant::now();
    loop {
        let mut b = [0u8; REPORT_LEN];
        match tokio::time::timeout(silence, rd.read_exact(&mut b)).await {
            Err(_) => {
                return Err(HaError::Silent {
                    peer: peer.to_string(),
                    millis: silence.as_millis(),
                });
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(HaError::Closed {
                    peer: peer.to_string(),
                });
            }
            Ok(Err(source)) => {
                let (peer, what) = (peer.to_string(), "reading an offset report");
                return Err(HaError::Io { peer, what, source });
            }
            Ok(Ok(_)) => {}
        }
        let offset = frame::decode_report(b);
        let end = shared.store.commit_log_max_offset();
        if offset > end {
            // Checked before acknowledging: a slave ahead of this master proves nothing about
            // this master's bytes.
            return Err(HaError::SlaveAhead {
                peer: peer.to_string(),
                slave: offset,
                master: end,
            });
        }
        if let Some(entry) = shared.slaves().get_mut(&id) {
            entry.1 = offset;
        }
        shared.waiter.ack(offset);
        if !counted.swap(true, Ordering::AcqRel) {
            shared.waiter.slave_connected();
        }
        reports.send_replace(Some(offset));
        if last_progress_log.elapsed() >= PROGRESS_LOG_INTERVAL {
            last_progress_log = Instant::now();
            let lag = end - offset;
            tracing::info!(slave = %peer, acked = offset, lag_bytes = lag, "slave replication progress");
        }
    }
}

/// Where streaming starts for a slave whose first report is `reported`.
fn start_offset(store: &MessageStore, reported: u64, peer: SocketAddr) -> Result<u64> {
    let end = store.commit_log_max_offset();
    if reported > end {
        return Err(HaError::SlaveAhead {
            peer: peer.to_string(),
            slave: reported,
            master: end,
        });
    }
    if reported == 0 {
        let file_size = store.config().mapped_file_size_commit_log as u64;
        return Ok(end - end % file_size.max(1));
    }
    Ok(reported)
}

/// Streams frames from the slave's first report on; heartbeats when idle.
async fn stream_frames(
    shared: &Shared,
    mut wr: OwnedWriteHalf,
    peer: SocketAddr,
    mut reports: watch::Receiver<Option<u64>>,
) -> Result<()> {
    let first = loop {
        if let Some(o) = *reports.borrow_and_update() {
            break o;
        }
        if reports.changed().await.is_err() {
            return Ok(());
        }
    };
    let mut next = start_offset(&shared.store, first, peer)?;
    tracing::info!(slave = %peer, reported = first, from = next, "streaming commit log to slave");
    let mut appended = shared.waiter.appended();
    let mut out = Vec::with_capacity(frame::HEADER_LEN + shared.cfg.transfer_batch_size);
    let mut last_write = Instant::now();
    loop {
        appended.borrow_and_update();
        if let Some(chunk) = shared
            .store
            .replica_chunk(next, shared.cfg.transfer_batch_size)?
        {
            out.clear();
            out.extend_from_slice(&frame::encode_header(chunk.offset, chunk.bytes.len()));
            out.extend_from_slice(&chunk.bytes);
            write(&mut wr, &out, peer).await?;
            next = chunk.end();
            last_write = Instant::now();
            continue;
        }
        let heartbeat = shared.cfg.heartbeat_interval;
        if last_write.elapsed() >= heartbeat {
            write(&mut wr, &frame::encode_header(next, 0), peer).await?;
            last_write = Instant::now();
        }
        let idle = shared
            .cfg
            .idle_poll
            .min(heartbeat.saturating_sub(last_write.elapsed()));
        tokio::select! {
            _ = appended.changed() => {}
            _ = tokio::time::sleep(idle) => {}
        }
    }
}

async fn write(wr: &mut OwnedWriteHalf, bytes: &[u8], peer: SocketAddr) -> Result<()> {
    wr.write_all(bytes).await.map_err(|source| HaError::Io {
        peer: peer.to_string(),
        what: "sending commit log data",
        source,
    })
}
