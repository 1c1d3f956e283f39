//! The file seam: the one place where the store tells the outside world that bytes became
//! durable. Production uses [`RealFiles`] (does nothing extra). Tests plug in a seam that records
//! durable watermarks per file (to build a crash image that drops every unflushed byte) or that
//! fails a sync (to prove the store poisons itself).

use std::io;
use std::path::Path;
use std::sync::Arc;

/// Observer of durability events on store files.
pub trait FileSeam: Send + Sync + std::fmt::Debug {
    /// Called before a sync of `path`; an error is treated exactly like a failed fsync.
    fn before_sync(&self, path: &Path) -> io::Result<()> {
        let _ = path;
        Ok(())
    }

    /// Called after bytes `[0, durable_to)` of `path` are known to be durable.
    fn synced(&self, path: &Path, durable_to: u64) {
        let _ = (path, durable_to);
    }

    /// Called when a file is created (after the file and its directory entry were synced).
    fn created(&self, path: &Path) {
        let _ = path;
    }
}

/// The production seam: no observation, no injected faults.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFiles;

impl FileSeam for RealFiles {}

/// Shared handle to a seam.
pub type SharedSeam = Arc<dyn FileSeam>;

/// The default seam as a shared handle.
pub fn real_files() -> SharedSeam {
    Arc::new(RealFiles)
}
