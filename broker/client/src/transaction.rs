//! `TransactionProducer`: transactional messages (Java `TransactionMQProducer`).
//!
//! [`TransactionProducer::send_in_transaction`] sends a half message (properties TRAN_MSG=true
//! and PGROUP, sysFlag TRANSACTION_PREPARED), runs the listener's local transaction, and ends the
//! transaction with END_TRANSACTION (oneway) to the broker that stored the half: commit,
//! rollback, or nothing decided (unknown). The broker later asks about undecided halves with
//! CHECK_TRANSACTION_STATE on this client's connection; the session's dispatch table answers by
//! running the listener's check and sending END_TRANSACTION (`fromTransactionCheck=true`) back on
//! the same connection. Heartbeats (every `heartbeat_interval`, and at once when a send reaches a
//! broker not yet told) keep this producer group known to the brokers, since check-backs go only
//! to connections that reported the group.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrimq_remoting::header::typed::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader, TRANSACTION_COMMIT_TYPE,
    TRANSACTION_NOT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use ferrimq_remoting::{RemotingCommand, RequestCode};
use ferrimq_transport::{Channel, DispatchTable, HandlerResult};

use crate::error::{ClientError, Result};
use crate::message::{Message, MessageExt, decode_records, property};
use crate::message_id::decode_offset_msg_id;
use crate::producer::{Producer, ProducerConfig, SendResult, SendStatus};
use crate::session::{Session, SessionConfig, request};

/// "true" on a half message.
pub const PROPERTY_TRANSACTION_PREPARED: &str = "TRAN_MSG";
/// Producer group of a half message.
pub const PROPERTY_PRODUCER_GROUP: &str = "PGROUP";
/// sysFlag bit of a half message.
pub const TRANSACTION_PREPARED_FLAG: i32 = 0x4;

/// The sysFlag bits a message's properties call for: PREPARED when TRAN_MSG is "true" (Java
/// `sendKernelImpl`).
pub fn prepared_flag(message: &Message) -> i32 {
    let half = message
        .properties
        .get(PROPERTY_TRANSACTION_PREPARED)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if half { TRANSACTION_PREPARED_FLAG } else { 0 }
}

/// The outcome of a local transaction (Java `LocalTransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalTransactionState {
    /// Make the message visible.
    CommitMessage,
    /// Drop the message.
    RollbackMessage,
    /// Not decided yet: the broker will check back.
    Unknown,
}

impl LocalTransactionState {
    /// The END_TRANSACTION `commitOrRollback` value.
    pub fn code(self) -> i32 {
        match self {
            LocalTransactionState::CommitMessage => TRANSACTION_COMMIT_TYPE,
            LocalTransactionState::RollbackMessage => TRANSACTION_ROLLBACK_TYPE,
            LocalTransactionState::Unknown => TRANSACTION_NOT_TYPE,
        }
    }
}

/// The application's side of a transaction. Both methods run on a blocking thread.
pub trait TransactionListener: Send + Sync + 'static {
    /// Runs the local transaction after the half message was stored.
    fn execute_local_transaction(
        &self,
        message: &Message,
        sent: &SendResult,
    ) -> LocalTransactionState;

    /// Answers the broker's question about an undecided half message.
    fn check_local_transaction(&self, message: &MessageExt) -> LocalTransactionState;
}

/// Result of [`TransactionProducer::send_in_transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionSendResult {
    /// The half message's send result (`msg_id` is its UNIQ_KEY, the transaction id).
    pub send: SendResult,
    /// What the local transaction decided (and END_TRANSACTION carried).
    pub state: LocalTransactionState,
}

/// Settings of a [`TransactionProducer`].
#[derive(Debug, Clone)]
pub struct TransactionProducerConfig {
    /// Producer settings (the group is the transaction's producer group).
    pub producer: ProducerConfig,
    /// Period of the heartbeats that keep the group known to the brokers (Java 30 s).
    pub heartbeat_interval: Duration,
}

impl TransactionProducerConfig {
    /// Java defaults for `group`.
    pub fn new(group: impl Into<String>) -> Self {
        TransactionProducerConfig {
            producer: ProducerConfig::new(group),
            heartbeat_interval: Duration::from_secs(30),
        }
    }
}

/// A producer of transactional messages answering the broker's check-backs.
pub struct TransactionProducer {
    producer: Producer,
    group: String,
    listener: Arc<dyn TransactionListener>,
    told: Mutex<HashSet<String>>,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TransactionProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionProducer")
            .field("producer", &self.producer)
            .finish_non_exhaustive()
    }
}

