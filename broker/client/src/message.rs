//! Messages: what a producer sends ([`Message`]), what a consumer receives ([`MessageExt`]), and
//! the decoder of stored records (protocol ref §4.1) found in pull, query and view bodies.
//!
//! The decoder is bounds-checked: every length is checked against the bytes that remain and the
//! record's TOTALSIZE, so a hostile or truncated body gives [`ClientError::Record`] with the byte
//! offset, never a panic. Compressed bodies (sysFlag bit 0x1) are inflated according to the
//! compression type bits (0x700: 0 or 0x300 = zlib; LZ4/ZSTD are reported as unsupported).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

use crate::error::{ClientError, Result};
use crate::message_id::offset_msg_id;

/// Property names (Java `MessageConst`) used by the client.
pub mod property {
    /// Space-separated user keys.
    pub const KEYS: &str = "KEYS";
    /// Tag.
    pub const TAGS: &str = "TAGS";
    /// Wait for the store before answering ("true" by default).
    pub const WAIT: &str = "WAIT";
    /// Delay level.
    pub const DELAY: &str = "DELAY";
    /// Client-generated message id.
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    /// Original topic of a retried message.
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    /// Queue min offset, set by the consumer on pull.
    pub const MIN_OFFSET: &str = "MIN_OFFSET";
    /// Queue max offset, set by the consumer on pull.
    pub const MAX_OFFSET: &str = "MAX_OFFSET";
}

/// sysFlag bits (Java `MessageSysFlag`).
pub mod sys_flag {
    /// Body is compressed.
    pub const COMPRESSED: i32 = 0x1;
    /// Born host is IPv6.
    pub const BORNHOST_V6: i32 = 0x10;
    /// Store host is IPv6.
    pub const STOREHOST_V6: i32 = 0x20;
    /// Mask of the compression type bits.
    pub const COMPRESSION_TYPE_MASK: i32 = 0x700;
    /// Compression type zlib.
    pub const COMPRESSION_ZLIB: i32 = 0x300;
}

/// Magic of a V1 record (1-byte topic length).
pub const MAGIC_V1: i32 = -626_843_481;
/// Magic of a V2 record (2-byte topic length).
pub const MAGIC_V2: i32 = -626_843_477;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Destination topic.
    pub topic: String,
    /// User flag.
    pub flag: i32,
    /// Body.
    pub body: Bytes,
    /// Properties (tags, keys, user properties, UNIQ_KEY once sent).
    pub properties: BTreeMap<String, String>,
}

impl Message {
    /// A message with `WAIT=true`, as Java's constructor sets.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        let mut properties = BTreeMap::new();
        properties.insert(property::WAIT.to_owned(), "true".to_owned());
        Message {
            topic: topic.into(),
            flag: 0,
            body: body.into(),
            properties,
        }
    }

    /// Sets the tag.
    pub fn with_tags(self, tags: impl Into<String>) -> Self {
        self.with_property(property::TAGS, tags)
    }

    /// Sets the keys (joined with spaces).
    pub fn with_keys<S: AsRef<str>>(self, keys: impl IntoIterator<Item = S>) -> Self {
        let joined: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        self.with_property(property::KEYS, joined.join(" "))
    }

    /// Sets a property.
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// The UNIQ_KEY, once assigned.
    pub fn uniq_key(&self) -> Option<&str> {
        self.properties.get(property::UNIQ_KEY).map(String::as_str)
    }

    /// The properties string (char 1 / char 2 separators).
    pub fn properties_string(&self) -> String {
        ferrimq_remoting::message::format_properties(
            self.properties
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }
}

/// A message read from a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// Topic.
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    /// Consume-queue offset.
    pub queue_offset: i64,
    /// Commit-log offset.
    pub commit_log_offset: i64,
    /// Record size in the commit log.
    pub store_size: i32,
    /// CRC of the stored body.
    pub body_crc: i32,
    /// User flag.
    pub flag: i32,
    /// sysFlag of the record.
    pub sys_flag: i32,
    /// Producer timestamp (ms).
    pub born_timestamp: i64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// Broker store timestamp (ms).
    pub store_timestamp: i64,
    /// Broker address.
    pub store_host: SocketAddr,
    /// Times the message was re-consumed.
    pub reconsume_times: i32,
    /// Half-message offset of a committed transactional message.
    pub prepared_transaction_offset: i64,
    /// Body, decompressed.
    pub body: Bytes,
    /// Properties.
    pub properties: BTreeMap<String, String>,
    /// offsetMsgId (store host + commit-log offset).
    pub offset_msg_id: String,
}

impl MessageExt {
    /// The client message id: UNIQ_KEY if present, else the offsetMsgId.
    pub fn msg_id(&self) -> &str {
        self.properties
            .get(property::UNIQ_KEY)
            .map_or(self.offset_msg_id.as_str(), String::as_str)
    }

    /// The tag, if any.
    pub fn tags(&self) -> Option<&str> {
        self.properties.get(property::TAGS).map(String::as_str)
    }

    /// The user keys.
    pub fn keys(&self) -> Vec<&str> {
        self.properties
            .get(property::KEYS)
            .map(|k| k.split(' ').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }
}

/// Compresses `body` with zlib at `level` (Java default 5).
pub fn compress(body: &[u8], level: u32) -> Result<Vec<u8>> {
    let err = |source| ClientError::Compression {
        op: "compress",
        len: body.len(),
        source,
    };
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::new(level));
    encoder.write_all(body).map_err(err)?;
    encoder.finish().map_err(err)
}

