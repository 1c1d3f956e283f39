//! Subscription group configuration as RocketMQ persists it (`subscriptionGroup.json`) and
//! accepts it (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP body), with the exact Java JSON names, plus
//! the built-in producer and consumer group names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Default producer group.
pub const DEFAULT_PRODUCER_GROUP: &str = "DEFAULT_PRODUCER";
/// Default consumer group.
pub const DEFAULT_CONSUMER_GROUP: &str = "DEFAULT_CONSUMER";
/// Group of the admin tools.
pub const TOOLS_CONSUMER_GROUP: &str = "TOOLS_CONSUMER";
/// Group that moves due delayed messages.
pub const SCHEDULE_CONSUMER_GROUP: &str = "SCHEDULE_CONSUMER";
/// Filter server group.
pub const FILTERSRV_CONSUMER_GROUP: &str = "FILTERSRV_CONSUMER";
/// Monitor group.
pub const MONITOR_CONSUMER_GROUP: &str = "__MONITOR_CONSUMER";
/// Producer group clients use internally (send-back).
pub const CLIENT_INNER_PRODUCER_GROUP: &str = "CLIENT_INNER_PRODUCER";
/// Self-test producer group.
pub const SELF_TEST_PRODUCER_GROUP: &str = "SELF_TEST_P_GROUP";
/// Self-test consumer group.
pub const SELF_TEST_CONSUMER_GROUP: &str = "SELF_TEST_C_GROUP";
/// Transaction system group.
pub const CID_RMQ_SYS_TRANS: &str = "CID_RMQ_SYS_TRANS";
/// Prefix of system groups.
pub const CID_RMQ_SYS_PREFIX: &str = "CID_RMQ_SYS_";

/// Groups the broker creates at start-up (TopicConfigManager/SubscriptionGroupManager do the same).
pub const SYSTEM_GROUPS: &[&str] = &[
    TOOLS_CONSUMER_GROUP,
    FILTERSRV_CONSUMER_GROUP,
    SELF_TEST_CONSUMER_GROUP,
    ONS_HTTP_PROXY_GROUP,
    CID_ONSAPI_PULL_GROUP,
    CID_ONSAPI_PERMISSION_GROUP,
    CID_ONSAPI_OWNER_GROUP,
    CID_RMQ_SYS_TRANS,
];

/// ONS HTTP proxy group.
pub const ONS_HTTP_PROXY_GROUP: &str = "CID_ONS-HTTP-PROXY";
/// ONS API pull group.
pub const CID_ONSAPI_PULL_GROUP: &str = "CID_ONSAPI_PULL";
/// ONS API permission group.
pub const CID_ONSAPI_PERMISSION_GROUP: &str = "CID_ONSAPI_PERMISSION";
/// ONS API owner group.
pub const CID_ONSAPI_OWNER_GROUP: &str = "CID_ONSAPI_OWNER";

/// True for a built-in group or one starting with `CID_RMQ_SYS_`.
pub fn is_system_group(group: &str) -> bool {
    SYSTEM_GROUPS.contains(&group) || group.starts_with(CID_RMQ_SYS_PREFIX)
}

/// One consumer group's settings (`SubscriptionGroupConfig`). Missing JSON fields take Java's
/// defaults; 5.x-only structures this broker does not interpret (`groupRetryPolicy`,
/// `subscriptionDataSet`) are kept verbatim so a round trip loses nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    /// Group name.
    pub group_name: String,
    /// The group may consume.
    pub consume_enable: bool,
    /// A new group starts from the minimum offset when the queue is young.
    pub consume_from_min_enable: bool,
    /// Broadcast consumption allowed.
    pub consume_broadcast_enable: bool,
    /// 5.x: orderly consumption.
    pub consume_message_orderly: bool,
    /// Queues of `%RETRY%<group>`.
    pub retry_queue_nums: u32,
    /// Deliveries before a message goes to `%DLQ%<group>`.
    pub retry_max_times: i32,
    /// 5.x retry policy, kept as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_retry_policy: Option<serde_json::Value>,
    /// Broker id consumers should read from (0 = master).
    pub broker_id: i64,
    /// Broker id to suggest when consumption falls behind.
    pub which_broker_when_consume_slowly: i64,
    /// Send NOTIFY_CONSUMER_IDS_CHANGED on membership changes.
    pub notify_consumer_ids_changed_enable: bool,
    /// 5.x group flags.
    pub group_sys_flag: i32,
    /// 5.x consume timeout in minutes.
    pub consume_timeout_minute: u32,
    /// 5.x static subscriptions, kept as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_data_set: Option<serde_json::Value>,
    /// 5.x attributes.
    pub attributes: BTreeMap<String, String>,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        Self::new("")
    }
}

impl SubscriptionGroupConfig {
    /// A group with Java's defaults (retryQueueNums 1, retryMaxTimes 16, ...).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            group_name: name.into(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: 16,
            group_retry_policy: None,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            group_sys_flag: 0,
            consume_timeout_minute: 15,
            subscription_data_set: None,
            attributes: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_49_json_parses_with_defaults_for_missing_fields() {
        let java = r#"{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":false,"consumeFromMinEnable":true,"groupName":"g1","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":3,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}"#;
        let g: SubscriptionGroupConfig = serde_json::from_str(java).unwrap();
        assert_eq!(g.group_name, "g1");
        assert!(!g.consume_enable);
        assert_eq!(g.retry_max_times, 3);
        assert_eq!(g.consume_timeout_minute, 15);
        assert_eq!(g.group_retry_policy, None);
    }

    #[test]
    fn java_5x_structures_survive_a_round_trip() {
        let java = r#"{"groupName":"g","groupRetryPolicy":{"type":"CUSTOMIZED"},"subscriptionDataSet":[{"topic":"T","expression":"*"}],"attributes":{"a":"b"}}"#;
        let g: SubscriptionGroupConfig = serde_json::from_str(java).unwrap();
        let back: serde_json::Value = serde_json::to_value(&g).unwrap();
        assert_eq!(back["groupRetryPolicy"]["type"], "CUSTOMIZED");
        assert_eq!(back["subscriptionDataSet"][0]["expression"], "*");
        assert_eq!(back["attributes"]["a"], "b");
        assert_eq!(back["retryMaxTimes"], 16);
    }

    #[test]
    fn defaults_render_with_java_names() {
        let json = serde_json::to_string(&SubscriptionGroupConfig::new("g")).unwrap();
        assert_eq!(
            json,
            r#"{"groupName":"g","consumeEnable":true,"consumeFromMinEnable":true,"consumeBroadcastEnable":true,"consumeMessageOrderly":false,"retryQueueNums":1,"retryMaxTimes":16,"brokerId":0,"whichBrokerWhenConsumeSlowly":1,"notifyConsumerIdsChangedEnable":true,"groupSysFlag":0,"consumeTimeoutMinute":15,"attributes":{}}"#
        );
    }

    #[test]
    fn system_groups() {
        assert!(is_system_group("TOOLS_CONSUMER"));
        assert!(is_system_group("CID_RMQ_SYS_ANY"));
        assert!(!is_system_group("my_group"));
    }
}
