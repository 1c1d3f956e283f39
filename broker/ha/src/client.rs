//! [`HaClient`]: the slave side. It follows the master HA address it is given (a watch fed
//! from `haMasterAddress` or the NameServer's registration answer), connects, reports its
//! CommitLog end at once, then appends every frame at exactly its end and reports again after
//! each read that appended and at least every heartbeat interval. A master silent for the
//! housekeeping interval, a frame that does not continue the CommitLog, or a new master
//! address closes the connection; reconnects back off exponentially.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ferrimq_store::store::MessageStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::HaConfig;
use crate::error::{HaError, Result};
use crate::frame;

/// What the slave's replication is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientState {
    /// The master HA address followed (None until one is known).
    pub master: Option<String>,
    /// True while a connection to it is open.
    pub connected: bool,
    /// The slave's CommitLog end (last reported offset).
    pub offset: u64,
}

/// The slave's replication task. See the module docs.
#[derive(Debug)]
pub struct HaClient {
    state: Arc<Mutex<ClientState>>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What one replication session works with.
struct Session {
    store: Arc<MessageStore>,
    cfg: HaConfig,
    state: Arc<Mutex<ClientState>>,
    master: watch::Receiver<Option<String>>,
    stop: watch::Receiver<bool>,
}

fn lock(state: &Mutex<ClientState>) -> MutexGuard<'_, ClientState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl HaClient {
    /// Starts replicating into `store` from whichever master `master` names. Must be called
    /// inside a tokio runtime.
    pub fn start(
        store: Arc<MessageStore>,
        master: watch::Receiver<Option<String>>,
        cfg: HaConfig,
    ) -> HaClient {
        let state = Arc::new(Mutex::new(ClientState {
            offset: store.commit_log_max_offset(),
            ..ClientState::default()
        }));
        let (stop, stop_rx) = watch::channel(false);
        let session = Session {
            store,
            cfg,
            state: Arc::clone(&state),
            master,
            stop: stop_rx,
        };
        let task = tokio::spawn(run(session));
        HaClient {
            state,
            stop,
            task: Mutex::new(Some(task)),
        }
    }

    /// A snapshot of the replication state.
    pub fn state(&self) -> ClientState {
        lock(&self.state).clone()
    }

    /// Closes the connection and stops reconnecting.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
        if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
        lock(&self.state).connected = false;
    }
}

impl Drop for HaClient {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Connect, replicate, back off, repeat, until stopped.
async fn run(mut s: Session) {
    let (mut backoff, mut failures) = (s.cfg.reconnect_min, 0u32);
    loop {
        let Some(addr) = next_master(&mut s).await else {
            return;
        };
        lock(&s.state).master = Some(addr.clone());
        let connect = tokio::time::timeout(s.cfg.connect_timeout, TcpStream::connect(&addr));
        match connect.await {
            Ok(Ok(stream)) => {
                (backoff, failures) = (s.cfg.reconnect_min, 0);
                let _ = stream.set_nodelay(true);
                lock(&s.state).connected = true;
                tracing::info!(master = %addr, "connected to the master's HA port");
                let outcome = replicate(&mut s, stream, &addr).await;
                lock(&s.state).connected = false;
                match outcome {
                    Ok(()) => tracing::info!(master = %addr, "HA connection closed"),
                    Err(e) => tracing::warn!(master = %addr, error = %e, "HA connection lost"),
                }
            }
            Ok(Err(e)) => {
                failures += 1;
                log_failure(failures, &addr, &e.to_string());
            }
            Err(_) => {
                failures += 1;
                log_failure(failures, &addr, "connect timed out");
            }
        }
        // A dropped address source (Err) disables its branch: the last address stays in use.
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            Ok(()) = s.master.changed() => {}
            _ = s.stop.changed() => return,
        }
        backoff = (backoff * 2).min(s.cfg.reconnect_max);
    }
}

/// Warns on the first failed connect and every 20th after it (a master may be down for long).
fn log_failure(failures: u32, addr: &str, error: &str) {
    if failures == 1 || failures % 20 == 0 {
        tracing::warn!(master = %addr, failures, error, "cannot connect to the master's HA port");
    } else {
        tracing::debug!(master = %addr, failures, error, "HA connect failed");
    }
}

/// The master address to use, waiting until one is known; None once stopped.
async fn next_master(s: &mut Session) -> Option<String> {
    loop {
        if *s.stop.borrow() {
            return None;
        }
        if let Some(a) = s.master.borrow_and_update().clone() {
            return Some(a);
        }
        tokio::select! {
            r = s.master.changed() => if r.is_err() { return None },
            _ = s.stop.changed() => return None,
        }
    }
}

/// One connection: report, then append frames and report until something ends it.
async fn replicate(s: &mut Session, stream: TcpStream, addr: &str) -> Result<()> {
    let (mut rd, mut wr) = stream.into_split();
    let mut offset = s.store.commit_log_max_offset();
    report(&mut wr, offset, addr).await?;
    let (mut last_report, mut last_read) = (Instant::now(), Instant::now());
    let mut buf = BytesMut::with_capacity(2 * frame::HEADER_LEN + 2 * s.cfg.transfer_batch_size);
    let tick = (s.cfg.heartbeat_interval / 5).max(Duration::from_millis(50));
    loop {
        tokio::select! {
            n = rd.read_buf(&mut buf) => {
                let n = n.map_err(|source| HaError::Io {
                    peer: addr.to_owned(), what: "reading frames", source,
                })?;
                if n == 0 {
                    return Err(HaError::Closed { peer: addr.to_owned() });
                }
                last_read = Instant::now();
                let end = apply_frames(s, &mut buf)?;
                if end != offset {
                    offset = end;
                    lock(&s.state).offset = end;
                    report(&mut wr, end, addr).await?;
                    last_report = Instant::now();
                }
            }
            _ = tokio::time::sleep(tick) => {
                let silence = s.cfg.housekeeping_interval;
                if last_read.elapsed() > silence {
                    let millis = silence.as_millis();
                    return Err(HaError::Silent { peer: addr.to_owned(), millis });
                }
                if last_report.elapsed() >= s.cfg.heartbeat_interval {
                    report(&mut wr, offset, addr).await?;
                    last_report = Instant::now();
                }
            }
            Ok(()) = s.master.changed() => {
                if s.master.borrow().as_deref() != Some(addr) {
                    tracing::info!(old = %addr, "master HA address changed; reconnecting");
                    return Ok(());
                }
            }
            _ = s.stop.changed() => return Ok(()),
        }
    }
}

/// Appends every whole frame in `buf`; returns the CommitLog end afterwards.
fn apply_frames(s: &Session, buf: &mut BytesMut) -> Result<u64> {
    let mut end = s.store.commit_log_max_offset();
    while let Some(f) = frame::decode_frame(buf)? {
        if end != 0 && f.offset != end {
            return Err(HaError::OffsetMismatch {
                expected: end,
                got: f.offset,
            });
        }
        if f.body.is_empty() {
            continue;
        }
        let appended = s.store.append_replica(f.offset, &f.body)?;
        // The slave acknowledges bytes it holds, as RocketMQ's slave does; its own flush
        // policy makes them durable in the background.
        drop(appended.flush);
        end = appended.end_offset;
    }
    Ok(end)
}

async fn report(wr: &mut OwnedWriteHalf, offset: u64, addr: &str) -> Result<()> {
    wr.write_all(&frame::encode_report(offset))
        .await
        .map_err(|source| HaError::Io {
            peer: addr.to_owned(),
            what: "reporting the offset",
            source,
        })
}
