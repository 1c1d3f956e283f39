//! Admin headers: UPDATE_AND_CREATE_TOPIC (17), DELETE_TOPIC_IN_BROKER (215),
//! GET_CONSUME_STATS (208), GET_TOPIC_STATS_INFO (202), connection lists (203, 204),
//! DELETE_SUBSCRIPTIONGROUP (207), QUERY_TOPIC_CONSUME_BY_WHO (300), GET_CONSUMER_RUNNING_INFO
//! (307). GET_BROKER_RUNTIME_INFO (28) has no fields ([`super::EmptyHeader`]).

use super::command_header;

command_header! {
    /// UPDATE_AND_CREATE_TOPIC request.
    pub struct CreateTopicRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// Template topic ("TBW102").
        pub default_topic: String => "defaultTopic",
        /// Readable queues.
        pub read_queue_nums: i32 => "readQueueNums",
        /// Writable queues.
        pub write_queue_nums: i32 => "writeQueueNums",
        /// PermName bits.
        pub perm: i32 => "perm",
        /// "SINGLE_TAG" or "MULTI_TAG".
        pub topic_filter_type: String => "topicFilterType",
        /// Topic sys flag.
        pub topic_sys_flag: Option<i32> => "topicSysFlag",
        /// Ordered topic.
        pub order: bool => "order",
        /// 5.x: attributes, e.g. "+message.type=NORMAL".
        pub attributes: Option<String> => "attributes",
        /// 5.x: force the update.
        pub force: Option<bool> => "force",
    }
}

command_header! {
    /// Request naming one topic (DELETE_TOPIC_IN_BROKER, GET_TOPIC_STATS_INFO,
    /// QUERY_TOPIC_CONSUME_BY_WHO).
    pub struct TopicRequestHeader {
        /// Topic.
        pub topic: String => "topic",
    }
}

/// DELETE_TOPIC_IN_BROKER request header.
pub type DeleteTopicRequestHeader = TopicRequestHeader;
/// GET_TOPIC_STATS_INFO request header.
pub type GetTopicStatsInfoRequestHeader = TopicRequestHeader;
/// QUERY_TOPIC_CONSUME_BY_WHO request header.
pub type QueryTopicConsumeByWhoRequestHeader = TopicRequestHeader;
/// GET_CONSUMER_CONNECTION_LIST request header.
pub type GetConsumerConnectionListRequestHeader = super::ConsumerGroupRequestHeader;

command_header! {
    /// GET_CONSUME_STATS request.
    pub struct GetConsumeStatsRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
        /// Topic; absent or blank means every topic with an offset for the group.
        pub topic: Option<String> => "topic",
    }
}

command_header! {
    /// GET_PRODUCER_CONNECTION_LIST request.
    pub struct GetProducerConnectionListRequestHeader {
        /// Producer group.
        pub producer_group: String => "producerGroup",
    }
}

command_header! {
    /// DELETE_SUBSCRIPTIONGROUP request.
    pub struct DeleteSubscriptionGroupRequestHeader {
        /// Group name.
        pub group_name: String => "groupName",
        /// 5.x: also delete the group's offsets.
        pub clean_offset: Option<bool> => "cleanOffset",
    }
}

command_header! {
    /// GET_CONSUMER_RUNNING_INFO request (forwarded by the broker to the client).
    pub struct GetConsumerRunningInfoRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
        /// Client id.
        pub client_id: String => "clientId",
        /// Include a thread dump.
        pub jstack_enable: Option<bool> => "jstackEnable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::RemotingCommand;
    use crate::error::RemotingError;

    #[test]
    fn create_topic_requires_order_and_parses_numbers() {
        let cmd = RemotingCommand::request(17, 1)
            .with_ext_field("topic", "T")
            .with_ext_field("defaultTopic", "TBW102")
            .with_ext_field("readQueueNums", "8")
            .with_ext_field("writeQueueNums", "8")
            .with_ext_field("perm", "6")
            .with_ext_field("topicFilterType", "SINGLE_TAG")
            .with_ext_field("topicSysFlag", "0");
        assert_eq!(
            cmd.decode_header::<CreateTopicRequestHeader>(),
            Err(RemotingError::MissingField { field: "order" })
        );
        let header: CreateTopicRequestHeader = cmd
            .with_ext_field("order", "false")
            .decode_header()
            .expect("complete");
        assert_eq!(
            (header.read_queue_nums, header.perm, header.order),
            (8, 6, false)
        );
        assert_eq!(header.topic_sys_flag, Some(0));
    }
}
