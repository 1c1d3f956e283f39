//! `BrokerConfig`: the broker's section of broker.conf (RocketMQ `BrokerConfig` keys plus the
//! broker-level keys RocketMQ keeps elsewhere: `listenPort`, `brokerRole`, `haListenPort`,
//! `haMasterAddress`), with the store's section nested as [`StoreConfig`].
//!
//! [`BrokerConfig::from_properties`] is the one entry point: it resolves every known key over
//! RocketMQ's defaults once, validates types, ranges and cross-key rules, reports every problem
//! with its key and value, and returns unknown keys instead of rejecting them.
//! [`BrokerConfig::to_properties`] renders the inverse (the operator renders ConfigMaps with it).

use std::net::IpAddr;

use crate::error::ConfigError;
use crate::perm::Perm;
use crate::properties::Properties;
use crate::section;
use crate::setting::Setting;
use crate::store::StoreConfig;
use crate::topic::TRACE_TOPIC;

/// A broker's role in its master/slave group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BrokerRole {
    /// Master; sends return without waiting for the slave.
    #[default]
    AsyncMaster,
    /// Master; sends wait until the slave has the bytes.
    SyncMaster,
    /// Slave; replicates from the master, refuses writes.
    Slave,
}

impl BrokerRole {
    /// Either kind of master.
    pub fn is_master(self) -> bool {
        !matches!(self, BrokerRole::Slave)
    }

    /// The Java enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }
}

impl Setting for BrokerRole {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        match raw {
            "ASYNC_MASTER" => Ok(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Ok(BrokerRole::SyncMaster),
            "SLAVE" => Ok(BrokerRole::Slave),
            _ => Err("expected ASYNC_MASTER, SYNC_MASTER or SLAVE".to_owned()),
        }
    }
    fn render_setting(&self) -> Option<String> {
        Some(self.as_str().to_owned())
    }
}

/// `namesrvAddr`: `host:port` entries separated by `;`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamesrvAddrs(pub Vec<String>);

impl Setting for NamesrvAddrs {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        let addrs: Vec<String> = raw
            .split(';')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        for addr in &addrs {
            check_host_port(addr)?;
        }
        Ok(NamesrvAddrs(addrs))
    }
    fn render_setting(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join(";"))
    }
}

/// Checks `host:port` (the host may be a name, an IPv4 address or a bracketed IPv6 address).
pub fn check_host_port(addr: &str) -> Result<(), String> {
    let bad = || format!("bad address {addr:?} (expected host:port)");
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok(())
}

/// `brokerIP1` / `brokerIP2`: an IP address or a host name (Kubernetes pods advertise their
/// stable DNS name); a name is resolved once at start-up, as the Java broker does when it
/// builds its store host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Host(pub String);

impl Host {
    /// The address, if the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.0.parse().ok()
    }
}

