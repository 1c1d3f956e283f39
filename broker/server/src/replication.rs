//! Replication glue: the broker's side of `ferrimq-ha`, chosen by `brokerRole`.
//!
//! - A master (ASYNC_MASTER or SYNC_MASTER) runs an [`HaServer`] on `haListenPort`. After every
//!   append the send path calls [`Replication::after_append`]: it always wakes the stream
//!   tasks; under SYNC_MASTER, for a message with `WAIT` not `false`, it waits for a slave's
//!   acknowledgement up to `syncFlushTimeout` and turns the outcome into the send status the
//!   Java broker answers (`CommitLog.handleHA`): FLUSH_SLAVE_TIMEOUT (12) on timeout,
//!   SLAVE_NOT_AVAILABLE (11) when no slave is connected or it lags beyond
//!   `haSlaveFallbehindMax`. Either way the message is stored and the full response header is
//!   returned.
//! - A slave runs an [`HaClient`] that follows the master HA address the slave role learns
//!   (`haMasterAddress` or the NameServer's answer).
//!
//! [`Replication::info`] is what GET_BROKER_RUNTIME_INFO and the logs show.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrimq_config::{BrokerConfig, BrokerRole};
use ferrimq_ha::{ClientState, HaClient, HaConfig, HaServer, Outcome, SlaveState};
use ferrimq_remoting::ResponseCode;
use ferrimq_store::record::properties::Properties;
use ferrimq_store::store::MessageStore;
use tokio::sync::watch;

use crate::error::{Result, ServerError};
use crate::slave::{HaStatus, SlaveProgress};

/// Property a producer sets to `false` to be acknowledged without waiting for the store.
const PROPERTY_WAIT: &str = "WAIT";

/// Replication as the broker runs it. See the module docs.
pub struct Replication {
    role: BrokerRole,
    cfg: HaConfig,
    sync_timeout: Duration,
    server: Option<HaServer>,
    client: Mutex<Option<HaClient>>,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("role", &self.role)
            .field("server", &self.server)
            .finish()
    }
}

/// A snapshot of the replication state (GET_BROKER_RUNTIME_INFO, logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationInfo {
    /// `brokerRole`.
    pub role: BrokerRole,
    /// This broker's CommitLog end (`masterPutWhere` on a master).
    pub commit_log_max_offset: u64,
    /// Master: the highest offset a slave acknowledged (`push2SlaveMaxOffset`).
    pub acked_offset: u64,
    /// Master: the connected slaves.
    pub slaves: Vec<SlaveState>,
    /// Slave: its replication client.
    pub client: Option<ClientState>,
}

impl ReplicationInfo {
    /// Master: bytes the furthest slave is behind (`slaveFallBehindMuch`); 0 without slaves.
    pub fn max_lag_bytes(&self) -> u64 {
        self.slaves.iter().map(|s| s.lag_bytes).max().unwrap_or(0)
    }
}

/// Whether a send waits for the store: RocketMQ's `isWaitStoreMsgOK`, true unless the
/// message's `WAIT` property is `false`.
pub fn waits_for_store(properties: Option<&str>) -> bool {
    let Some(encoded) = properties else {
        return true;
    };
    Properties::parse(encoded)
        .get(PROPERTY_WAIT)
        .is_none_or(|v| v.eq_ignore_ascii_case("true"))
}

impl Replication {
    /// Replication for `config`'s role: a master starts its HA listener on `ip:haListenPort`
    /// now (inside a tokio runtime); a slave's client starts with [`Replication::start_slave`] once its master address
    /// source exists.
    pub fn start(
        config: &BrokerConfig,
        store: &Arc<MessageStore>,
        ip: IpAddr,
    ) -> Result<Replication> {
        let role = config.broker.broker_role;
        let cfg = HaConfig::from_store(&config.store);
        let server = match role {
            BrokerRole::Slave => None,
            BrokerRole::AsyncMaster | BrokerRole::SyncMaster => {
                let listen = SocketAddr::new(ip, config.ha_port());
                let server = HaServer::start(Arc::clone(store), listen, cfg)
                    .map_err(|e| ServerError::Config(format!("HA service: {e}")))?;
                Some(server)
            }
        };
        Ok(Replication {
            role,
            cfg,
            sync_timeout: Duration::from_millis(config.store.sync_flush_timeout.max(1)),
            server,
            client: Mutex::new(None),
        })
    }

    /// Slave: replicates into `store` from the master `ha_master` names (ignored on a master).
    pub fn start_slave(
        &self,
        store: &Arc<MessageStore>,
        ha_master: watch::Receiver<Option<String>>,
    ) {
        if self.role != BrokerRole::Slave {
            return;
        }
        let client = HaClient::start(Arc::clone(store), ha_master, self.cfg);
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
    }

    /// The master's HA listener (None on a slave).
    pub fn ha_server(&self) -> Option<&HaServer> {
        self.server.as_ref()
    }

    /// Called after a send's bytes are appended (`end` = offset past them): wakes the stream
    /// tasks, and under SYNC_MASTER (when the message waits for the store) resolves to the
    /// status to answer instead of SUCCESS, if any.
    pub fn after_append(
        &self,
        end: u64,
        wait_store: bool,
    ) -> impl Future<Output = Option<ResponseCode>> + Send + 'static {
        let wait = self.server.as_ref().and_then(|s| {
            let waiter = s.waiter();
            if self.role == BrokerRole::SyncMaster && wait_store {
                Some(waiter.wait(end, self.sync_timeout))
            } else {
                waiter.notify_appended(end);
                None
            }
        });
        async move {
            match wait?.await {
                Outcome::Replicated => None,
                Outcome::Timeout => Some(ResponseCode::FlushSlaveTimeout),
                Outcome::NoSlave => Some(ResponseCode::SlaveNotAvailable),
            }
        }
    }

    /// The replication state now.
    pub fn info(&self, store: &MessageStore) -> ReplicationInfo {
        let client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        ReplicationInfo {
            role: self.role,
            commit_log_max_offset: store.commit_log_max_offset(),
            acked_offset: self
                .server
                .as_ref()
                .map_or(0, |s| s.waiter().acked_offset()),
            slaves: self.server.as_ref().map_or_else(Vec::new, HaServer::state),
            client: client.as_ref().map(HaClient::state),
        }
    }

    /// The state in the runtime info's terms (see [`crate::slave::ReplicationView`]).
    pub fn status(&self, store: &MessageStore) -> HaStatus {
        let info = self.info(store);
        match info.client {
            Some(c) => HaStatus::Slave {
                connected: c.connected,
                offset: c.offset,
            },
            None if self.role == BrokerRole::Slave => HaStatus::Slave {
                connected: false,
                offset: info.commit_log_max_offset,
            },
            None => HaStatus::Master {
                slaves: info
                    .slaves
                    .iter()
                    .map(|s| SlaveProgress {
                        addr: s.addr.to_string(),
                        acked_offset: s.acked_offset,
                        lag_bytes: s.lag_bytes,
                    })
                    .collect(),
            },
        }
    }

    /// Stops the listener or the client.
    pub fn shutdown(&self) {
        if let Some(s) = &self.server {
            s.shutdown();
        }
        if let Some(c) = self.client.lock().unwrap_or_else(|p| p.into_inner()).take() {
            c.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_property_defaults_to_true() {
        assert!(waits_for_store(None));
        assert!(waits_for_store(Some("")));
        assert!(waits_for_store(Some("WAIT\u{1}true\u{2}TAGS\u{1}a\u{2}")));
        assert!(!waits_for_store(Some("WAIT\u{1}false\u{2}")));
    }
}
