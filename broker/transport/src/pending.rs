//! The table of requests we sent on one connection and still wait to have answered.
//!
//! Responses are matched by opaque. The table and the connection's "closed" bit live under one
//! lock, so a request registered after the connection closed is refused instead of waiting for a
//! response that can never come, and closing fails every waiting request at once (dropping its
//! sender wakes the receiver with an error).

use std::collections::HashMap;
use std::sync::Mutex;

use ferrimq_remoting::RemotingCommand;
use tokio::sync::oneshot;

/// Opaque -> the waiter of that request.
#[derive(Debug, Default)]
pub(crate) struct PendingTable {
    state: Mutex<PendingState>,
}

#[derive(Debug, Default)]
struct PendingState {
    waiters: HashMap<i32, oneshot::Sender<RemotingCommand>>,
    closed: bool,
}

impl PendingTable {
    /// Registers a waiter for `opaque`; `None` when the connection is already closed.
    pub(crate) fn register(&self, opaque: i32) -> Option<oneshot::Receiver<RemotingCommand>> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        state.waiters.insert(opaque, tx);
        Some(rx)
    }

    /// Hands a response to its waiter. Returns the response back when nobody waits for it
    /// (timed out already, or never sent by us).
    pub(crate) fn complete(&self, response: RemotingCommand) -> Result<(), RemotingCommand> {
        let waiter = self.lock().waiters.remove(&response.opaque);
        match waiter {
            Some(tx) => tx.send(response),
            None => Err(response),
        }
    }

    /// Forgets the waiter of `opaque` (timeout or cancelled caller).
    pub(crate) fn forget(&self, opaque: i32) {
        self.lock().waiters.remove(&opaque);
    }

    /// Marks the connection closed and fails every waiter.
    pub(crate) fn close(&self) {
        let waiters = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.waiters)
        };
        drop(waiters);
    }

    /// Number of requests still waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().waiters.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PendingState> {
        // A panic while holding this lock cannot leave the map half-updated (every operation is a
        // single insert/remove), so a poisoned lock is still safe to use.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn completes_forgets_and_fails_on_close() {
        let table = PendingTable::default();
        let first = table.register(1).expect("open");
        let second = table.register(2).expect("open");
        let _third = table.register(3).expect("open");
        assert_eq!(table.len(), 3);

        let response = RemotingCommand::request(0, 1);
        assert_eq!(table.complete(response.clone()), Ok(()));
        assert_eq!(first.await, Ok(response));

        table.forget(3);
        assert_eq!(table.len(), 1);
        let late = RemotingCommand::request(0, 3);
        assert_eq!(table.complete(late.clone()), Err(late));

        table.close();
        assert_eq!(table.len(), 0);
        assert!(second.await.is_err());
        assert!(table.register(4).is_none());
    }
}
