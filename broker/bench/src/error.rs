//! The error type of the load generator: bad options, cluster setup failures, client failures.
//!
//! Send and pull failures during a run are not errors of the run: they are counted by kind in the
//! report. A [`BenchError`] ends the run before or instead of measuring.

use thiserror::Error;

/// Result alias of this crate.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// Why a run could not be carried out.
#[derive(Debug, Error)]
pub enum BenchError {
    /// An option is out of range or inconsistent with another.
    #[error("invalid option --{option}: {reason}")]
    InvalidOption {
        /// Option name (without dashes).
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Preparing the cluster (topics, routes, offsets) failed.
    #[error("setting up {what}: {reason}")]
    Setup {
        /// What was being prepared.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A client call outside the measured sends/pulls failed.
    #[error(transparent)]
    Client(#[from] ferrimq_client::ClientError),
    /// A worker task panicked or was cancelled.
    #[error("worker task failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
}
