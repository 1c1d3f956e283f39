//! The store's periodic work on one thread: flush ConsumeQueues and index files and advance
//! the checkpoint (every `flushIntervalConsumeQueue`; a thorough flush, ignoring
//! `flushConsumeQueueLeastPages`, every `flushConsumeQueueThoroughInterval`), and run cleanup
//! (every `cleanResourceInterval`).

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Result;

/// The jobs, implemented by the store's shared core.
pub(crate) trait Jobs: Send + Sync + 'static {
    /// Flush queues, index and checkpoint; `thorough` flushes every written queue unit.
    fn flush_logics(&self, thorough: bool) -> Result<()>;
    /// One cleanup pass.
    fn clean(&self) -> Result<()>;
}

#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    cond: Condvar,
}

/// Handle on the housekeeping thread.
pub(crate) struct Housekeeping {
    stop: Arc<Stop>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Housekeeping {
    pub(crate) fn start(jobs: Arc<dyn Jobs>, every: Periods) -> std::io::Result<Self> {
        let stop = Arc::new(Stop::default());
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("store-housekeeping".into())
            .spawn(move || run(&*jobs, &s, every))?;
        Ok(Housekeeping {
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn stop(&self) {
        *self.stop.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.stop.cond.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// How often each job runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Periods {
    pub flush: Duration,
    pub thorough_flush: Duration,
    pub clean: Duration,
}

fn run(jobs: &dyn Jobs, stop: &Stop, every: Periods) {
    let (mut last_clean, mut last_thorough) = (Instant::now(), Instant::now());
    loop {
        {
            let guard = stop.stopped.lock().unwrap_or_else(|p| p.into_inner());
            let (guard, _) = stop
                .cond
                .wait_timeout_while(guard, every.flush, |s| !*s)
                .unwrap_or_else(|p| p.into_inner());
            if *guard {
                return;
            }
        }
        let thorough = last_thorough.elapsed() >= every.thorough_flush;
        if thorough {
            last_thorough = Instant::now();
        }
        if let Err(e) = jobs.flush_logics(thorough) {
            tracing::error!(error = %e, "flushing consume queues / index / checkpoint failed");
        }
        if last_clean.elapsed() >= every.clean {
            last_clean = Instant::now();
            if let Err(e) = jobs.clean() {
                tracing::error!(error = %e, "cleanup pass failed");
            }
        }
    }
}
