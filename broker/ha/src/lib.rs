//! ferrimq-ha: master/slave replication of the CommitLog (RocketMQ's 4.x HA stream).
//!
//! How data moves (see docs/architecture.md, flow 4):
//! - A slave's [`HaClient`] connects to the master's HA port, reports its CommitLog end as an
//!   8-byte big-endian offset, and keeps reporting after every append and every heartbeat
//!   interval.
//! - The master's [`HaServer`] accepts slaves; per connection one task reads the reports and
//!   one streams [`frame`]s `{offset i64, size i32, raw CommitLog bytes}` from the reported
//!   offset, with empty heartbeat frames when idle.
//! - The slave appends the raw bytes at exactly its end (`MessageStore::append_replica`); its
//!   own dispatcher builds ConsumeQueues and indexes, as on the master.
//! - Every report moves the master's acknowledged offset forward and completes the sends
//!   waiting in the [`ReplicaWaiter`] (SYNC_MASTER): completion-based, no task per send.
//!
//! Modules: [`frame`] (the wire codec), [`config`] ([`HaConfig`]), [`waiter`] (SYNC_MASTER
//! acknowledgement), [`server`] (master side), [`client`] (slave side), [`error`].

pub mod client;
pub mod config;
pub mod error;
pub mod frame;
pub mod server;
pub mod waiter;

pub use client::{ClientState, HaClient};
pub use config::HaConfig;
pub use error::{HaError, Result};
pub use server::{HaServer, SlaveState};
pub use waiter::{Outcome, ReplicaWaiter};
