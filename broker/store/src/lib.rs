//! ferrimq-store: the message store.
//!
//! All messages of all topics are appended to one CommitLog; a dispatcher derives ConsumeQueues
//! and IndexFiles from it. The store is synchronous and never sees the network; the server wraps
//! it in async code.
//!
//! Modules (see docs/architecture.md for the flows):
//! - [`mapped_file`]: fixed-size memory-mapped files, one writer, many readers.
//! - [`seam`]: where durability events are reported (tests inject crashes and fsync failures).
//! - [`error`]: the store's error type.

pub mod error;
#[allow(unsafe_code)]
pub mod mapped_file;
pub mod seam;

pub use error::{Result, StoreError};
