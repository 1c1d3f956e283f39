//! Java `.properties` files as RocketMQ reads `broker.conf` / `namesrv.conf`.
//!
//! Reading follows `java.util.Properties.load`: `key=value`, `key:value` or `key value`;
//! lines starting with `#` or `!` are comments; a line ending in an odd number of backslashes
//! continues on the next one (whose leading whitespace is dropped); `\t \n \r \f \uXXXX` escapes;
//! any other escaped character stands for itself. Like RocketMQ (which trims values before use)
//! values are also trimmed at the end. A later duplicate key wins.
//! Writing escapes what `Properties.store` escapes and emits non-ASCII as `\uXXXX`, in sorted key
//! order, so a rendered file is stable and readable by the Java broker (which loads ISO-8859-1).

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use crate::error::ConfigError;

/// An ordered key/value map read from or written to `.properties` text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: BTreeMap<String, String>,
}

impl Properties {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `.properties` text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut props = Properties::new();
        for logical in logical_lines(text) {
            let (key, value) = split_entry(&logical.text, logical.line)?;
            props.entries.insert(key, value);
        }
        Ok(props)
    }

    /// Reads and parses a file. UTF-8 is expected; a file that is not valid UTF-8 is read as
    /// ISO-8859-1, the encoding `Properties.load(InputStream)` uses, so Latin-1 files written
    /// for the Java broker still load.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::parse(&decode_text(bytes))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// Sets `key` to `value`, replacing any previous value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.insert(key.into(), value.into());
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.entries.remove(key)
    }

    /// Adds every entry of `other` whose key is not set here (e.g. a user's pass-through keys
    /// that the typed config does not know, on top of a rendered config).
    pub fn extend_missing(&mut self, other: &Properties) {
        for (key, value) in other.iter() {
            self.entries
                .entry(key.to_owned())
                .or_insert_with(|| value.to_owned());
        }
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Renders `.properties` text, one `key=value` line per entry in key order.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.entries {
            escape_into(&mut out, key, true);
            out.push('=');
            escape_into(&mut out, value, false);
            out.push('\n');
        }
        out
    }
}

impl FromStr for Properties {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, ConfigError> {
        Properties::parse(text)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let entries = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Properties { entries }
    }
}

fn decode_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| char::from(b)).collect())
}

struct LogicalLine {
    line: usize,
    text: String,
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Joins continuation lines and drops comments and blank lines. Escapes are kept for
/// [`split_entry`] to decode, except the line-joining backslash itself.
fn logical_lines(text: &str) -> Vec<LogicalLine> {
    let mut out = Vec::new();
    let mut current: Option<LogicalLine> = None;
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    for (index, raw) in normalized.split('\n').enumerate() {
        let stripped = raw.trim_start_matches(is_blank);
        let continued = current.is_some();
        if !continued && (stripped.is_empty() || stripped.starts_with(['#', '!'])) {
            continue;
        }
        let trailing = stripped.chars().rev().take_while(|&c| c == '\\').count();
        let (body, continues) = if trailing % 2 == 1 {
            (&stripped[..stripped.len() - 1], true)
        } else {
            (stripped, false)
        };
        let entry = current.get_or_insert_with(|| LogicalLine {
            line: index + 1,
            text: String::new(),
        });
        entry.text.push_str(body);
        if !continues {
            out.extend(current.take());
        }
    }
    out.extend(current.take());
    out
}

/// Splits a logical line into its decoded key and value.
fn split_entry(text: &str, line: usize) -> Result<(String, String), ConfigError> {
    let chars = text.char_indices();
    let mut key_end = text.len();
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            key_end = i;
            break;
        }
    }
    let raw_key = &text[..key_end];
    let mut rest = text[key_end..].trim_start_matches(is_blank);
    if let Some(stripped) = rest.strip_prefix(['=', ':']) {
        rest = stripped.trim_start_matches(is_blank);
    }
    let key = unescape(raw_key, line)?;
    let value = unescape(rest, line)?;
    Ok((key, value.trim().to_owned()))
}

fn unescape(text: &str, line: usize) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    let mut pending_high: Option<u32> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush_surrogate(&mut pending_high, line)?;
            out.push(c);
            continue;
        }
        let Some(next) = chars.next() else { break };
        match next {
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = parse_hex4(&hex, line)?;
                push_code_unit(code, &mut pending_high, &mut out, line)?;
                continue;
            }
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            other => out.push(other),
        }
    }
    flush_surrogate(&mut pending_high, line)?;
    Ok(out)
}

fn parse_hex4(hex: &str, line: usize) -> Result<u32, ConfigError> {
    if hex.len() != 4 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ConfigError::Syntax {
            line,
            reason: format!("malformed \\uxxxx encoding \\u{hex}"),
        });
    }
    Ok(u32::from_str_radix(hex, 16).expect("four hex digits"))
}

/// Java strings are UTF-16, so a character outside the BMP arrives as two `\u` escapes.
fn push_code_unit(
    code: u32,
    high: &mut Option<u32>,
    out: &mut String,
    line: usize,
) -> Result<(), ConfigError> {
    let bad = || ConfigError::Syntax {
        line,
        reason: format!("unpaired surrogate \\u{code:04X}"),
    };
    match (high.take(), code) {
        (None, 0xD800..=0xDBFF) => *high = Some(code),
        (None, 0xDC00..=0xDFFF) => return Err(bad()),
        (None, _) => out.push(char::from_u32(code).ok_or_else(bad)?),
        (Some(h), 0xDC00..=0xDFFF) => {
            let joined = 0x10000 + ((h - 0xD800) << 10) + (code - 0xDC00);
            out.push(char::from_u32(joined).ok_or_else(bad)?);
        }
        (Some(_), _) => return Err(bad()),
    }
    Ok(())
}

