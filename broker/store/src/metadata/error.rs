//! Errors of the persisted metadata files. Every variant names the file, and an unreadable
//! table names both the main file and its `.bak`, with the reason each was refused.

use std::path::PathBuf;

/// Result alias for metadata operations.
pub type Result<T, E = MetadataError> = std::result::Result<T, E>;

/// Errors reading or writing `config/*.json`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// An I/O call failed on `path`.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Neither the file nor its backup holds a readable table.
    #[error("cannot load {path} ({reason}) nor its backup {backup} ({backup_reason})")]
    Unreadable {
        /// The main file.
        path: PathBuf,
        /// Why the main file was refused.
        reason: String,
        /// The `.bak` file.
        backup: PathBuf,
        /// Why the backup was refused ("missing" when absent).
        backup_reason: String,
    },
    /// The in-memory table could not be encoded (a bug, reported instead of writing garbage).
    #[error("cannot encode {path}: {reason}")]
    Encode {
        /// The file that was being written.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

impl MetadataError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MetadataError::Io {
            path: path.into(),
            source,
        }
    }
}
