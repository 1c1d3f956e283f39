//! Admin requests (mqadmin and the dashboards): topic create/update/delete, GET_ALL_TOPIC_CONFIG,
//! subscription groups, topic and consume statistics, who consumes a topic, runtime info, and
//! message lookups by offset id and by key.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ferrimq_config::topic::{is_system_topic, validate_topic};
use ferrimq_config::{Perm, SubscriptionGroupConfig, TopicConfig, TopicFilterType};
use ferrimq_remoting::body::{
    ConsumeStats, GroupList, JsonBody, KvTable, MessageQueue, OffsetWrapper, TopicOffset,
    TopicStatsTable,
};
use ferrimq_remoting::header::typed::{
    CreateTopicRequestHeader, GetConsumeStatsRequestHeader, QueryMessageRequestHeader,
    QueryMessageResponseHeader, TopicRequestHeader, ViewMessageRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_store::store::MessageStore;
use ferrimq_transport::HandlerResult;

use crate::consumers::ConsumerRegistry;
use crate::response::reject;
use crate::slave::ReplicationView;
use crate::topics::TopicRegistry;

/// Version reported by GET_BROKER_RUNTIME_INFO: the release whose code (409) every response
/// carries as `version`.
pub const BROKER_VERSION_DESC: &str = "V4_9_8";

/// The admin processor and the handles it needs.
#[derive(Debug)]
pub struct AdminProcessor {
    /// The message store.
    pub store: Arc<MessageStore>,
    /// Topic configs.
    pub topics: Arc<TopicRegistry>,
    /// Groups and consumer offsets.
    pub metadata: Arc<Metadata>,
    /// Online consumers.
    pub consumers: Arc<ConsumerRegistry>,
    /// `brokerName` (MessageQueue keys of the statistics).
    pub broker_name: String,
    /// Replication state (runtime info).
    pub replication: Arc<ReplicationView>,
}

fn ok(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success)
}

impl AdminProcessor {
    /// UPDATE_AND_CREATE_TOPIC (17): validated, stored, re-registered.
    pub fn create_topic(&self, request: &RemotingCommand) -> HandlerResult {
        let h: CreateTopicRequestHeader = request.decode_header()?;
        if let Err(err) = validate_topic(&h.topic) {
            return Ok(Some(reject(
                request,
                ResponseCode::SystemError,
                err.to_string(),
            )));
        }
        if is_system_topic(&h.topic) {
            return Ok(Some(reject(
                request,
                ResponseCode::SystemError,
                format!("The topic[{}] is conflict with system topic.", h.topic),
            )));
        }
        let perm = u8::try_from(h.perm).ok().map(Perm).filter(|p| p.is_valid());
        let filter = TopicFilterType::parse(&h.topic_filter_type);
        let (Some(perm), Some(filter)) = (perm, filter) else {
            return Ok(Some(reject(
                request,
                ResponseCode::SystemError,
                format!(
                    "illegal perm {} or topicFilterType {:?}",
                    h.perm, h.topic_filter_type
                ),
            )));
        };
        let queues = |n: i32| u32::try_from(n).ok().filter(|n| *n > 0);
        let (Some(read), Some(write)) = (queues(h.read_queue_nums), queues(h.write_queue_nums))
        else {
            return Ok(Some(reject(
                request,
                ResponseCode::SystemError,
                "queue numbers must be positive",
            )));
        };
        let mut config = TopicConfig::with_queues(h.topic.clone(), write, perm);
        config.read_queue_nums = read;
        config.topic_filter_type = filter;
        config.topic_sys_flag = h
            .topic_sys_flag
            .and_then(|f| u32::try_from(f).ok())
            .unwrap_or(0);
        config.order = h.order;
        self.topics.upsert(config);
        Ok(Some(ok(request)))
    }

    /// DELETE_TOPIC_IN_BROKER (215): the config and the topic's consumer offsets. The topic's
    /// ConsumeQueue files stay until the store expires them.
    pub fn delete_topic(&self, request: &RemotingCommand) -> HandlerResult {
        let h: TopicRequestHeader = request.decode_header()?;
        if is_system_topic(&h.topic) {
            return Ok(Some(reject(
                request,
                ResponseCode::SystemError,
                format!("The topic[{}] is conflict with system topic.", h.topic),
            )));
        }
        self.topics.remove(&h.topic);
        self.metadata.consumer_offsets.remove_topic(&h.topic);
        Ok(Some(ok(request)))
    }

    /// GET_ALL_TOPIC_CONFIG (21).
    pub fn all_topic_config(&self, request: &RemotingCommand) -> HandlerResult {
        Ok(Some(
            ok(request).with_body(self.topics.snapshot().encode()?),
        ))
    }