impl Setting for Host {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        if raw.parse::<IpAddr>().is_ok() {
            return Ok(Host(raw.to_owned()));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if raw.len() > 253 || !raw.trim_end_matches('.').split('.').all(label_ok) {
            return Err("expected an IP address or a host name".to_owned());
        }
        Ok(Host(raw.to_owned()))
    }
    fn render_setting(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

/// `haMasterAddress`: `ip:port` of the master's HA port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort(pub String);

impl Setting for HostPort {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        check_host_port(raw)?;
        Ok(HostPort(raw.to_owned()))
    }
    fn render_setting(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

section! {
    /// The broker's settings; `store` holds the message store's section.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct BrokerSettings {
        /// Cluster this broker belongs to.
        broker_cluster_name: String = "brokerClusterName", "DefaultCluster".to_owned();
        /// Name shared by a master and its slaves. (Java defaults to the host name.)
        broker_name: String = "brokerName", "DEFAULT_BROKER".to_owned();
        /// 0 for the master, > 0 for a slave.
        broker_id: u64 = "brokerId", 0;
        /// Address advertised to clients (and written into message ids); unset = detect.
        broker_ip1: Option<Host> = "brokerIP1", None;
        /// Address advertised for HA; unset = `brokerIP1`.
        broker_ip2: Option<Host> = "brokerIP2", None;
        /// Client port.
        listen_port: u16 = "listenPort", 10911;
        /// Name servers to register with.
        namesrv_addr: NamesrvAddrs = "namesrvAddr", NamesrvAddrs::default();
        /// Master/slave role.
        broker_role: BrokerRole = "brokerRole", BrokerRole::AsyncMaster;
        /// Replication port; unset (or 0 in Java) = `listenPort + 1`.
        ha_listen_port: Option<u16> = "haListenPort", None;
        /// Slave only: master HA address; unset = learnt from the name server.
        ha_master_address: Option<HostPort> = "haMasterAddress", None;
        /// Broker-wide permission ANDed into registered topic permissions.
        broker_permission: Perm = "brokerPermission", Perm::READ_WRITE;
        /// Queues of auto-created topics (and of TBW102).
        default_topic_queue_nums: u32 = "defaultTopicQueueNums", 8;
        /// Create unknown topics on send, from TBW102.
        auto_create_topic_enable: bool = "autoCreateTopicEnable", true;
        /// Create the topic named after the cluster.
        cluster_topic_enable: bool = "clusterTopicEnable", true;
        /// Create the topic named after the broker.
        broker_topic_enable: bool = "brokerTopicEnable", true;
        /// Create unknown subscription groups on first use.
        auto_create_subscription_group: bool = "autoCreateSubscriptionGroup", true;
        /// Create the message trace topic.
        trace_topic_enable: bool = "traceTopicEnable", false;
        /// Name of the message trace topic.
        msg_trace_topic_name: String = "msgTraceTopicName", TRACE_TOPIC.to_owned();
        /// Period of REGISTER_BROKER to every name server, ms.
        register_name_server_period: u64 = "registerNameServerPeriod", 30_000;
        /// Timeout of one registration, ms.
        register_broker_timeout_mills: u64 = "registerBrokerTimeoutMills", 24_000;
        /// Register even when the topic data version did not change.
        force_register: bool = "forceRegister", true;
        /// Send the registration body zlib-compressed.
        compressed_register: bool = "compressedRegister", false;
        /// Park empty pulls until data arrives.
        long_polling_enable: bool = "longPollingEnable", true;
        /// Park time of a pull without long polling, ms.
        short_polling_time_mills: u64 = "shortPollingTimeMills", 1000;
        /// Send NOTIFY_CONSUMER_IDS_CHANGED on membership changes.
        notify_consumer_ids_changed_enable: bool = "notifyConsumerIdsChangedEnable", true;
        /// Let consumers read from a slave when the master is behind.
        slave_read_enable: bool = "slaveReadEnable", false;
        /// Copy pulled messages through the heap (true) or hand out file regions.
        transfer_msg_by_heap: bool = "transferMsgByHeap", true;
        /// SQL92 property filtering.
        enable_property_filter: bool = "enablePropertyFilter", false;
        /// Apply filters to retry topics too.
        filter_support_retry: bool = "filterSupportRetry", false;
        /// Refuse transactional (half) messages.
        reject_transaction_message: bool = "rejectTransactionMessage", false;
        /// A half message younger than this is not checked yet, ms.
        transaction_time_out: u64 = "transactionTimeOut", 6000;
        /// Checks before a half message is dropped.
        transaction_check_max: u32 = "transactionCheckMax", 15;
        /// Period of the transaction check, ms.
        transaction_check_interval: u64 = "transactionCheckInterval", 30_000;
        /// Region written into send responses (`MSG_REGION`).
        region_id: String = "regionId", "DefaultRegion".to_owned();
        /// Trace switch written into send responses (`TRACE_ON`).
        trace_on: bool = "traceOn", true;
        /// ACL 1.0 checks.
        acl_enable: bool = "aclEnable", false;
        /// Store reply messages of request/reply.
        store_reply_message_enable: bool = "storeReplyMessageEnable", true;
        /// Period of consumerOffset.json persistence, ms.
        flush_consumer_offset_interval: u64 = "flushConsumerOffsetInterval", 5000;
        /// Send worker threads; unset = min(cores, 4).
        send_message_thread_pool_nums: Option<u32> = "sendMessageThreadPoolNums", None;
        /// Pull worker threads; unset = 16 + 2 * cores.
        pull_message_thread_pool_nums: Option<u32> = "pullMessageThreadPoolNums", None;
        /// Fail queued requests fast when the page cache is busy.
        broker_fast_failure_enable: bool = "brokerFastFailureEnable", true;
        /// Longest wait of a send in the queue before a fast failure, ms.
        wait_time_mills_in_send_queue: u64 = "waitTimeMillsInSendQueue", 200;
        /// Longest wait of a pull in the queue before a fast failure, ms.
        wait_time_mills_in_pull_queue: u64 = "waitTimeMillsInPullQueue", 5000;
        /// Stop serving a group whose lag exceeds `consumerFallbehindThreshold`.
        disable_consume_if_consumer_read_slowly: bool = "disableConsumeIfConsumerReadSlowly", false;
        /// Lag (bytes) considered slow (16 GiB).
        consumer_fallbehind_threshold: u64 = "consumerFallbehindThreshold", 16 * 1024 * 1024 * 1024;
        /// 5.x controller mode; not supported by ferrimq (refused when true).
        enable_controller_mode: bool = "enableControllerMode", false;
    }
}

/// The resolved broker configuration: broker settings plus the store's section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerConfig {
    /// The broker's own keys.
    pub broker: BrokerSettings,
    /// The message store's keys.
    pub store: StoreConfig,
}

/// A resolved configuration and the keys it did not recognise (for a start-up warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded<T> {
    /// The configuration.
    pub config: T,
    /// Keys present in the file but unknown to this section, in key order.
    pub unknown_keys: Vec<String>,
}

