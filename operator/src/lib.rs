//! ferrimq-operator: the Kubernetes operator of ferrimq.
//!
//! Flow of one reconcile (see docs/operator.md): read (I/O) -> [`validate`] (pure) ->
//! [`build`] the desired children (pure) -> apply with server-side apply -> status. Long
//! operations such as staged queue shrinking are state machines persisted in status
//! ([`shrink`]) and advanced by requeue.

pub mod broker_calls;
pub mod build;
mod children;
pub mod crd;
pub mod drain;
pub mod endpoints;
pub mod lease;
pub mod reconcile;
pub mod remote_admin;
pub mod scale_in;
pub mod shrink;
pub mod status;
pub mod topics;
pub mod validate;
