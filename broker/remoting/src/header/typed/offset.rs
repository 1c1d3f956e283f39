//! Consumer offset and queue offset headers: QUERY/UPDATE_CONSUMER_OFFSET (14, 15),
//! GET_MAX/MIN_OFFSET (30, 31), GET_EARLIEST_MSG_STORETIME (32), SEARCH_OFFSET_BY_TIMESTAMP (29).

use super::command_header;

command_header! {
    /// QUERY_CONSUMER_OFFSET request.
    pub struct QueryConsumerOffsetRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// 5.x: answer 0 instead of QUERY_NOT_FOUND.
        pub set_zero_if_not_found: Option<bool> => "setZeroIfNotFound",
    }
}

command_header! {
    /// Response carrying one offset (QUERY_CONSUMER_OFFSET, GET_MAX/MIN_OFFSET, SEARCH_OFFSET).
    pub struct OffsetResponseHeader {
        /// The offset.
        pub offset: i64 => "offset",
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET request (usually oneway).
    pub struct UpdateConsumerOffsetRequestHeader {
        /// Consumer group.
        pub consumer_group: String => "consumerGroup",
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// Offset to store.
        pub commit_offset: i64 => "commitOffset",
    }
}

command_header! {
    /// GET_MAX_OFFSET request.
    pub struct GetMaxOffsetRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// 5.x: only committed (replicated) messages; default true.
        pub committed: Option<bool> => "committed",
    }
}

command_header! {
    /// GET_MIN_OFFSET and GET_EARLIEST_MSG_STORETIME request: a topic queue.
    pub struct TopicQueueRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME response.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        /// Store timestamp of the earliest message, ms.
        pub timestamp: i64 => "timestamp",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP request.
    pub struct SearchOffsetRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// Queue id.
        pub queue_id: i32 => "queueId",
        /// Store timestamp to look for, ms.
        pub timestamp: i64 => "timestamp",
        /// 5.x: "LOWER" (default) or "UPPER".
        pub boundary_type: Option<String> => "boundaryType",
    }
}

/// GET_MIN_OFFSET request header (same fields as [`TopicQueueRequestHeader`]).
pub type GetMinOffsetRequestHeader = TopicQueueRequestHeader;
/// GET_EARLIEST_MSG_STORETIME request header (same fields as [`TopicQueueRequestHeader`]).
pub type GetEarliestMsgStoretimeRequestHeader = TopicQueueRequestHeader;
