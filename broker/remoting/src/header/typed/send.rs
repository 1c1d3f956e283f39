//! SEND_MESSAGE (10, long field names), SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE (310 / 320, the
//! compact `a`..`n` keys) and their response header.
//!
//! Processors work on [`SendMessageRequestHeader`]; [`SendMessageRequestHeader::from_command_fields`]
//! picks the right decoding by request code, as Java's `parseRequestHeader` does.

use super::{CommandHeader, command_header};
use crate::codes::RequestCode;
use crate::command::ExtFields;
use crate::error::Result;

command_header! {
    /// SEND_MESSAGE request header (V1, Java field names).
    pub struct SendMessageRequestHeader {
        /// Producer group.
        pub producer_group: String => "producerGroup",
        /// Target topic.
        pub topic: String => "topic",
        /// Topic to copy when auto-creating (`TBW102`).
        pub default_topic: String => "defaultTopic",
        /// Queue count for an auto-created topic.
        pub default_topic_queue_nums: i32 => "defaultTopicQueueNums",
        /// Target queue; negative lets the broker pick.
        pub queue_id: i32 => "queueId",
        /// MessageSysFlag bits.
        pub sys_flag: i32 => "sysFlag",
        /// Producer timestamp, ms.
        pub born_timestamp: i64 => "bornTimestamp",
        /// User flag.
        pub flag: i32 => "flag",
        /// Properties string (char 1 / char 2 separators).
        pub properties: Option<String> => "properties",
        /// Reconsume count (retry topics).
        pub reconsume_times: Option<i32> => "reconsumeTimes",
        /// Unit mode.
        pub unit_mode: Option<bool> => "unitMode",
        /// True for SEND_BATCH_MESSAGE.
        pub batch: Option<bool> => "batch",
        /// Max reconsume times (retry topics).
        pub max_reconsume_times: Option<i32> => "maxReconsumeTimes",
        /// Target broker name (5.x `RpcRequestHeader.bname`).
        pub broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE request header: one-letter keys for speed.
    pub struct SendMessageRequestHeaderV2 {
        /// producerGroup.
        pub a: String => "a",
        /// topic.
        pub b: String => "b",
        /// defaultTopic.
        pub c: String => "c",
        /// defaultTopicQueueNums.
        pub d: i32 => "d",
        /// queueId.
        pub e: i32 => "e",
        /// sysFlag.
        pub f: i32 => "f",
        /// bornTimestamp.
        pub g: i64 => "g",
        /// flag.
        pub h: i32 => "h",
        /// properties.
        pub i: Option<String> => "i",
        /// reconsumeTimes.
        pub j: Option<i32> => "j",
        /// unitMode.
        pub k: Option<bool> => "k",
        /// maxReconsumeTimes.
        pub l: Option<i32> => "l",
        /// batch.
        pub m: Option<bool> => "m",
        /// brokerName.
        pub n: Option<String> => "n",
    }
}

command_header! {
    /// Response header of every send code (success codes 0, 10, 11, 12 all carry it).
    pub struct SendMessageResponseHeader {
        /// offsetMsgId of the stored message (comma-joined for a batch).
        pub msg_id: String => "msgId",
        /// Queue the message went to.
        pub queue_id: i32 => "queueId",
        /// Consume-queue offset of the (first) message.
        pub queue_offset: i64 => "queueOffset",
        /// Transaction id, for half messages.
        pub transaction_id: Option<String> => "transactionId",
        /// 5.x: unique id of the batch.
        pub batch_uniq_id: Option<String> => "batchUniqId",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v2.a,
            topic: v2.b,
            default_topic: v2.c,
            default_topic_queue_nums: v2.d,
            queue_id: v2.e,
            sys_flag: v2.f,
            born_timestamp: v2.g,
            flag: v2.h,
            properties: v2.i,
            reconsume_times: v2.j,
            unit_mode: v2.k,
            max_reconsume_times: v2.l,
            batch: v2.m,
            broker_name: v2.n,
        }
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(v1: SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: v1.producer_group,
            b: v1.topic,
            c: v1.default_topic,
            d: v1.default_topic_queue_nums,
            e: v1.queue_id,
            f: v1.sys_flag,
            g: v1.born_timestamp,
            h: v1.flag,
            i: v1.properties,
            j: v1.reconsume_times,
            k: v1.unit_mode,
            l: v1.max_reconsume_times,
            m: v1.batch,
            n: v1.broker_name,
        }
    }
}

impl SendMessageRequestHeader {
    /// Decodes the header of a send request: V2 keys for codes 310 and 320, V1 names otherwise.
    pub fn from_command_fields(code: i32, fields: &ExtFields) -> Result<Self> {
        let compact = code == RequestCode::SendMessageV2.code()
            || code == RequestCode::SendBatchMessage.code()
            || code == RequestCode::SendReplyMessageV2.code();
        if compact {
            SendMessageRequestHeaderV2::read_fields(fields).map(Into::into)
        } else {
            SendMessageRequestHeader::read_fields(fields)
        }
    }

    /// `reconsumeTimes`, 0 when absent (Java getter semantics).
    pub fn reconsume_times_or_zero(&self) -> i32 {
        self.reconsume_times.unwrap_or(0)
    }

    /// `batch`, false when absent (Java getter semantics).
    pub fn is_batch(&self) -> bool {
        self.batch.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RemotingError;

    fn sample_v1() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "PG".into(),
            topic: "TopicTest".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 3,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_123,
            flag: 0,
            properties: Some("KEYS\u{1}k1\u{2}WAIT\u{1}true".into()),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            batch: None,
            max_reconsume_times: None,
            broker_name: Some("broker-a".into()),
        }
    }

    #[test]
    fn v1_and_v2_convert_both_ways() {
        let v1 = sample_v1();
        let v2 = SendMessageRequestHeaderV2::from(v1.clone());
        assert_eq!(
            (v2.a.as_str(), v2.e, v2.n.as_deref()),
            ("PG", 3, Some("broker-a"))
        );
        assert_eq!(SendMessageRequestHeader::from(v2), v1);
    }

    #[test]
    fn decodes_by_request_code() {
        let mut compact = ExtFields::new();
        SendMessageRequestHeaderV2::from(sample_v1()).write_fields(&mut compact);
        assert_eq!(compact.get("b").map(String::as_str), Some("TopicTest"));
        assert_eq!(compact.get("g").map(String::as_str), Some("1700000000123"));
        assert_eq!(
            SendMessageRequestHeader::from_command_fields(310, &compact),
            Ok(sample_v1())
        );
        assert_eq!(
            SendMessageRequestHeader::from_command_fields(320, &compact),
            Ok(sample_v1())
        );
        assert_eq!(
            SendMessageRequestHeader::from_command_fields(10, &compact),
            Err(RemotingError::MissingField {
                field: "producerGroup"
            })
        );
        let mut long = ExtFields::new();
        sample_v1().write_fields(&mut long);
        assert_eq!(
            long.get("bornTimestamp").map(String::as_str),
            Some("1700000000123")
        );
        assert_eq!(
            SendMessageRequestHeader::from_command_fields(10, &long),
            Ok(sample_v1())
        );
    }
}
