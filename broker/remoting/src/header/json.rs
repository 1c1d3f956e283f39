//! The JSON header (serialize type 0), as fastjson writes and reads it.
//!
//! Writing follows fastjson's defaults for `RemotingCommand`: keys sorted alphabetically, nulls
//! omitted, the language enum by name, `serializeTypeCurrentRPC` included, so a Java peer sees
//! exactly what a Java peer would send:
//! `{"code":0,"extFields":{..},"flag":1,"language":"JAVA","opaque":5,"remark":"..","serializeTypeCurrentRPC":"JSON","version":409}`.
//! Reading is lenient like fastjson: any key order, unknown keys ignored, missing numbers are 0,
//! `language` by name or number, extFields values that are numbers or booleans are stringified
//! and null values dropped. Nesting depth is bounded by serde_json's recursion limit.

use std::fmt;

use bytes::BytesMut;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::codes::LanguageCode;
use crate::command::{ExtFields, RemotingCommand, SerializeType};
use crate::error::{RemotingError, Result};

/// Appends the JSON header of `cmd` to `dst`.
pub fn encode(cmd: &RemotingCommand, dst: &mut BytesMut) {
    dst.extend_from_slice(b"{\"code\":");
    put_int(dst, i64::from(cmd.code));
    if !cmd.ext_fields.is_empty() {
        dst.extend_from_slice(b",\"extFields\":{");
        for (index, (key, value)) in cmd.ext_fields.iter().enumerate() {
            if index > 0 {
                dst.extend_from_slice(b",");
            }
            put_string(dst, key);
            dst.extend_from_slice(b":");
            put_string(dst, value);
        }
        dst.extend_from_slice(b"}");
    }
    dst.extend_from_slice(b",\"flag\":");
    put_int(dst, i64::from(cmd.flag));
    dst.extend_from_slice(b",\"language\":");
    put_string(dst, cmd.language.name());
    dst.extend_from_slice(b",\"opaque\":");
    put_int(dst, i64::from(cmd.opaque));
    if let Some(remark) = &cmd.remark {
        dst.extend_from_slice(b",\"remark\":");
        put_string(dst, remark);
    }
    dst.extend_from_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    put_int(dst, i64::from(cmd.version));
    dst.extend_from_slice(b"}");
}

/// Parses a JSON header into a command with an empty body.
pub fn decode(header: &[u8]) -> Result<RemotingCommand> {
    // serde would also accept a JSON array as a struct; fastjson would not.
    if header.trim_ascii_start().first() != Some(&b'{') {
        return Err(RemotingError::InvalidJson {
            reason: "header is not a JSON object".into(),
        });
    }
    check_depth(header)?;
    let wire: JsonHeader = serde_json::from_slice(header).map_err(|e| RemotingError::json(&e))?;
    Ok(RemotingCommand {
        code: wire.code,
        language: wire.language.map_or(LanguageCode::Java, |lang| lang.0),
        version: wire.version,
        opaque: wire.opaque,
        flag: wire.flag,
        remark: wire.remark,
        ext_fields: wire.ext_fields.map(|fields| fields.0).unwrap_or_default(),
        body: bytes::Bytes::new(),
        serialize_type: SerializeType::Json,
    })
}

/// Deepest nesting a header may have. Real headers have depth 2 (`extFields`); serde_json skips
/// unknown values iteratively, so without this bound a megabyte of `[` would be accepted.
pub const MAX_HEADER_DEPTH: usize = 16;

/// Rejects headers nested deeper than [`MAX_HEADER_DEPTH`] with one pass over the bytes.
fn check_depth(header: &[u8]) -> Result<()> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in header {
        match (in_string, byte) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'{' | b'[') => {
                depth += 1;
                if depth > MAX_HEADER_DEPTH {
                    let reason = format!("header nested deeper than {MAX_HEADER_DEPTH} levels");
                    return Err(RemotingError::InvalidJson { reason });
                }
            }
            (false, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Writes a decimal integer without allocating.
fn put_int(dst: &mut BytesMut, value: i64) {
    let mut digits = [0u8; 20];
    let mut pos = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        pos -= 1;
        digits[pos] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        dst.extend_from_slice(b"-");
    }
    dst.extend_from_slice(&digits[pos..]);
}

/// Writes a JSON string literal: quotes, backslashes and control characters escaped.
fn put_string(dst: &mut BytesMut, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    dst.extend_from_slice(b"\"");
    let bytes = text.as_bytes();
    let mut plain_from = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(byte >> 4) as usize],
                HEX[(byte & 0xf) as usize],
            ],
            _ => continue,
        };
        dst.extend_from_slice(&bytes[plain_from..index]);
        dst.extend_from_slice(escape);
        plain_from = index + 1;
    }
    dst.extend_from_slice(&bytes[plain_from..]);
    dst.extend_from_slice(b"\"");
}

/// Wire shape of the header; every key optional as fastjson treats them.
#[derive(Deserialize)]
struct JsonHeader {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    language: Option<LenientLanguage>,
    #[serde(default)]
    version: i32,
    #[serde(default)]
    opaque: i32,
    #[serde(default)]
    flag: i32,
    #[serde(default)]
    remark: Option<String>,
    #[serde(default, rename = "extFields")]
    ext_fields: Option<LenientExtFields>,
}

