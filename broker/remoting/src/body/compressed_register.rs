//! The zlib form of RegisterBrokerBody (REGISTER_BROKER with header `compressed=true`, sent by
//! Java brokers configured with `compressedRegister=true`).
//!
//! Inflated layout (Java `RegisterBrokerBody.encode(true)`), big-endian:
//! `[len:i32][DataVersion JSON]` `[topicCount:i32]([len:i32][topic line])*`
//! `[len:i32][filterServerList JSON]` and, from 5.x, `[mappingCount:i32]([len:i32][JSON])*`.
//! A topic line is `TopicConfig.encode()`: `name readQ writeQ perm topicFilterType [attributesJSON]`
//! (so `topicSysFlag` and `order` do not survive this form, as in Java). Inflation is capped at
//! [`MAX_INFLATED_LEN`] so a small hostile body cannot expand without bound.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use bytes::Bytes;
use ferrimq_config::{Perm, TopicConfig, TopicFilterType};
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

use super::{DataVersion, JsonBody, RegisterBrokerBody, TopicConfigSerializeWrapper};
use crate::cursor::Reader;
use crate::error::{RemotingError, Result};

/// Largest inflated registration accepted: 64 MiB (about 500k topics).
pub const MAX_INFLATED_LEN: u64 = 64 * 1024 * 1024;

const WHAT: &str = "compressed register body";

impl RegisterBrokerBody {
    /// Decodes a REGISTER_BROKER body in the form announced by the header's `compressed` flag.
    pub fn decode_registration(body: &[u8], compressed: bool) -> Result<Self> {
        if compressed {
            Self::decode_compressed(body)
        } else {
            Self::decode(body)
        }
    }

    /// Inflates and parses the compressed form. Static-topic mappings (5.x) are skipped.
    pub fn decode_compressed(body: &[u8]) -> Result<Self> {
        let inflated = inflate(body)?;
        let mut reader = Reader::new(&inflated, WHAT);
        let data_version: DataVersion = json_block(&mut reader)?;
        let topic_count = reader.length("topic count")?;
        let mut topic_config_table = BTreeMap::new();
        for _ in 0..topic_count {
            let len = reader.length("topic line")?;
            let line =
                std::str::from_utf8(reader.take(len)?).map_err(|_| RemotingError::InvalidUtf8 {
                    field: "topic line",
                })?;
            let topic = parse_topic_line(line)?;
            topic_config_table.insert(topic.topic_name.clone(), topic);
        }
        let filter_server_list: Vec<String> = json_block(&mut reader)?;
        if !reader.is_empty() {
            for _ in 0..reader.length("mapping count")? {
                let len = reader.length("mapping")?;
                reader.take(len)?;
            }
        }
        let topic_config_serialize_wrapper = TopicConfigSerializeWrapper {
            data_version,
            topic_config_table,
        };
        Ok(RegisterBrokerBody {
            filter_server_list,
            topic_config_serialize_wrapper,
        })
    }

    /// Encodes the compressed form (5.x layout with an empty mapping section, which 4.x name
    /// servers ignore), zlib at best compression like Java.
    pub fn encode_compressed(&self) -> Result<Bytes> {
        let wrapper = &self.topic_config_serialize_wrapper;
        let mut plain = Vec::new();
        put_block(
            &mut plain,
            &serde_json::to_vec(&wrapper.data_version).map_err(|e| RemotingError::json(&e))?,
        )?;
        put_len(&mut plain, wrapper.topic_config_table.len())?;
        for topic in wrapper.topic_config_table.values() {
            put_block(&mut plain, topic_line(topic).as_bytes())?;
        }
        put_block(
            &mut plain,
            &serde_json::to_vec(&self.filter_server_list).map_err(|e| RemotingError::json(&e))?,
        )?;
        put_len(&mut plain, 0)?;
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        let compressed = encoder.write_all(&plain).and_then(|()| encoder.finish());
        compressed
            .map(Bytes::from)
            .map_err(|e| malformed(0, e.to_string()))
    }
}

fn inflate(body: &[u8]) -> Result<Vec<u8>> {
    let mut inflated = Vec::new();
    ZlibDecoder::new(body)
        .take(MAX_INFLATED_LEN + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| malformed(0, format!("zlib: {e}")))?;
    if inflated.len() as u64 > MAX_INFLATED_LEN {
        return Err(malformed(
            0,
            format!("inflates beyond {MAX_INFLATED_LEN} bytes"),
        ));
    }
    Ok(inflated)
}

fn json_block<T: serde::de::DeserializeOwned>(reader: &mut Reader<'_>) -> Result<T> {
    let len = reader.length("JSON block")?;
    let bytes = reader.take(len)?;
    ferrimq_fastjson::from_slice(bytes).map_err(|e| RemotingError::InvalidJson {
        reason: e.to_string(),
    })
}

