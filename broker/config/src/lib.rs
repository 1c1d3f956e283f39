//! ferrimq-config: typed configuration, resolved once at start-up, shared by the data plane and
//! the operator so both agree on every key.
//!
//! - [`properties`]: Java `.properties` text (broker.conf / namesrv.conf) in and out.
//! - [`broker`]: [`BrokerConfig`] = [`BrokerSettings`] + the store's [`StoreConfig`];
//!   [`BrokerConfig::from_properties`] resolves and validates a broker.conf and returns unknown
//!   keys, [`BrokerConfig::to_properties`] renders one.
//! - [`store`]: [`StoreConfig`] (MessageStoreConfig keys), [`FlushDiskType`], delay levels.
//! - [`namesrv`]: the name server's [`NamesrvConfig`].
//! - [`topic`], [`group`], [`perm`]: the persisted/wire metadata types `TopicConfig` and
//!   `SubscriptionGroupConfig` (exact Java JSON names), permission bits, naming rules and the
//!   system topic and group names.
//! - [`setting`]: how one typed value is read and written, and the `section!` table macro that
//!   declares each section's keys once.
//! - [`error`]: [`ConfigError`], naming the key and value of every problem.
//!
//! Flow: text -> [`Properties`] -> `from_properties` (defaults, then each known key parsed into
//! its type, then cross-key validation) -> a typed section handed by value to each library.

pub mod broker;
pub mod error;
pub mod group;
pub mod namesrv;
pub mod perm;
pub mod properties;
pub mod setting;
pub mod store;
pub mod topic;

pub use broker::{BrokerConfig, BrokerRole, BrokerSettings, Loaded};
pub use error::ConfigError;
pub use group::SubscriptionGroupConfig;
pub use namesrv::NamesrvConfig;
pub use perm::Perm;
pub use properties::Properties;
pub use store::{DelayLevels, DeleteWhen, FlushDiskType, StoreConfig};
pub use topic::{TopicConfig, TopicFilterType};
