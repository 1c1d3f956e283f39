//! `RemotingCommand`: the one message type of the protocol, requests and responses alike.
//!
//! A command is a header (code, language, version, opaque, flag, remark, extFields) plus an opaque
//! body. Custom headers travel as string pairs in `ext_fields`; the typed view lives in
//! [`crate::header::typed`]. Encoding picks the header serialization from `serialize_type`, which a
//! response inherits from its request so every peer is answered in the dialect it spoke.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codes::{LanguageCode, ResponseCode};
use crate::error::{RemotingError, Result};
use crate::header::typed::CommandHeader;
use crate::header::{binary, json};

pub use crate::ext_fields::ExtFields;

/// `flag` bit marking a response (`RemotingCommand.RPC_TYPE`).
pub const FLAG_RESPONSE: i32 = 1;
/// `flag` bit marking a oneway request (`RemotingCommand.RPC_ONEWAY`): it must not be answered.
pub const FLAG_ONEWAY: i32 = 1 << 1;
/// Version we announce: `MQVersion.Version.V4_9_8` ordinal. High enough for every version gate
/// (SQL92 >= 232, standard route JSON >= 401, register body >= 37) and known to 4.x and 5.x peers.
pub const DEFAULT_VERSION: i32 = 409;

/// How the header of a frame is serialized (high byte of the header-length word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// fastjson text, the Java default.
    #[default]
    Json,
    /// The compact `RocketMQSerializable` binary layout.
    RocketMq,
}

impl SerializeType {
    /// The byte stored in the frame.
    pub const fn as_byte(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    /// Parses the frame byte.
    pub fn from_byte(byte: u8) -> Result<Self> {
        match byte {
            0 => Ok(SerializeType::Json),
            1 => Ok(SerializeType::RocketMq),
            other => Err(RemotingError::UnknownSerializeType(other)),
        }
    }

    /// Name used by the JSON header's `serializeTypeCurrentRPC` key.
    pub const fn name(self) -> &'static str {
        match self {
            SerializeType::Json => "JSON",
            SerializeType::RocketMq => "ROCKETMQ",
        }
    }
}

