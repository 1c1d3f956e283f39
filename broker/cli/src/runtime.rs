//! The tokio runtime of each long-running role, sized once from `--io-threads`.
//!
//! Why not tokio's default (one worker per core): on small machines the workers spend much of
//! their time waking each other. With 64 sync producers on a 2-core VM, a bench client on two
//! workers used 7.7 us of CPU per message and on one worker 5.3 us; the broker 10.9 vs 8.5 us
//! (docs/performance.md). So a server keeps one core for the store's own threads (dispatch,
//! index, page warming, flushing) and the load generator takes half the cores, leaving the rest
//! to the broker it measures. `TOKIO_WORKER_THREADS` still applies when `--io-threads` is unset.

use anyhow::Context;
use tokio::runtime::{Builder, Runtime};

/// What the process is, which decides the default worker count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// NameServer, broker, standalone: all cores but one for the runtime.
    Server,
    /// Load generator: half the cores.
    LoadGenerator,
}

/// Worker threads for `role` on a machine with `cores` cores.
pub fn default_workers(role: Role, cores: usize) -> usize {
    match role {
        Role::Server => cores.saturating_sub(1),
        Role::LoadGenerator => cores / 2,
    }
    .max(1)
}

/// A multi-threaded runtime with `io_threads` workers, or the role's default.
pub fn build(role: Role, io_threads: Option<usize>) -> anyhow::Result<Runtime> {
    let mut builder = Builder::new_multi_thread();
    builder.enable_all();
    let from_env = std::env::var_os("TOKIO_WORKER_THREADS").is_some();
    match io_threads {
        Some(0) => anyhow::bail!("--io-threads must be at least 1"),
        Some(n) => {
            builder.worker_threads(n);
        }
        None if from_env => {}
        None => {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            builder.worker_threads(default_workers(role, cores));
        }
    }
    builder.build().context("starting the tokio runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_leave_a_core_and_generators_take_half() {
        assert_eq!(default_workers(Role::Server, 1), 1);
        assert_eq!(default_workers(Role::Server, 2), 1);
        assert_eq!(default_workers(Role::Server, 8), 7);
        assert_eq!(default_workers(Role::LoadGenerator, 1), 1);
        assert_eq!(default_workers(Role::LoadGenerator, 2), 1);
        assert_eq!(default_workers(Role::LoadGenerator, 16), 8);
    }

    #[test]
    fn zero_threads_is_refused() {
        let err = build(Role::Server, Some(0)).expect_err("refused");
        assert!(err.to_string().contains("--io-threads"), "{err}");
        let rt = build(Role::Server, Some(2)).expect("builds");
        assert_eq!(rt.metrics().num_workers(), 2);
    }
}