impl TransactionProducer {
    /// A producer on its own session (its connections answer CHECK_TRANSACTION_STATE with
    /// `listener`); starts the periodic heartbeat. Must be called inside a tokio runtime.
    pub fn new(
        session: SessionConfig,
        config: TransactionProducerConfig,
        listener: Arc<dyn TransactionListener>,
    ) -> Self {
        let config_group = config.producer.group.clone();
        let table = check_table(config_group.clone(), Arc::clone(&listener));
        let producer = Producer::new(Session::with_dispatch(session, table), config.producer);
        let beating = producer.clone();
        let interval = config.heartbeat_interval.max(Duration::from_millis(100));
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if let Err(err) = beating.heartbeat().await {
                    tracing::debug!(error = %err, "transaction producer heartbeat failed");
                }
            }
        });
        TransactionProducer {
            producer,
            group: config_group,
            listener,
            told: Mutex::new(HashSet::new()),
            heartbeat,
        }
    }

    /// The producer underneath (plain sends share its routes and connections).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Sends `message` as a half message, runs the local transaction and ends it.
    pub async fn send_in_transaction(&self, message: Message) -> Result<TransactionSendResult> {
        let mut message = message
            .with_property(PROPERTY_TRANSACTION_PREPARED, "true")
            .with_property(PROPERTY_PRODUCER_GROUP, self.group.clone());
        // Java clears the delay of a transactional message.
        message.properties.remove(property::DELAY);
        let send = self.producer.send(message.clone()).await?;
        self.tell_new_brokers().await;
        let state = if send.status == SendStatus::SendOk {
            let listener = Arc::clone(&self.listener);
            let (msg, sent) = (message.clone(), send.clone());
            tokio::task::spawn_blocking(move || listener.execute_local_transaction(&msg, &sent))
                .await
                .unwrap_or(LocalTransactionState::Unknown)
        } else {
            LocalTransactionState::RollbackMessage
        };
        self.end_transaction(&message, &send, state).await?;
        Ok(TransactionSendResult { send, state })
    }

    /// Stops the heartbeat and unregisters the group from the brokers.
    pub async fn shutdown(&self) -> Result<()> {
        self.heartbeat.abort();
        self.producer.shutdown().await
    }

    /// Heartbeats when the route cache names a master not told about this group yet, so a
    /// check-back can reach this producer before the periodic heartbeat.
    async fn tell_new_brokers(&self) {
        let masters = self.producer.routes().all_master_addrs();
        let fresh = {
            let mut told = self.told.lock().unwrap_or_else(|e| e.into_inner());
            masters
                .into_iter()
                .filter(|a| told.insert(a.clone()))
                .count()
        };
        if fresh > 0 {
            if let Err(err) = self.producer.heartbeat().await {
                tracing::debug!(error = %err, "transaction producer heartbeat failed");
            }
        }
    }

    /// END_TRANSACTION (oneway) to the broker that stored the half message.
    async fn end_transaction(
        &self,
        message: &Message,
        send: &SendResult,
        state: LocalTransactionState,
    ) -> Result<()> {
        let (_, commit_log_offset) =
            decode_offset_msg_id(&send.offset_msg_id).ok_or_else(|| {
                ClientError::InvalidMessage {
                    reason: format!("broker returned a bad offsetMsgId {}", send.offset_msg_id),
                }
            })?;
        let addr = self
            .producer
            .routes()
            .master_addr(&send.queue.broker_name)
            .ok_or_else(|| ClientError::NoBrokerAddr {
                broker: send.queue.broker_name.clone(),
            })?;
        let header = EndTransactionRequestHeader {
            topic: Some(message.topic.clone()),
            producer_group: self.group.clone(),
            tran_state_table_offset: send.queue_offset,
            commit_log_offset,
            commit_or_rollback: state.code(),
            from_transaction_check: Some(false),
            msg_id: send.msg_id.clone(),
            transaction_id: Some(send.msg_id.clone()),
        };
        let command = request(RequestCode::EndTransaction)
            .with_header(&header)
            .into_oneway();
        self.producer
            .routes()
            .session()
            .oneway(&addr, command)
            .await
    }
}

impl Drop for TransactionProducer {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// The client-side table: CHECK_TRANSACTION_STATE answered by `listener`.
fn check_table(group: String, listener: Arc<dyn TransactionListener>) -> DispatchTable {
    DispatchTable::new().route(
        RequestCode::CheckTransactionState,
        move |check: RemotingCommand, channel: Channel| {
            let (group, listener) = (group.clone(), Arc::clone(&listener));
            async move { answer_check(check, channel, group, listener).await }
        },
    )
}

/// Decodes the checked message, asks the listener, and sends END_TRANSACTION on `channel`.
async fn answer_check(
    check: RemotingCommand,
    channel: Channel,
    group: String,
    listener: Arc<dyn TransactionListener>,
) -> HandlerResult {
    let header: CheckTransactionStateRequestHeader = check.decode_header()?;
    let message = decode_records(&check.body)?
        .into_iter()
        .next()
        .ok_or("CHECK_TRANSACTION_STATE without a message")?;
    let owner = message.properties.get(PROPERTY_PRODUCER_GROUP);
    if owner.is_some_and(|g| *g != group) {
        tracing::warn!(group, owner = ?owner, "check-back for another producer group ignored");
        return Ok(None);
    }
    let msg_id = message.msg_id().to_owned();
    let state = tokio::task::spawn_blocking(move || listener.check_local_transaction(&message))
        .await
        .unwrap_or(LocalTransactionState::Unknown);
    let end = EndTransactionRequestHeader {
        topic: header.topic.clone(),
        producer_group: group,
        tran_state_table_offset: header.tran_state_table_offset,
        commit_log_offset: header.commit_log_offset,
        commit_or_rollback: state.code(),
        from_transaction_check: Some(true),
        msg_id,
        transaction_id: header.transaction_id.clone(),
    };
    let command = request(RequestCode::EndTransaction)
        .with_header(&end)
        .into_oneway();
    channel.send_oneway(command)?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_flag_follows_tran_msg() {
        let plain = Message::new("T", &b"x"[..]);
        assert_eq!(prepared_flag(&plain), 0);
        let half = plain
            .clone()
            .with_property(PROPERTY_TRANSACTION_PREPARED, "true");
        assert_eq!(prepared_flag(&half), TRANSACTION_PREPARED_FLAG);
        let not = plain.with_property(PROPERTY_TRANSACTION_PREPARED, "false");
        assert_eq!(prepared_flag(&not), 0);
    }

    #[test]
    fn states_map_to_end_transaction_codes() {
        assert_eq!(LocalTransactionState::CommitMessage.code(), 8);
        assert_eq!(LocalTransactionState::RollbackMessage.code(), 12);
        assert_eq!(LocalTransactionState::Unknown.code(), 0);
    }
}
