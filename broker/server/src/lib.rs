//! ferrimq-server: the broker process.
//!
//! [`Broker::start`] takes a resolved `BrokerConfig`, opens the message store and the metadata
//! tables, and serves one dispatch table (module `routes`) on `listenPort`. Each request code belongs to one
//! processor module, and each processor holds only the handles it needs:
//!
//! - [`send`]: SEND_MESSAGE / V2 / BATCH -> the store (auto-create from TBW102, perm checks).
//! - [`pull`]: PULL_MESSAGE / LITE_PULL_MESSAGE, filtered by [`filter`], long polling through
//!   [`long_polling`] (woken by the store's dispatcher).
//! - [`retry`]: CONSUMER_SEND_MSG_BACK -> `%RETRY%` / `%DLQ%` copies.
//! - [`schedule`]: delayed delivery through SCHEDULE_TOPIC_XXXX and delayOffset.json.
//! - [`offset`]: consumer offsets and queue offsets.
//! - [`locks`]: LOCK_BATCH_MQ / UNLOCK_BATCH_MQ, the orderly-consumption queue locks.
//! - [`client`]: heartbeats, the [`consumers`] table, NOTIFY_CONSUMER_IDS_CHANGED.
//! - [`address`]: listen, registered and STOREHOST addresses (IPs or DNS names).
//! - [`admin`]: topic/group administration, statistics, message lookups.
//! - [`topics`]: topics.json plus system topics and the "changed" signal.
//! - [`registration`]: REGISTER_BROKER / UNREGISTER_BROKER with every NameServer.
//! - [`response`]: store failures -> response codes, in one place.
//! - [`error`]: start-up and shutdown failures.

pub mod address;
pub mod admin;
pub mod broker;
pub mod client;
pub mod consumers;
pub mod error;
pub mod filter;
pub mod locks;
pub mod long_polling;
pub mod offset;
pub mod pull;
pub mod registration;
pub mod response;
pub mod retry;
mod routes;
pub mod schedule;
pub mod send;
pub mod topics;

pub use broker::Broker;
pub use error::{Result, ServerError};
