//! The stored message format V1, byte for byte as Apache RocketMQ writes it into the CommitLog
//! (and serves in pull, query and view bodies).
//!
//! This module owns every raw byte of a message record:
//! - [`MessageRecord`] / [`MessageRecordBuilder`]: an owned message ready to append, validated once
//!   (topic <= 127 bytes, properties <= 32767 bytes) so the append path only copies.
//! - [`encode`]: writes a record directly into its final place (the mapped file) with the fields
//!   only the CommitLog knows (QUEUEOFFSET, PHYSICALOFFSET, STORETIMESTAMP) filled in under the
//!   put lock, and the body CRC computed once.
//! - [`view`]: a borrowed, validated view of a stored record (V1 and V2 magic readable), and the
//!   end-of-file blank marker.
//! - [`properties`]: the `key\u{1}value\u{2}...` properties string and Java's `String.hashCode`.
//! - [`msg_id`]: the offsetMsgId (store host + commit log offset, uppercase hex).
//!
//! Layout (big-endian), fixed offsets for an IPv4 born host:
//! `TOTALSIZE@0 MAGIC@4 BODYCRC@8 QUEUEID@12 FLAG@16 QUEUEOFFSET@20 PHYSICALOFFSET@28 SYSFLAG@36
//! BORNTIMESTAMP@40 BORNHOST@48 ...`; hosts are 8 bytes (IPv4) or 20 bytes (IPv6, sysflag
//! 0x10 / 0x20); then STORETIMESTAMP, STOREHOST, RECONSUMETIMES, PREPAREDTXOFFSET, BODY (int32
//! length), TOPIC (1-byte length in V1, 2 in V2), PROPERTIES (int16 length).

pub mod encode;
pub mod msg_id;
pub mod properties;
pub mod view;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;

use crate::error::{Result, StoreError};

pub use encode::AppendStamp;
pub use properties::{Properties, java_string_hash};
pub use view::{Decoded, MessageView, RecordError};

/// MAGICCODE of format V1 (topic length in 1 byte): `0xDAA320A7`.
pub const MAGIC_V1: u32 = 0xDAA3_20A7;
/// MAGICCODE of format V2 (topic length in 2 bytes, RocketMQ 5.x): `0xDAA320AB`.
pub const MAGIC_V2: u32 = 0xDAA3_20AB;
/// MAGICCODE of the end-of-file blank marker: `0xCBD43194`.
pub const BLANK_MAGIC: u32 = 0xCBD4_3194;
/// Length of the end-of-file blank marker `{remaining int32, BLANK_MAGIC int32}`.
pub const BLANK_MARKER_LEN: usize = 8;
/// Longest topic the V1 format can hold.
pub const MAX_TOPIC_LEN: usize = 127;
/// Longest properties string (int16 length).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;
/// Smallest possible record: all fixed fields with IPv4 hosts, empty body, topic, properties.
pub const MIN_RECORD_LEN: usize = fixed_len(false, false) + 4 + 1 + 2;

/// Byte offset of MAGICCODE.
pub const POS_MAGIC: usize = 4;
/// Byte offset of BODYCRC.
pub const POS_BODY_CRC: usize = 8;
/// Byte offset of QUEUEID.
pub const POS_QUEUE_ID: usize = 12;
/// Byte offset of FLAG.
pub const POS_FLAG: usize = 16;
/// Byte offset of QUEUEOFFSET.
pub const POS_QUEUE_OFFSET: usize = 20;
/// Byte offset of PHYSICALOFFSET.
pub const POS_PHYSICAL_OFFSET: usize = 28;
/// Byte offset of SYSFLAG.
pub const POS_SYS_FLAG: usize = 36;
/// Byte offset of BORNTIMESTAMP.
pub const POS_BORN_TIMESTAMP: usize = 40;
/// Byte offset of BORNHOST.
pub const POS_BORN_HOST: usize = 48;