    /// GET_TOPIC_CONFIG (351, 5.x admin: topicStatus, consumerProgress): body = the topic's
    /// `TopicConfig` JSON (read by the client as `TopicConfigAndQueueMapping`, no mapping detail:
    /// ferrimq has no static topics); TOPIC_NOT_EXIST when this broker does not know the topic.
    pub fn topic_config(&self, request: &RemotingCommand) -> HandlerResult {
        let h: TopicRequestHeader = request.decode_header()?;
        let Some(config) = self.topics.get(&h.topic) else {
            return Ok(Some(reject(
                request,
                ResponseCode::TopicNotExist,
                format!("No topic in this broker. topic: {}", h.topic),
            )));
        };
        let body = ferrimq_fastjson::to_string(&config)
            .map_err(|e| format!("encoding TopicConfig of {}: {e}", h.topic))?;
        Ok(Some(ok(request).with_body(Bytes::from(body))))
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): body = SubscriptionGroupConfig JSON.
    pub fn update_group(&self, request: &RemotingCommand) -> HandlerResult {
        let config: SubscriptionGroupConfig = ferrimq_fastjson::from_slice(&request.body)
            .map_err(|e| format!("bad SubscriptionGroupConfig body: {e}"))?;
        if let Err(err) = ferrimq_config::topic::validate_group(&config.group_name) {
            return Ok(Some(reject(
                request,
                ResponseCode::SystemError,
                err.to_string(),
            )));
        }
        self.metadata.groups.upsert(config);
        self.metadata.groups.persist()?;
        Ok(Some(ok(request)))
    }

    fn queue(&self, topic: &str, queue_id: i32) -> MessageQueue {
        MessageQueue {
            broker_name: self.broker_name.clone(),
            queue_id,
            topic: topic.to_owned(),
        }
    }

    /// Store time of the message before `offset` (0 when there is none).
    fn time_before(&self, topic: &str, queue_id: i32, offset: u64) -> i64 {
        offset
            .checked_sub(1)
            .and_then(|o| self.store.message_store_time(topic, queue_id, o))
            .unwrap_or(0)
    }

    /// GET_TOPIC_STATS_INFO (202).
    pub fn topic_stats(&self, request: &RemotingCommand) -> HandlerResult {
        let h: TopicRequestHeader = request.decode_header()?;
        let Some(config) = self.topics.get(&h.topic) else {
            return Ok(Some(reject(
                request,
                ResponseCode::TopicNotExist,
                format!("topic[{}] not exist", h.topic),
            )));
        };
        let mut offset_table = HashMap::new();
        for queue_id in 0..config.write_queue_nums as i32 {
            let max = self.store.max_offset_in_queue(&h.topic, queue_id);
            let offsets = TopicOffset {
                min_offset: self.store.min_offset_in_queue(&h.topic, queue_id) as i64,
                max_offset: max as i64,
                last_update_timestamp: self.time_before(&h.topic, queue_id, max),
            };
            offset_table.insert(self.queue(&h.topic, queue_id), offsets);
        }
        Ok(Some(
            ok(request).with_body(TopicStatsTable { offset_table }.encode()?),
        ))
    }

