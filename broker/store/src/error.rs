//! The store's error type. Every variant names the file (and offset where one applies) so an
//! operator can find the problem on disk. Expected conditions (a torn tail during recovery) are
//! not errors: recovery reports them in its outcome instead.

use std::path::PathBuf;

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Errors the message store reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O call failed on `path`.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The disk has no room for a new file or extension of `path`.
    #[error("disk full while allocating {path} ({needed} bytes)")]
    DiskFull {
        /// File that could not be allocated.
        path: PathBuf,
        /// Bytes that were requested.
        needed: u64,
    },
    /// A directory the store needs does not exist and could not be created.
    #[error("missing directory {path}")]
    MissingDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// Bytes on disk are not what the format requires.
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// File holding the bad bytes.
        path: PathBuf,
        /// Byte offset within that file (or the logical offset, as the reason says).
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A file has the wrong length for its kind (e.g. a CommitLog file shorter than the
    /// configured mapped file size).
    #[error("{path} has {actual} bytes, expected {expected}")]
    WrongFileSize {
        /// The file.
        path: PathBuf,
        /// Its length.
        actual: u64,
        /// The configured length.
        expected: u64,
    },
    /// A previous fsync failed; the store refuses further writes because it can no longer
    /// promise that acknowledged bytes are on disk.
    #[error("store is poisoned (fsync of {path} failed: {reason}); refusing writes")]
    Poisoned {
        /// File whose sync failed.
        path: PathBuf,
        /// The original failure.
        reason: String,
    },
    /// The encoded message is larger than the configured maximum.
    #[error("message of {size} bytes exceeds the maximum of {max} bytes")]
    MessageTooLarge {
        /// Encoded size.
        size: usize,
        /// Configured maximum (`maxMessageSize`).
        max: usize,
    },
    /// A message field is invalid (topic too long, properties over 32767 bytes, ...).
    #[error("illegal message: {0}")]
    IllegalMessage(String),
    /// The store has been shut down.
    #[error("store is shut down")]
    ShutDown,
    /// A store setting cannot work (e.g. a ConsumeQueue file size that is not a multiple of
    /// 20 bytes, an unparsable `messageDelayLevel`).
    #[error("invalid store setting: {0}")]
    InvalidConfig(String),
    /// The store's partition is fuller than `diskSpaceWarningLevelRatio`; RocketMQ refuses
    /// puts until cleanup frees space.
    #[error("disk of {path} is {used_percent}% full (limit {limit_percent}%); refusing writes")]
    DiskUsageTooHigh {
        /// The store root.
        path: PathBuf,
        /// Measured usage.
        used_percent: u32,
        /// The warning level.
        limit_percent: u32,
    },
    /// Replicated bytes do not start at the CommitLog end: a gap (`got > expected`) or an
    /// overlap (`got < expected`, e.g. a slave ahead of a fresh master).
    #[error(
        "replicated bytes at offset {got} do not continue the commit log in {dir} (end {expected})"
    )]
    ReplicaOffset {
        /// The CommitLog directory.
        dir: PathBuf,
        /// The CommitLog end, where replicated bytes must start.
        expected: u64,
        /// Where the offered bytes start.
        got: u64,
    },
    /// Another process holds the store's lock file.
    #[error("store at {path} is locked by another process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

impl StoreError {
    /// Wraps an I/O error, turning `ENOSPC` into [`StoreError::DiskFull`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.raw_os_error() == Some(libc::ENOSPC) {
            return StoreError::DiskFull { path, needed: 0 };
        }
        StoreError::Io { path, source }
    }

    /// Builds a [`StoreError::Corrupt`].
    pub fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}