/// sysFlag bits (MessageSysFlag).
pub mod sys_flag {
    /// Body is compressed.
    pub const COMPRESSED: i32 = 0x1;
    /// TAGS holds several tags (MULTI_TAG topics).
    pub const MULTI_TAGS: i32 = 0x2;
    /// Mask of the transaction type bits.
    pub const TRANSACTION_MASK: i32 = 0xC;
    /// Not a transactional message.
    pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
    /// Half (prepared) transactional message.
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    /// Committed transactional message.
    pub const TRANSACTION_COMMIT: i32 = 0x8;
    /// Rolled back transactional message.
    pub const TRANSACTION_ROLLBACK: i32 = 0xC;
    /// BORNHOST is IPv6 (20 bytes).
    pub const BORNHOST_V6: i32 = 0x10;
    /// STOREHOST is IPv6 (20 bytes).
    pub const STOREHOST_V6: i32 = 0x20;

    /// True for prepared and rollback records: they get QUEUEOFFSET 0, do not advance the
    /// queue offset table and are not dispatched to a ConsumeQueue.
    pub fn skips_consume_queue(sys_flag: i32) -> bool {
        matches!(
            sys_flag & TRANSACTION_MASK,
            TRANSACTION_PREPARED | TRANSACTION_ROLLBACK
        )
    }
}

/// Length of an encoded host: 4-byte IPv4 or 16-byte IPv6 address plus an int32 port.
pub const fn host_len(v6: bool) -> usize {
    if v6 { 20 } else { 8 }
}

/// Length of all fields before BODY, including the 4-byte body length.
pub const fn fixed_len(born_v6: bool, store_v6: bool) -> usize {
    // TOTALSIZE MAGIC BODYCRC QUEUEID FLAG QUEUEOFFSET PHYSICALOFFSET SYSFLAG BORNTIMESTAMP
    4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8
        + host_len(born_v6)
        // STORETIMESTAMP
        + 8
        + host_len(store_v6)
        // RECONSUMETIMES PREPAREDTXOFFSET BODYLENGTH
        + 4 + 8 + 4
}

/// An owned message ready to append. Build it with [`MessageRecord::builder`], which enforces
/// the format's limits, so appending never has to re-validate fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    topic: String,
    queue_id: i32,
    flag: i32,
    sys_flag: i32,
    born_timestamp: i64,
    born_host: SocketAddr,
    store_host: SocketAddr,
    reconsume_times: i32,
    prepared_transaction_offset: i64,
    body: Bytes,
    properties: String,
}

impl MessageRecord {
    /// Starts a message for `topic` with `body`; every other field has RocketMQ's zero value.
    pub fn builder(topic: impl Into<String>, body: impl Into<Bytes>) -> MessageRecordBuilder {
        MessageRecordBuilder {
            record: MessageRecord {
                topic: topic.into(),
                queue_id: 0,
                flag: 0,
                sys_flag: 0,
                born_timestamp: 0,
                born_host: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                store_host: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
                body: body.into(),
                properties: String::new(),
            },
            properties: None,
        }
    }

    /// Topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }
    /// Queue id within the topic.
    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }
    /// User flag.
    pub fn flag(&self) -> i32 {
        self.flag
    }
    /// sysFlag as it will be stored (host version bits follow the host addresses).
    pub fn sys_flag(&self) -> i32 {
        let mut f = self.sys_flag & !(sys_flag::BORNHOST_V6 | sys_flag::STOREHOST_V6);
        if self.born_host.is_ipv6() {
            f |= sys_flag::BORNHOST_V6;
        }
        if self.store_host.is_ipv6() {
            f |= sys_flag::STOREHOST_V6;
        }
        f
    }
    /// Producer timestamp (ms).
    pub fn born_timestamp(&self) -> i64 {
        self.born_timestamp
    }
    /// Producer address.
    pub fn born_host(&self) -> SocketAddr {
        self.born_host
    }
    /// Broker address written as STOREHOST (and used in the offsetMsgId).
    pub fn store_host(&self) -> SocketAddr {
        self.store_host
    }
    /// Times the message was re-consumed.
    pub fn reconsume_times(&self) -> i32 {
        self.reconsume_times
    }
    /// CommitLog offset of the half message, for committed transactional messages.
    pub fn prepared_transaction_offset(&self) -> i64 {
        self.prepared_transaction_offset
    }
    /// Body as stored (possibly compressed, see sysFlag).
    pub fn body(&self) -> &Bytes {
        &self.body
    }
    /// The encoded properties string.
    pub fn properties_str(&self) -> &str {
        &self.properties
    }
    /// Encoded length of the record in the CommitLog.
    pub fn encoded_len(&self) -> usize {
        fixed_len(self.born_host.is_ipv6(), self.store_host.is_ipv6())
            + self.body.len()
            + 1
            + self.topic.len()
            + 2
            + self.properties.len()
    }
    /// True when this record takes a ConsumeQueue slot (not a prepared or rollback record).
    pub fn takes_queue_offset(&self) -> bool {
        !sys_flag::skips_consume_queue(self.sys_flag)
    }
}

