//! END_TRANSACTION (37): the producer's (or a check-back's) decision on a half message.
//!
//! The half message is looked up by `commitLogOffset` and must match the request (producer
//! group = PGROUP, queue offset = `tranStateTableOffset`). Commit writes the real message and
//! then the op record; rollback writes only the op record; "unknown" (0) changes nothing. The
//! request normally arrives oneway, so the response is for the rare two-way caller (and tests).
//! A commit is answered once the committed message is as durable as a send would be (the
//! SYNC_FLUSH wait and the SYNC_MASTER slave acknowledgement); as in the Java broker
//! (EndTransactionProcessor.sendFinalMessage), a flush or slave timeout still answers SUCCESS.

use std::sync::Arc;

use ferrimq_remoting::header::typed::{
    EndTransactionRequestHeader, TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
};
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_transport::HandlerResult;

use super::log::{Durability, HalfMessage, TransactionLog};
use super::{PROPERTY_PRODUCER_GROUP, TransactionError};
use crate::replication::Replication;
use crate::response::{reject, store_error_response};
use crate::send::acknowledged;

/// What END_TRANSACTION did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The real message was written at this commit-log offset, and the op record.
    Committed {
        /// Commit-log offset of the real message.
        commit_log_offset: i64,
    },
    /// Only the op record was written.
    RolledBack,
    /// `commitOrRollback` was 0 (or unknown): nothing changed.
    Ignored,
}

/// The END_TRANSACTION processor.
#[derive(Debug)]
pub struct EndTransactionProcessor {
    /// The transaction system topics.
    pub log: Arc<TransactionLog>,
    /// A slave refuses END_TRANSACTION (its store only copies the master's).
    pub slave: bool,
}

impl EndTransactionProcessor {
    /// Handles one END_TRANSACTION request; a commit is answered once `replication` and the
    /// flush (bounded by `flush_timeout`) acknowledged the committed message.
    pub async fn handle(
        &self,
        request: &RemotingCommand,
        replication: &Replication,
        flush_timeout: std::time::Duration,
    ) -> HandlerResult {
        let header: EndTransactionRequestHeader = request.decode_header()?;
        if self.slave {
            let remark = "Message store is slave mode, so end transaction is forbidden. ";
            return Ok(Some(reject(
                request,
                ResponseCode::SlaveNotAvailable,
                remark,
            )));
        }
        let (outcome, durability) = match self.end(&header) {
            Ok(ended) => ended,
            Err(err) => {
                tracing::warn!(error = %err, msg_id = %header.msg_id, "end transaction refused");
                return Ok(Some(reject(
                    request,
                    ResponseCode::SystemError,
                    err.to_string(),
                )));
            }
        };
        if let Some(d) = durability {
            match acknowledged(replication, d.flush, d.end, true, flush_timeout).await {
                Ok(ResponseCode::Success) => {}
                Ok(code) => tracing::warn!(?code, msg_id = %header.msg_id,
                    "committed transaction message not acknowledged in time"),
                Err(err) => return Ok(Some(store_error_response(request, &err))),
            }
        }
        tracing::debug!(?outcome, msg_id = %header.msg_id,
            from_check = header.from_transaction_check.unwrap_or(false), "transaction ended");
        Ok(Some(RemotingCommand::response_to(
            request,
            ResponseCode::Success,
        )))
    }

    /// Applies the decision in `header`.
    /// A commit also returns what its acknowledgement waits for. The op record follows the
    /// committed message in the CommitLog, so it is never durable (or replicated) without it.
    pub fn end(
        &self,
        header: &EndTransactionRequestHeader,
    ) -> Result<(Outcome, Option<Durability>), TransactionError> {
        let decision = header.commit_or_rollback;
        if decision != TRANSACTION_COMMIT_TYPE && decision != TRANSACTION_ROLLBACK_TYPE {
            if decision != TRANSACTION_NOT_TYPE {
                tracing::warn!(decision, "END_TRANSACTION with an unknown decision ignored");
            }
            return Ok((Outcome::Ignored, None));
        }
        let half = self.log.half_at_commit_offset(header.commit_log_offset)?;
        check_matches(&half, header)?;
        if decision == TRANSACTION_ROLLBACK_TYPE {
            self.log.append_op(&half)?;
            return Ok((Outcome::RolledBack, None));
        }
        let (written, durability) = self.log.append_commit(&half)?;
        self.log.append_op(&half)?;
        let outcome = Outcome::Committed {
            commit_log_offset: written.commit_log_offset,
        };
        Ok((outcome, Some(durability)))
    }
}

/// Java `checkPrepareMessage`: the producer group and the queue offset must match.
fn check_matches(
    half: &HalfMessage,
    header: &EndTransactionRequestHeader,
) -> Result<(), TransactionError> {
    let mismatch = |reason: String| TransactionError::Mismatch {
        offset: half.commit_log_offset,
        reason,
    };
    let group = half.properties.get(PROPERTY_PRODUCER_GROUP).unwrap_or("");
    if group != header.producer_group {
        return Err(mismatch(format!(
            "producer group {} is not the message's {group}",
            header.producer_group
        )));
    }
    if half.queue_offset != header.tran_state_table_offset {
        return Err(mismatch(format!(
            "tranStateTableOffset {} is not the message's {}",
            header.tran_state_table_offset, half.queue_offset
        )));
    }
    Ok(())
}

/// Routes END_TRANSACTION (37) and GET_PRODUCER_CONNECTION_LIST (204).
pub(crate) fn route_transactions(
    table: &mut ferrimq_transport::DispatchTable,
    h: &crate::broker::Handles,
    config: &ferrimq_config::BrokerConfig,
    store_host: std::net::SocketAddr,
) {
    use ferrimq_remoting::RequestCode;
    let log = TransactionLog::new(Arc::clone(&h.store), Arc::clone(&h.topics), store_host);
    let end = Arc::new(EndTransactionProcessor {
        log: Arc::new(log),
        slave: !config.broker.broker_role.is_master(),
    });
    let replication = Arc::clone(&h.ha);
    let flush_timeout = std::time::Duration::from_millis(config.store.sync_flush_timeout);
    table.insert(
        RequestCode::EndTransaction,
        move |req: RemotingCommand, _ch| {
            let (end, replication) = (Arc::clone(&end), Arc::clone(&replication));
            async move { end.handle(&req, &replication, flush_timeout).await }
        },
    );
    let producers = Arc::clone(&h.producers);
    table.insert(
        RequestCode::GetProducerConnectionList,
        move |req: RemotingCommand, _ch| {
            let result = producers.connection_list(&req);
            async move { result }
        },
    );
}
