//! IndexFiles: lookup of messages by key and unique key within a time range.
//!
//! - [`name`]: file names (`yyyyMMddHHmmssSSS`).
//! - [`file`]: one IndexFile (header, hash slots, chained entries), Java-compatible.
//! - [`service`]: all index files: build from dispatched records, query, recover, expire.

#[allow(unsafe_code)]
pub mod file;
pub mod name;
pub mod service;

pub use file::{IndexFile, IndexHeader, index_key, key_hash};
pub use service::{IndexQueryResult, IndexService, MAX_QUERY_RESULTS, RecordKeys};
