//! QUERY_MESSAGE (12) and VIEW_MESSAGE_BY_ID (33) headers.

use super::command_header;

command_header! {
    /// QUERY_MESSAGE request: look messages up by key in the index.
    pub struct QueryMessageRequestHeader {
        /// Topic.
        pub topic: String => "topic",
        /// Message key, or UNIQ_KEY when `unique_key_query` is true.
        pub key: String => "key",
        /// Maximum number of messages.
        pub max_num: i32 => "maxNum",
        /// Earliest store time, ms.
        pub begin_timestamp: i64 => "beginTimestamp",
        /// Latest store time, ms.
        pub end_timestamp: i64 => "endTimestamp",
        /// Extra extFields entry set by clients: the key is a UNIQ_KEY.
        pub unique_key_query: Option<bool> => "_UNIQUE_KEY_QUERY",
    }
}

command_header! {
    /// QUERY_MESSAGE response.
    pub struct QueryMessageResponseHeader {
        /// Last index update time, ms.
        pub index_last_update_timestamp: i64 => "indexLastUpdateTimestamp",
        /// Last indexed commit-log offset.
        pub index_last_update_phyoffset: i64 => "indexLastUpdatePhyoffset",
    }
}

command_header! {
    /// VIEW_MESSAGE_BY_ID request.
    pub struct ViewMessageRequestHeader {
        /// 5.x: topic.
        pub topic: Option<String> => "topic",
        /// Commit-log offset decoded from the offsetMsgId.
        pub offset: i64 => "offset",
    }
}