/// One request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code, or response code in a response. Raw so unknown codes survive decoding.
    pub code: i32,
    /// Language of the sender.
    pub language: LanguageCode,
    /// Sender's `MQVersion` ordinal.
    pub version: i32,
    /// Request id; a response carries its request's opaque.
    pub opaque: i32,
    /// Bit field: [`FLAG_RESPONSE`], [`FLAG_ONEWAY`].
    pub flag: i32,
    /// Free text, usually the error of a failed response.
    pub remark: Option<String>,
    /// Custom header fields.
    pub ext_fields: ExtFields,
    /// Raw body; empty means none (Java `body == null`).
    pub body: Bytes,
    /// Header serialization used (decoded) or to use (encoded).
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A request with the given code and opaque, JSON-serialized, no header fields, no body.
    pub fn request(code: impl Into<i32>, opaque: i32) -> Self {
        RemotingCommand {
            code: code.into(),
            language: LanguageCode::Java,
            version: DEFAULT_VERSION,
            opaque,
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
            serialize_type: SerializeType::Json,
        }
    }

    /// The response to `request`: same opaque and serialize type, response flag set.
    pub fn response_to(request: &RemotingCommand, code: impl Into<i32>) -> Self {
        RemotingCommand {
            flag: FLAG_RESPONSE,
            serialize_type: request.serialize_type,
            ..RemotingCommand::request(code, request.opaque)
        }
    }

    /// Shorthand for a response carrying an error code and its remark.
    pub fn error_response(
        request: &RemotingCommand,
        code: ResponseCode,
        remark: impl Into<String>,
    ) -> Self {
        RemotingCommand::response_to(request, code).with_remark(remark)
    }

    /// Writes the fields of a typed header into `ext_fields` (existing keys are overwritten).
    pub fn with_header<H: CommandHeader>(mut self, header: &H) -> Self {
        header.write_fields(&mut self.ext_fields);
        self
    }

    /// Sets the remark.
    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets one extFields entry.
    pub fn with_ext_field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.ext_fields.insert(key.into(), value.into());
        self
    }

    /// Chooses the header serialization.
    pub fn with_serialize_type(mut self, serialize_type: SerializeType) -> Self {
        self.serialize_type = serialize_type;
        self
    }

    /// Marks the request oneway: the peer will not answer it.
    pub fn into_oneway(mut self) -> Self {
        self.flag |= FLAG_ONEWAY;
        self
    }

    /// True when `flag` has the response bit.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// True when `flag` has the oneway bit.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// The typed header read from `ext_fields`.
    pub fn decode_header<H: CommandHeader>(&self) -> Result<H> {
        H::read_fields(&self.ext_fields)
    }

    /// A capacity for [`RemotingCommand::encode`]'s buffer that is almost always enough for the
    /// whole frame, so encoding allocates once instead of growing the buffer several times
    /// (header first, then the body copied behind it). Control characters in values (the
    /// property separators) expand to 6 bytes in JSON, hence the slack per field.
    pub fn encoded_len_hint(&self) -> usize {
        const FIXED: usize = 8 + 160; // prefix words + code/flag/language/opaque/version keys
        const PER_FIELD: usize = 24; // quotes, colon, comma, a few escapes
        let fields: usize = self
            .ext_fields
            .iter()
            .map(|(key, value)| key.len() + value.len() + PER_FIELD)
            .sum();
        let remark = self.remark.as_ref().map_or(0, |r| r.len() + PER_FIELD);
        FIXED + fields + remark + self.body.len()
    }

    /// Appends the whole frame (length prefix, header-length word, header, body) to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<()> {
        let start = dst.len();
        dst.put_u32(0); // patched below, once the sizes are known
        dst.put_u32(0);
        let header_start = dst.len();
        match self.serialize_type {
            SerializeType::Json => json::encode(self, dst),
            SerializeType::RocketMq => binary::encode(self, dst)?,
        }
        let header_len = dst.len() - header_start;
        if header_len > 0x00FF_FFFF {
            dst.truncate(start);
            return Err(RemotingError::ValueOutOfRange {
                field: "header length",
                value: header_len as i64,
                width: 24,
            });
        }
        dst.extend_from_slice(&self.body);
        let length = dst.len() - start - 4;
        let Ok(length) = u32::try_from(length) else {
            dst.truncate(start);
            return Err(RemotingError::ValueOutOfRange {
                field: "frame length",
                value: length as i64,
                width: 32,
            });
        };
        let word = (u32::from(self.serialize_type.as_byte()) << 24) | header_len as u32;
        dst[start..start + 4].copy_from_slice(&length.to_be_bytes());
        dst[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::RequestCode;

    #[test]
    fn encoded_len_hint_covers_a_send_request_frame() {
        let properties =
            "UNIQ_KEY\u{1}7F0000010B2A18B4AAC2615A1C420000\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA";
        let fields = [
            ("a", "ferrimq_bench_producer"),
            ("b", "BenchmarkTest"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "3"),
            ("f", "0"),
            ("g", "1763802000000"),
            ("h", "0"),
            ("i", properties),
            ("j", "0"),
            ("k", "false"),
            ("n", "broker-a"),
        ];
        for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
            let mut cmd = RemotingCommand::request(RequestCode::SendMessageV2, 7)
                .with_serialize_type(serialize_type)
                .with_body(vec![b'x'; 1024]);
            for (key, value) in fields {
                cmd = cmd.with_ext_field(key, value);
            }
            let mut dst = BytesMut::new();
            cmd.encode(&mut dst).expect("encodes");
            let hint = cmd.encoded_len_hint();
            assert!(
                hint >= dst.len(),
                "{serialize_type:?}: hint {hint} < {}",
                dst.len()
            );
            assert!(
                hint <= dst.len() + 512,
                "{serialize_type:?}: hint {hint} far above {}",
                dst.len()
            );
        }
    }

    #[test]
    fn response_copies_opaque_and_serialize_type() {
        let request = RemotingCommand::request(RequestCode::HeartBeat, 42)
            .with_serialize_type(SerializeType::RocketMq)
            .into_oneway();
        assert!(request.is_oneway());
        assert!(!request.is_response());
        let response = RemotingCommand::error_response(&request, ResponseCode::SystemBusy, "busy");
        assert_eq!(response.opaque, 42);
        assert_eq!(response.code, 2);
        assert_eq!(response.flag, FLAG_RESPONSE);
        assert!(response.is_response());
        assert!(!response.is_oneway());
        assert_eq!(response.serialize_type, SerializeType::RocketMq);
        assert_eq!(response.remark.as_deref(), Some("busy"));
    }

    #[test]
    fn serialize_type_bytes() {
        assert_eq!(SerializeType::from_byte(1), Ok(SerializeType::RocketMq));
        assert_eq!(SerializeType::from_byte(0), Ok(SerializeType::Json));
        assert_eq!(
            SerializeType::from_byte(7),
            Err(RemotingError::UnknownSerializeType(7))
        );
    }
}
