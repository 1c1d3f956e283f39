//! The server's error type: start-up and shutdown failures of the broker process, naming the
//! layer that failed. Request-level failures are answered with response codes instead (see
//! [`crate::response`]) and never surface here.

use std::net::SocketAddr;

/// A failure to start, run or stop the broker.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The message store could not be opened or shut down.
    #[error("message store: {0}")]
    Store(#[from] ferrimq_store::StoreError),
    /// A metadata table (topics.json, consumerOffset.json, ...) could not be loaded or written.
    #[error("metadata: {0}")]
    Metadata(#[from] ferrimq_store::metadata::MetadataError),
    /// The remoting server could not bind or a transport operation failed.
    #[error("transport: {0}")]
    Transport(#[from] ferrimq_transport::TransportError),
    /// A body or header could not be encoded.
    #[error("remoting: {0}")]
    Remoting(#[from] ferrimq_remoting::RemotingError),
    /// The configuration cannot be served (e.g. an unsupported role).
    #[error("configuration: {0}")]
    Config(String),
    /// A NameServer refused the registration.
    #[error("name server {addr} refused REGISTER_BROKER: code {code}, {remark}")]
    Registration {
        /// NameServer address.
        addr: String,
        /// Response code.
        code: i32,
        /// Response remark.
        remark: String,
    },
    /// The listen address could not be resolved.
    #[error("cannot listen on {0}")]
    Listen(SocketAddr),
}

/// Result alias of the server.
pub type Result<T> = std::result::Result<T, ServerError>;
