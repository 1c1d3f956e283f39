//! Wire-side message codecs: the SEND_BATCH_MESSAGE body and the properties string.
//!
//! Batch body (Java `MessageDecoder.encodeMessages`), one entry per message, concatenated:
//! `[totalSize:i32][magic:i32 = 0][bodyCrc:i32 = 0][flag:i32][bodyLen:i32][body][propsLen:i16][props]`
//! where `totalSize` counts the whole entry. Decoding checks every length against the bytes that
//! remain and against `totalSize`, so hostile input yields a typed error and never a panic.
//! Bodies are sliced out of the input `Bytes` without copying.
//!
//! Properties string: `key \u{1} value \u{2} key \u{1} value`, no trailing separator.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{RemotingError, Result};

/// Separator between a property name and its value (char 1).
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separator between properties (char 2).
pub const PROPERTY_SEPARATOR: char = '\u{2}';
/// Fixed bytes of one batch entry besides body and properties.
pub const BATCH_ENTRY_OVERHEAD: usize = 4 + 4 + 4 + 4 + 4 + 2;

/// One message of a batch as the client encodes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchEntry {
    /// User flag.
    pub flag: i32,
    /// Message body (never compressed inside a batch).
    pub body: Bytes,
    /// Properties string (char 1 / char 2 separators).
    pub properties: String,
}

/// Splits a SEND_BATCH_MESSAGE body into its entries.
pub fn decode_batch(body: &Bytes) -> Result<Vec<BatchEntry>> {
    let mut entries = Vec::new();
    let mut offset = 0;
    while offset < body.len() {
        let (entry, size) = decode_entry(body, offset)?;
        entries.push(entry);
        offset += size;
    }
    Ok(entries)
}

