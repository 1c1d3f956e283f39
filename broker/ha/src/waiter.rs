//! [`ReplicaWaiter`]: SYNC_MASTER's "wait until a slave has the bytes" (RocketMQ's
//! `GroupTransferService` + `push2SlaveMaxOffset`), completion-based.
//!
//! A waiting send registers a one-shot completion keyed by the CommitLog offset it needs
//! (`wroteOffset + wroteBytes`); every slave report moves the acknowledged offset forward
//! (CAS max) and completes, in one pass over an ordered map, every waiter at or below it. No
//! thread or task exists per waiting send; a waiter that times out (or whose send is dropped)
//! removes its own entry.
//!
//! The waiter also carries the "bytes were appended" signal the master's stream tasks sleep on,
//! so a SYNC_MASTER send reaches the slave without waiting for the idle poll.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, watch};

/// How a SYNC_MASTER wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A slave acknowledged the offset: answer SEND_OK.
    Replicated,
    /// No acknowledgement within the timeout: FLUSH_SLAVE_TIMEOUT (12). The message is stored.
    Timeout,
    /// No slave connected, or the slave lags by more than `haSlaveFallbehindMax`:
    /// SLAVE_NOT_AVAILABLE (11). The message is stored.
    NoSlave,
}

type Waiters = BTreeMap<(u64, u64), oneshot::Sender<()>>;

#[derive(Debug)]
struct Inner {
    acked: AtomicU64,
    slaves: AtomicUsize,
    fallbehind_max: u64,
    next_id: AtomicU64,
    waiters: Mutex<Waiters>,
    appended: watch::Sender<u64>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// See the module docs. Cheap to clone; all clones share the state.
#[derive(Debug, Clone)]
pub struct ReplicaWaiter {
    inner: Arc<Inner>,
}

/// Removes a waiter's entry when its wait ends or is dropped.
struct Registration {
    inner: Arc<Inner>,
    key: (u64, u64),
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.inner.lock().remove(&self.key);
    }
}

impl ReplicaWaiter {
    /// A waiter with no slave and nothing acknowledged; `fallbehind_max` is
    /// `haSlaveFallbehindMax`.
    pub fn new(fallbehind_max: u64) -> Self {
        ReplicaWaiter {
            inner: Arc::new(Inner {
                acked: AtomicU64::new(0),
                slaves: AtomicUsize::new(0),
                fallbehind_max,
                next_id: AtomicU64::new(0),
                waiters: Mutex::new(BTreeMap::new()),
                appended: watch::channel(0).0,
            }),
        }
    }

    /// The highest offset any slave has acknowledged (`push2SlaveMaxOffset`).
    pub fn acked_offset(&self) -> u64 {
        self.inner.acked.load(Ordering::Acquire)
    }

    /// Slave connections currently open.
    pub fn slave_count(&self) -> usize {
        self.inner.slaves.load(Ordering::Acquire)
    }

    /// RocketMQ's `isSlaveOK`: a slave is connected and lags `master_end` by less than
    /// `haSlaveFallbehindMax`.
    pub fn is_slave_ok(&self, master_end: u64) -> bool {
        self.slave_count() > 0
            && master_end.saturating_sub(self.acked_offset()) < self.inner.fallbehind_max
    }

    /// Tells the stream tasks that the CommitLog now ends at (at least) `end`. Call after
    /// every append on a master, whatever its role; [`ReplicaWaiter::wait`] calls it too.
    pub fn notify_appended(&self, end: u64) {
        self.inner.appended.send_if_modified(|v| {
            let newer = end > *v;
            if newer {
                *v = end;
            }
            newer
        });
    }

    /// The append signal, for the stream tasks.
    pub(crate) fn appended(&self) -> watch::Receiver<u64> {
        self.inner.appended.subscribe()
    }