impl BrokerConfig {
    /// Resolves every known key of `props` over RocketMQ's defaults and validates the result.
    pub fn from_properties(props: &Properties) -> Result<Loaded<BrokerConfig>, ConfigError> {
        let mut config = BrokerConfig::default();
        let mut errors = Vec::new();
        config.broker.read_keys(props, &mut errors);
        config.store.read_keys(props, &mut errors);
        config.store.normalize_and_validate(&mut errors);
        config.validate(&mut errors);
        if let Some(err) = ConfigError::from_list(errors) {
            return Err(err);
        }
        let unknown_keys = props
            .keys()
            .filter(|k| !BrokerSettings::KEYS.contains(k) && !StoreConfig::KEYS.contains(k))
            .map(str::to_owned)
            .collect();
        Ok(Loaded {
            config,
            unknown_keys,
        })
    }

    /// Parses broker.conf text and resolves it.
    pub fn from_text(text: &str) -> Result<Loaded<BrokerConfig>, ConfigError> {
        Self::from_properties(&Properties::parse(text)?)
    }

    /// Every key, including defaults: a complete broker.conf.
    pub fn to_properties(&self) -> Properties {
        let mut props = Properties::new();
        self.broker.write_keys(&mut props);
        self.store.write_keys(&mut props);
        props
    }

    /// Only the keys whose value differs from RocketMQ's default: a minimal broker.conf.
    pub fn to_changed_properties(&self) -> Properties {
        let defaults = BrokerConfig::default().to_properties();
        self.to_properties()
            .iter()
            .filter(|(k, v)| defaults.get(k) != Some(v))
            .collect()
    }

    /// The HA port (`haListenPort`, else `listenPort + 1`).
    ///
    /// With `listenPort=0` (an ephemeral port, in-process tests only: validation refuses it in a
    /// broker.conf) and no `haListenPort`, the HA port is ephemeral too rather than port 1.
    pub fn ha_port(&self) -> u16 {
        match (self.broker.ha_listen_port, self.broker.listen_port) {
            (Some(port), _) => port,
            (None, 0) => 0,
            (None, listen) => listen.saturating_add(1),
        }
    }

    fn validate(&self, errors: &mut Vec<ConfigError>) {
        let b = &self.broker;
        match (b.broker_role, b.broker_id) {
            (BrokerRole::Slave, 0) => errors.push(inconsistent(
                "a SLAVE needs brokerId > 0",
                &["brokerId", "brokerRole"],
            )),
            (role, id) if role.is_master() && id != 0 => errors.push(inconsistent(
                &format!("a {} must have brokerId 0, not {id}", role.as_str()),
                &["brokerId", "brokerRole"],
            )),
            _ => {}
        }
        if b.ha_master_address.is_some() && b.broker_role.is_master() {
            errors.push(inconsistent(
                "haMasterAddress is only meaningful for a SLAVE",
                &["haMasterAddress", "brokerRole"],
            ));
        }
        if self.ha_port() == b.listen_port || b.listen_port == 0 || self.ha_port() == 0 {
            errors.push(inconsistent(
                "listenPort and haListenPort must be distinct, non-zero ports",
                &["listenPort", "haListenPort"],
            ));
        }
        self.validate_names(errors);
        if b.default_topic_queue_nums == 0 {
            errors.push(ConfigError::invalid(
                "defaultTopicQueueNums",
                "0",
                "out of range, expected >= 1",
            ));
        }
        if b.enable_controller_mode {
            errors.push(ConfigError::invalid(
                "enableControllerMode",
                "true",
                "controller mode is not supported by ferrimq",
            ));
        }
    }

    fn validate_names(&self, errors: &mut Vec<ConfigError>) {
        for (key, value) in [
            ("brokerClusterName", &self.broker.broker_cluster_name),
            ("brokerName", &self.broker.broker_name),
        ] {
            if let Err(ConfigError::InvalidName { reason, .. }) =
                crate::topic::validate_topic(value)
            {
                errors.push(ConfigError::invalid(key, value, reason));
            }
        }
    }
}

