//! The one error type of the wire layer.
//!
//! Every way a peer can send us bytes we cannot accept has its own variant, so the transport can
//! log a precise reason before closing the connection, and the server can map header problems
//! (`MissingField`, `InvalidField`) to a `SYSTEM_ERROR` response naming the field.

use thiserror::Error;

/// Failures while decoding or encoding remoting frames, headers and bodies.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RemotingError {
    /// The frame (length prefix included) is larger than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// Announced frame size in bytes, including the 4-byte length prefix.
        len: u64,
        /// Configured maximum frame size.
        max: usize,
    },
    /// The length prefix is negative or too small to hold the header-length word.
    #[error("invalid frame length {len}")]
    InvalidLength {
        /// The announced length as read from the wire.
        len: i64,
    },
    /// The header length word claims more bytes than the frame holds.
    #[error("header length {header_len} exceeds the {available} bytes left in the frame")]
    HeaderTooLong {
        /// Header length from the header-length word.
        header_len: usize,
        /// Bytes of the frame after the header-length word.
        available: usize,
    },
    /// The high byte of the header-length word is neither JSON (0) nor ROCKETMQ (1).
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    /// The JSON header (or a JSON body) is not acceptable JSON of the expected shape.
    #[error("invalid JSON: {reason}")]
    InvalidJson {
        /// What the parser complained about.
        reason: String,
    },
    /// A string on the wire is not valid UTF-8.
    #[error("invalid UTF-8 in {field}")]
    InvalidUtf8 {
        /// Which string: "remark", "extFields key", a field name, ...
        field: &'static str,
    },
    /// A required header field or body element is absent.
    #[error("missing required field {field}")]
    MissingField {
        /// Java field name as used on the wire.
        field: &'static str,
    },
    /// A field is present but its value cannot be parsed into the expected type.
    #[error("invalid value {value:?} for field {field}")]
    InvalidField {
        /// Java field name as used on the wire.
        field: &'static str,
        /// The offending raw value (truncated to 64 characters).
        value: String,
    },
    /// A length-prefixed structure ends before its announced end.
    #[error("truncated {what} at offset {offset}: need {need} bytes, have {have}")]
    Truncated {
        /// Which structure was being read.
        what: &'static str,
        /// Offset (in the structure being decoded) where the read started.
        offset: usize,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A value does not fit the width the binary encoding gives it (e.g. a code above 32767).
    #[error("{field} value {value} does not fit its {width}-bit wire field")]
    ValueOutOfRange {
        /// Which field.
        field: &'static str,
        /// The value that does not fit.
        value: i64,
        /// Width of the wire field in bits.
        width: u8,
    },
    /// A batch entry or other framed structure is internally inconsistent.
    #[error("malformed {what} at offset {offset}: {reason}")]
    Malformed {
        /// Which structure.
        what: &'static str,
        /// Offset where the inconsistency was found.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

impl RemotingError {
    /// Builds `InvalidField`, truncating very long raw values so errors stay loggable.
    pub fn invalid_field(field: &'static str, value: &str) -> Self {
        let value = match value.char_indices().nth(64) {
            Some((cut, _)) => format!("{}...", &value[..cut]),
            None => value.to_owned(),
        };
        RemotingError::InvalidField { field, value }
    }

    /// Builds `InvalidJson` from a serde_json error.
    pub fn json(err: &serde_json::Error) -> Self {
        RemotingError::InvalidJson {
            reason: err.to_string(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = RemotingError> = std::result::Result<T, E>;
