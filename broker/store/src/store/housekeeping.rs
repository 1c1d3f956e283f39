//! The store's periodic work on one thread: flush ConsumeQueues and index files and advance
//! the checkpoint (every `flushIntervalConsumeQueue`), and run cleanup (every
//! `cleanResourceInterval`).

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Result;

/// The jobs, implemented by the store's shared core.
pub(crate) trait Jobs: Send + Sync + 'static {
    /// Flush queues, index and checkpoint.
    fn flush_logics(&self) -> Result<()>;
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
    pub(crate) fn start(
        jobs: Arc<dyn Jobs>,
        flush_every: Duration,
        clean_every: Duration,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(Stop::default());
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("store-housekeeping".into())
            .spawn(move || run(&*jobs, &s, flush_every, clean_every))?;
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

fn run(jobs: &dyn Jobs, stop: &Stop, flush_every: Duration, clean_every: Duration) {
    let mut last_clean = Instant::now();
    loop {
        {
            let guard = stop.stopped.lock().unwrap_or_else(|p| p.into_inner());
            let (guard, _) = stop
                .cond
                .wait_timeout_while(guard, flush_every, |s| !*s)
                .unwrap_or_else(|p| p.into_inner());
            if *guard {
                return;
            }
        }
        if let Err(e) = jobs.flush_logics() {
            tracing::error!(error = %e, "flushing consume queues / index / checkpoint failed");
        }
        if last_clean.elapsed() >= clean_every {
            last_clean = Instant::now();
            if let Err(e) = jobs.clean() {
                tracing::error!(error = %e, "cleanup pass failed");
            }
        }
    }
}
