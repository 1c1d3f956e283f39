//! What the application plugs into a push consumer: a concurrent listener (any thread, any
//! order, failed messages retried later through the broker) or an orderly listener (one batch of a
//! queue at a time, in queue order, a failed batch retried in place after a pause). Listeners are
//! plain synchronous functions, run on blocking threads, as Java's listener threads are.

use std::sync::Arc;
use std::time::Duration;

use ferrimq_remoting::body::MessageQueue;

use crate::message::MessageExt;

/// Outcome of a concurrent listener call (Java `ConsumeConcurrentlyStatus`); the default (what a
/// panicking listener counts as) is failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsumeConcurrentlyStatus {
    /// The messages up to [`ConcurrentContext::ack_index`] are consumed.
    ConsumeSuccess,
    /// Consume the batch again later (through the retry topic in clustering mode).
    #[default]
    ReconsumeLater,
}

/// Outcome of an orderly listener call (Java `ConsumeOrderlyStatus`); the default (what a
/// panicking listener counts as) is to suspend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsumeOrderlyStatus {
    /// The batch is consumed; the queue moves on.
    Success,
    /// Pause the queue, then deliver the same batch again.
    #[default]
    SuspendCurrentQueueAMoment,
}

/// Per-call settings of a concurrent listener (Java `ConsumeConcurrentlyContext`).
#[derive(Debug, Clone)]
pub struct ConcurrentContext {
    /// Queue the batch came from.
    pub queue: MessageQueue,
    /// Delay level of the retry: 0 lets the broker choose (3 + reconsume times), -1 sends the
    /// messages straight to the dead-letter queue.
    pub delay_level_when_next_consume: i32,
    /// On success, the index of the last message consumed; later ones are retried.
    pub ack_index: i32,
}

/// Per-call settings of an orderly listener (Java `ConsumeOrderlyContext`).
#[derive(Debug, Clone)]
pub struct OrderlyContext {
    /// Queue the batch came from.
    pub queue: MessageQueue,
    /// Pause before redelivery on suspend (`None` = the consumer's setting).
    pub suspend_time: Option<Duration>,
}

/// A listener consuming batches concurrently.
pub trait MessageListenerConcurrently: Send + Sync + 'static {
    /// Consumes `messages`.
    fn consume(
        &self,
        messages: &[MessageExt],
        context: &mut ConcurrentContext,
    ) -> ConsumeConcurrentlyStatus;
}

impl<F> MessageListenerConcurrently for F
where
    F: Fn(&[MessageExt], &mut ConcurrentContext) -> ConsumeConcurrentlyStatus
        + Send
        + Sync
        + 'static,
{
    fn consume(
        &self,
        messages: &[MessageExt],
        context: &mut ConcurrentContext,
    ) -> ConsumeConcurrentlyStatus {
        self(messages, context)
    }
}

/// A listener consuming each queue in order.
pub trait MessageListenerOrderly: Send + Sync + 'static {
    /// Consumes `messages`, the next ones of their queue.
    fn consume(
        &self,
        messages: &[MessageExt],
        context: &mut OrderlyContext,
    ) -> ConsumeOrderlyStatus;
}

impl<F> MessageListenerOrderly for F
where
    F: Fn(&[MessageExt], &mut OrderlyContext) -> ConsumeOrderlyStatus + Send + Sync + 'static,
{
    fn consume(
        &self,
        messages: &[MessageExt],
        context: &mut OrderlyContext,
    ) -> ConsumeOrderlyStatus {
        self(messages, context)
    }
}

/// The listener of a push consumer.
#[derive(Clone)]
pub enum Listener {
    /// Concurrent consumption.
    Concurrently(Arc<dyn MessageListenerConcurrently>),
    /// Orderly consumption (queue locks in clustering mode).
    Orderly(Arc<dyn MessageListenerOrderly>),
}

impl Listener {
    /// A concurrent listener.
    pub fn concurrently(listener: impl MessageListenerConcurrently) -> Self {
        Listener::Concurrently(Arc::new(listener))
    }

    /// An orderly listener.
    pub fn orderly(listener: impl MessageListenerOrderly) -> Self {
        Listener::Orderly(Arc::new(listener))
    }

    /// Whether this is an orderly listener.
    pub fn is_orderly(&self) -> bool {
        matches!(self, Listener::Orderly(_))
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_orderly() {
            "Listener::Orderly"
        } else {
            "Listener::Concurrently"
        })
    }
}
