//! The dispatch table: request code -> handler, and the rules every answer follows.
//!
//! One table per endpoint (the broker's, the namesrv's, a client's for requests coming back from
//! the server). [`DispatchTable::respond`] owns the response rules in one place:
//! - unknown code -> `REQUEST_CODE_NOT_SUPPORTED` (3), remark `" request type N not supported"`
//!   exactly as Java words it;
//! - handler error or panic -> `SYSTEM_ERROR` (1) with the error text;
//! - every response carries the request's opaque, the RESPONSE flag and the request's serialize
//!   type, whatever the handler put there;
//! - oneway requests are never answered.
//!
//! The dispatcher (crate-internal) starts each request on the connection's reader and moves it to a
//! task of its own as soon as it has to wait, so a handler parked for seconds (long polling) never
//! holds up the connection's other requests; it bounds the number of requests in flight: past the
//! bound, requests are refused with `SYSTEM_BUSY` like Java's rejected executor.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Waker};

use ferrimq_remoting::command::{FLAG_ONEWAY, FLAG_RESPONSE};
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::channel::Channel;

/// The error a handler may return; its text becomes the SYSTEM_ERROR remark.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What a handler returns: the response, `None` for no reply, or an error.
pub type HandlerResult = Result<Option<RemotingCommand>, HandlerError>;

/// Remark Java's rejected-execution path sends with SYSTEM_BUSY.
pub const BUSY_REMARK: &str = "[OVERLOAD]system busy, start flow control for a while";

/// An async request handler. Implemented for every
/// `Fn(RemotingCommand, Channel) -> impl Future<Output = HandlerResult>`.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request received on `channel`.
    fn call(&self, request: RemotingCommand, channel: Channel)
    -> BoxFuture<'static, HandlerResult>;
}

impl<F, Fut> Handler for F
where
    F: Fn(RemotingCommand, Channel) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn call(
        &self,
        request: RemotingCommand,
        channel: Channel,
    ) -> BoxFuture<'static, HandlerResult> {
        Box::pin(self(request, channel))
    }
}

/// Request code -> handler.
#[derive(Clone, Default)]
pub struct DispatchTable {
    handlers: HashMap<i32, Arc<dyn Handler>>,
}

impl fmt::Debug for DispatchTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut codes: Vec<_> = self.handlers.keys().copied().collect();
        codes.sort_unstable();
        f.debug_struct("DispatchTable")
            .field("codes", &codes)
            .finish()
    }
}

impl DispatchTable {
    /// An empty table: every request is answered `REQUEST_CODE_NOT_SUPPORTED`.
    pub fn new() -> Self {
        DispatchTable::default()
    }

    /// Adds (or replaces) the handler of `code`; builder style.
    pub fn route(mut self, code: impl Into<i32>, handler: impl Handler) -> Self {
        self.insert(code, handler);
        self
    }

    /// Adds (or replaces) the handler of `code`, returning the previous one.
    pub fn insert(
        &mut self,
        code: impl Into<i32>,
        handler: impl Handler,
    ) -> Option<Arc<dyn Handler>> {
        self.handlers.insert(code.into(), Arc::new(handler))
    }

    /// True when `code` has a handler.
    pub fn handles(&self, code: i32) -> bool {
        self.handlers.contains_key(&code)
    }

    /// Runs the handler of `request` and applies the response rules; `None` means nothing is
    /// sent back (oneway request, or a handler that chose not to reply).
    pub async fn respond(
        &self,
        request: RemotingCommand,
        channel: Channel,
    ) -> Option<RemotingCommand> {
        // Everything the answer needs from the request, so the request itself moves into the
        // handler without a copy of its fields and body.
        let reply = RemotingCommand::response_to(&request, ResponseCode::Success);
        let (code, oneway) = (request.code, request.is_oneway());
        let response = match self.handlers.get(&code) {
            None => Some(not_supported(&reply, code)),
            Some(handler) => run_handler(handler.as_ref(), request, channel, &reply).await,
        };
        match response {
            Some(response) if oneway => {
                tracing::debug!(code, reply = response.code, "oneway request: reply dropped");
                None
            }
            Some(response) => Some(finish_response(&reply, response)),
            None => None,
        }
    }
}