/// Builder of a [`MessageRecord`]; [`MessageRecordBuilder::build`] validates the limits.
#[derive(Debug, Clone)]
pub struct MessageRecordBuilder {
    record: MessageRecord,
    properties: Option<Properties>,
}

impl MessageRecordBuilder {
    /// Queue id within the topic.
    pub fn queue_id(mut self, v: i32) -> Self {
        self.record.queue_id = v;
        self
    }
    /// User flag.
    pub fn flag(mut self, v: i32) -> Self {
        self.record.flag = v;
        self
    }
    /// sysFlag; the host version bits (0x10, 0x20) are derived from the hosts and ignored here.
    pub fn sys_flag(mut self, v: i32) -> Self {
        self.record.sys_flag = v;
        self
    }
    /// Producer timestamp (ms).
    pub fn born_timestamp(mut self, v: i64) -> Self {
        self.record.born_timestamp = v;
        self
    }
    /// Producer address.
    pub fn born_host(mut self, v: SocketAddr) -> Self {
        self.record.born_host = v;
        self
    }
    /// Broker address (brokerIP1 + listen port).
    pub fn store_host(mut self, v: SocketAddr) -> Self {
        self.record.store_host = v;
        self
    }
    /// Times the message was re-consumed.
    pub fn reconsume_times(mut self, v: i32) -> Self {
        self.record.reconsume_times = v;
        self
    }
    /// CommitLog offset of the half message (committed transactional messages).
    pub fn prepared_transaction_offset(mut self, v: i64) -> Self {
        self.record.prepared_transaction_offset = v;
        self
    }
    /// Replaces all properties with an already encoded properties string (as received on the
    /// wire in the send header).
    pub fn properties_str(mut self, encoded: impl Into<String>) -> Self {
        self.record.properties = encoded.into();
        self.properties = None;
        self
    }
    /// Replaces all properties.
    pub fn properties(mut self, props: Properties) -> Self {
        self.properties = Some(props);
        self
    }
    /// Sets one property (keeps insertion order; a repeated key replaces the earlier value).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if self.properties.is_none() {
            self.properties = Some(Properties::parse(&self.record.properties));
        }
        if let Some(p) = self.properties.as_mut() {
            p.insert(key, value);
        }
        self
    }

    /// Validates the limits of format V1 and returns the record.
    pub fn build(mut self) -> Result<MessageRecord> {
        if let Some(p) = self.properties.take() {
            self.record.properties = p.encode();
        }
        let r = &self.record;
        if r.topic.is_empty() {
            return Err(StoreError::IllegalMessage("empty topic".into()));
        }
        if r.topic.len() > MAX_TOPIC_LEN {
            return Err(StoreError::IllegalMessage(format!(
                "topic of {} bytes exceeds {MAX_TOPIC_LEN}",
                r.topic.len()
            )));
        }
        if r.properties.len() > MAX_PROPERTIES_LEN {
            return Err(StoreError::IllegalMessage(format!(
                "properties of {} bytes exceed {MAX_PROPERTIES_LEN}",
                r.properties.len()
            )));
        }
        if r.body.len() > i32::MAX as usize {
            return Err(StoreError::IllegalMessage(
                "body longer than i32::MAX".into(),
            ));
        }
        Ok(self.record)
    }
}