/// A high surrogate must be followed at once by a low one.
fn flush_surrogate(high: &mut Option<u32>, line: usize) -> Result<(), ConfigError> {
    match high.take() {
        Some(h) => Err(ConfigError::Syntax {
            line,
            reason: format!("unpaired surrogate \\u{h:04X}"),
        }),
        None => Ok(()),
    }
}

fn escape_into(out: &mut String, text: &str, is_key: bool) {
    for (i, c) in text.chars().enumerate() {
        match c {
            ' ' if is_key || i == 0 => out.push_str("\\ "),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{c}' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if (' '..='~').contains(&c) => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Properties {
        Properties::parse(text).unwrap()
    }

    #[test]
    fn separators_comments_and_whitespace() {
        let p = parse(
            "# comment\n! also comment\n\n  brokerName = broker-a  \nbrokerId:0\nlistenPort 10911\n\
             deleteWhen\t=\t04\nempty=\nbare\n",
        );
        assert_eq!(p.get("brokerName"), Some("broker-a"));
        assert_eq!(p.get("brokerId"), Some("0"));
        assert_eq!(p.get("listenPort"), Some("10911"));
        assert_eq!(p.get("deleteWhen"), Some("04"));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.get("bare"), Some(""));
        assert_eq!(p.len(), 6);
    }

    #[test]
    fn continuation_lines_join_and_skip_leading_whitespace() {
        let p = parse("namesrvAddr=10.0.0.1:9876;\\\n    10.0.0.2:9876\r\nnext=1\\\\\nlast=2");
        assert_eq!(p.get("namesrvAddr"), Some("10.0.0.1:9876;10.0.0.2:9876"));
        assert_eq!(p.get("next"), Some("1\\"));
        assert_eq!(p.get("last"), Some("2"));
    }

    #[test]
    fn continuation_at_end_of_file_and_comment_looking_continuation() {
        let p = parse("a=1\\\n# not a comment\nb=2\\");
        assert_eq!(p.get("a"), Some("1# not a comment"));
        assert_eq!(p.get("b"), Some("2"));
    }

    #[test]
    fn escapes_in_keys_and_values() {
        let p = parse("my\\ key\\=x = a\\tb\\u00e9\\uD83D\\uDE00\\q\nk\\:y=v");
        assert_eq!(p.get("my key=x"), Some("a\tbé😀q"));
        assert_eq!(p.get("k:y"), Some("v"));
    }

    #[test]
    fn later_duplicates_win() {
        assert_eq!(parse("a=1\na=2").get("a"), Some("2"));
    }

    #[test]
    fn malformed_unicode_escape_names_the_line() {
        let err = Properties::parse("a=1\nb=\\u12G4").unwrap_err();
        assert_eq!(
            err,
            ConfigError::Syntax {
                line: 2,
                reason: "malformed \\uxxxx encoding \\u12G4".into()
            }
        );
        let err = Properties::parse("x=\\uD83D").unwrap_err();
        assert_eq!(
            err,
            ConfigError::Syntax {
                line: 1,
                reason: "unpaired surrogate \\uD83D".into()
            }
        );
    }

    #[test]
    fn render_is_sorted_escaped_and_round_trips() {
        let p: Properties = [("z", "1"), ("a key", " lead=x#y:é\n"), ("b", "c\\d")]
            .into_iter()
            .collect();
        let text = p.render();
        assert_eq!(
            text,
            "a\\ key=\\ lead\\=x\\#y\\:\\u00E9\\n\nb=c\\\\d\nz=1\n"
        );
        // Trailing whitespace is trimmed on read (as RocketMQ does), so compare trimmed values.
        let back = parse(&text);
        assert_eq!(back.get("a key"), Some("lead=x#y:é"));
        assert_eq!(back.get("b"), Some("c\\d"));
        assert_eq!(back.get("z"), Some("1"));
    }

    #[test]
    fn latin1_files_load() {
        let dir = std::env::temp_dir().join(format!("ferrimq-props-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("latin1.conf");
        std::fs::write(&path, b"regionId=r\xe9gion\nutf8=\xc3\xa9\n").unwrap();
        let p = Properties::load(&path).unwrap();
        // Not valid UTF-8 as a whole, so every byte is one Latin-1 character.
        assert_eq!(p.get("regionId"), Some("région"));
        assert_eq!(p.get("utf8"), Some("\u{c3}\u{a9}"));
        std::fs::write(&path, "regionId=région\n").unwrap();
        assert_eq!(
            Properties::load(&path).unwrap().get("regionId"),
            Some("région")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn extend_missing_keeps_existing_values() {
        let mut rendered: Properties = [("brokerName", "b"), ("listenPort", "10911")]
            .into_iter()
            .collect();
        let user: Properties = [("listenPort", "1"), ("serverWorkerThreads", "16")]
            .into_iter()
            .collect();
        rendered.extend_missing(&user);
        assert_eq!(
            rendered.render(),
            "brokerName=b\nlistenPort=10911\nserverWorkerThreads=16\n"
        );
    }

    #[test]
    fn load_reports_the_path() {
        let err = Properties::load(Path::new("/nonexistent/broker.conf")).unwrap_err();
        assert!(
            matches!(err, ConfigError::Io { ref path, .. } if path == Path::new("/nonexistent/broker.conf"))
        );
    }
}
