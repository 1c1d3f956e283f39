//! Long polling: pulls that found nothing park here, keyed by (topic, queue), until the
//! dispatcher reports a message for that queue or their suspend time runs out.
//!
//! The store's dispatcher thread calls [`PullHold::on_arrivals`] after writing ConsumeQueue units,
//! so a woken pull always finds the new unit. A pull registers its waiter *before* re-reading the
//! queue, so an arrival between "found nothing" and "parked" is never missed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrimq_store::dispatch::{Arrival, DispatchListener};
use tokio::sync::Notify;

type QueueKey = (String, i32);

/// Parked pulls by queue.
#[derive(Debug, Default)]
pub struct PullHold {
    queues: Mutex<HashMap<QueueKey, Arc<Notify>>>,
    /// Set at shutdown: parked pulls are answered at once and no new pull parks.
    released: AtomicBool,
}

/// One parked pull's registration; dropping it forgets the queue when nobody else waits.
#[derive(Debug)]
pub struct Watch<'a> {
    hold: &'a PullHold,
    key: QueueKey,
    notify: Arc<Notify>,
}

impl PullHold {
    /// An empty hold.
    pub fn new() -> Self {
        PullHold::default()
    }

    /// Registers interest in (topic, queue). Call before re-checking the queue.
    pub fn watch(&self, topic: &str, queue_id: i32) -> Watch<'_> {
        let key = (topic.to_owned(), queue_id);
        let notify = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(queues.entry(key.clone()).or_default())
        };
        Watch {
            hold: self,
            key,
            notify,
        }
    }

    /// Answers every parked pull now and lets no pull park any more (broker shutdown), so
    /// in-flight requests drain within the shutdown grace time.
    pub fn release_all(&self) {
        self.released.store(true, Ordering::Release);
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        for notify in queues.values() {
            notify.notify_waiters();
        }
    }

    /// Number of queues with parked pulls (for runtime info and tests).
    pub fn parked_queues(&self) -> usize {
        self.queues.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn forget(&self, key: &QueueKey, notify: &Arc<Notify>) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        // Ours plus the map's: nobody else is parked on this queue.
        if Arc::strong_count(notify) <= 2 {
            queues.remove(key);
        }
    }
}

impl Watch<'_> {
    /// Waits until a message arrives for the queue or `timeout` passes; true when woken.
    /// `recheck` runs after the waiter is armed: when it reports data, no wait happens.
    pub async fn wait(&self, timeout: Duration, recheck: impl FnOnce() -> bool) -> bool {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.hold.released.load(Ordering::Acquire) || recheck() {
            return true;
        }
        tokio::time::timeout(timeout, notified).await.is_ok()
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.hold.forget(&self.key, &self.notify);
    }
}

impl DispatchListener for PullHold {
    fn on_arrivals(&self, arrivals: &[Arrival<'_>]) {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if queues.is_empty() {
            return;
        }
        for arrival in arrivals {
            let key = (arrival.topic.to_owned(), arrival.queue_id);
            if let Some(notify) = queues.get(&key) {
                notify.notify_waiters();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(topic: &str, queue_id: i32) -> Arrival<'_> {
        Arrival {
            topic,
            queue_id,
            max_offset: 1,
            store_timestamp: 0,
            tags_code: 0,
            properties: "",
        }
    }

    #[tokio::test]
    async fn arrival_wakes_only_its_queue_and_forgets_it() {
        let hold = Arc::new(PullHold::new());
        let waiter = {
            let hold = Arc::clone(&hold);
            tokio::spawn(async move {
                let watch = hold.watch("T", 1);
                watch.wait(Duration::from_secs(5), || false).await
            })
        };
        while hold.parked_queues() == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        hold.on_arrivals(&[arrival("T", 0), arrival("U", 1)]);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "other queues must not wake it");
        hold.on_arrivals(&[arrival("T", 1)]);
        assert!(waiter.await.expect("joins"), "woken by its queue");
        assert_eq!(hold.parked_queues(), 0);
    }

    #[tokio::test]
    async fn times_out_and_recheck_short_circuits() {
        let hold = PullHold::new();
        let watch = hold.watch("T", 0);
        assert!(!watch.wait(Duration::from_millis(30), || false).await);
        assert!(watch.wait(Duration::from_secs(30), || true).await);
    }

    #[tokio::test]
    async fn release_all_answers_parked_and_future_pulls() {
        let hold = Arc::new(PullHold::new());
        let waiter = {
            let hold = Arc::clone(&hold);
            tokio::spawn(async move {
                hold.watch("T", 0)
                    .wait(Duration::from_secs(30), || false)
                    .await
            })
        };
        while hold.parked_queues() == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        hold.release_all();
        let woken = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(matches!(woken, Ok(Ok(true))), "released: {woken:?}");
        let started = std::time::Instant::now();
        assert!(
            hold.watch("T", 1)
                .wait(Duration::from_secs(30), || false)
                .await
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
