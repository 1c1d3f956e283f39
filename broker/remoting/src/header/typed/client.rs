//! Client management headers: UNREGISTER_CLIENT (35), GET_CONSUMER_LIST_BY_GROUP (38),
//! NOTIFY_CONSUMER_IDS_CHANGED (40), CONSUMER_SEND_MSG_BACK (36). HEART_BEAT has no header fields
//! ([`super::EmptyHeader`]).

use super::command_header;

command_header! {
    /// UNREGISTER_CLIENT request.
    pub struct UnregisterClientRequestHeader {
        /// Client id (the Java field is `clientID`, capital ID).
        pub client_id: String => "clientID",
        /// Producer group leaving, if any.
        pub producer_group: Option<String> => "producerGroup",
        /// Consumer group leaving, if any.
        pub consumer_group: Option<String> => "consumerGroup",
    }
}

command_header! {
    /// Request naming a consumer group (GET_CONSUMER_LIST_BY_GROUP, NOTIFY_CONSUMER_IDS_CHANGED,
    /// GET_CONSUMER_CONNECTION_LIST).
    pub struct ConsumerGroupRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
    }
}

/// GET_CONSUMER_LIST_BY_GROUP request header.
pub type GetConsumerListByGroupRequestHeader = ConsumerGroupRequestHeader;
/// NOTIFY_CONSUMER_IDS_CHANGED request header.
pub type NotifyConsumerIdsChangedRequestHeader = ConsumerGroupRequestHeader;

command_header! {
    /// CONSUMER_SEND_MSG_BACK request: a consumer hands a failed message back for retry.
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log offset of the failed message.
        pub offset: i64 => "offset",
        /// Consumer group.
        pub group: String => "group",
        /// Delay level: 0 = broker decides, -1 = straight to the DLQ.
        pub delay_level: i32 => "delayLevel",
        /// Message id of the original message.
        pub origin_msg_id: Option<String> => "originMsgId",
        /// Topic of the original message.
        pub origin_topic: Option<String> => "originTopic",
        /// Unit mode (Java primitive, absent means false).
        pub unit_mode: Option<bool> => "unitMode",
        /// Max reconsume times of the group.
        pub max_reconsume_times: Option<i32> => "maxReconsumeTimes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::RemotingCommand;

    #[test]
    fn unregister_uses_capital_id() {
        let header = UnregisterClientRequestHeader {
            client_id: "10.0.0.1@123".into(),
            consumer_group: Some("CG".into()),
            producer_group: None,
        };
        let cmd = RemotingCommand::request(35, 1).with_header(&header);
        assert_eq!(
            cmd.ext_fields.get("clientID").map(String::as_str),
            Some("10.0.0.1@123")
        );
        assert!(!cmd.ext_fields.contains_key("producerGroup"));
        assert_eq!(cmd.decode_header(), Ok(header));
    }
}
