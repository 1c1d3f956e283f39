//! Decoding and validating stored records without copying.
//!
//! [`decode`] looks at the bytes at one CommitLog position and says what is there: a message
//! ([`MessageView`], borrowed, V1 or V2 magic), the end-of-file blank marker, or why the bytes
//! are not a valid record ([`RecordError`]). Recovery stops at the first error; readers turn it
//! into `StoreError::Corrupt` with the file and offset.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::encode::body_crc;
use super::properties::{self, java_string_hash};
use super::{
    BLANK_MAGIC, BLANK_MARKER_LEN, MAGIC_V1, MAGIC_V2, MIN_RECORD_LEN, POS_BODY_CRC, POS_BORN_HOST,
    POS_BORN_TIMESTAMP, POS_FLAG, POS_MAGIC, POS_PHYSICAL_OFFSET, POS_QUEUE_ID, POS_QUEUE_OFFSET,
    POS_SYS_FLAG, fixed_len, host_len, sys_flag,
};

/// Why bytes at a position are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes are available than the header or TOTALSIZE needs.
    #[error("truncated record: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// TOTALSIZE is outside `[MIN_RECORD_LEN, max]` (0 for never-written, zeroed space).
    #[error("total size {size} out of bounds (max {max})")]
    BadTotalSize {
        /// The TOTALSIZE field.
        size: i32,
        /// The largest size accepted.
        max: usize,
    },
    /// MAGICCODE is neither V1, V2 nor the blank marker.
    #[error("bad magic code {magic:#010x}")]
    BadMagic {
        /// The MAGICCODE field.
        magic: u32,
    },
    /// BODYCRC does not match the body.
    #[error("body CRC mismatch: stored {stored}, computed {computed}")]
    CrcMismatch {
        /// The BODYCRC field.
        stored: u32,
        /// CRC of the stored body.
        computed: u32,
    },
    /// PHYSICALOFFSET is not the record's position.
    #[error("physical offset {stored} does not match position {expected}")]
    PhysicalOffsetMismatch {
        /// The PHYSICALOFFSET field.
        stored: i64,
        /// Where the record actually is.
        expected: u64,
    },
    /// Variable-length fields disagree with TOTALSIZE or are not UTF-8.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

/// What [`decode`] found at a position.
#[derive(Debug, Clone, Copy)]
pub enum Decoded<'a> {
    /// A message record.
    Message(MessageView<'a>),
    /// The end-of-file marker; `remaining` is its TOTALSIZE field (bytes to the end of file).
    Blank {
        /// Bytes from the marker to the end of the file.
        remaining: usize,
    },
}

/// Checks to run in [`decode`].
#[derive(Debug, Clone, Copy)]
pub struct DecodeChecks {
    /// Largest TOTALSIZE accepted (the store's `maxMessageSize`).
    pub max_size: usize,
    /// Verify BODYCRC (recovery does; the dispatcher may skip it).
    pub crc: bool,
    /// Expected PHYSICALOFFSET, when the caller knows the record's global position.
    pub position: Option<u64>,
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    be_u32(b, at) as i32
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Decodes the record at the start of `buf` (which may extend past the record, e.g. to the end
/// of the file).
pub fn decode(buf: &[u8], checks: DecodeChecks) -> Result<Decoded<'_>, RecordError> {
    if buf.len() < BLANK_MARKER_LEN {
        return Err(RecordError::Truncated {
            needed: BLANK_MARKER_LEN,
            available: buf.len(),
        });
    }
    let size = be_i32(buf, 0);
    let magic = be_u32(buf, POS_MAGIC);
    if magic == BLANK_MAGIC {
        if size < BLANK_MARKER_LEN as i32 {
            return Err(RecordError::BadTotalSize {
                size,
                max: buf.len(),
            });
        }
        return Ok(Decoded::Blank {
            remaining: size as usize,
        });
    }
    if size < MIN_RECORD_LEN as i32 || size as usize > checks.max_size {
        return Err(RecordError::BadTotalSize {
            size,
            max: checks.max_size,
        });
    }
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return Err(RecordError::BadMagic { magic });
    }
    let size = size as usize;
    if buf.len() < size {
        return Err(RecordError::Truncated {
            needed: size,
            available: buf.len(),
        });
    }
    let view = MessageView::parse(&buf[..size], magic == MAGIC_V2)?;
    if let Some(expected) = checks.position {
        let stored = view.physical_offset();
        if stored as u64 != expected {
            return Err(RecordError::PhysicalOffsetMismatch { stored, expected });
        }
    }
    if checks.crc {
        let computed = body_crc(view.body());
        if computed != view.body_crc() {
            return Err(RecordError::CrcMismatch {
                stored: view.body_crc(),
                computed,
            });
        }
    }
    Ok(Decoded::Message(view))
}

