//! ferrimq-bench: a load generator for any RocketMQ-compatible broker (ferrimq or Apache RocketMQ),
//! speaking the remoting protocol through `ferrimq-client`.
//!
//! Three workloads, each returning a serializable report:
//! - [`run_produce`]: producers sending sync, async (pipelined) or oneway, single or batched, to
//!   one or many topics, as fast as possible or at a fixed rate (latency from the intended send
//!   time, coordinated omission corrected);
//! - [`run_consume`]: consumers long-polling (push-consumer style) or pulling the topics' queues;
//! - [`run_e2e`]: both at once, with end-to-end latency from the send time stamped in each body
//!   to its receipt, and exact counts: sent, acknowledged, received, duplicates, missing.
//!
//! Plus [`first_send`]: the time until a freshly started broker accepts its first send.
//!
//! Latencies go into per-worker log-linear histograms ([`histogram::Histogram`]) merged at the
//! end; a warm-up phase runs first and is not counted.

pub mod body;
pub mod consume;
pub mod e2e;
pub mod error;
pub mod first_send;
pub mod histogram;
pub mod produce;
pub mod rate;
pub mod setup;
pub mod stats;

pub use consume::{ConsumeOptions, ConsumeReport, PullMode, StartFrom, run_consume};
pub use e2e::{E2eOptions, E2eReport, run_e2e};
pub use error::{BenchError, Result};
pub use first_send::first_send;
pub use histogram::{Histogram, LatencySummary};
pub use produce::{ProduceOptions, ProduceReport, SendMode, run_produce};
pub use setup::Target;
