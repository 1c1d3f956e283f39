//! ferrimq-transport: the remoting protocol on tokio TCP sockets.
//!
//! [`ferrimq_remoting`] turns bytes into commands; this crate moves them: it accepts and opens
//! connections, reads frames, runs handlers, matches responses to requests, and closes idle or
//! misbehaving peers. No processor logic lives here.
//!
//! How data moves:
//! 1. [`RemotingServer::bind`] (broker, namesrv) accepts connections; [`RemotingClient`] opens
//!    them, one per address. Either way a connection (module `connection`) gets a reader loop, a writer
//!    task and a [`Channel`] handle.
//! 2. The reader decodes frames. A response (flag bit 0) goes to the pending table of the channel
//!    that sent the request, matched by opaque. A request goes to the endpoint's
//!    [`DispatchTable`] and runs on its own task.
//! 3. The handler's answer is normalized (opaque, RESPONSE flag, serialize type; nothing for a
//!    oneway request) and queued to the writer, which batches frames into few writes.
//! 4. [`Channel::invoke`] / [`Channel::send_oneway`] let either side originate requests on a
//!    live connection; [`ChannelListener`] hears when connections open, idle out and close.
//!
//! Every failure is a [`TransportError`].

mod channel;
pub mod client;
mod connection;
pub mod dispatch;
pub mod error;
mod pending;
pub mod server;

pub use channel::{Channel, ChannelListener, NoopListener, next_opaque};
pub use client::{ClientConfig, RemotingClient};
pub use connection::LINGER;
pub use dispatch::{DispatchTable, Handler, HandlerError, HandlerResult};
pub use error::{Result, TransportError};
pub use server::{RemotingServer, ServerConfig, ShutdownOutcome};
