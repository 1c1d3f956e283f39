//! The ROCKETMQ binary header (serialize type 1, Java `RocketMQSerializable`).
//!
//! Wire format, big-endian: `[code:i16][language:u8][version:i16][opaque:i32][flag:i32]`
//! `[remarkLen:i32][remark:utf8]` `[extLen:i32]([keyLen:i16][key][valLen:i32][val])*`.
//! A remark length of 0 means no remark. Every inner length is checked against what is left, so
//! a header that lies about its lengths yields a typed error, never a panic or an over-read.
//! Bytes after the extFields area are ignored, as the Java decoder does.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codes::LanguageCode;
use crate::command::{ExtFields, RemotingCommand, SerializeType};
use crate::cursor::Reader;
use crate::error::{RemotingError, Result};

/// Size of the fixed part: code, language, version, opaque, flag, remark length, ext length.
pub const FIXED_LEN: usize = 2 + 1 + 2 + 4 + 4 + 4 + 4;

/// Appends the binary header of `cmd` to `dst`; fails when a value does not fit its wire width.
pub fn encode(cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
    let code = narrow_i16("code", cmd.code)?;
    let version = narrow_i16("version", cmd.version)?;
    let ext_len = ext_fields_len(&cmd.ext_fields)?;
    let remark = cmd.remark.as_deref().unwrap_or("");
    let remark_len = len_i32("remark length", remark.len())?;
    dst.reserve(FIXED_LEN + remark.len() + ext_len as usize);
    dst.put_i16(code);
    dst.put_u8(cmd.language.as_byte());
    dst.put_i16(version);
    dst.put_i32(cmd.opaque);
    dst.put_i32(cmd.flag);
    dst.put_i32(remark_len);
    dst.extend_from_slice(remark.as_bytes());
    dst.put_i32(ext_len);
    for (key, value) in &cmd.ext_fields {
        dst.put_i16(key.len() as i16); // checked by ext_fields_len
        dst.extend_from_slice(key.as_bytes());
        dst.put_i32(value.len() as i32);
        dst.extend_from_slice(value.as_bytes());
    }
    Ok(())
}

/// Parses a binary header into a command with an empty body.
pub fn decode(header: &[u8]) -> Result<RemotingCommand> {
    let mut reader = Reader::new(header, "binary header");
    let code = i32::from(reader.i16()?);
    let language_byte = reader.u8()?;
    let version = i32::from(reader.i16()?);
    let opaque = reader.i32()?;
    let flag = reader.i32()?;
    let remark_len = reader.length("remark")?;
    let remark = match remark_len {
        0 => None,
        len => Some(utf8(reader.take(len)?, "remark")?),
    };
    let ext_len = reader.length("extFields")?;
    let ext_fields = decode_ext_fields(reader.take(ext_len)?, reader.offset - ext_len)?;
    Ok(RemotingCommand {
        code,
        language: LanguageCode::from_code(i32::from(language_byte)).unwrap_or(LanguageCode::Other),
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        body: Bytes::new(),
        serialize_type: SerializeType::RocketMq,
    })
}

/// Reads the extFields entries; `base` is the area's offset inside the header, for errors.
fn decode_ext_fields(area: &[u8], base: usize) -> Result<ExtFields> {
    let mut reader = Reader::new(area, "extFields entry");
    reader.base = base;
    let mut fields = Vec::new();
    while !reader.is_empty() {
        let key_len = reader.i16()?;
        let key_len =
            usize::try_from(key_len).map_err(|_| reader.negative("key", key_len.into()))?;
        let key = utf8(reader.take(key_len)?, "extFields key")?;
        let value_len = reader.length("extFields value")?;
        let value = utf8(reader.take(value_len)?, "extFields value")?;
        fields.push((key, value));
    }
    Ok(ExtFields::from_wire(fields))
}

/// Byte length of the encoded extFields area, validating every key and value width.
fn ext_fields_len(fields: &ExtFields) -> Result<i32> {
    let mut total = 0usize;
    for (key, value) in fields {
        if i16::try_from(key.len()).is_err() {
            return Err(RemotingError::ValueOutOfRange {
                field: "extFields key length",
                value: key.len() as i64,
                width: 16,
            });
        }
        total = total.saturating_add(2 + key.len() + 4 + value.len());
    }
    len_i32("extFields length", total)
}

