//! Parser of the fastjson dialect: standard JSON plus object keys that are unquoted numbers
//! (`{0:"ip:port"}`) or whole objects (`{{"topic":"T","queueId":0}:{...}}`).
//!
//! Recursive descent with an explicit depth limit: hostile input such as ten thousand `[` fails
//! with [`SyntaxKind::TooDeep`] instead of overflowing the stack.

use serde_json::Number;

use crate::error::{SyntaxError, SyntaxKind};
use crate::value::{Key, Object, Value};

/// Nesting depth accepted by [`parse`]; RocketMQ documents nest fewer than ten levels.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Parses one fastjson value (surrounded by optional whitespace).
pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    parse_with_depth(text, DEFAULT_MAX_DEPTH)
}

/// Parses bytes, reporting invalid UTF-8 as a syntax error with its position.
pub fn parse_bytes(bytes: &[u8]) -> Result<Value, SyntaxError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => Err(Parser::new(bytes, 0).error_at(e.valid_up_to(), SyntaxKind::InvalidUtf8)),
    }
}

/// Parses with an explicit nesting limit.
pub fn parse_with_depth(text: &str, max_depth: usize) -> Result<Value, SyntaxError> {
    let mut parser = Parser::new(text.as_bytes(), max_depth);
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos < parser.input.len() {
        return Err(parser.error(SyntaxKind::TrailingCharacters));
    }
    Ok(value)
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8], max_depth: usize) -> Self {
        Self {
            input,
            pos: 0,
            max_depth,
        }
    }

    fn error(&self, kind: SyntaxKind) -> SyntaxError {
        self.error_at(self.pos, kind)
    }

    fn error_at(&self, offset: usize, kind: SyntaxKind) -> SyntaxError {
        let before = &self.input[..offset.min(self.input.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        SyntaxError {
            kind,
            offset,
            line,
            column: offset - line_start + 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn unexpected(&self) -> SyntaxError {
        match self.rest_char() {
            Some(c) => self.error(SyntaxKind::UnexpectedChar(c)),
            None => self.error(SyntaxKind::UnexpectedEnd),
        }
    }

    fn rest_char(&self) -> Option<char> {
        let rest = &self.input[self.pos..];
        let len = rest.len().min(4);
        (1..=len).find_map(|n| std::str::from_utf8(&rest[..n]).ok()?.chars().next())
    }

    fn expect(&mut self, byte: u8) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => Ok(Value::Object(self.object(depth + 1)?)),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => Ok(Value::Number(self.number()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            _ => Err(self.unexpected()),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, SyntaxError> {
        let end = self.pos + word.len();
        if self.input.get(self.pos..end) == Some(word.as_bytes()) {
            self.pos = end;
            Ok(value)
        } else {
            Err(self.unexpected())
        }
    }

    fn enter(&self, depth: usize) -> Result<(), SyntaxError> {
        if depth > self.max_depth {
            return Err(self.error(SyntaxKind::TooDeep(self.max_depth)));
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.enter(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Object, SyntaxError> {
        self.enter(depth)?;
        self.pos += 1;
        let mut obj = Object::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(obj);
        }
        loop {
            let key = self.key(depth)?;
            self.expect(b':')?;
            let value = self.value(depth)?;
            obj.push(key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(obj);
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn key(&mut self, depth: usize) -> Result<Key, SyntaxError> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => Ok(Key::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => Ok(Key::Number(self.number()?)),
            Some(b'{') => Ok(Key::Object(self.object(depth + 1)?)),
            Some(_) => Err(self.error(SyntaxKind::InvalidKey)),
            None => Err(self.error(SyntaxKind::UnexpectedEnd)),
        }
    }

    fn number(&mut self) -> Result<Number, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        self.digits();
        let int_len = self.pos - int_start;
        if int_len == 0 || (int_len > 1 && self.input[int_start] == b'0') {
            return Err(self.error_at(start, SyntaxKind::InvalidNumber));
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error(SyntaxKind::InvalidNumber));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            float = true;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error(SyntaxKind::InvalidNumber));
            }
        }
        let text = std::str::from_utf8(&self.input[start..self.pos]).expect("ASCII digits");
        to_number(text, float).ok_or_else(|| self.error_at(start, SyntaxKind::InvalidNumber))
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(self.utf8(run_start)?);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => out.push(self.escape()?),
                Some(_) => return Err(self.error(SyntaxKind::ControlCharacter)),
                None => return Err(self.error(SyntaxKind::UnexpectedEnd)),
            }
        }
    }

    fn utf8(&self, start: usize) -> Result<&'a str, SyntaxError> {
        std::str::from_utf8(&self.input[start..self.pos])
            .map_err(|e| self.error_at(start + e.valid_up_to(), SyntaxKind::InvalidUtf8))
    }

    fn escape(&mut self) -> Result<char, SyntaxError> {
        let at = self.pos;
        self.pos += 1;
        let Some(b) = self.peek() else {
            return Err(self.error(SyntaxKind::UnexpectedEnd));
        };
        self.pos += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(at),
            _ => return Err(self.error_at(at, SyntaxKind::InvalidEscape)),
        })
    }

    fn unicode_escape(&mut self, at: usize) -> Result<char, SyntaxError> {
        let first = self.hex4(at)?;
        if !(0xD800..0xDC00).contains(&first) {
            return char::from_u32(first)
                .ok_or_else(|| self.error_at(at, SyntaxKind::InvalidUnicode));
        }
        if self.input.get(self.pos..self.pos + 2) != Some(b"\\u") {
            return Err(self.error_at(at, SyntaxKind::InvalidUnicode));
        }
        self.pos += 2;
        let second = self.hex4(at)?;
        if !(0xDC00..0xE000).contains(&second) {
            return Err(self.error_at(at, SyntaxKind::InvalidUnicode));
        }
        let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        char::from_u32(code).ok_or_else(|| self.error_at(at, SyntaxKind::InvalidUnicode))
    }

    fn hex4(&mut self, at: usize) -> Result<u32, SyntaxError> {
        let digits = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error_at(at, SyntaxKind::InvalidEscape))?;
        let text = std::str::from_utf8(digits)
            .map_err(|_| self.error_at(at, SyntaxKind::InvalidEscape))?;
        let code = u32::from_str_radix(text, 16)
            .map_err(|_| self.error_at(at, SyntaxKind::InvalidEscape))?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error_at(at, SyntaxKind::InvalidEscape));
        }
        self.pos += 4;
        Ok(code)
    }
}

