//! Serde adapter for maps keyed by a struct, e.g. `HashMap<MessageQueue, OffsetWrapper>` in
//! ConsumeStats / TopicStatsTable. Use it as `#[serde(with = "ferrimq_fastjson::object_keys")]`.
//!
//! Reading: [`crate::from_str`] turns each object key into its compact JSON text, and this adapter
//! parses that text back into the key type. Writing: keys are serialized as they are, so
//! [`crate::to_string`] emits them as object keys (`{{"topic":"T",...}:...}`), the only form the
//! Java side can read. (`serde_json::to_string` cannot write such a map and returns an error.)

use std::collections::HashMap;
use std::hash::Hash;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serializes the map with its keys as values (object keys under [`crate::to_string`]).
pub fn serialize<K, V, S>(map: &HashMap<K, V>, serializer: S) -> Result<S::Ok, S::Error>
where
    K: Serialize,
    V: Serialize,
    S: Serializer,
{
    serializer.collect_map(map)
}

/// Deserializes a map whose keys arrive as JSON text of the key type.
pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<HashMap<K, V>, D::Error>
where
    K: DeserializeOwned + Eq + Hash,
    V: Deserialize<'de>,
    D: Deserializer<'de>,
{
    let raw = HashMap::<String, V>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(text, value)| {
            serde_json::from_str::<K>(&text)
                .map(|key| (key, value))
                .map_err(|e| D::Error::custom(format!("bad object key {text}: {e}")))
        })
        .collect()
}