/// A validated, borrowed view of one stored message record.
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    buf: &'a [u8],
    born_v6: bool,
    store_v6: bool,
    body: (usize, usize),
    topic: (usize, usize),
    properties: (usize, usize),
}

impl<'a> MessageView<'a> {
    /// Parses exactly one record occupying all of `record` (no CRC or position check; use
    /// [`decode`] for those). Accepts V1 and V2 magic.
    pub fn new(record: &'a [u8]) -> Result<Self, RecordError> {
        if record.len() < MIN_RECORD_LEN {
            return Err(RecordError::Truncated {
                needed: MIN_RECORD_LEN,
                available: record.len(),
            });
        }
        let magic = be_u32(record, POS_MAGIC);
        if magic != MAGIC_V1 && magic != MAGIC_V2 {
            return Err(RecordError::BadMagic { magic });
        }
        if be_i32(record, 0) as usize != record.len() {
            return Err(RecordError::Malformed(
                "TOTALSIZE differs from record length",
            ));
        }
        Self::parse(record, magic == MAGIC_V2)
    }

    fn parse(buf: &'a [u8], v2: bool) -> Result<Self, RecordError> {
        let sys = be_i32(buf, POS_SYS_FLAG);
        let born_v6 = sys & sys_flag::BORNHOST_V6 != 0;
        let store_v6 = sys & sys_flag::STOREHOST_V6 != 0;
        let total = buf.len();
        let body_len_at = fixed_len(born_v6, store_v6) - 4;
        let field = |at: usize, len_bytes: usize| -> Result<(usize, usize), RecordError> {
            let len = match len_bytes {
                1 => usize::from(*buf.get(at).ok_or(RecordError::Malformed("short"))?),
                2 => usize::from(u16::from_be_bytes(
                    buf.get(at..at + 2)
                        .ok_or(RecordError::Malformed("short"))?
                        .try_into()
                        .expect("2 bytes"),
                )),
                _ => {
                    let raw = be_i32(
                        buf.get(at..at + 4).ok_or(RecordError::Malformed("short"))?,
                        0,
                    );
                    usize::try_from(raw).map_err(|_| RecordError::Malformed("negative length"))?
                }
            };
            let start = at + len_bytes;
            match start.checked_add(len) {
                Some(end) if end <= total => Ok((start, len)),
                _ => Err(RecordError::Malformed("field runs past TOTALSIZE")),
            }
        };
        let body = field(body_len_at, 4)?;
        let topic = field(body.0 + body.1, if v2 { 2 } else { 1 })?;
        let properties = field(topic.0 + topic.1, 2)?;
        if properties.0 + properties.1 != total {
            return Err(RecordError::Malformed("fields do not add up to TOTALSIZE"));
        }
        let view = MessageView {
            buf,
            born_v6,
            store_v6,
            body,
            topic,
            properties,
        };
        std::str::from_utf8(view.slice(topic)).map_err(|_| RecordError::Malformed("topic"))?;
        std::str::from_utf8(view.slice(properties))
            .map_err(|_| RecordError::Malformed("properties"))?;
        Ok(view)
    }