fn to_number(text: &str, float: bool) -> Option<Number> {
    if !float {
        if let Ok(n) = text.parse::<i64>() {
            return Some(n.into());
        }
        if let Ok(n) = text.parse::<u64>() {
            return Some(n.into());
        }
    }
    let f: f64 = text.parse().ok()?;
    Number::from_f64(f).filter(|_| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> SyntaxKind {
        parse(text).unwrap_err().kind
    }

    #[test]
    fn parses_standard_json() {
        let v = parse(r#" {"a":[1,-2,3.5,true,false,null],"b":"x\"\u00e9\ud83d\ude00"} "#).unwrap();
        assert_eq!(
            v.into_json().to_string(),
            r#"{"a":[1,-2,3.5,true,false,null],"b":"x\"é😀"}"#
        );
    }

    #[test]
    fn parses_numeric_keys() {
        let v = parse(r#"{0:"10.0.0.1:10911",1:"10.0.0.2:10911",-3:1}"#).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.entries()[0].0, Key::Number(0.into()));
        assert_eq!(obj.entries()[2].0, Key::Number((-3).into()));
        assert_eq!(obj.entries()[1].1, Value::String("10.0.0.2:10911".into()));
    }

    #[test]
    fn parses_object_keys() {
        let v =
            parse(r#"{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":5}}"#).unwrap();
        let (key, value) = &v.as_object().unwrap().entries()[0];
        let Key::Object(k) = key else {
            panic!("expected object key, got {key:?}")
        };
        assert_eq!(k.get("topic"), Some(&Value::String("T".into())));
        assert_eq!(
            value.as_object().unwrap().get("brokerOffset"),
            Some(&Value::Number(5.into()))
        );
    }

    #[test]
    fn big_integers_keep_precision() {
        let v = parse("[9223372036854775807,18446744073709551615,-9223372036854775808]").unwrap();
        assert_eq!(
            v.into_json().to_string(),
            "[9223372036854775807,18446744073709551615,-9223372036854775808]"
        );
    }

    #[test]
    fn reports_positions() {
        let err = parse("{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!(err.kind, SyntaxKind::UnexpectedChar('2'));
        assert_eq!((err.line, err.column, err.offset), (3, 7, 18));
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(kind(""), SyntaxKind::UnexpectedEnd);
        assert_eq!(kind("{\"a\":1"), SyntaxKind::UnexpectedEnd);
        assert_eq!(kind("{\"a\":1,}"), SyntaxKind::InvalidKey);
        assert_eq!(kind("[1,]"), SyntaxKind::UnexpectedChar(']'));
        assert_eq!(kind("01"), SyntaxKind::InvalidNumber);
        assert_eq!(kind("1."), SyntaxKind::InvalidNumber);
        assert_eq!(kind("-"), SyntaxKind::InvalidNumber);
        assert_eq!(kind("1e"), SyntaxKind::InvalidNumber);
        assert_eq!(kind("1e999"), SyntaxKind::InvalidNumber);
        assert_eq!(kind("\"a\\x\""), SyntaxKind::InvalidEscape);
        assert_eq!(kind("\"\\u12\""), SyntaxKind::InvalidEscape);
        assert_eq!(kind("\"\\ud800\""), SyntaxKind::InvalidUnicode);
        assert_eq!(kind("\"a\nb\""), SyntaxKind::ControlCharacter);
        assert_eq!(kind("\"abc"), SyntaxKind::UnexpectedEnd);
        assert_eq!(kind("{} x"), SyntaxKind::TrailingCharacters);
        assert_eq!(kind("tru"), SyntaxKind::UnexpectedChar('t'));
        assert_eq!(kind("{[1]:2}"), SyntaxKind::InvalidKey);
        assert_eq!(kind("{a:1}"), SyntaxKind::InvalidKey);
    }

    #[test]
    fn invalid_utf8_is_located() {
        let err = parse_bytes(b"{\"a\":\"\xff\"}").unwrap_err();
        assert_eq!((err.kind, err.offset), (SyntaxKind::InvalidUtf8, 6));
    }

    #[test]
    fn every_strict_prefix_of_a_document_is_an_error() {
        let doc = r#"{"offsetTable":{{"brokerName":"b\u00e9é","queueId":0}:{"brokerOffset":-5.5e3}},"t":{0:[true,null]}}"#;
        let bytes = doc.as_bytes();
        for len in 0..bytes.len() {
            assert!(
                parse_bytes(&bytes[..len]).is_err(),
                "prefix of {len} bytes parsed"
            );
        }
        assert!(parse_bytes(bytes).is_ok());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let hostile = "[".repeat(100_000);
        let err = parse(&hostile).unwrap_err();
        assert_eq!(
            (err.kind, err.offset),
            (SyntaxKind::TooDeep(DEFAULT_MAX_DEPTH), DEFAULT_MAX_DEPTH)
        );
        let keys = "{".repeat(100_000);
        assert_eq!(
            parse(&keys).unwrap_err().kind,
            SyntaxKind::TooDeep(DEFAULT_MAX_DEPTH)
        );
        let ok = format!(
            "{}{}",
            "[".repeat(DEFAULT_MAX_DEPTH),
            "]".repeat(DEFAULT_MAX_DEPTH)
        );
        assert!(matches!(parse(&ok), Ok(Value::Array(_))));
    }
}