/// `language` given as enum name or as number; unknown values read as `OTHER`, since the field
/// is informational and a newer client must not be refused over it.
struct LenientLanguage(LanguageCode);

impl<'de> Deserialize<'de> for LenientLanguage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LanguageVisitor;
        impl Visitor<'_> for LanguageVisitor {
            type Value = LenientLanguage;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a language name or code")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
                let lang = LanguageCode::from_name(name).unwrap_or(LanguageCode::Other);
                Ok(LenientLanguage(lang))
            }
            fn visit_i64<E: de::Error>(self, code: i64) -> Result<Self::Value, E> {
                let lang = i32::try_from(code).ok().and_then(LanguageCode::from_code);
                Ok(LenientLanguage(lang.unwrap_or(LanguageCode::Other)))
            }
            fn visit_u64<E: de::Error>(self, code: u64) -> Result<Self::Value, E> {
                self.visit_i64(i64::try_from(code).unwrap_or(-1))
            }
        }
        deserializer.deserialize_any(LanguageVisitor)
    }
}

/// `extFields` object whose scalar values are stringified and nulls dropped.
struct LenientExtFields(ExtFields);

impl<'de> Deserialize<'de> for LenientExtFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = LenientExtFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, ScalarText>()? {
                    if let Some(value) = value.0 {
                        fields.push((key, value));
                    }
                }
                Ok(LenientExtFields(ExtFields::from_wire(fields)))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// A JSON scalar read as the string Java's `String.valueOf` would give; `null` reads as `None`.
struct ScalarText(Option<String>);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = ScalarText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ScalarText(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(ScalarText(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ScalarText(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ScalarText(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(ScalarText(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(ScalarText(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ScalarText(None))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::FLAG_RESPONSE;

    fn encoded(cmd: &RemotingCommand) -> String {
        let mut dst = BytesMut::new();
        encode(cmd, &mut dst);
        String::from_utf8(dst.to_vec()).expect("encoder writes UTF-8")
    }

    #[test]
    fn writes_fastjson_key_order() {
        let mut cmd = RemotingCommand::request(310, -7)
            .with_ext_field("b", "Topic\"A\"\u{1}x")
            .with_ext_field("a", "PG")
            .with_remark("tab\there");
        cmd.flag = FLAG_RESPONSE;
        cmd.language = LanguageCode::Rust;
        assert_eq!(
            encoded(&cmd),
            r#"{"code":310,"extFields":{"a":"PG","b":"Topic\"A\"\u0001x"},"flag":1,"language":"RUST","opaque":-7,"remark":"tab\there","serializeTypeCurrentRPC":"JSON","version":409}"#
        );
    }

    #[test]
    fn writes_extreme_integers() {
        let mut cmd = RemotingCommand::request(i32::MIN, i32::MAX);
        cmd.version = 0;
        assert_eq!(
            encoded(&cmd),
            r#"{"code":-2147483648,"flag":0,"language":"JAVA","opaque":2147483647,"serializeTypeCurrentRPC":"JSON","version":0}"#
        );
    }

    #[test]
    fn reads_leniently() {
        let text = br#"{"version":401,"unknown":{"deep":[1,2,{"x":null}]},"opaque":9,
            "extFields":{"n":12,"b":true,"s":"x","z":null,"f":1.5},"language":9,"code":11}"#;
        let cmd = decode(text).expect("lenient header parses");
        assert_eq!(
            (cmd.code, cmd.opaque, cmd.version, cmd.flag),
            (11, 9, 401, 0)
        );
        assert_eq!(cmd.language, LanguageCode::Go);
        assert_eq!(cmd.remark, None);
        let fields: Vec<(&str, &str)> = cmd
            .ext_fields
            .iter()
            .map(|(k, v)| (k, v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [("b", "true"), ("f", "1.5"), ("n", "12"), ("s", "x")]
        );
    }

    #[test]
    fn unknown_language_name_reads_as_other() {
        let cmd = decode(br#"{"code":1,"language":"COBOL"}"#).expect("parses");
        assert_eq!(cmd.language, LanguageCode::Other);
        let cmd = decode(br#"{"code":1}"#).expect("parses");
        assert_eq!(cmd.language, LanguageCode::Java);
    }

    #[test]
    fn depth_limit_ignores_brackets_inside_strings() {
        let brackets = "[{".repeat(40);
        let text = format!(r#"{{"code":1,"remark":"\"{brackets}"}}"#);
        assert_eq!(
            decode(text.as_bytes()).map(|c| c.remark.map(|r| r.len())),
            Ok(Some(81))
        );
        let deep = format!(r#"{{"code":1,"x":{}{}}}"#, "[".repeat(16), "]".repeat(16));
        assert!(matches!(
            decode(deep.as_bytes()),
            Err(RemotingError::InvalidJson { .. })
        ));
        let ok = format!(r#"{{"code":1,"x":{}{}}}"#, "[".repeat(15), "]".repeat(15));
        assert_eq!(decode(ok.as_bytes()).map(|c| c.code), Ok(1));
    }

    #[test]
    fn rejects_wrong_shapes() {
        for bad in [
            &br#"[1,2]"#[..],
            br#"{"code":"x"}"#,
            br#"{"code":1"#,
            br#"{"extFields":{"a":[1]}}"#,
            b"",
        ] {
            assert!(
                matches!(decode(bad), Err(RemotingError::InvalidJson { .. })),
                "{:?} should be rejected",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