    pub(crate) fn slave_connected(&self) {
        self.inner.slaves.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn slave_disconnected(&self) {
        self.inner.slaves.fetch_sub(1, Ordering::AcqRel);
    }

    /// A slave has everything below `offset`: completes every waiter needing no more.
    pub fn ack(&self, offset: u64) {
        let before = self.inner.acked.fetch_max(offset, Ordering::AcqRel);
        if offset <= before {
            return;
        }
        let mut waiters = self.inner.lock();
        let later = waiters.split_off(&(offset + 1, 0));
        let done = std::mem::replace(&mut *waiters, later);
        drop(waiters);
        for (_, tx) in done {
            let _ = tx.send(());
        }
    }

    /// Waits until a slave acknowledges `offset_end` (the end of the send's bytes), at most
    /// `timeout`. Whether a slave is usable is decided now, when called (as RocketMQ does
    /// right after the append); the returned future only waits for the completion.
    pub fn wait(
        &self,
        offset_end: u64,
        timeout: Duration,
    ) -> impl Future<Output = Outcome> + Send + 'static {
        let registered = self.register(offset_end);
        async move {
            let (rx, _registration) = match registered {
                Err(outcome) => return outcome,
                Ok(r) => r,
            };
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(())) => Outcome::Replicated,
                Ok(Err(_)) | Err(_) => Outcome::Timeout,
            }
        }
    }

    fn register(&self, offset_end: u64) -> Result<(oneshot::Receiver<()>, Registration), Outcome> {
        if !self.is_slave_ok(offset_end) {
            return Err(Outcome::NoSlave);
        }
        self.notify_appended(offset_end);
        if self.acked_offset() >= offset_end {
            return Err(Outcome::Replicated);
        }
        let (tx, rx) = oneshot::channel();
        let key = (
            offset_end,
            self.inner.next_id.fetch_add(1, Ordering::Relaxed),
        );
        self.inner.lock().insert(key, tx);
        let registration = Registration {
            inner: Arc::clone(&self.inner),
            key,
        };
        // An ack that landed between the check and the insert did not see this entry.
        if self.acked_offset() >= offset_end {
            return Err(Outcome::Replicated);
        }
        Ok((rx, registration))
    }

    /// Waiters currently registered (for tests and the runtime info).
    pub fn pending(&self) -> usize {
        self.inner.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn no_slave_answers_at_once() {
        let w = ReplicaWaiter::new(1000);
        assert_eq!(w.wait(10, Duration::from_secs(5)).await, Outcome::NoSlave);
        w.slave_connected();
        w.ack(100);
        // Lagging by fallbehind_max or more counts as no slave.
        assert_eq!(w.wait(1100, Duration::from_secs(5)).await, Outcome::NoSlave);
        assert_eq!(w.wait(1099, 10 * MS).await, Outcome::Timeout);
        w.slave_disconnected();
        assert_eq!(w.wait(50, 10 * MS).await, Outcome::NoSlave);
        assert_eq!(w.pending(), 0);
    }

    #[tokio::test]
    async fn ack_completes_exactly_the_waiters_at_or_below_it() {
        let w = ReplicaWaiter::new(u64::MAX);
        w.slave_connected();
        let t = Duration::from_secs(5);
        let a = tokio::spawn(w.wait(100, t));
        let b = tokio::spawn(w.wait(200, t));
        let c = tokio::spawn(w.wait(300, 50 * MS));
        tokio::time::sleep(10 * MS).await;
        assert_eq!(w.pending(), 3);
        w.ack(200);
        assert_eq!(a.await.unwrap(), Outcome::Replicated);
        assert_eq!(b.await.unwrap(), Outcome::Replicated);
        assert_eq!(c.await.unwrap(), Outcome::Timeout);
        assert_eq!(w.pending(), 0, "a timed-out waiter removes itself");
        // Already acknowledged: no registration at all.
        assert_eq!(w.wait(150, t).await, Outcome::Replicated);
        // The acknowledged offset only moves forward.
        w.ack(120);
        assert_eq!(w.acked_offset(), 200);
    }

    #[tokio::test]
    async fn dropping_a_wait_removes_its_entry() {
        let w = ReplicaWaiter::new(u64::MAX);
        w.slave_connected();
        let fut = w.wait(500, Duration::from_secs(5));
        assert_eq!(w.pending(), 1);
        drop(fut);
        assert_eq!(w.pending(), 0);
    }

    #[tokio::test]
    async fn many_waiters_complete_from_one_ack() {
        let w = ReplicaWaiter::new(u64::MAX);
        w.slave_connected();
        let handles: Vec<_> = (1..=1000u64)
            .map(|i| tokio::spawn(w.wait(i * 10, Duration::from_secs(5))))
            .collect();
        w.ack(10_000);
        for h in handles {
            assert_eq!(h.await.unwrap(), Outcome::Replicated);
        }
        assert_eq!(w.pending(), 0);
    }

    #[test]
    fn append_signal_only_moves_forward() {
        let w = ReplicaWaiter::new(u64::MAX);
        let mut rx = w.appended();
        w.notify_appended(40);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 40);
        w.notify_appended(30);
        assert!(!rx.has_changed().unwrap());
    }
}
