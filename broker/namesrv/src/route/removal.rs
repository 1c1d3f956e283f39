//! Taking brokers out of the table: UNREGISTER_BROKER, a closed connection, and the expiry of
//! brokers that stopped registering.
//!
//! When the last address of a broker group goes, the group leaves its cluster (an emptied
//! cluster disappears) and its queue data leaves every topic (an emptied topic disappears), so
//! clients never get routes to brokers nobody can reach.

use std::collections::BTreeSet;

use super::{ConnectionId, RouteState, RouteTable};

/// A broker removed by [`RouteTable::scan_not_active`]; the server closes its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredBroker {
    /// "ip:port" of the broker.
    pub broker_addr: String,
    /// Connection it last registered over.
    pub connection: ConnectionId,
}

impl RouteTable {
    /// Removes one broker address (UNREGISTER_BROKER).
    pub fn unregister(
        &self,
        cluster_name: &str,
        broker_name: &str,
        broker_addr: &str,
        broker_id: i64,
    ) {
        let mut state = self.write();
        state.live.remove(broker_addr);
        state.filter_servers.remove(broker_addr);
        let Some(data) = state.brokers.get_mut(broker_name) else {
            return;
        };
        data.broker_addrs.remove(&broker_id);
        if !data.broker_addrs.is_empty() {
            return;
        }
        state.brokers.remove(broker_name);
        if let Some(names) = state.clusters.get_mut(cluster_name) {
            names.remove(broker_name);
            if names.is_empty() {
                state.clusters.remove(cluster_name);
            }
        }
        state.remove_topics_of(&BTreeSet::from([broker_name.to_owned()]));
    }

    /// Removes every broker address that last registered over `connection`, when that
    /// connection closes (normally one: a broker keeps one connection per name server).
    /// Returns the removed addresses, sorted.
    pub fn on_connection_closed(&self, connection: ConnectionId) -> Vec<String> {
        let mut state = self.write();
        let mut removed: Vec<String> = state
            .live
            .iter()
            .filter(|(_, live)| live.connection == connection)
            .map(|(addr, _)| addr.clone())
            .collect();
        removed.sort();
        for broker_addr in &removed {
            state.remove_broker_addr(broker_addr);
        }
        removed
    }

    /// Removes every broker whose last registration or heartbeat is older than its timeout
    /// (120 s by default) at `now_ms`. A broker exactly at its timeout survives, as in Java.
    pub fn scan_not_active(&self, now_ms: u64) -> Vec<ExpiredBroker> {
        let mut state = self.write();
        let mut expired: Vec<ExpiredBroker> = state
            .live
            .iter()
            .filter(|(_, live)| live.last_update_ms.saturating_add(live.timeout_ms) < now_ms)
            .map(|(addr, live)| ExpiredBroker {
                broker_addr: addr.clone(),
                connection: live.connection,
            })
            .collect();
        expired.sort_by(|a, b| a.broker_addr.cmp(&b.broker_addr));
        for broker in &expired {
            tracing::warn!(broker_addr = %broker.broker_addr, "broker expired after silence");
            state.remove_broker_addr(&broker.broker_addr);
        }
        expired
    }
}

impl RouteState {
    /// Removes `broker_addr` from liveness, filter servers and every broker group holding it,
    /// then cleans up the groups that became empty.
    fn remove_broker_addr(&mut self, broker_addr: &str) {
        self.live.remove(broker_addr);
        self.filter_servers.remove(broker_addr);
        let mut emptied = BTreeSet::new();
        self.brokers.retain(|name, data| {
            data.broker_addrs.retain(|_, addr| addr != broker_addr);
            if data.broker_addrs.is_empty() {
                emptied.insert(name.clone());
                return false;
            }
            true
        });
        if emptied.is_empty() {
            return;
        }
        self.clusters.retain(|_, names| {
            names.retain(|name| !emptied.contains(name));
            !names.is_empty()
        });
        self.remove_topics_of(&emptied);
    }

    /// Drops the queue data of `broker_names` from every topic, and topics left empty.
    fn remove_topics_of(&mut self, broker_names: &BTreeSet<String>) {
        self.topics.retain(|_, per_broker| {
            per_broker.retain(|name, _| !broker_names.contains(name));
            !per_broker.is_empty()
        });
    }
}
