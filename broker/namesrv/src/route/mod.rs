//! The route table: which clusters hold which brokers, where each broker lives, which topics
//! each master serves, and which brokers are still alive.
//!
//! Everything sits behind one `RwLock`: registrations and expiry take the write lock, route
//! lookups (the hot path, every client every 30 s per topic) the read lock. No async and no
//! clock: every operation that depends on time takes `now_ms`, so expiry is deterministic in
//! tests and the server decides when to scan. The behaviour follows apache/rocketmq's
//! `RouteInfoManager` (4.9.x, with the 5.x removal of topics a master stops carrying).
//!
//! Submodules split the table by concern: [`registration`] (register, heartbeat, data
//! versions), [`removal`] (unregister, connection close, expiry) and [`lookup`] (routes,
//! cluster info, topic lists, write-permission changes, topic deletion).

mod lookup;
mod registration;
mod removal;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ferrimq_remoting::body::{BrokerData, DataVersion, QueueData};

pub use lookup::UnitFilter;
pub use registration::{RegisterOutcome, Registration};
pub use removal::ExpiredBroker;

/// Broker id of a master (`MixAll.MASTER_ID`).
pub const MASTER_ID: i64 = 0;

/// A broker silent for longer than this is removed (`BROKER_CHANNEL_EXPIRED_TIME`, 120 s).
pub const BROKER_CHANNEL_EXPIRED_MILLIS: u64 = 120_000;

/// Identifies one client connection, as assigned by the transport.
pub type ConnectionId = u64;

/// How a write-permission change applies (WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePermChange {
    /// Clear PERM_WRITE, keep the other bits.
    Wipe,
    /// Set the permission to PERM_READ | PERM_WRITE.
    Add,
}

/// Liveness record of one registered broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BrokerLiveInfo {
    /// Last registration or heartbeat, ms.
    last_update_ms: u64,
    /// Silence after which the broker expires, ms.
    timeout_ms: u64,
    /// DataVersion of the broker's topic table at its last registration.
    data_version: DataVersion,
    /// "ip:haPort" that slaves connect to.
    ha_server_addr: String,
    /// Connection the broker registered over.
    connection: ConnectionId,
}

/// The tables, guarded together by [`RouteTable`]'s lock.
#[derive(Debug, Default)]
struct RouteState {
    /// Cluster name -> broker names.
    clusters: BTreeMap<String, BTreeSet<String>>,
    /// Broker name -> cluster and addresses by broker id.
    brokers: BTreeMap<String, BrokerData>,
    /// Topic -> broker name -> queues of the topic on that broker.
    topics: BTreeMap<String, BTreeMap<String, QueueData>>,
    /// Broker address -> liveness.
    live: HashMap<String, BrokerLiveInfo>,
    /// Broker address -> filter server addresses.
    filter_servers: HashMap<String, Vec<String>>,
}

/// The thread-safe route table of a name server.
#[derive(Debug, Default)]
pub struct RouteTable {
    state: RwLock<RouteState>,
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> Self {
        RouteTable::default()
    }

    /// Shared access. A panic in another thread cannot leave the tables half-updated in a way
    /// that matters more than refusing service would, so a poisoned lock is taken over.
    fn read(&self) -> RwLockReadGuard<'_, RouteState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Exclusive access, taking over a poisoned lock (see [`RouteTable::read`]).
    fn write(&self) -> RwLockWriteGuard<'_, RouteState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
