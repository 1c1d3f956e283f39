//! ferrimq-server: the broker process.
//!
//! [`Broker::start`] takes a resolved `BrokerConfig`, opens the message store and the metadata
//! tables, and serves one dispatch table (module `routes`) on `listenPort`. Each request code belongs to one
//! processor module, and each processor holds only the handles it needs:
//!
//! - [`send`]: SEND_MESSAGE / V2 / BATCH -> the store (auto-create from TBW102, perm checks).
//! - [`pull`]: PULL_MESSAGE / LITE_PULL_MESSAGE, filtered by [`filter`] (TAG and SQL92, compiled by
//!   [`sql_filters`], which also answers CHECK_CLIENT_CONFIG), long polling through
//!   [`long_polling`] (woken by the store's dispatcher).
//! - [`retry`]: CONSUMER_SEND_MSG_BACK -> `%RETRY%` / `%DLQ%` copies.
//! - [`schedule`]: delayed delivery through SCHEDULE_TOPIC_XXXX and delayOffset.json.
//! - [`offset`]: consumer offsets and queue offsets.
//! - [`locks`]: LOCK_BATCH_MQ / UNLOCK_BATCH_MQ, the orderly-consumption queue locks.
//! - [`client`]: heartbeats, the [`consumers`] table, NOTIFY_CONSUMER_IDS_CHANGED.
//! - [`producers`]: the producer table (heartbeats), GET_PRODUCER_CONNECTION_LIST.
//! - [`consumer_calls`]: admin calls relayed to consumer clients (reset offsets 222 -> 220,
//!   consumer status 223 -> 221, running info 307, direct consumption 309).
//! - [`transaction`]: half messages, END_TRANSACTION, op records and the check-back service.
//! - [`address`]: listen, registered and STOREHOST addresses (IPs or DNS names).
//! - [`admin`]: topic/group administration, statistics, message lookups.
//! - [`topics`]: topics.json plus system topics and the "changed" signal.
//! - [`registration`]: REGISTER_BROKER / UNREGISTER_BROKER with every NameServer (a slave
//!   learns its master's addresses from the answer).
//! - [`replication`]: the HA stream by role (`ferrimq-ha` listener on a master, client on a
//!   slave) and the SYNC_MASTER wait of [`send`] (FLUSH_SLAVE_TIMEOUT / SLAVE_NOT_AVAILABLE).
//! - [`slave`]: the SLAVE role: refused writes, the master link, slave-side consumer commits,
//!   replication fields of the runtime info; [`slave_sync`] copies the master's metadata and
//!   [`admin_sync`] serves it (GET_ALL_CONSUMER_OFFSET, _DELAY_OFFSET, _SUBSCRIPTIONGROUP_CONFIG).
//! - [`response`]: store failures -> response codes, in one place.
//! - [`error`]: start-up and shutdown failures.

pub mod address;
pub mod admin;
pub mod admin_groups;
pub mod admin_sync;
pub mod broker;
pub mod client;
pub mod consumer_calls;
pub mod consumers;
pub mod error;
pub mod filter;
pub mod locks;
pub mod long_polling;
pub mod offset;
pub mod producers;
pub mod pull;
pub mod registration;
pub mod replication;
pub mod response;
pub mod retry;
mod routes;
pub mod schedule;
pub mod send;
pub mod slave;
pub mod slave_sync;
pub mod sql_filters;
pub mod topics;
pub mod transaction;
pub mod vip;

pub use broker::Broker;
pub use error::{Result, ServerError};
