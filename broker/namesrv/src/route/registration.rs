//! Broker registration (REGISTER_BROKER), heartbeats (BROKER_HEARTBEAT, QUERY_DATA_VERSION) and
//! the data-version bookkeeping that decides when a master's queue data is rebuilt.

use std::collections::BTreeSet;

use ferrimq_config::TopicConfig;
use ferrimq_remoting::body::{BrokerData, DataVersion, QueueData, TopicConfigSerializeWrapper};

use super::{
    BROKER_CHANNEL_EXPIRED_MILLIS, BrokerLiveInfo, ConnectionId, MASTER_ID, RouteState, RouteTable,
};

/// One REGISTER_BROKER request, decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registration {
    /// Cluster the broker belongs to.
    pub cluster_name: String,
    /// Broker group name (master and slaves share it).
    pub broker_name: String,
    /// "ip:port" of the broker.
    pub broker_addr: String,
    /// 0 for the master, 1.. for slaves.
    pub broker_id: i64,
    /// "ip:haPort" slaves replicate from.
    pub ha_server_addr: String,
    /// 5.x: expiry override, ms; `None` means 120 s.
    pub heartbeat_timeout_millis: Option<u64>,
    /// 5.x: acting-master mode, copied into the route's BrokerData.
    pub enable_acting_master: Option<bool>,
    /// The broker's topic table and its version.
    pub topics: TopicConfigSerializeWrapper,
    /// Filter server addresses (legacy).
    pub filter_servers: Vec<String>,
    /// Connection the request came over.
    pub connection: ConnectionId,
}

/// What a registering broker is told: for a slave whose master is registered, where the
/// master is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// The master's broker address.
    pub master_addr: Option<String>,
    /// The master's HA address.
    pub ha_server_addr: Option<String>,
}

impl RouteTable {
    /// Registers (or refreshes) a broker at `now_ms`.
    ///
    /// Queue data is rebuilt from a master's topics on its first registration and whenever its
    /// DataVersion changed; topics the master no longer carries lose its queue data then.
    pub fn register(&self, registration: Registration, now_ms: u64) -> RegisterOutcome {
        let mut state = self.write();
        state
            .clusters
            .entry(registration.cluster_name.clone())
            .or_default()
            .insert(registration.broker_name.clone());
        let first = state.record_broker_addr(&registration);
        let version = registration.topics.data_version;
        if registration.broker_id == MASTER_ID
            && (first || state.topic_config_changed(&registration.broker_addr, &version))
        {
            state.rebuild_queue_data(&registration.broker_name, &registration.topics);
        }
        let live = BrokerLiveInfo {
            last_update_ms: now_ms,
            timeout_ms: registration
                .heartbeat_timeout_millis
                .unwrap_or(BROKER_CHANNEL_EXPIRED_MILLIS),
            data_version: version,
            ha_server_addr: registration.ha_server_addr.clone(),
            connection: registration.connection,
        };
        state.live.insert(registration.broker_addr.clone(), live);
        if registration.filter_servers.is_empty() {
            state.filter_servers.remove(&registration.broker_addr);
        } else {
            let servers = registration.filter_servers.clone();
            state
                .filter_servers
                .insert(registration.broker_addr.clone(), servers);
        }
        if registration.broker_id == MASTER_ID {
            return RegisterOutcome::default();
        }
        state.master_of(&registration.broker_name)
    }

    /// True when `version` differs from what `broker_addr` last registered, or the broker is
    /// unknown (QUERY_DATA_VERSION).
    pub fn is_topic_config_changed(&self, broker_addr: &str, version: &DataVersion) -> bool {
        self.read().topic_config_changed(broker_addr, version)
    }

    /// The DataVersion `broker_addr` last registered, if it is alive.
    pub fn data_version(&self, broker_addr: &str) -> Option<DataVersion> {
        self.read()
            .live
            .get(broker_addr)
            .map(|live| live.data_version)
    }

    /// Marks `broker_addr` as alive at `now_ms` (BROKER_HEARTBEAT, unchanged QUERY_DATA_VERSION).
    /// Returns false when the broker is not registered.
    pub fn touch(&self, broker_addr: &str, now_ms: u64) -> bool {
        match self.write().live.get_mut(broker_addr) {
            Some(live) => {
                live.last_update_ms = now_ms;
                true
            }
            None => false,
        }
    }
}

impl RouteState {
    /// Puts the address into the broker group, creating the group on first sight. An address
    /// that changed id (slave promoted to master) loses its old id. Returns true when this
    /// registration is the first of this address under this id.
    fn record_broker_addr(&mut self, registration: &Registration) -> bool {
        let mut first = false;
        let data = self
            .brokers
            .entry(registration.broker_name.clone())
            .or_insert_with(|| {
                first = true;
                BrokerData {
                    broker_name: registration.broker_name.clone(),
                    cluster: registration.cluster_name.clone(),
                    ..Default::default()
                }
            });
        if registration.enable_acting_master.is_some() {
            data.enable_acting_master = registration.enable_acting_master;
        }
        data.broker_addrs
            .retain(|id, addr| *id == registration.broker_id || *addr != registration.broker_addr);
        let previous = data
            .broker_addrs
            .insert(registration.broker_id, registration.broker_addr.clone());
        first || previous.is_none()
    }

    /// True when `broker_addr` is unknown or registered a different version.
    fn topic_config_changed(&self, broker_addr: &str, version: &DataVersion) -> bool {
        self.live
            .get(broker_addr)
            .is_none_or(|live| live.data_version != *version)
    }

    /// Replaces `broker_name`'s queue data with the topics of `wrapper`, dropping topics it no
    /// longer carries (and topics left without any broker).
    fn rebuild_queue_data(&mut self, broker_name: &str, wrapper: &TopicConfigSerializeWrapper) {
        let carried: BTreeSet<&str> = wrapper
            .topic_config_table
            .keys()
            .map(String::as_str)
            .collect();
        self.topics.retain(|topic, per_broker| {
            if !carried.contains(topic.as_str()) {
                per_broker.remove(broker_name);
            }
            !per_broker.is_empty()
        });
        for (topic, config) in &wrapper.topic_config_table {
            self.topics
                .entry(topic.clone())
                .or_default()
                .insert(broker_name.to_owned(), queue_data(broker_name, config));
        }
    }

    /// The master's addresses for a slave of `broker_name`, when the master is registered.
    fn master_of(&self, broker_name: &str) -> RegisterOutcome {
        let Some(master_addr) = self
            .brokers
            .get(broker_name)
            .and_then(|data| data.broker_addrs.get(&MASTER_ID))
        else {
            return RegisterOutcome::default();
        };
        match self.live.get(master_addr) {
            Some(live) => RegisterOutcome {
                master_addr: Some(master_addr.clone()),
                ha_server_addr: Some(live.ha_server_addr.clone()),
            },
            None => RegisterOutcome::default(),
        }
    }
}

/// The QueueData a master's topic config yields.
fn queue_data(broker_name: &str, config: &TopicConfig) -> QueueData {
    QueueData {
        broker_name: broker_name.to_owned(),
        read_queue_nums: clamp_i32(config.read_queue_nums),
        write_queue_nums: clamp_i32(config.write_queue_nums),
        perm: i32::from(config.perm.0),
        topic_sys_flag: clamp_i32(config.topic_sys_flag),
    }
}

/// Java ints: config values beyond `i32::MAX` cannot come from a Java broker; saturate.
fn clamp_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