/// Inflates a stored body according to the record's sysFlag.
pub fn decompress(body: &[u8], flags: i32) -> Result<Vec<u8>> {
    let kind = flags & sys_flag::COMPRESSION_TYPE_MASK;
    let err = |source| ClientError::Compression {
        op: "decompress",
        len: body.len(),
        source,
    };
    if kind != 0 && kind != sys_flag::COMPRESSION_ZLIB {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("compression type bits {kind:#x} (LZ4/ZSTD) not supported"),
        )));
    }
    let mut out = Vec::with_capacity(body.len() * 4);
    ZlibDecoder::new(body).read_to_end(&mut out).map_err(err)?;
    Ok(out)
}

/// Decodes the concatenated stored records of a pull/query/view body.
pub fn decode_records(body: &Bytes) -> Result<Vec<MessageExt>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let (message, size) = decode_record(body, at)?;
        out.push(message);
        at += size;
    }
    Ok(out)
}

/// Bounds-checked reader over one record.
struct Reader<'a> {
    body: &'a Bytes,
    start: usize,
    end: usize,
    pos: usize,
}

impl Reader<'_> {
    fn fail(&self, reason: impl Into<String>) -> ClientError {
        ClientError::Record {
            offset: self.start,
            len: self.body.len(),
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        if self.end - self.pos < n {
            return Err(self.fail(format!(
                "{what} at byte {} needs {n} bytes, {} left",
                self.pos,
                self.end - self.pos
            )));
        }
        let slice = &self.body[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn i16(&mut self, what: &str) -> Result<i16> {
        Ok(i16::from_be_bytes(
            self.take(2, what)?.try_into().unwrap_or_default(),
        ))
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(
            self.take(4, what)?.try_into().unwrap_or_default(),
        ))
    }

    fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_be_bytes(
            self.take(8, what)?.try_into().unwrap_or_default(),
        ))
    }

    fn host(&mut self, v6: bool, what: &str) -> Result<SocketAddr> {
        let ip = if v6 {
            let b: [u8; 16] = self.take(16, what)?.try_into().unwrap_or_default();
            IpAddr::from(b)
        } else {
            let b: [u8; 4] = self.take(4, what)?.try_into().unwrap_or_default();
            IpAddr::from(b)
        };
        let port = self.i32(what)?;
        Ok(SocketAddr::new(ip, u16::try_from(port).unwrap_or(0)))
    }

    fn len_prefixed(&mut self, len: usize, what: &str) -> Result<Bytes> {
        let from = self.pos;
        self.take(len, what)?;
        Ok(self.body.slice(from..from + len))
    }

    fn utf8(&mut self, len: usize, what: &str) -> Result<String> {
        let raw = self.take(len, what)?.to_vec();
        String::from_utf8(raw).map_err(|_| self.fail(format!("{what} is not UTF-8")))
    }
}

/// Decodes the record starting at `start`; returns it and its TOTALSIZE.
fn decode_record(body: &Bytes, start: usize) -> Result<(MessageExt, usize)> {
    let mut r = Reader {
        body,
        start,
        end: body.len(),
        pos: start,
    };
    let total = r.i32("TOTALSIZE")?;
    let size = usize::try_from(total).unwrap_or(0);
    if size < 4 || size > body.len() - start {
        return Err(r.fail(format!(
            "TOTALSIZE {total} outside the {} bytes left",
            body.len() - start
        )));
    }
    r.end = start + size;
    let magic = r.i32("MAGICCODE")?;
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return Err(r.fail(format!("unknown MAGICCODE {magic:#x}")));
    }
    let body_crc = r.i32("BODYCRC")?;
    let queue_id = r.i32("QUEUEID")?;
    let flag = r.i32("FLAG")?;
    let queue_offset = r.i64("QUEUEOFFSET")?;
    let commit_log_offset = r.i64("PHYSICALOFFSET")?;
    let flags = r.i32("SYSFLAG")?;
    let born_timestamp = r.i64("BORNTIMESTAMP")?;
    let born_host = r.host(flags & sys_flag::BORNHOST_V6 != 0, "BORNHOST")?;
    let store_timestamp = r.i64("STORETIMESTAMP")?;
    let store_host = r.host(flags & sys_flag::STOREHOST_V6 != 0, "STOREHOST")?;
    let reconsume_times = r.i32("RECONSUMETIMES")?;
    let prepared_transaction_offset = r.i64("PREPAREDTRANSACTIONOFFSET")?;
    let body_len = r.i32("BODYLENGTH")?;
    let body_len = usize::try_from(body_len)
        .map_err(|_| r.fail(format!("negative body length {body_len}")))?;
    let mut payload = r.len_prefixed(body_len, "BODY")?;
    let topic_len = if magic == MAGIC_V1 {
        usize::from(r.take(1, "TOPICLENGTH")?[0])
    } else {
        usize::from(r.i16("TOPICLENGTH")? as u16)
    };
    let topic = r.utf8(topic_len, "TOPIC")?;
    let props_len = r.i16("PROPERTIESLENGTH")?;
    let props_len = usize::try_from(props_len)
        .map_err(|_| r.fail(format!("negative properties length {props_len}")))?;
    let props = r.utf8(props_len, "PROPERTIES")?;
    if flags & sys_flag::COMPRESSED != 0 {
        payload = Bytes::from(decompress(&payload, flags)?);
    }
    let message = MessageExt {
        topic,
        queue_id,
        queue_offset,
        commit_log_offset,
        store_size: total,
        body_crc,
        flag,
        sys_flag: flags,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body: payload,
        properties: ferrimq_remoting::message::parse_properties(&props),
        offset_msg_id: offset_msg_id(store_host, commit_log_offset),
    };
    Ok((message, size))
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
