//! Errors of the replication stream. A connection that fails is closed and (on the slave)
//! reconnected; these errors say why, for the log.

use std::net::SocketAddr;

use ferrimq_store::StoreError;

/// Result alias for replication operations.
pub type Result<T, E = HaError> = std::result::Result<T, E>;

/// What went wrong on a replication connection or listener.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HaError {
    /// Binding the HA listen port failed.
    #[error("cannot listen for slaves on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A socket read or write failed.
    #[error("{peer}: {what} failed: {source}")]
    Io {
        /// The other side.
        peer: String,
        /// The operation.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The peer closed the connection.
    #[error("{peer} closed the connection")]
    Closed {
        /// The other side.
        peer: String,
    },
    /// Nothing arrived for the housekeeping interval.
    #[error("{peer} silent for {millis} ms; closing")]
    Silent {
        /// The other side.
        peer: String,
        /// The housekeeping interval.
        millis: u128,
    },
    /// A frame header is impossible (negative or oversized body).
    #[error("bad frame from the master at stream offset {offset}: body size {size}")]
    BadFrame {
        /// The frame's offset field.
        offset: i64,
        /// The frame's size field.
        size: i32,
    },
    /// A frame does not continue the slave's CommitLog.
    #[error("master sent offset {got} but the slave's commit log ends at {expected}")]
    OffsetMismatch {
        /// The slave's CommitLog end.
        expected: u64,
        /// The frame's offset.
        got: u64,
    },
    /// The slave reported an offset beyond the master's CommitLog end: it is ahead of a fresh
    /// master. Truncating the slave is not supported; it is refused.
    #[error("slave {peer} is ahead of the master: slave offset {slave}, master end {master}")]
    SlaveAhead {
        /// The slave.
        peer: String,
        /// Its reported offset.
        slave: u64,
        /// The master's CommitLog end.
        master: u64,
    },
    /// The store refused a read or an append.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}