    fn slice(&self, (start, len): (usize, usize)) -> &'a [u8] {
        &self.buf[start..start + len]
    }

    fn host(&self, at: usize, v6: bool) -> SocketAddr {
        let (ip, port_at) = if v6 {
            let octets: [u8; 16] = self.buf[at..at + 16].try_into().expect("16 bytes");
            (IpAddr::V6(Ipv6Addr::from(octets)), at + 16)
        } else {
            let octets: [u8; 4] = self.buf[at..at + 4].try_into().expect("4 bytes");
            (IpAddr::V4(Ipv4Addr::from(octets)), at + 4)
        };
        SocketAddr::new(ip, be_i32(self.buf, port_at) as u16)
    }

    fn store_timestamp_at(&self) -> usize {
        POS_BORN_HOST + host_len(self.born_v6)
    }

    /// The whole record.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// TOTALSIZE.
    pub fn total_size(&self) -> usize {
        self.buf.len()
    }
    /// MAGICCODE (V1 or V2).
    pub fn magic(&self) -> u32 {
        be_u32(self.buf, POS_MAGIC)
    }
    /// BODYCRC as stored.
    pub fn body_crc(&self) -> u32 {
        be_u32(self.buf, POS_BODY_CRC)
    }
    /// QUEUEID.
    pub fn queue_id(&self) -> i32 {
        be_i32(self.buf, POS_QUEUE_ID)
    }
    /// FLAG.
    pub fn flag(&self) -> i32 {
        be_i32(self.buf, POS_FLAG)
    }
    /// QUEUEOFFSET.
    pub fn queue_offset(&self) -> i64 {
        be_i64(self.buf, POS_QUEUE_OFFSET)
    }
    /// PHYSICALOFFSET.
    pub fn physical_offset(&self) -> i64 {
        be_i64(self.buf, POS_PHYSICAL_OFFSET)
    }
    /// SYSFLAG.
    pub fn sys_flag(&self) -> i32 {
        be_i32(self.buf, POS_SYS_FLAG)
    }
    /// BORNTIMESTAMP (ms).
    pub fn born_timestamp(&self) -> i64 {
        be_i64(self.buf, POS_BORN_TIMESTAMP)
    }
    /// BORNHOST.
    pub fn born_host(&self) -> SocketAddr {
        self.host(POS_BORN_HOST, self.born_v6)
    }
    /// STORETIMESTAMP (ms).
    pub fn store_timestamp(&self) -> i64 {
        be_i64(self.buf, self.store_timestamp_at())
    }
    /// STOREHOST.
    pub fn store_host(&self) -> SocketAddr {
        self.host(self.store_timestamp_at() + 8, self.store_v6)
    }
    /// RECONSUMETIMES.
    pub fn reconsume_times(&self) -> i32 {
        be_i32(self.buf, self.body.0 - 16)
    }
    /// PREPARED TRANSACTION OFFSET.
    pub fn prepared_transaction_offset(&self) -> i64 {
        be_i64(self.buf, self.body.0 - 12)
    }
    /// BODY as stored (compressed when sysFlag says so).
    pub fn body(&self) -> &'a [u8] {
        self.slice(self.body)
    }
    /// Position and length of BODY inside the record.
    pub fn body_range(&self) -> std::ops::Range<usize> {
        self.body.0..self.body.0 + self.body.1
    }
    /// TOPIC.
    pub fn topic(&self) -> &'a str {
        std::str::from_utf8(self.slice(self.topic)).expect("validated in parse")
    }
    /// The encoded PROPERTIES string.
    pub fn properties_str(&self) -> &'a str {
        std::str::from_utf8(self.slice(self.properties)).expect("validated in parse")
    }
    /// One property (the last occurrence wins, as in Java).
    pub fn property(&self, key: &str) -> Option<&'a str> {
        properties::lookup(self.properties_str(), key)
    }
    /// The TAGS property.
    pub fn tags(&self) -> Option<&'a str> {
        self.property(properties::TAGS)
    }
    /// ConsumeQueue tag code: Java `TAGS.hashCode()` sign-extended, 0 without tags.
    pub fn tags_code(&self) -> i64 {
        self.tags().map_or(0, |t| i64::from(java_string_hash(t)))
    }
    /// The producer's unique id (UNIQ_KEY).
    pub fn uniq_key(&self) -> Option<&'a str> {
        self.property(properties::UNIQ_KEY)
    }
    /// User keys (KEYS split on spaces).
    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.property(properties::KEYS)
            .into_iter()
            .flat_map(|k| k.split(' ').filter(|k| !k.is_empty()))
    }
    /// True for records that take a ConsumeQueue slot (not prepared or rollback).
    pub fn takes_queue_offset(&self) -> bool {
        !sys_flag::skips_consume_queue(self.sys_flag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::encode::{encode_blank, encode_to_vec};
    use crate::record::{AppendStamp, MessageRecord};

    const STAMP: AppendStamp = AppendStamp {
        queue_offset: 7,
        physical_offset: 4096,
        store_timestamp: 1_700_000_000_123,
    };

    fn checks(position: Option<u64>) -> DecodeChecks {
        DecodeChecks {
            max_size: 1 << 20,
            crc: true,
            position,
        }
    }

    fn record() -> Vec<u8> {
        let m = MessageRecord::builder("T1", &b"hello body"[..])
            .queue_id(2)
            .born_host("1.2.3.4:5".parse().unwrap())
            .store_host("[::1]:10911".parse().unwrap())
            .property("TAGS", "A")
            .build()
            .unwrap();
        encode_to_vec(&m, STAMP)
    }

    fn expect_err(buf: &[u8], position: Option<u64>) -> RecordError {
        decode(buf, checks(position)).map(|_| ()).unwrap_err()
    }

    #[test]
    fn fixed_offsets_and_lengths_match_the_format() {
        let b = record();
        // 4+4+4+4+4+8+8+4+8 + born 8 + 8 + store 20 + 4+8 + 4+10 + 1+2 + 2+6
        assert_eq!(b.len(), 48 + 8 + 8 + 20 + 12 + 14 + 3 + 8);
        assert_eq!(&b[4..8], &MAGIC_V1.to_be_bytes());
        assert_eq!(&b[20..28], &7i64.to_be_bytes());
        assert_eq!(&b[28..36], &4096i64.to_be_bytes());
        assert_eq!(&b[36..40], &0x20i32.to_be_bytes(), "store host is IPv6");
        assert_eq!(&b[48..52], &[1, 2, 3, 4]);
        assert_eq!(&b[56..64], &1_700_000_000_123i64.to_be_bytes());
        let Decoded::Message(v) = decode(&b, checks(Some(4096))).unwrap() else {
            panic!("not a message")
        };
        assert_eq!(v.store_host().to_string(), "[::1]:10911");
        assert_eq!(
            (v.topic(), v.body(), v.tags_code()),
            ("T1", &b"hello body"[..], 65)
        );
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let good = record();
        assert!(matches!(
            expect_err(&good[..6], None),
            RecordError::Truncated {
                needed: 8,
                available: 6
            }
        ));
        assert!(matches!(
            expect_err(&good[..good.len() - 1], None),
            RecordError::Truncated { .. }
        ));
        assert!(matches!(
            expect_err(&[0u8; 64], None),
            RecordError::BadTotalSize { size: 0, .. }
        ));
        let mut bad = good.clone();
        bad[4] ^= 0xFF;
        assert!(matches!(
            expect_err(&bad, None),
            RecordError::BadMagic { .. }
        ));
        let mut bad = good.clone();
        let body_at = bad.len() - 8 - 3 - 10;
        bad[body_at] ^= 1;
        assert!(matches!(
            expect_err(&bad, None),
            RecordError::CrcMismatch { .. }
        ));
        assert!(matches!(
            expect_err(&good, Some(8192)),
            RecordError::PhysicalOffsetMismatch {
                stored: 4096,
                expected: 8192
            }
        ));
        let mut bad = good.clone();
        let topic_len_at = bad.len() - 8 - 3;
        bad[topic_len_at] = 9;
        assert!(matches!(expect_err(&bad, None), RecordError::Malformed(_)));
        let mut blank = vec![0u8; 100];
        encode_blank(&mut blank, 100);
        assert!(matches!(
            decode(&blank, checks(None)).unwrap(),
            Decoded::Blank { remaining: 100 }
        ));
    }

    #[test]
    fn v2_records_with_two_byte_topic_length_are_readable() {
        let v1 = record();
        let topic_at = v1.len() - 8 - 3;
        let mut v2 = v1[..topic_at].to_vec();
        v2.extend_from_slice(&2u16.to_be_bytes());
        v2.extend_from_slice(&v1[topic_at + 1..]);
        let total = v2.len() as i32;
        v2[..4].copy_from_slice(&total.to_be_bytes());
        v2[4..8].copy_from_slice(&MAGIC_V2.to_be_bytes());
        let v = MessageView::new(&v2).unwrap();
        assert_eq!(
            (v.magic(), v.topic(), v.tags()),
            (MAGIC_V2, "T1", Some("A"))
        );
        assert!(matches!(
            decode(&v2, checks(Some(4096))).unwrap(),
            Decoded::Message(_)
        ));
    }
}
