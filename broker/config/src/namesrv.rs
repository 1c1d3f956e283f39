//! `NamesrvConfig`: the name server's settings (RocketMQ `NamesrvConfig` keys plus the Netty
//! `listenPort`), resolved from namesrv.conf the same way as the broker's.

use std::path::PathBuf;

use crate::broker::Loaded;
use crate::error::ConfigError;
use crate::properties::Properties;
use crate::section;

section! {
    /// The name server's settings.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NamesrvConfig {
        /// Client port.
        listen_port: u16 = "listenPort", 9876;
        /// RocketMQ home (unused by ferrimq beyond being accepted).
        rocketmq_home: Option<PathBuf> = "rocketmqHome", None;
        /// KV config file. (Java defaults to `$HOME/namesrv/kvConfig.json`.)
        kv_config_path: PathBuf = "kvConfigPath", PathBuf::from("namesrv/kvConfig.json");
        /// Where the name server persists its own properties.
        config_store_path: PathBuf = "configStorePath", PathBuf::from("namesrv/namesrv.properties");
        /// Environment name reported to tools.
        product_env_name: String = "productEnvName", "center".to_owned();
        /// Test-cluster routing mode.
        cluster_test: bool = "clusterTest", false;
        /// Attach `orderTopicConf` (KV namespace ORDER_TOPIC_CONFIG) to route data.
        order_message_enable: bool = "orderMessageEnable", false;
        /// Return ORDER_TOPIC_CONFIG to brokers on registration.
        return_order_topic_config_to_broker: bool = "returnOrderTopicConfigToBroker", true;
        /// Threads serving client requests (route queries).
        client_request_thread_pool_nums: u32 = "clientRequestThreadPoolNums", 8;
        /// Threads serving all other requests.
        default_thread_pool_nums: u32 = "defaultThreadPoolNums", 16;
        /// Period of the scan that expires silent brokers, ms.
        scan_not_active_broker_interval: u64 = "scanNotActiveBrokerInterval", 5000;
        /// Queue of pending broker unregistrations.
        un_register_broker_queue_capacity: u32 = "unRegisterBrokerQueueCapacity", 3000;
        /// Let a slave act as master when the master is gone (5.x).
        support_acting_master: bool = "supportActingMaster", false;
        /// Serve GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
        enable_all_topic_list: bool = "enableAllTopicList", true;
        /// Serve the per-cluster topic lists.
        enable_topic_list: bool = "enableTopicList", true;
        /// Notify brokers when the minimum broker id of a group changes.
        notify_min_broker_id_changed: bool = "notifyMinBrokerIdChanged", false;
        /// Seconds to wait for brokers to register before serving routes, when enabled.
        wait_seconds_for_service: u32 = "waitSecondsForService", 45;
        /// Wait for broker registrations after start before answering route queries.
        need_wait_for_service: bool = "needWaitForService", false;
        /// Delete a topic's route when a broker re-registers without it.
        delete_topic_with_broker_registration: bool = "deleteTopicWithBrokerRegistration", false;
    }
}

impl NamesrvConfig {
    /// Resolves every known key of `props` over the defaults and validates it.
    pub fn from_properties(props: &Properties) -> Result<Loaded<NamesrvConfig>, ConfigError> {
        let mut config = NamesrvConfig::default();
        let mut errors = Vec::new();
        config.read_keys(props, &mut errors);
        if config.listen_port == 0 {
            errors.push(ConfigError::invalid(
                "listenPort",
                "0",
                "out of range, expected 1..=65535",
            ));
        }
        for (key, value) in [
            (
                "clientRequestThreadPoolNums",
                config.client_request_thread_pool_nums,
            ),
            ("defaultThreadPoolNums", config.default_thread_pool_nums),
        ] {
            if value == 0 {
                errors.push(ConfigError::invalid(
                    key,
                    "0",
                    "out of range, expected >= 1",
                ));
            }
        }
        if let Some(err) = ConfigError::from_list(errors) {
            return Err(err);
        }
        let unknown_keys = props
            .keys()
            .filter(|k| !Self::KEYS.contains(k))
            .map(str::to_owned)
            .collect();
        Ok(Loaded {
            config,
            unknown_keys,
        })
    }

    /// Every key, including defaults.
    pub fn to_properties(&self) -> Properties {
        let mut props = Properties::new();
        self.write_keys(&mut props);
        props
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let props = Properties::parse("listenPort=9877\norderMessageEnable=true\nfoo=bar").unwrap();
        let loaded = NamesrvConfig::from_properties(&props).unwrap();
        assert_eq!(loaded.config.listen_port, 9877);
        assert!(loaded.config.order_message_enable);
        assert_eq!(loaded.config.product_env_name, "center");
        assert_eq!(loaded.unknown_keys, vec!["foo".to_owned()]);
        assert_eq!(NamesrvConfig::default().listen_port, 9876);
    }

    #[test]
    fn round_trip() {
        let config = NamesrvConfig {
            kv_config_path: PathBuf::from("/data/kv.json"),
            cluster_test: true,
            ..NamesrvConfig::default()
        };
        let back = NamesrvConfig::from_properties(&config.to_properties()).unwrap();
        assert_eq!(back.config, config);
        assert!(back.unknown_keys.is_empty());
    }

    #[test]
    fn zero_port_is_refused() {
        let err = NamesrvConfig::from_properties(&Properties::parse("listenPort=0").unwrap())
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::invalid("listenPort", "0", "out of range, expected 1..=65535")
        );
    }
}