/// `TopicConfig.encode()`: name, queue counts, perm, filter type, then attributes JSON if any.
fn topic_line(topic: &TopicConfig) -> String {
    let mut line = topic.encode_line();
    if !topic.attributes.is_empty() {
        line.push(' ');
        line.push_str(&serde_json::to_string(&topic.attributes).unwrap_or_default());
    }
    line
}

/// Parses `TopicConfig.encode()` output; fewer than five fields is an error, like Java's `decode`.
fn parse_topic_line(line: &str) -> Result<TopicConfig> {
    let fields: Vec<&str> = line.splitn(6, ' ').collect();
    let [name, read, write, perm, filter, rest @ ..] = fields.as_slice() else {
        return Err(RemotingError::invalid_field("topic line", line));
    };
    let number = |field: &'static str, raw: &str| {
        raw.parse::<u32>()
            .map_err(|_| RemotingError::invalid_field(field, raw))
    };
    let perm = perm
        .parse::<u8>()
        .map_err(|_| RemotingError::invalid_field("perm", perm))?;
    let topic_filter_type = TopicFilterType::parse(filter)
        .ok_or_else(|| RemotingError::invalid_field("topicFilterType", filter))?;
    let attributes = match rest.first() {
        Some(json) => serde_json::from_str(json).map_err(|e| RemotingError::json(&e))?,
        None => BTreeMap::new(),
    };
    Ok(TopicConfig {
        read_queue_nums: number("readQueueNums", read)?,
        write_queue_nums: number("writeQueueNums", write)?,
        perm: Perm(perm),
        topic_filter_type,
        attributes,
        ..TopicConfig::new(*name)
    })
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<()> {
    let len = i32::try_from(len).map_err(|_| RemotingError::ValueOutOfRange {
        field: "register body length",
        value: len as i64,
        width: 32,
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

fn put_block(out: &mut Vec<u8>, block: &[u8]) -> Result<()> {
    put_len(out, block.len())?;
    out.extend_from_slice(block);
    Ok(())
}

fn malformed(offset: usize, reason: String) -> RemotingError {
    RemotingError::Malformed {
        what: WHAT,
        offset,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> RegisterBrokerBody {
        let mut ordered = TopicConfig::with_queues("TopicTest", 4, Perm(6));
        ordered
            .attributes
            .insert("+message.type".into(), "NORMAL".into());
        let tbw = TopicConfig::with_queues("TBW102", 8, Perm(7));
        RegisterBrokerBody {
            filter_server_list: vec![],
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                data_version: DataVersion {
                    counter: 7,
                    state_version: None,
                    timestamp: 1_700_000_000_000,
                },
                topic_config_table: BTreeMap::from([
                    ("TBW102".into(), tbw),
                    ("TopicTest".into(), ordered),
                ]),
            },
        }
    }

    #[test]
    fn compressed_round_trip() {
        let bytes = body().encode_compressed().expect("encodes");
        assert_eq!(bytes[0], 0x78, "zlib stream header");
        assert_eq!(
            RegisterBrokerBody::decode_registration(&bytes, true),
            Ok(body())
        );
        let plain = body().encode().expect("encodes");
        assert_eq!(
            RegisterBrokerBody::decode_registration(&plain, false),
            Ok(body())
        );
    }

    /// A 4.x broker's stream: no mapping section after the filter server list.
    #[test]
    fn reads_4x_layout_without_mapping_section() {
        let mut plain = Vec::new();
        put_block(&mut plain, br#"{"counter":1,"timestamp":5}"#).expect("fits");
        put_len(&mut plain, 1).expect("fits");
        put_block(&mut plain, b"T 2 3 6 MULTI_TAG").expect("fits");
        put_block(&mut plain, b"[]").expect("fits");
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&plain).expect("in memory");
        let decoded = RegisterBrokerBody::decode_compressed(&encoder.finish().expect("in memory"))
            .expect("parses");
        let topic = &decoded.topic_config_serialize_wrapper.topic_config_table["T"];
        assert_eq!(
            (topic.read_queue_nums, topic.write_queue_nums, topic.perm.0),
            (2, 3, 6)
        );
        assert_eq!(topic.topic_filter_type, TopicFilterType::MultiTag);
    }

    #[test]
    fn garbage_and_bad_lines_are_typed_errors() {
        assert!(matches!(
            RegisterBrokerBody::decode_compressed(b"not zlib"),
            Err(RemotingError::Malformed { what: WHAT, .. })
        ));
        assert!(matches!(
            parse_topic_line("T 1 2 6"),
            Err(RemotingError::InvalidField {
                field: "topic line",
                ..
            })
        ));
        assert!(matches!(
            parse_topic_line("T 1 x 6 SINGLE_TAG"),
            Err(RemotingError::InvalidField {
                field: "writeQueueNums",
                ..
            })
        ));
        assert!(matches!(
            parse_topic_line("T 1 2 6 BOGUS"),
            Err(RemotingError::InvalidField {
                field: "topicFilterType",
                ..
            })
        ));
    }
}