fn inconsistent(reason: &str, keys: &[&str]) -> ConfigError {
    ConfigError::Inconsistent {
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let loaded = BrokerConfig::from_text("").unwrap();
        let b = &loaded.config.broker;
        assert_eq!(b.broker_cluster_name, "DefaultCluster");
        assert_eq!(b.listen_port, 10911);
        assert_eq!(loaded.config.ha_port(), 10912);
        assert_eq!(b.broker_role, BrokerRole::AsyncMaster);
        assert_eq!(b.broker_permission, Perm(6));
        assert_eq!(b.default_topic_queue_nums, 8);
        assert!(
            b.auto_create_topic_enable && b.auto_create_subscription_group && b.long_polling_enable
        );
        assert_eq!(b.short_polling_time_mills, 1000);
        assert_eq!(b.register_name_server_period, 30_000);
        assert!(loaded.unknown_keys.is_empty());
    }

    #[test]
    fn slave_needs_positive_id_and_master_zero() {
        let err = BrokerConfig::from_text("brokerRole=SLAVE").unwrap_err();
        assert_eq!(
            err,
            inconsistent("a SLAVE needs brokerId > 0", &["brokerId", "brokerRole"])
        );
        let err = BrokerConfig::from_text("brokerRole=SYNC_MASTER\nbrokerId=2").unwrap_err();
        assert_eq!(
            err.to_string(),
            "inconsistent settings [\"brokerId\", \"brokerRole\"]: a SYNC_MASTER must have brokerId 0, not 2"
        );
        let slave =
            BrokerConfig::from_text("brokerRole=SLAVE\nbrokerId=1\nhaMasterAddress=10.0.0.1:10912")
                .unwrap();
        assert_eq!(
            slave.config.broker.ha_master_address,
            Some(HostPort("10.0.0.1:10912".into()))
        );
    }

    #[test]
    fn invalid_values_name_key_and_value() {
        let err = BrokerConfig::from_text("listenPort=99999").unwrap_err();
        assert_eq!(
            err,
            ConfigError::invalid(
                "listenPort",
                "99999",
                "expected u16: number too large to fit in target type"
            )
        );
        let err = BrokerConfig::from_text("brokerRole=MASTER").unwrap_err();
        assert_eq!(
            err,
            ConfigError::invalid(
                "brokerRole",
                "MASTER",
                "expected ASYNC_MASTER, SYNC_MASTER or SLAVE"
            )
        );
        let err = BrokerConfig::from_text("namesrvAddr=10.0.0.1:9876;nohost").unwrap_err();
        assert_eq!(
            err,
            ConfigError::invalid(
                "namesrvAddr",
                "10.0.0.1:9876;nohost",
                "bad address \"nohost\" (expected host:port)"
            )
        );
        let err = BrokerConfig::from_text("brokerName=broker.a").unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidValue { ref key, .. } if key == "brokerName"),
            "{err}"
        );
        assert!(BrokerConfig::from_text("brokerIP1=host a").is_err());
        assert!(BrokerConfig::from_text("brokerIP1=10.0.0.1:10911").is_err());
        assert!(BrokerConfig::from_text("brokerPermission=8").is_err());
    }

    #[test]
    fn advertised_host_may_be_an_ip_or_a_dns_name() {
        let text = "brokerIP1=broker-0-0.broker.ns.svc.cluster.local\nbrokerIP2=fe80::1";
        let b = BrokerConfig::from_text(text).unwrap().config.broker;
        assert_eq!(
            b.broker_ip1,
            Some(Host("broker-0-0.broker.ns.svc.cluster.local".into()))
        );
        assert_eq!(b.broker_ip1.unwrap().ip(), None);
        assert_eq!(b.broker_ip2.unwrap().ip(), Some("fe80::1".parse().unwrap()));
    }

    #[test]
    fn port_clash_is_refused() {
        let err = BrokerConfig::from_text("listenPort=10911\nhaListenPort=10911").unwrap_err();
        assert!(
            matches!(err, ConfigError::Inconsistent { ref keys, .. } if keys == &["listenPort", "haListenPort"]),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_returned_not_rejected() {
        let loaded = BrokerConfig::from_text(
            "brokerName=b\nserverWorkerThreads=8\nmapedFileSizeCommitLog=1",
        )
        .unwrap();
        assert_eq!(
            loaded.unknown_keys,
            vec![
                "mapedFileSizeCommitLog".to_owned(),
                "serverWorkerThreads".to_owned()
            ]
        );
    }

    #[test]
    fn changed_properties_hold_only_non_defaults() {
        let loaded = BrokerConfig::from_text(
            "brokerName=broker-a\nflushDiskType=SYNC_FLUSH\nlistenPort=10911",
        )
        .unwrap();
        let changed = loaded.config.to_changed_properties();
        assert_eq!(
            changed.render(),
            "brokerName=broker-a\nflushDiskType=SYNC_FLUSH\n"
        );
    }
}
