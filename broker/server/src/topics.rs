//! The broker's topic table on top of `topics.json`: the system topics created at start-up,
//! auto-creation from TBW102 on send, `%RETRY%` topics created on heartbeat, and the signal
//! that makes the registration task re-register after any change.

use std::sync::Arc;

use ferrimq_config::topic::{
    AUTO_CREATE_TOPIC_KEY_TOPIC, OFFSET_MOVED_EVENT, SELF_TEST_TOPIC, reply_topic,
};
use ferrimq_config::{BrokerSettings, Perm, TopicConfig};
use ferrimq_remoting::body::{DataVersion, TopicConfigSerializeWrapper};
use ferrimq_store::metadata::TopicTable;
use tokio::sync::Notify;

/// Queue count of `%RETRY%` (`retryQueueNums`) and `%DLQ%` (`DLQ_NUMS_PER_GROUP`) topics.
const GROUP_TOPIC_QUEUE_NUMS: u32 = 1;

/// Topic configs plus the "changed, re-register" signal.
#[derive(Debug)]
pub struct TopicRegistry {
    metadata: Arc<ferrimq_store::metadata::Metadata>,
    auto_create: bool,
    broker_permission: Perm,
    changed: Notify,
}

impl TopicRegistry {
    /// Wraps the metadata tables; `auto_create` is `autoCreateTopicEnable`.
    pub fn new(
        metadata: Arc<ferrimq_store::metadata::Metadata>,
        settings: &BrokerSettings,
    ) -> Self {
        TopicRegistry {
            metadata,
            auto_create: settings.auto_create_topic_enable,
            broker_permission: settings.broker_permission,
            changed: Notify::new(),
        }
    }

    fn table(&self) -> &TopicTable {
        &self.metadata.topics
    }

    /// Creates the system topics Java's `TopicConfigManager` creates at start-up (missing ones
    /// only) and persists: SELF_TEST_TOPIC, TBW102 (perm 7, with autoCreateTopicEnable), the
    /// cluster-name and broker-name topics (INHERIT, plus read/write when enabled),
    /// OFFSET_MOVED_EVENT, `<cluster>_REPLY_TOPIC` and the trace topic when enabled.
    pub fn create_system_topics(
        &self,
        settings: &BrokerSettings,
    ) -> ferrimq_store::metadata::error::Result<()> {
        let rw_if = |enabled: bool| {
            Perm(Perm::INHERIT | if enabled { Perm::READ | Perm::WRITE } else { 0 })
        };
        let cluster = &settings.broker_cluster_name;
        let mut topics = vec![TopicConfig::with_queues(
            SELF_TEST_TOPIC,
            1,
            Perm::READ_WRITE,
        )];
        if settings.auto_create_topic_enable {
            let queues = settings.default_topic_queue_nums;
            topics.push(TopicConfig::with_queues(
                AUTO_CREATE_TOPIC_KEY_TOPIC,
                queues,
                Perm::ALL,
            ));
        }
        let mut cluster_topic = TopicConfig::new(cluster.clone());
        cluster_topic.perm = rw_if(settings.cluster_topic_enable);
        topics.push(cluster_topic);
        let broker_topic = rw_if(settings.broker_topic_enable);
        topics.push(TopicConfig::with_queues(
            settings.broker_name.clone(),
            1,
            broker_topic,
        ));
        topics.push(TopicConfig::with_queues(
            OFFSET_MOVED_EVENT,
            1,
            Perm::READ_WRITE,
        ));
        topics.push(TopicConfig::with_queues(
            reply_topic(cluster),
            1,
            Perm::READ_WRITE,
        ));
        if settings.trace_topic_enable {
            let name = settings.msg_trace_topic_name.clone();
            topics.push(TopicConfig::with_queues(name, 1, Perm::READ_WRITE));
        }
        for config in topics {
            self.insert_missing(config);
        }
        self.table().persist()
    }

    fn insert_missing(&self, config: TopicConfig) {
        if !self.table().contains(&config.topic_name) {
            self.table().upsert(config);
        }
    }

    /// The config of `topic`.
    pub fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.table().get(topic)
    }

    /// The config of `topic`, auto-created from `default_topic` when missing and allowed:
    /// queues = min(requested, template's write queues), perm = template perm without INHERIT.
    pub fn get_or_auto_create(
        &self,
        topic: &str,
        default_topic: &str,
        requested_queues: i32,
    ) -> Option<TopicConfig> {
        if let Some(config) = self.get(topic) {
            return Some(config);
        }
        if !self.auto_create {
            return None;
        }
        let template = self.get(default_topic)?;
        if !template.perm.is_inherited() {
            return None;
        }
        let queues = u32::try_from(requested_queues.max(1))
            .unwrap_or(1)
            .min(template.write_queue_nums);
        let perm = Perm(template.perm.0 & !Perm::INHERIT);
        let mut config = TopicConfig::with_queues(topic, queues, perm);
        config.topic_filter_type = template.topic_filter_type;
        Some(self.create(config))
    }

    /// A group's `%RETRY%` or `%DLQ%` topic: 1 queue, perm 6, created when missing.
    pub fn ensure_group_topic(&self, retry_topic: &str) -> TopicConfig {
        if let Some(config) = self.get(retry_topic) {
            return config;
        }
        self.create(TopicConfig::with_queues(
            retry_topic,
            GROUP_TOPIC_QUEUE_NUMS,
            Perm::READ_WRITE,
        ))
    }

    /// Inserts (or keeps a concurrent creator's) config, persists, signals re-registration.
    fn create(&self, config: TopicConfig) -> TopicConfig {
        let name = config.topic_name.clone();
        let stored = self.table().get_or_insert(config);
        tracing::info!(topic = %name, perm = stored.perm.0, queues = stored.write_queue_nums, "topic created");
        self.persist_and_signal();
        stored
    }

    /// Creates or replaces a topic (admin), persists and signals re-registration.
    pub fn upsert(&self, config: TopicConfig) {
        self.table().upsert(config);
        self.persist_and_signal();
    }

    /// Deletes a topic (admin), persists and signals re-registration.
    pub fn remove(&self, topic: &str) -> Option<TopicConfig> {
        let removed = self.table().remove(topic);
        if removed.is_some() {
            self.persist_and_signal();
        }
        removed
    }

    fn persist_and_signal(&self) {
        if let Err(err) = self.table().persist() {
            tracing::error!(error = %err, "persisting topics.json failed");
        }
        self.changed.notify_one();
    }

    /// Completes after the next topic change.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The table as registered with NameServers: every perm ANDed with `brokerPermission`
    /// when the broker is not fully readable and writable.
    pub fn registration_snapshot(&self) -> TopicConfigSerializeWrapper {
        let mut wrapper = self.snapshot();
        if self.broker_permission != Perm::READ_WRITE {
            for config in wrapper.topic_config_table.values_mut() {
                config.perm = Perm(config.perm.0 & self.broker_permission.0);
            }
        }
        wrapper
    }

    /// The table as stored (GET_ALL_TOPIC_CONFIG).
    pub fn snapshot(&self) -> TopicConfigSerializeWrapper {
        let stored = self.table().snapshot();
        TopicConfigSerializeWrapper {
            data_version: DataVersion {
                counter: stored.data_version.counter,
                state_version: stored.data_version.state_version,
                timestamp: stored.data_version.timestamp,
            },
            topic_config_table: stored.topic_config_table,
        }
    }
}
