//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361) headers.

use super::command_header;

command_header! {
    /// Pull request header.
    pub struct PullMessageRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// First consume-queue offset wanted.
        pub queue_offset: i64 => "queueOffset",
        /// Maximum number of messages.
        pub max_msg_nums: i32 => "maxMsgNums",
        /// PullSysFlag bits (commit offset, suspend, subscription, class filter, lite pull).
        pub sys_flag: i32 => "sysFlag",
        /// Offset to commit when the COMMIT_OFFSET bit is set.
        pub commit_offset: i64 => "commitOffset",
        /// Long-polling hold time, ms.
        pub suspend_timeout_millis: i64 => "suspendTimeoutMillis",
        /// Subscription expression when the SUBSCRIPTION bit is set.
        pub subscription: Option<String> => "subscription",
        /// Subscription version (ms timestamp).
        pub sub_version: i64 => "subVersion",
        /// "TAG" or "SQL92".
        pub expression_type: Option<String> => "expressionType",
        /// 5.x: byte budget of the response.
        pub max_msg_bytes: Option<i32> => "maxMsgBytes",
        /// 5.x: request source.
        pub request_source: Option<i32> => "requestSource",
        /// 5.x: proxy client id (the Java field name has this typo).
        pub proxy_forward_client_id: Option<String> => "proxyFrowardClientId",
    }
}

command_header! {
    /// Pull response header; every field is unboxed by Java clients on codes 0/19/20/21.
    pub struct PullMessageResponseHeader {
        /// Broker the consumer should pull from next (0 = master).
        pub suggest_which_broker_id: i64 => "suggestWhichBrokerId",
        /// Offset to pull from next.
        pub next_begin_offset: i64 => "nextBeginOffset",
        /// Queue minimum offset.
        pub min_offset: i64 => "minOffset",
        /// Queue maximum offset (next to be written).
        pub max_offset: i64 => "maxOffset",
        /// 5.x: offset delta.
        pub offset_delta: Option<i64> => "offsetDelta",
        /// 5.x: topic sys flag.
        pub topic_sys_flag: Option<i32> => "topicSysFlag",
        /// 5.x: group sys flag.
        pub group_sys_flag: Option<i32> => "groupSysFlag",
        /// 5.x: forbidden type.
        pub forbidden_type: Option<i32> => "forbiddenType",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::RemotingCommand;
    use crate::error::RemotingError;

    #[test]
    fn pull_request_round_trip_and_required_fields() {
        let header = PullMessageRequestHeader {
            consumer_group: "CG".into(),
            topic: "T".into(),
            queue_id: 1,
            queue_offset: 1 << 40,
            max_msg_nums: 32,
            sys_flag: 0b11,
            commit_offset: 7,
            suspend_timeout_millis: 15_000,
            sub_version: 1_700_000_000_000,
            proxy_forward_client_id: Some("p".into()),
            ..Default::default()
        };
        let cmd = RemotingCommand::request(11, 1).with_header(&header);
        assert_eq!(
            cmd.ext_fields
                .get("proxyFrowardClientId")
                .map(String::as_str),
            Some("p")
        );
        assert_eq!(cmd.ext_fields.len(), 10);
        assert_eq!(cmd.decode_header::<PullMessageRequestHeader>(), Ok(header));
        let mut missing = cmd.clone();
        missing.ext_fields.remove("subVersion");
        assert_eq!(
            missing.decode_header::<PullMessageRequestHeader>(),
            Err(RemotingError::MissingField {
                field: "subVersion"
            })
        );
    }
}
