//! JSON bodies of requests and responses, with the property names Java derives from getters.
//!
//! Every body type implements [`JsonBody`]. Decoding goes through `ferrimq-fastjson`, a superset
//! parser, so bodies written by Java (unquoted numeric keys, object keys) and by standard JSON
//! writers are both accepted; missing properties take their Java defaults. Encoding writes
//! standard JSON unless a type needs fastjson's dialect (maps keyed by `MessageQueue` objects),
//! and [`JsonBody::encode_fastjson`] gives the dialect on demand (route data for old clients).
//! Struct fields are declared in alphabetical order of their JSON names, because fastjson sorts
//! bean properties and byte-for-byte comparisons with Java output are then possible.

mod client;
mod compressed_register;
mod namesrv;
mod register;
mod route;
mod stats;

pub use client::*;
pub use compressed_register::MAX_INFLATED_LEN;
pub use namesrv::*;
pub use register::*;
pub use route::*;
pub use stats::*;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{RemotingError, Result};

/// A body carried as JSON text.
pub trait JsonBody: Serialize + DeserializeOwned {
    /// Parses a body written by Java (fastjson dialect) or by any standard JSON writer.
    fn decode(body: &[u8]) -> Result<Self> {
        ferrimq_fastjson::from_slice(body).map_err(|e| RemotingError::InvalidJson {
            reason: e.to_string(),
        })
    }

    /// Encodes as standard JSON (numeric map keys quoted).
    fn encode(&self) -> Result<Bytes> {
        serde_json::to_vec(self)
            .map(Bytes::from)
            .map_err(|e| RemotingError::json(&e))
    }

    /// Encodes in fastjson's dialect (numeric map keys unquoted, struct keys as objects).
    fn encode_fastjson(&self) -> Result<Bytes> {
        ferrimq_fastjson::to_string(self)
            .map(Bytes::from)
            .map_err(|e| RemotingError::InvalidJson {
                reason: e.to_string(),
            })
    }
}
