//! The value tree of the fastjson dialect: ordinary JSON values, except that an object's keys
//! may be strings, numbers or whole objects (Java maps keyed by `Integer`/`Long` or by a bean
//! such as `MessageQueue`). Order of keys is kept as written, so a parse/write round trip is
//! stable.

use serde_json::Number;

/// One key of an [`Object`].
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// A quoted string key: `{"topic":...}`.
    String(String),
    /// An unquoted numeric key: `{0:...}` (Java `Map<Integer|Long, _>`).
    Number(Number),
    /// A JSON object used as a key: `{{"brokerName":"b","queueId":0,"topic":"T"}:...}`.
    Object(Object),
}

/// An object: key/value pairs in the order they were written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    entries: Vec<(Key, Value)>,
}

/// A fastjson value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Any JSON number.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object whose keys may be non-strings.
    Object(Object),
}

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entry (duplicates are kept; conversion to serde_json keeps the last one,
    /// as fastjson does when it fills a map).
    pub fn push(&mut self, key: Key, value: Value) {
        self.entries.push((key, value));
    }

    /// Entries in written order.
    pub fn entries(&self) -> &[(Key, Value)] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the object has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of the first entry whose key is the string `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find_map(|(k, v)| match k {
            Key::String(s) if s == name => Some(v),
            _ => None,
        })
    }
}

impl Key {
    /// The key as serde_json sees it: numbers as their decimal text, objects as their compact
    /// standard-JSON text (so a struct key can be recovered with `serde_json::from_str`).
    pub fn to_json_key(&self) -> String {
        match self {
            Key::String(s) => s.clone(),
            Key::Number(n) => n.to_string(),
            Key::Object(o) => Value::Object(o.clone()).into_json().to_string(),
        }
    }
}

impl Value {
    /// Converts into a standard [`serde_json::Value`]: numeric keys become their decimal text
    /// and object keys their compact JSON text. Ordinary serde structs can then deserialize it
    /// (serde_json parses integer map keys back from strings by itself).
    pub fn into_json(self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::Number(n) => serde_json::Value::Number(n),
            Value::String(s) => serde_json::Value::String(s),
            Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(Value::into_json).collect())
            }
            Value::Object(obj) => {
                let mut map = serde_json::Map::with_capacity(obj.entries.len());
                for (key, value) in obj.entries {
                    map.insert(key.to_json_key(), value.into_json());
                }
                serde_json::Value::Object(map)
            }
        }
    }

    /// Converts a standard JSON value (all keys strings).
    pub fn from_json(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(items) => {
                Value::Array(items.into_iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => {
                let mut obj = Object::new();
                for (k, v) in map {
                    obj.push(Key::String(k), Value::from_json(v));
                }
                Value::Object(obj)
            }
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_and_object_keys_become_strings() {
        let mut mq = Object::new();
        mq.push(Key::String("queueId".into()), Value::Number(0.into()));
        let mut obj = Object::new();
        obj.push(Key::Number(7.into()), Value::String("a".into()));
        obj.push(Key::Object(mq), Value::Bool(true));
        let json = Value::Object(obj).into_json();
        assert_eq!(json.to_string(), r#"{"7":"a","{\"queueId\":0}":true}"#);
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        let mut obj = Object::new();
        obj.push(Key::Number(1.into()), Value::Number(1.into()));
        obj.push(Key::String("1".into()), Value::Number(2.into()));
        assert_eq!(Value::Object(obj).into_json().to_string(), r#"{"1":2}"#);
    }

    #[test]
    fn get_finds_string_keys_only() {
        let mut obj = Object::new();
        obj.push(Key::Number(1.into()), Value::Null);
        obj.push(Key::String("a".into()), Value::Bool(false));
        assert_eq!(obj.get("a"), Some(&Value::Bool(false)));
        assert_eq!(obj.get("1"), None);
        assert_eq!(obj.len(), 2);
    }
}
