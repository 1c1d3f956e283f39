//! `ExtFields`: the custom-header string pairs of a command (Java's `extFields` HashMap).
//!
//! A request carries a dozen or so pairs and every send builds, encodes, decodes and drops a
//! set, so the representation matters: one `Vec` kept sorted by key (deterministic encoding,
//! binary-search lookups) instead of a tree of separately allocated nodes, and keys that are
//! `&'static str` when a typed header writes them (no allocation per key on the send path).
//! Java puts the pairs in a `HashMap`, so their order carries no meaning for any peer.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Index;

type Key = Cow<'static, str>;

/// Custom-header fields as sent on the wire: Java field name -> stringified value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExtFields {
    /// Sorted by key, keys unique.
    pairs: Vec<(Key, String)>,
}

/// `a.cmp(b)` for keys, without a `memcmp` call: header keys are a few bytes (SEND_MESSAGE_V2
/// names its fields "a" to "n"), and a libc call per probe was ~9 % of the broker's CPU on the
/// send path (a dozen lookups of four probes each per request).
#[inline]
fn short_key_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

impl ExtFields {
    /// No fields.
    pub fn new() -> Self {
        ExtFields::default()
    }

    /// Builds the set from pairs in wire order: a key given twice keeps its last value, as
    /// Java's `HashMap.put` does. O(n log n) whatever the input, so a hostile frame with
    /// millions of tiny fields costs no more than sorting them.
    pub fn from_wire(mut pairs: Vec<(String, String)>) -> Self {
        // Stable sort: equal keys stay in wire order, so the last of each run is the last sent.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut sorted: Vec<(Key, String)> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            match sorted.last_mut() {
                Some(last) if last.0 == key.as_str() => last.1 = value,
                _ => sorted.push((Cow::Owned(key), value)),
            }
        }
        ExtFields { pairs: sorted }
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.pairs
            .binary_search_by(|(k, _)| short_key_cmp(k.as_bytes(), key.as_bytes()))
    }

    fn put(&mut self, key: Key, value: String) -> Option<String> {
        match self.position(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.pairs[at].1, value)),
            Err(at) => {
                self.pairs.insert(at, (key, value));
                None
            }
        }
    }

    /// Sets `key`; returns the value it replaced.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        self.put(Cow::Owned(key), value)
    }

    /// Sets `key` named by a constant (typed headers): the key is not copied.
    pub fn insert_static(&mut self, key: &'static str, value: String) -> Option<String> {
        self.put(Cow::Borrowed(key), value)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.position(key).ok().map(|at| &self.pairs[at].1)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.position(key).ok().map(|at| self.pairs.remove(at).1)
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True without fields.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &String)> + '_ {
        self.pairs.iter().map(|(k, v)| (k.borrow(), v))
    }
}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Index<&str> for ExtFields {
    type Output = String;

    /// The value of `key`; panics when absent (tests and known-present keys only).
    fn index(&self, key: &str) -> &String {
        self.get(key)
            .unwrap_or_else(|| panic!("extFields has no key {key:?}"))
    }
}

impl<'a> IntoIterator for &'a ExtFields {
    type Item = (&'a str, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Key, String)>,
        fn(&'a (Key, String)) -> (&'a str, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.pairs.iter().map(|(k, v)| (k.borrow(), v))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        ExtFields::from_wire(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for ExtFields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k.into(), v.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_key_cmp_orders_like_str() {
        let keys = [
            "", "a", "b", "ab", "a\u{e9}", "n", "topic", "topi", "topicX", "\u{7f}", "z",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(
                    short_key_cmp(a.as_bytes(), b.as_bytes()),
                    a.cmp(b),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn keeps_keys_sorted_and_unique() {
        let mut f = ExtFields::new();
        assert_eq!(f.insert_static("topic", "a".into()), None);
        assert_eq!(f.insert("bornHost".into(), "h".into()), None);
        assert_eq!(f.insert_static("queueId", "1".into()), None);
        assert_eq!(f.insert("topic".into(), "b".into()), Some("a".into()));
        let keys: Vec<&str> = f.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["bornHost", "queueId", "topic"]);
        assert_eq!(f.get("topic").map(String::as_str), Some("b"));
        assert_eq!(f["queueId"], "1");
        assert!(f.contains_key("bornHost") && !f.contains_key("born"));
        assert_eq!(f.remove("bornHost"), Some("h".into()));
        assert_eq!((f.len(), f.remove("bornHost")), (2, None));
    }

    #[test]
    fn wire_duplicates_keep_the_last_value() {
        let f = ExtFields::from_wire(vec![
            ("b".into(), "1".into()),
            ("a".into(), "x".into()),
            ("b".into(), "2".into()),
            ("b".into(), "3".into()),
        ]);
        assert_eq!(format!("{f:?}"), r#"{"a": "x", "b": "3"}"#);
    }

    #[test]
    fn owned_and_static_keys_compare_equal() {
        let mut a = ExtFields::new();
        a.insert_static("k", "v".into());
        let b: ExtFields = [("k", "v")].into_iter().collect();
        assert_eq!(a, b);
    }

    #[test]
    fn many_wire_fields_decode_quickly() {
        let pairs: Vec<(String, String)> = (0..200_000)
            .map(|i| (format!("k{}", i % 1000), i.to_string()))
            .collect();
        let f = ExtFields::from_wire(pairs);
        assert_eq!(f.len(), 1000);
        assert_eq!(f["k7"], "199007");
    }
}
