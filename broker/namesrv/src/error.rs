//! The error type of the name server layer.
//!
//! Three families: KV-config persistence failures (with the file they concern) and request
//! decoding failures passed up from the wire layer, and transport
//! failures of the server (binding the port). Processors return them and
//! [`crate::processor::process`] maps every one to a `SYSTEM_ERROR` response in one place.

use std::path::PathBuf;

use ferrimq_remoting::RemotingError;
use thiserror::Error;

/// Failures of the name server.
#[derive(Debug, Error)]
pub enum NamesrvError {
    /// The KV config file exists but cannot be read.
    #[error("cannot read KV config {path}: {source}")]
    KvRead {
        /// The kvConfigPath.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The KV config file is not `{"configTable":{ns:{k:v}}}` JSON.
    #[error("KV config {path} is not valid: {reason}")]
    KvParse {
        /// The kvConfigPath.
        path: PathBuf,
        /// What the parser complained about.
        reason: String,
    },
    /// Writing, syncing or renaming the KV config file failed; the change stays in memory.
    #[error("cannot persist KV config to {path}: {source}")]
    KvWrite {
        /// The file being written (the temporary file or the final path).
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// A request header or body could not be decoded, or a response body not encoded.
    #[error("{0}")]
    Remoting(#[from] RemotingError),
    /// The server could not bind its port or otherwise failed in the transport.
    #[error("transport: {0}")]
    Transport(#[from] ferrimq_transport::TransportError),
}

/// Result alias of this crate.
pub type Result<T, E = NamesrvError> = std::result::Result<T, E>;
