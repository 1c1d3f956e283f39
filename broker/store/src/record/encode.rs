//! Encoding a [`MessageRecord`] in place, straight into the bytes it will occupy on disk.
//!
//! The CommitLog calls [`encode_into`] under its put lock with the region of the mapped file the
//! record goes to, so there is no intermediate buffer; the body CRC is computed once here.

use std::net::{IpAddr, SocketAddr};

use super::{BLANK_MAGIC, BLANK_MARKER_LEN, MAGIC_V1, MessageRecord};

/// The fields only the CommitLog knows, fixed at append time under the put lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendStamp {
    /// QUEUEOFFSET: the logical offset in the (topic, queue) ConsumeQueue (0 for prepared and
    /// rollback records).
    pub queue_offset: i64,
    /// PHYSICALOFFSET: the record's global CommitLog offset.
    pub physical_offset: i64,
    /// STORETIMESTAMP in ms.
    pub store_timestamp: i64,
}

/// Body CRC as RocketMQ stores it: `crc32(body) & 0x7FFFFFFF`.
pub fn body_crc(body: &[u8]) -> u32 {
    crc32fast::hash(body) & 0x7FFF_FFFF
}

/// Big-endian writer over a pre-sized destination.
struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn put(&mut self, src: &[u8]) {
        self.buf[self.pos..self.pos + src.len()].copy_from_slice(src);
        self.pos += src.len();
    }
    fn i32(&mut self, v: i32) {
        self.put(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.put(&v.to_be_bytes());
    }
    fn host(&mut self, addr: SocketAddr) {
        match addr.ip() {
            IpAddr::V4(ip) => self.put(&ip.octets()),
            IpAddr::V6(ip) => self.put(&ip.octets()),
        }
        self.i32(i32::from(addr.port()));
    }
}

/// Writes `record` stamped with `stamp` into `dst`, which must be exactly
/// [`MessageRecord::encoded_len`] bytes long (the caller sized the region from it).
///
/// # Panics
/// If `dst` has a different length: that is a bug in the caller, never a data condition.
pub fn encode_into(record: &MessageRecord, stamp: AppendStamp, dst: &mut [u8]) {
    let total = record.encoded_len();
    assert_eq!(dst.len(), total, "record region sized wrongly");
    let mut c = Cursor { buf: dst, pos: 0 };
    c.i32(total as i32);
    c.put(&MAGIC_V1.to_be_bytes());
    c.put(&body_crc(&record.body).to_be_bytes());
    c.i32(record.queue_id);
    c.i32(record.flag);
    c.i64(stamp.queue_offset);
    c.i64(stamp.physical_offset);
    c.i32(record.sys_flag());
    c.i64(record.born_timestamp);
    c.host(record.born_host);
    c.i64(stamp.store_timestamp);
    c.host(record.store_host);
    c.i32(record.reconsume_times);
    c.i64(record.prepared_transaction_offset);
    c.i32(record.body.len() as i32);
    c.put(&record.body);
    c.put(&[record.topic.len() as u8]);
    c.put(record.topic.as_bytes());
    c.put(&(record.properties.len() as u16).to_be_bytes());
    c.put(record.properties.as_bytes());
    debug_assert_eq!(c.pos, total);
}

/// Encodes `record` into a new buffer (for tests, tools and replication of single records; the
/// CommitLog encodes in place with [`encode_into`]).
pub fn encode_to_vec(record: &MessageRecord, stamp: AppendStamp) -> Vec<u8> {
    let mut out = vec![0u8; record.encoded_len()];
    encode_into(record, stamp, &mut out);
    out
}

/// Writes the 8-byte end-of-file marker `{remaining int32, BLANK_MAGIC int32}` at the start of
/// `dst`, where `remaining` is the number of bytes from the marker to the end of the file.
pub fn encode_blank(dst: &mut [u8], remaining: usize) {
    dst[..4].copy_from_slice(&(remaining as i32).to_be_bytes());
    dst[4..BLANK_MARKER_LEN].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
}