/// Decodes the entry starting at `start`; returns it and its size.
fn decode_entry(body: &Bytes, start: usize) -> Result<(BatchEntry, usize)> {
    let remaining = body.len() - start;
    let read_i32 = |at: usize| -> Result<i32> {
        let bytes = body
            .get(start + at..start + at + 4)
            .ok_or(RemotingError::Truncated {
                what: "batch entry",
                offset: start + at,
                need: 4,
                have: body.len().saturating_sub(start + at),
            })?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let total = read_i32(0)?;
    let total = usize::try_from(total)
        .ok()
        .filter(|&t| t >= BATCH_ENTRY_OVERHEAD)
        .ok_or_else(|| malformed(start, format!("entry size {total} is below the minimum")))?;
    if total > remaining {
        return Err(RemotingError::Truncated {
            what: "batch entry",
            offset: start,
            need: total,
            have: remaining,
        });
    }
    let entry = &body[start..start + total];
    let flag = read_i32(12)?;
    let body_len = usize::try_from(read_i32(16)?)
        .map_err(|_| malformed(start + 16, "negative body length".into()))?;
    let props_at = 20usize
        .checked_add(body_len)
        .filter(|&at| at + 2 <= total)
        .ok_or_else(|| {
            malformed(
                start + 16,
                format!("body length {body_len} overruns the entry"),
            )
        })?;
    let props_len = i16::from_be_bytes([entry[props_at], entry[props_at + 1]]);
    let props_len = usize::try_from(props_len)
        .map_err(|_| malformed(start + props_at, "negative properties length".into()))?;
    if props_at + 2 + props_len != total {
        let reason = format!(
            "fields end at {} but entry size is {total}",
            props_at + 2 + props_len
        );
        return Err(malformed(start, reason));
    }
    let properties = std::str::from_utf8(&entry[props_at + 2..total])
        .map_err(|_| RemotingError::InvalidUtf8 {
            field: "batch properties",
        })?
        .to_owned();
    let message_body = body.slice(start + 20..start + 20 + body_len);
    Ok((
        BatchEntry {
            flag,
            body: message_body,
            properties,
        },
        total,
    ))
}

fn malformed(offset: usize, reason: String) -> RemotingError {
    RemotingError::Malformed {
        what: "batch entry",
        offset,
        reason,
    }
}

/// Appends the batch encoding of `entries` to `dst`.
pub fn encode_batch(entries: &[BatchEntry], dst: &mut BytesMut) -> Result<()> {
    for entry in entries {
        let props_len =
            i16::try_from(entry.properties.len()).map_err(|_| RemotingError::ValueOutOfRange {
                field: "properties length",
                value: entry.properties.len() as i64,
                width: 16,
            })?;
        let total = BATCH_ENTRY_OVERHEAD + entry.body.len() + entry.properties.len();
        let total = i32::try_from(total).map_err(|_| RemotingError::ValueOutOfRange {
            field: "batch entry size",
            value: total as i64,
            width: 32,
        })?;
        dst.reserve(total as usize);
        dst.put_i32(total);
        dst.put_i32(0); // magic code: unused in batches
        dst.put_i32(0); // body CRC: computed by the broker
        dst.put_i32(entry.flag);
        dst.put_i32(entry.body.len() as i32); // bounded by `total` above
        dst.extend_from_slice(&entry.body);
        dst.put_i16(props_len);
        dst.extend_from_slice(entry.properties.as_bytes());
    }
    Ok(())
}

/// Parses a properties string. Items without a separator or with an empty name are skipped;
/// a later duplicate overwrites an earlier one (Java `string2messageProperties`).
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    text.split(PROPERTY_SEPARATOR)
        .filter_map(|item| item.split_once(NAME_VALUE_SEPARATOR))
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Builds a properties string from name/value pairs (no trailing separator).
pub fn format_properties<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::new();
    for (name, value) in pairs {
        if !text.is_empty() {
            text.push(PROPERTY_SEPARATOR);
        }
        text.push_str(name);
        text.push(NAME_VALUE_SEPARATOR);
        text.push_str(value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<BatchEntry> {
        vec![
            BatchEntry {
                flag: 7,
                body: Bytes::from_static(b"hello"),
                properties: "A\u{1}1".into(),
            },
            BatchEntry {
                flag: 0,
                body: Bytes::new(),
                properties: String::new(),
            },
        ]
    }

    fn encoded(entries: &[BatchEntry]) -> Bytes {
        let mut dst = BytesMut::new();
        encode_batch(entries, &mut dst).expect("encodable");
        dst.freeze()
    }

    #[test]
    fn exact_layout_and_round_trip() {
        let bytes = encoded(&sample()[..1]);
        let expected: Vec<u8> = [
            &[0, 0, 0, 30][..],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
            &[0, 0, 0, 5],
            b"hello",
            &[0, 3, b'A', 1, b'1'],
        ]
        .concat();
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(decode_batch(&encoded(&sample())), Ok(sample()));
        assert_eq!(decode_batch(&Bytes::new()), Ok(vec![]));
    }

    #[test]
    fn lying_lengths_are_typed_errors() {
        let good = encoded(&sample()).to_vec();
        let mut body_overrun = good.clone();
        body_overrun[16..20].copy_from_slice(&1000i32.to_be_bytes());
        assert!(matches!(
            decode_batch(&body_overrun.into()),
            Err(RemotingError::Malformed { offset: 16, .. })
        ));
        let mut total_small = good.clone();
        total_small[0..4].copy_from_slice(&3i32.to_be_bytes());
        assert!(matches!(
            decode_batch(&total_small.into()),
            Err(RemotingError::Malformed { .. })
        ));
        let mut total_big = good.clone();
        total_big[0..4].copy_from_slice(&(i32::MAX).to_be_bytes());
        assert!(matches!(
            decode_batch(&total_big.into()),
            Err(RemotingError::Truncated { .. })
        ));
        let mut props_mismatch = good.clone();
        props_mismatch[25..27].copy_from_slice(&2i16.to_be_bytes());
        assert!(matches!(
            decode_batch(&props_mismatch.into()),
            Err(RemotingError::Malformed { .. })
        ));
        for cut in 1..good.len() {
            let result = decode_batch(&Bytes::copy_from_slice(&good[..cut]));
            assert!(result.is_err() || cut == 30, "cut at {cut} gave {result:?}");
        }
    }

    #[test]
    fn properties_parse_like_java() {
        let parsed =
            parse_properties("KEYS\u{1}a b\u{2}junk\u{2}\u{1}x\u{2}TAGS\u{1}t\u{2}KEYS\u{1}c");
        let pairs: Vec<(&str, &str)> = parsed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("KEYS", "c"), ("TAGS", "t")]);
        assert_eq!(
            format_properties([("A", "1"), ("B", "")]),
            "A\u{1}1\u{2}B\u{1}"
        );
        assert_eq!(
            parse_properties(&format_properties([("A", "1"), ("B", "")])).len(),
            2
        );
    }
}
