//! The machinery every persisted table shares: the in-memory document behind a `RwLock`, the
//! [`JsonFile`] it lives in, and a persist lock so two concurrent `persist()` calls cannot write
//! an older snapshot over a newer one. The typed tables ([`crate::metadata::TopicTable`], ...)
//! wrap it with their domain operations.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError, RwLock};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::metadata::error::{MetadataError, Result};
use crate::metadata::json_file::{JsonFile, Source};

/// A document persisted as fastjson-compatible JSON.
#[derive(Debug)]
pub(crate) struct PersistedDoc<D> {
    file: JsonFile,
    doc: RwLock<D>,
    persist_lock: Mutex<()>,
    loaded_from: Option<Source>,
}

impl<D: Serialize + DeserializeOwned + Default> PersistedDoc<D> {
    /// Loads the document from `file` (or its backup); a fresh default when neither exists.
    pub(crate) fn open(file: JsonFile) -> Result<Self> {
        let loaded =
            file.load(|text| ferrimq_fastjson::from_str::<D>(text).map_err(|e| e.to_string()))?;
        let (doc, loaded_from) = match loaded {
            Some(l) => (l.value, Some(l.source)),
            None => (D::default(), None),
        };
        Ok(Self {
            file,
            doc: RwLock::new(doc),
            persist_lock: Mutex::new(()),
            loaded_from,
        })
    }

    /// Where the document came from at open (`None`: fresh).
    pub(crate) fn loaded_from(&self) -> Option<Source> {
        self.loaded_from
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.file.path().to_owned()
    }

    pub(crate) fn read<R>(&self, f: impl FnOnce(&D) -> R) -> R {
        f(&self.doc.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut D) -> R) -> R {
        f(&mut self.doc.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// Compact JSON of the current document (a GET_ALL_* response body).
    pub(crate) fn encode(&self) -> Result<String> {
        self.read(|doc| ferrimq_fastjson::to_string(doc))
            .map_err(|e| self.encode_error(e))
    }

    /// Writes the current document to disk, pretty-printed as RocketMQ does.
    pub(crate) fn persist(&self) -> Result<()> {
        let _serialized = self
            .persist_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let text = self
            .read(|doc| ferrimq_fastjson::to_string_pretty(doc))
            .map_err(|e| self.encode_error(e))?;
        self.file.store(&text)
    }

    fn encode_error(&self, e: ferrimq_fastjson::Error) -> MetadataError {
        MetadataError::Encode {
            path: self.path(),
            reason: e.to_string(),
        }
    }
}
