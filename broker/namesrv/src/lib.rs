//! ferrimq-namesrv: the NameServer, wire-compatible with RocketMQ clients, brokers and mqadmin.
//!
//! It owns the route table (which brokers exist, which topics they serve, who is alive) and the
//! KV config, and answers the name-server request codes. The crate is synchronous and clock-free
//! at its core so every behaviour is tested without sockets:
//!
//! 1. The transport decodes a frame into a `RemotingCommand` and calls [`processor::process`]
//!    with a [`processor::RequestContext`] (peer, connection id, now).
//! 2. The processor of the code ([`processor::PROCESSORS`]) decodes its typed header and body
//!    and reads or changes [`route::RouteTable`] and [`kv::KvConfig`].
//! 3. It returns the response Java clients expect (codes, remarks, headers, JSON quirks).
//! 4. Separately, the server calls [`route::RouteTable::scan_not_active`] periodically and
//!    [`route::RouteTable::on_connection_closed`] when a connection ends; [`server::NameServer`]
//!    does both on top of `ferrimq-transport`.

pub mod error;
pub mod kv;
pub mod processor;
pub mod route;
pub mod server;

pub use error::{NamesrvError, Result};
pub use kv::KvConfig;
pub use processor::{NamesrvState, PROCESSORS, RequestContext, process};
pub use route::{RouteTable, WritePermChange};
pub use server::NameServer;
