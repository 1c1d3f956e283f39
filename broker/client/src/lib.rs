//! ferrimq-client: a RocketMQ remoting client in Rust — producer, pull consumer and admin client.
//!
//! It speaks the same protocol as the Java `rocketmq-client` 4.9/5.x (remoting, not gRPC), so it
//! works against Apache RocketMQ brokers as well as ferrimq's. It depends on `ferrimq-remoting`
//! (wire types) and `ferrimq-transport` (sockets) only; the stored-record decoder it needs for pull
//! and query bodies is its own ([`message::decode_records`]).
//!
//! How the pieces fit:
//! 1. [`Session`] owns the connections ([`ferrimq_transport::RemotingClient`]), the name-server
//!    list, the client id and the request timeout; every request goes through it.
//! 2. [`RouteCache`] asks the name servers for topic routes and keeps them, so sends and pulls keep
//!    working from the cache while every name server is down.
//! 3. [`Producer`] picks a queue, encodes the message (UNIQ_KEY, compression, batch encoding) and
//!    retries on another broker's queue on retryable failures.
//! 4. [`PullConsumer`] pulls from assigned queues, decodes and filters the records, and keeps and
//!    commits its positions.
//! 5. [`Admin`] wraps the name-server and broker admin operations (topics, groups, stats, queries).
//! 6. [`PushConsumer`] pulls in the background and feeds a listener (concurrently or orderly),
//!    rebalancing with an [`allocate`] strategy and keeping offsets in an [`offset_store`].
//!
//! Every failure is a [`ClientError`].

pub mod admin;
pub mod allocate;
pub mod broker_choice;
pub mod consumer;
pub mod error;
pub mod message;
pub mod message_id;
pub mod offset_store;
pub mod producer;
pub mod push_consumer;
pub mod route;
pub mod selection;
pub mod session;
pub mod subscription;
pub mod transaction;

pub use admin::Admin;
pub use consumer::{ConsumerConfig, PullConsumer, PullResult, PullStatus, StartPosition};
pub use error::{ClientError, Result};
pub use message::{Message, MessageExt};
pub use producer::{Producer, ProducerConfig, SendResult, SendStatus};
pub use push_consumer::{
    ConsumeConcurrentlyStatus, ConsumeOrderlyStatus, Listener, PushConsumer, PushConsumerConfig,
};
pub use route::{RouteCache, TopicRoute};
pub use session::{Session, SessionConfig};