fn narrow_i16(field: &'static str, value: i32) -> Result<i16> {
    i16::try_from(value).map_err(|_| RemotingError::ValueOutOfRange {
        field,
        value: value.into(),
        width: 16,
    })
}

fn len_i32(field: &'static str, len: usize) -> Result<i32> {
    i32::try_from(len).map_err(|_| RemotingError::ValueOutOfRange {
        field,
        value: len as i64,
        width: 32,
    })
}

fn utf8(bytes: &[u8], field: &'static str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| RemotingError::InvalidUtf8 { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(cmd: &RemotingCommand) -> Vec<u8> {
        let mut dst = BytesMut::new();
        encode(cmd, &mut dst).expect("encodable");
        dst.to_vec()
    }

    #[test]
    fn encodes_fields_in_order() {
        let cmd = RemotingCommand::request(310, 0x0102_0304)
            .with_remark("é")
            .with_ext_field("a", "PG");
        let bytes = encoded(&cmd);
        let expected: Vec<u8> = [
            &[0x01, 0x36, 0x00, 0x01, 0x99][..],
            &[1, 2, 3, 4, 0, 0, 0, 0],
            &[0, 0, 0, 2, 0xC3, 0xA9],
            &[0, 0, 0, 9, 0, 1, b'a', 0, 0, 0, 2, b'P', b'G'],
        ]
        .concat();
        assert_eq!(bytes, expected);
        assert_eq!(
            decode(&bytes).expect("decodes"),
            cmd.with_serialize_type(SerializeType::RocketMq)
        );
    }

    #[test]
    fn code_beyond_int16_is_refused() {
        let cmd = RemotingCommand::request(200_050, 1);
        let mut dst = BytesMut::new();
        assert_eq!(
            encode(&cmd, &mut dst),
            Err(RemotingError::ValueOutOfRange {
                field: "code",
                value: 200_050,
                width: 16
            })
        );
    }

    #[test]
    fn negative_code_sign_extends() {
        let mut cmd = RemotingCommand::request(-1000, 1);
        cmd.language = LanguageCode::Cpp;
        let decoded = decode(&encoded(&cmd)).expect("decodes");
        assert_eq!((decoded.code, decoded.language), (-1000, LanguageCode::Cpp));
    }

    #[test]
    fn lying_lengths_are_typed_errors() {
        let good = encoded(&RemotingCommand::request(10, 1).with_ext_field("key", "value"));
        // remark length claims 100 bytes
        let mut bad = good.clone();
        bad[13..17].copy_from_slice(&100i32.to_be_bytes());
        assert!(matches!(
            decode(&bad),
            Err(RemotingError::Truncated { need: 100, .. })
        ));
        // negative extFields length
        let mut bad = good.clone();
        bad[17..21].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            decode(&bad),
            Err(RemotingError::Malformed {
                what: "extFields",
                ..
            })
        ));
        // value length inside the map larger than the map area
        let mut bad = good.clone();
        bad[26..30].copy_from_slice(&50i32.to_be_bytes());
        assert_eq!(
            decode(&bad),
            Err(RemotingError::Truncated {
                what: "extFields entry",
                offset: 30,
                need: 50,
                have: 5
            })
        );
        // key is not UTF-8
        let mut bad = good;
        bad[23] = 0xFF;
        assert_eq!(
            decode(&bad),
            Err(RemotingError::InvalidUtf8 {
                field: "extFields key"
            })
        );
    }

    #[test]
    fn every_truncation_of_a_header_errors() {
        let good = encoded(
            &RemotingCommand::request(10, 1)
                .with_remark("r")
                .with_ext_field("k", "v"),
        );
        for cut in 0..good.len() {
            assert!(
                matches!(decode(&good[..cut]), Err(RemotingError::Truncated { .. })),
                "cut at {cut}"
            );
        }
    }
}
