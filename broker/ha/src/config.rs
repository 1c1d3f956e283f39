//! [`HaConfig`]: the replication settings, resolved once from the store section of
//! broker.conf (`haTransferBatchSize`, `haSendHeartbeatInterval`, `haHousekeepingInterval`,
//! `haSlaveFallbehindMax`).

use std::time::Duration;

use ferrimq_config::StoreConfig;

/// Replication settings. `Default` is RocketMQ's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaConfig {
    /// Most CommitLog bytes per frame (`haTransferBatchSize`, 32 KiB); a single record larger
    /// than this goes alone in its frame.
    pub transfer_batch_size: usize,
    /// Master: an empty frame after this much idleness; slave: an offset report at least this
    /// often (`haSendHeartbeatInterval`, 5 s).
    pub heartbeat_interval: Duration,
    /// A connection silent for this long is closed (`haHousekeepingInterval`, 20 s).
    pub housekeeping_interval: Duration,
    /// SYNC_MASTER waits only while the slave lags less than this (`haSlaveFallbehindMax`).
    pub slave_fallbehind_max: u64,
    /// Master: how often an idle stream re-checks the CommitLog end without an append signal.
    pub idle_poll: Duration,
    /// Slave: first reconnect delay, doubled after each failure up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Slave: longest reconnect delay.
    pub reconnect_max: Duration,
    /// Slave: how long a connect attempt may take.
    pub connect_timeout: Duration,
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            transfer_batch_size: 32 * 1024,
            heartbeat_interval: Duration::from_secs(5),
            housekeeping_interval: Duration::from_secs(20),
            slave_fallbehind_max: 256 * 1024 * 1024,
            idle_poll: Duration::from_millis(20),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl HaConfig {
    /// The settings of a broker.conf store section.
    pub fn from_store(store: &StoreConfig) -> Self {
        HaConfig {
            transfer_batch_size: (store.ha_transfer_batch_size as usize).max(1024),
            heartbeat_interval: Duration::from_millis(store.ha_send_heartbeat_interval.max(100)),
            housekeeping_interval: Duration::from_millis(store.ha_housekeeping_interval.max(1000)),
            slave_fallbehind_max: store.ha_slave_fallbehind_max,
            ..HaConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_store_section() {
        let text = "haTransferBatchSize=65536\nhaSendHeartbeatInterval=1000\n\
                    haHousekeepingInterval=4000\nhaSlaveFallbehindMax=1024";
        let loaded = ferrimq_config::BrokerConfig::from_text(text).expect("valid");
        let c = HaConfig::from_store(&loaded.config.store);
        assert_eq!(c.transfer_batch_size, 65536);
        assert_eq!(c.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(c.housekeeping_interval, Duration::from_secs(4));
        assert_eq!(c.slave_fallbehind_max, 1024);
        let d = HaConfig::from_store(&ferrimq_config::StoreConfig::default());
        assert_eq!(d, HaConfig::default());
    }
}
