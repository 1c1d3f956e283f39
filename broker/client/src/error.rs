//! The one error type of the client.
//!
//! Variants say which peer, topic or record offset went wrong, so a failed send or pull names its
//! cause. Broker answers with a non-success code keep the code and remark: callers (and the
//! producer's retry rule) match on [`ClientError::Broker`]'s `code`.

use ferrimq_remoting::RemotingError;
use ferrimq_transport::TransportError;
use thiserror::Error;

/// Result alias of this crate.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Failures of routing, sending, pulling and administering.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The connection to a peer failed or a request timed out.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A header or body could not be encoded or decoded.
    #[error(transparent)]
    Remoting(#[from] RemotingError),
    /// The peer answered with a code the operation does not accept.
    #[error("{addr} answered code {code} to request {request}: {remark}")]
    Broker {
        /// Peer that answered.
        addr: String,
        /// Request code that was sent.
        request: i32,
        /// Response code received.
        code: i32,
        /// Response remark (empty when absent).
        remark: String,
    },
    /// No name server address was configured.
    #[error("no name server address configured")]
    NoNameServer,
    /// The name servers know no route for the topic (and no fallback applies).
    #[error("no route for topic {topic}: {reason}")]
    NoRoute {
        /// Topic looked up.
        topic: String,
        /// Why (last error seen).
        reason: String,
    },
    /// The route has no queue usable for the operation.
    #[error("topic {topic} has no {kind} queue")]
    NoQueue {
        /// Topic.
        topic: String,
        /// "writable" or "readable".
        kind: &'static str,
    },
    /// No master address is known for the broker name.
    #[error("no master address known for broker {broker}")]
    NoBrokerAddr {
        /// Broker name.
        broker: String,
    },
    /// The message (or batch) breaks a client-side rule.
    #[error("invalid message: {reason}")]
    InvalidMessage {
        /// The rule broken.
        reason: String,
    },
    /// A stored record in a pull/query body is malformed.
    #[error("malformed record at byte {offset} of a {len}-byte body: {reason}")]
    Record {
        /// Offset of the record (or field) inside the body.
        offset: usize,
        /// Length of the whole body.
        len: usize,
        /// What is wrong.
        reason: String,
    },
    /// A body could not be compressed or decompressed.
    #[error("{op} of a {len}-byte body failed: {source}")]
    Compression {
        /// "compress" or "decompress".
        op: &'static str,
        /// Input length.
        len: usize,
        /// Underlying failure.
        #[source]
        source: std::io::Error,
    },
    /// A local offset file could not be read or written.
    #[error("offset file {path}: {reason}")]
    OffsetFile {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Every attempt of a send failed; `last` is the final failure.
    #[error("send to topic {topic} failed after {attempts} attempt(s): {last}")]
    SendFailed {
        /// Topic.
        topic: String,
        /// Attempts made.
        attempts: u32,
        /// Last failure.
        last: Box<ClientError>,
    },
}

impl ClientError {
    /// The broker response code carried by this error, if it is a broker answer.
    pub fn broker_code(&self) -> Option<i32> {
        match self {
            ClientError::Broker { code, .. } => Some(*code),
            ClientError::SendFailed { last, .. } => last.broker_code(),
            _ => None,
        }
    }
}