/// Calls the handler, turning an error or a panic into SYSTEM_ERROR.
async fn run_handler(
    handler: &dyn Handler,
    request: RemotingCommand,
    channel: Channel,
    reply: &RemotingCommand,
) -> Option<RemotingCommand> {
    let code = request.code;
    let call = AssertUnwindSafe(handler.call(request, channel)).catch_unwind();
    let text = match call.await {
        Ok(Ok(response)) => return response,
        Ok(Err(err)) => {
            tracing::warn!(code, opaque = reply.opaque, %err, "handler failed");
            err.to_string()
        }
        Err(panic) => {
            let text = panic_text(panic.as_ref());
            tracing::error!(code, opaque = reply.opaque, %text, "handler panicked");
            text
        }
    };
    Some(system_error(reply, text))
}

/// `reply` turned into SYSTEM_ERROR with `remark`.
fn system_error(reply: &RemotingCommand, remark: String) -> RemotingCommand {
    RemotingCommand {
        code: ResponseCode::SystemError.code(),
        remark: Some(remark),
        ..reply.clone()
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("handler panicked: {message}")
}

/// The answer to a code without a handler, worded as Java's `NettyRemotingAbstract`.
fn not_supported(reply: &RemotingCommand, code: i32) -> RemotingCommand {
    RemotingCommand {
        code: ResponseCode::RequestCodeNotSupported.code(),
        remark: Some(format!(" request type {code} not supported")),
        ..reply.clone()
    }
}

/// Forces the fields a response must carry, whatever the handler set: the request's opaque and
/// serialize type (both in `reply`), the RESPONSE flag, no ONEWAY flag.
fn finish_response(reply: &RemotingCommand, mut response: RemotingCommand) -> RemotingCommand {
    response.opaque = reply.opaque;
    response.flag = (response.flag | FLAG_RESPONSE) & !FLAG_ONEWAY;
    response.serialize_type = reply.serialize_type;
    response
}

/// Runs requests of one endpoint concurrently, bounded by a number of in-flight permits.
pub(crate) struct Dispatcher {
    table: DispatchTable,
    permits: Arc<Semaphore>,
    max_in_flight: u32,
}

impl Dispatcher {
    pub(crate) fn new(table: DispatchTable, max_in_flight: usize) -> Self {
        let max_in_flight =
            u32::try_from(max_in_flight.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        Dispatcher {
            table,
            permits: Arc::new(Semaphore::new(max_in_flight as usize)),
            max_in_flight,
        }
    }

    /// Starts handling `request` on its own task, or refuses it with SYSTEM_BUSY.
    pub(crate) fn dispatch(self: &Arc<Self>, request: RemotingCommand, channel: Channel) {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            tracing::warn!(peer = %channel.peer_addr(), code = request.code, "too many requests in flight, refused");
            if !request.is_oneway() {
                let busy = RemotingCommand::error_response(
                    &request,
                    ResponseCode::SystemBusy,
                    BUSY_REMARK,
                );
                tokio::spawn(async move { send_reply(&channel, busy).await });
            }
            return;
        };
        let dispatcher = Arc::clone(self);
        let mut handling: BoxFuture<'static, ()> = Box::pin(async move {
            let response = dispatcher.table.respond(request, channel.clone()).await;
            if let Some(response) = response {
                send_reply(&channel, response).await;
            }
            drop(permit);
        });
        // Most requests (a send under ASYNC_FLUSH, an offset query) complete without waiting:
        // run them right here on the connection's reader, and only give the ones that must wait
        // (long polling, SYNC_FLUSH, a full write queue) a task of their own. This saves a task
        // and a cross-thread wake-up per request. Polling first with a no-op waker is sound:
        // the task's first poll registers its own waker with whatever the future waits on.
        let mut first_poll = Context::from_waker(Waker::noop());
        if handling.as_mut().poll(&mut first_poll).is_pending() {
            tokio::spawn(handling);
        }
    }

    /// Waits until no request is in flight, or `deadline`; true when all finished.
    pub(crate) async fn drain(&self, deadline: Instant) -> bool {
        let all = self.permits.acquire_many(self.max_in_flight);
        match tokio::time::timeout_at(deadline, all).await {
            Ok(Ok(permits)) => {
                drop(permits);
                true
            }
            Ok(Err(_)) | Err(_) => false,
        }
    }
}

async fn send_reply(channel: &Channel, response: RemotingCommand) {
    let opaque = response.opaque;
    if let Err(err) = channel.send_response(response).await {
        tracing::debug!(peer = %channel.peer_addr(), opaque, %err, "response not sent");
    }
}