    /// GET_CONSUME_STATS (208): per queue the broker offset, the committed offset and the store
    /// time of the last consumed message.
    pub fn consume_stats(&self, request: &RemotingCommand) -> HandlerResult {
        let h: GetConsumeStatsRequestHeader = request.decode_header()?;
        let group = &h.consumer_group;
        let topics = match h.topic.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(topic) => vec![topic.to_owned()],
            None => self.metadata.consumer_offsets.topics_of_group(group),
        };
        let mut offset_table = HashMap::new();
        for topic in topics {
            let Some(config) = self.topics.get(&topic) else {
                continue;
            };
            for queue_id in 0..config.read_queue_nums as i32 {
                let committed = self
                    .metadata
                    .consumer_offsets
                    .query(&topic, group, queue_id)
                    .unwrap_or(0)
                    .max(0);
                let wrapper = OffsetWrapper {
                    broker_offset: self.store.max_offset_in_queue(&topic, queue_id) as i64,
                    consumer_offset: committed,
                    last_timestamp: self.time_before(&topic, queue_id, committed as u64),
                    // Java reports max(committed, pull offset) and its pull offset falls back to the
                    // committed one; ferrimq keeps no separate pull offsets. Leaving it out made 5.x
                    // consumerProgress print a negative "#Inflight".
                    pull_offset: Some(committed),
                };
                offset_table.insert(self.queue(&topic, queue_id), wrapper);
            }
        }
        let stats = ConsumeStats {
            consume_tps: 0.0,
            offset_table,
        };
        Ok(Some(ok(request).with_body(stats.encode()?)))
    }

    /// QUERY_TOPIC_CONSUME_BY_WHO (300): online subscribers and groups with offsets.
    pub fn consumed_by(&self, request: &RemotingCommand) -> HandlerResult {
        let h: TopicRequestHeader = request.decode_header()?;
        let mut groups: std::collections::BTreeSet<String> = self
            .consumers
            .groups_of_topic(&h.topic)
            .into_iter()
            .collect();
        groups.extend(self.metadata.consumer_offsets.groups_of_topic(&h.topic));
        Ok(Some(
            ok(request).with_body(GroupList { group_list: groups }.encode()?),
        ))
    }

    /// GET_BROKER_RUNTIME_INFO (28). Throughput and daily counters are not measured yet and
    /// are reported as zero so tools that parse every key keep working.
    pub fn runtime_info(&self, request: &RemotingCommand) -> HandlerResult {
        let mut table = BTreeMap::new();
        let mut put = |k: &str, v: String| table.insert(k.to_owned(), v);
        put("brokerVersionDesc", BROKER_VERSION_DESC.to_owned());
        put(
            "brokerVersion",
            ferrimq_remoting::command::DEFAULT_VERSION.to_string(),
        );
        put(
            "commitLogMinOffset",
            self.store.commit_log_min_offset().to_string(),
        );
        put(
            "commitLogMaxOffset",
            self.store.commit_log_max_offset().to_string(),
        );
        let behind = self
            .store
            .commit_log_max_offset()
            .saturating_sub(self.store.dispatched_offset());
        put("dispatchBehindBytes", behind.to_string());
        for key in [
            "putTps",
            "getTransferedTps",
            "getFoundTps",
            "getMissTps",
            "sendThreadPoolQueueHeadWaitTimeMills",
            "pullThreadPoolQueueHeadWaitTimeMills",
        ] {
            put(key, "0.0 0.0 0.0".to_owned());
        }
        for key in [
            "msgPutTotalTodayNow",
            "msgGetTotalTodayNow",
            "msgPutTotalTodayMorning",
            "msgGetTotalTodayMorning",
            "msgPutTotalYesterdayMorning",
            "msgGetTotalYesterdayMorning",
            "pageCacheLockTimeMills",
            "sendThreadPoolQueueSize",
            "pullThreadPoolQueueSize",
            "earliestMessageTimeStamp",
        ] {
            put(key, "0".to_owned());
        }
        put("commitLogDiskRatio", "0.0".to_owned());
        let put_where = self.store.commit_log_max_offset();
        for (key, value) in self.replication.runtime_entries(put_where) {
            put(key, value);
        }
        Ok(Some(ok(request).with_body(KvTable { table }.encode()?)))
    }

    /// VIEW_MESSAGE_BY_ID (33): the record at a CommitLog offset (decoded from the offsetMsgId
    /// by the client).
    pub fn view_message(&self, request: &RemotingCommand) -> HandlerResult {
        let h: ViewMessageRequestHeader = request.decode_header()?;
        let found = u64::try_from(h.offset)
            .ok()
            .map(|o| self.store.get_message_by_offset(o))
            .transpose();
        match found {
            Ok(Some(Some(record))) => Ok(Some(ok(request).with_body(record.bytes))),
            Ok(_) => Ok(Some(reject(
                request,
                ResponseCode::SystemError,
                format!("can not find message by the offset, {}", h.offset),
            ))),
            Err(err) => Ok(Some(crate::response::store_error_response(request, &err))),
        }
    }

    /// QUERY_MESSAGE (12): by KEYS, or by UNIQ_KEY with `_UNIQUE_KEY_QUERY=true`.
    pub fn query_message(&self, request: &RemotingCommand) -> HandlerResult {
        let h: QueryMessageRequestHeader = request.decode_header()?;
        let (begin, end) = (h.begin_timestamp, h.end_timestamp);
        let found = if h.unique_key_query == Some(true) {
            self.store.query_by_unique_key(&h.topic, &h.key, begin, end)
        } else {
            let max = usize::try_from(h.max_num).unwrap_or(0).max(1);
            self.store.query_message(&h.topic, &h.key, max, begin, end)
        };
        if found.messages.is_empty() {
            return Ok(Some(reject(
                request,
                ResponseCode::QueryNotFound,
                "can not find message, maybe time range not correct",
            )));
        }
        let header = QueryMessageResponseHeader {
            index_last_update_timestamp: found.index_last_update_timestamp,
            index_last_update_phyoffset: found.index_last_update_phy_offset,
        };
        let mut body = BytesMut::new();
        found
            .messages
            .iter()
            .for_each(|m| body.extend_from_slice(m));
        Ok(Some(
            ok(request)
                .with_header(&header)
                .with_body(Bytes::from(body)),
        ))
    }
}
