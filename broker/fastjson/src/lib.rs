//! ferrimq-fastjson: reads and writes the JSON dialect that Java RocketMQ produces with Alibaba
//! fastjson.
//!
//! Java writes two things standard JSON cannot hold: maps with unquoted numeric keys
//! (`{0:"10.0.0.1:10911"}` in route data, `{0:123,1:456}` in consumerOffset.json) and maps whose
//! keys are objects (`{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}` in ConsumeStats and
//! TopicStatsTable). This crate:
//!
//! - [`parse()`] parses the dialect (a superset of JSON) into a [`Value`] whose object keys are
//!   strings, numbers or objects, with positions on errors and a nesting limit;
//! - [`Value::into_json`] turns that into a standard `serde_json::Value` (numeric keys become their
//!   decimal text, object keys their compact JSON text), and [`from_str`] goes straight to any
//!   `T: Deserialize` (integer-keyed maps such as `HashMap<i32, i64>` work out of the box;
//!   struct-keyed maps use the [`object_keys`] adapter);
//! - [`to_string`] / [`to_string_pretty`] serialize any `T: Serialize` the way fastjson does:
//!   integer map keys unquoted, struct map keys as objects.
//!
//! Data flows text -> [`parse()`] -> [`Value`] -> serde_json -> `T` on the way in, and
//! `T` -> [`ser::to_value`] -> [`Value`] -> [`mod@write`] -> text on the way out.

pub mod error;
pub mod object_keys;
pub mod parse;
pub mod ser;
pub mod value;
pub mod write;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::{Error, SyntaxError, SyntaxKind};
pub use parse::{parse, parse_bytes};
pub use ser::to_value;
pub use value::{Key, Object, Value};

/// Parses fastjson text into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    from_value(parse(text)?)
}

/// Parses fastjson bytes (UTF-8) into `T`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    from_value(parse_bytes(bytes)?)
}

/// Converts a parsed [`Value`] into `T`.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_json::from_value(value.into_json()).map_err(Error::Data)
}

/// Serializes `value` compactly in fastjson's form.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    Ok(write::write_compact(&to_value(value)?))
}

/// Serializes `value` in fastjson's `prettyFormat` layout (RocketMQ's config files).
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    Ok(write::write_pretty(&to_value(value)?))
}
