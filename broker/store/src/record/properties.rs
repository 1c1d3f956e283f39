//! The message properties string and Java's `String.hashCode`.
//!
//! RocketMQ stores properties as `key \u{1} value \u{2} key \u{1} value` with no trailing
//! separator. Parsing follows `MessageDecoder.string2messageProperties`: entries are split on
//! char 2; an entry counts only if it has a char 1 with a non-empty key before it and a
//! non-empty value after it; a later duplicate key overwrites an earlier one.
//! Tag codes in ConsumeQueue units are `TAGS.hashCode()` computed over UTF-16 code units, which
//! [`java_string_hash`] reproduces.

/// Separates a key from its value (char 1).
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separates two properties (char 2).
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Property holding the message tags.
pub const TAGS: &str = "TAGS";
/// Property holding space-separated user keys.
pub const KEYS: &str = "KEYS";
/// Property holding the producer-assigned unique id.
pub const UNIQ_KEY: &str = "UNIQ_KEY";

/// Java `String.hashCode()`: `h = 31 * h + c` over the UTF-16 code units, wrapping `i32`.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Iterates the well-formed `(key, value)` entries of an encoded properties string, in order.
pub fn entries(encoded: &str) -> impl Iterator<Item = (&str, &str)> {
    encoded.split(PROPERTY_SEPARATOR).filter_map(|entry| {
        let (k, v) = entry.split_once(NAME_VALUE_SEPARATOR)?;
        (!k.is_empty() && !v.is_empty()).then_some((k, v))
    })
}

/// Looks up `key` in an encoded properties string (the last occurrence wins, as in Java).
pub fn lookup<'a>(encoded: &'a str, key: &str) -> Option<&'a str> {
    entries(encoded)
        .filter(|(k, _)| *k == key)
        .last()
        .map(|(_, v)| v)
}

/// An ordered set of properties (insertion order; re-inserting a key replaces its value in
/// place). Java uses a `HashMap`, so no reader may rely on the order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<(String, String)>,
}

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses an encoded properties string (see the module docs for the rules).
    pub fn parse(encoded: &str) -> Self {
        let mut p = Properties::new();
        for (k, v) in entries(encoded) {
            p.insert(k, v);
        }
        p
    }

    /// Sets `key` to `value`. Empty keys or values are dropped, since the format cannot carry
    /// them (Java skips null values the same way).
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if key.is_empty() || value.is_empty() {
            return;
        }
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Encodes as `k\u{1}v\u{2}k\u{1}v` (no trailing separator).
    pub fn encode(&self) -> String {
        let len: usize = self
            .entries
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum();
        let mut out = String::with_capacity(len);
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(PROPERTY_SEPARATOR);
            }
            out.push_str(k);
            out.push(NAME_VALUE_SEPARATOR);
            out.push_str(v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        // Values computed by java.lang.String#hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2598919);
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // U+1F600 is two UTF-16 code units: 0xD83D 0xDE00 -> 0xD83D * 31 + 0xDE00.
        assert_eq!(java_string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
        assert_eq!(java_string_hash("é"), 0xE9);
    }

    #[test]
    fn encode_parse_round_trip_and_java_rules() {
        let mut p = Properties::new();
        p.insert("TAGS", "TagA");
        p.insert("KEYS", "k1 k2");
        p.insert("TAGS", "TagB");
        p.insert("EMPTY", "");
        assert_eq!(p.encode(), "TAGS\u{1}TagB\u{2}KEYS\u{1}k1 k2");
        assert_eq!(Properties::parse(&p.encode()), p);
        let odd = "a\u{1}1\u{2}\u{2}x\u{2}\u{1}v\u{2}k\u{1}\u{2}a\u{1}2\u{2}b\u{1}=\u{1}";
        let parsed: Vec<_> = entries(odd).collect();
        assert_eq!(parsed, vec![("a", "1"), ("a", "2"), ("b", "=\u{1}")]);
        assert_eq!(lookup(odd, "a"), Some("2"));
        assert_eq!(lookup(odd, "k"), None);
        assert_eq!(Properties::parse(odd).get("a"), Some("2"));
        assert_eq!(Properties::parse(odd).len(), 2);
    }
}
