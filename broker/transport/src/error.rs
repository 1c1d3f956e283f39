//! The one error type of the transport layer.
//!
//! Each variant names the peer address it concerns so a log line or a failed `invoke` says which
//! connection went wrong. Wire-level problems keep their [`RemotingError`] intact, so callers can
//! still match on, say, `FrameTooLarge` after it crossed this layer.

use std::io;
use std::net::SocketAddr;

use ferrimq_remoting::RemotingError;
use thiserror::Error;

/// Failures of connecting, sending, invoking and serving.
#[derive(Debug, Error)]
pub enum TransportError {
    /// No response arrived within the caller's timeout; the pending entry has been removed.
    #[error("request opaque {opaque} to {addr} timed out after {millis} ms")]
    Timeout {
        /// Peer the request was sent to.
        addr: String,
        /// Opaque of the request that timed out.
        opaque: i32,
        /// The timeout that elapsed, in milliseconds.
        millis: u64,
    },
    /// Opening a TCP connection failed or did not finish within the connect timeout.
    #[error("connect to {addr} failed: {source}")]
    ConnectFailed {
        /// Address that was dialed.
        addr: String,
        /// The underlying failure (`TimedOut` when the connect timeout elapsed).
        #[source]
        source: io::Error,
    },
    /// The connection is closed (or closed while the request was pending).
    #[error("channel to {addr} is closed")]
    ChannelClosed {
        /// Peer of the closed connection.
        addr: String,
    },
    /// The connection's outbound queue is full; a oneway send refuses to wait.
    #[error("write queue to {addr} is full")]
    WriteQueueFull {
        /// Peer whose queue is full.
        addr: String,
    },
    /// Binding the listening socket failed.
    #[error("bind {addr} failed: {source}")]
    Bind {
        /// Address we tried to listen on.
        addr: SocketAddr,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },
    /// The command could not be encoded (for example it exceeds the maximum frame size).
    #[error(transparent)]
    Remoting(#[from] RemotingError),
    /// Any other socket failure.
    #[error("I/O on {addr}: {source}")]
    Io {
        /// Peer or local address the operation concerned.
        addr: String,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },
}

/// Result alias of this crate.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;
