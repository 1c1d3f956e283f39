//! `Producer`: sends single messages (SEND_MESSAGE_V2, 310) and batches (SEND_BATCH_MESSAGE, 320).
//!
//! Each message gets a UNIQ_KEY (its user-visible id), bodies over `compress_over` bytes are zlib
//! compressed (sysFlag 0x301), and a queue is picked round robin from the topic's publish queues
//! ([`crate::selection`]). A failed attempt with a retryable cause is retried on the next queue,
//! avoiding the broker that just failed, within `retry_times` extra attempts and the send timeout
//! (Java `DefaultMQProducerImpl.sendDefaultImpl`). Ordered sends pick the queue with a
//! [`QueueSelector`] and are not retried elsewhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrimq_remoting::body::{HeartbeatData, JsonBody, MessageQueue, ProducerData};
use ferrimq_remoting::header::typed::{
    SendMessageRequestHeaderV2, SendMessageResponseHeader, UnregisterClientRequestHeader,
};
use ferrimq_remoting::message::{BatchEntry, encode_batch};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};

use crate::error::{ClientError, Result};
use crate::message::{Message, compress, property, sys_flag};
use crate::message_id::{UniqIdGenerator, now_millis};
use crate::route::{AUTO_CREATE_TOPIC, RouteCache};
use crate::selection::{QueueSelector, RoundRobin, is_retryable};
use crate::session::{Session, request};

/// Producer settings (Java `DefaultMQProducer` defaults).
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Producer group.
    pub group: String,
    /// Time budget of one send, retries included.
    pub send_timeout: Duration,
    /// Extra attempts after a retryable failure.
    pub retry_times: u32,
    /// Bodies longer than this are compressed.
    pub compress_over: usize,
    /// zlib level.
    pub compress_level: u32,
    /// Largest body (or batch body) accepted.
    pub max_message_size: usize,
    /// Queues asked for when the broker auto-creates a topic.
    pub default_topic_queue_nums: i32,
}

impl ProducerConfig {
    /// Defaults for `group`.
    pub fn new(group: impl Into<String>) -> Self {
        ProducerConfig {
            group: group.into(),
            send_timeout: Duration::from_secs(3),
            retry_times: 2,
            compress_over: 4096,
            compress_level: 5,
            max_message_size: 4 * 1024 * 1024,
            default_topic_queue_nums: 4,
        }
    }
}

/// Broker-side outcome of a successful send (Java `SendStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Stored.
    SendOk,
    /// Stored, but the synchronous flush timed out.
    FlushDiskTimeout,
    /// Stored, but the slave did not acknowledge in time.
    FlushSlaveTimeout,
    /// Stored, but no slave is available.
    SlaveNotAvailable,
}

/// Result of a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// Outcome.
    pub status: SendStatus,
    /// UNIQ_KEY of the message (for a batch, the inner UNIQ_KEYs joined with ",").
    pub msg_id: String,
    /// offsetMsgId(s) returned by the broker.
    pub offset_msg_id: String,
    /// Queue the message went to.
    pub queue: MessageQueue,
    /// Consume-queue offset of the (first) message.
    pub queue_offset: i64,
    /// Transaction id, if the broker returned one.
    pub transaction_id: Option<String>,
    /// Broker region (`MSG_REGION`).
    pub region_id: Option<String>,
}

/// A message ready for the wire.
#[derive(Debug, Clone)]
struct Outgoing {
    topic: String,
    body: Bytes,
    properties: String,
    sys_flag: i32,
    flag: i32,
    msg_id: String,
    batch: bool,
}

/// Sends messages; cheap to clone (shared state behind an `Arc`).
#[derive(Debug, Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    routes: Arc<RouteCache>,
    config: ProducerConfig,
    ids: UniqIdGenerator,
    round_robin: RoundRobin,
}

impl Producer {
    /// A producer with its own route cache (30 s route age) on `session`.
    pub fn new(session: Arc<Session>, config: ProducerConfig) -> Self {
        Producer::with_routes(RouteCache::new(session, Duration::from_secs(30)), config)
    }

    /// A producer sharing `routes` with other clients of the session.
    pub fn with_routes(routes: Arc<RouteCache>, config: ProducerConfig) -> Self {
        let start = (now_millis() as usize) % 1024;
        Producer {
            inner: Arc::new(Inner {
                routes,
                config,
                ids: UniqIdGenerator::new(),
                round_robin: RoundRobin::starting_at(start),
            }),
        }
    }

    /// The route cache in use.
    pub fn routes(&self) -> &Arc<RouteCache> {
        &self.inner.routes
    }

    /// Sends `message` and waits for the broker, retrying on another queue when allowed.
    pub async fn send(&self, message: Message) -> Result<SendResult> {
        let outgoing = self.prepare(message)?;
        self.send_with_retries(outgoing).await
    }

    /// Sends in a spawned task; the handle resolves to the same result as [`Producer::send`].
    pub fn send_async(&self, message: Message) -> tokio::task::JoinHandle<Result<SendResult>> {
        let producer = self.clone();
        tokio::spawn(async move { producer.send(message).await })
    }

    /// Sends without waiting for (or getting) an answer; one attempt.
    pub async fn send_oneway(&self, message: Message) -> Result<()> {
        let outgoing = self.prepare(message)?;
        let route = self.publish_route(&outgoing.topic).await?;
        let queue = self
            .inner
            .round_robin
            .select(&route.publish, None)
            .ok_or_else(|| ClientError::NoQueue {
                topic: outgoing.topic.clone(),
                kind: "writable",
            })?;
        let addr = self.master_addr(queue).await?;
        let command = self.command(&outgoing, queue).into_oneway();
        self.session().oneway(&addr, command).await
    }

    /// Sends to the queue `selector` picks among the publish queues; no retry elsewhere.
    pub async fn send_with_selector(
        &self,
        message: Message,
        selector: &dyn QueueSelector,
    ) -> Result<SendResult> {
        let outgoing = self.prepare(message)?;
        let route = self.publish_route(&outgoing.topic).await?;
        if route.publish.is_empty() {
            return Err(ClientError::NoQueue {
                topic: outgoing.topic,
                kind: "writable",
            });
        }
        let queue = &route.publish[selector.select(&route.publish) % route.publish.len()];
        self.send_once(&outgoing, queue, self.inner.config.send_timeout)
            .await
    }

    /// Sends to one given queue; no retry elsewhere.
    pub async fn send_to_queue(
        &self,
        message: Message,
        queue: &MessageQueue,
    ) -> Result<SendResult> {
        let outgoing = self.prepare(message)?;
        self.send_once(&outgoing, queue, self.inner.config.send_timeout)
            .await
    }

    /// Sends `messages` (same topic, no delay, not a retry topic) as one SEND_BATCH_MESSAGE.
    pub async fn send_batch(&self, messages: Vec<Message>) -> Result<SendResult> {
        let outgoing = self.prepare_batch(messages)?;
        self.send_with_retries(outgoing).await
    }

    /// Tells every master in the cached routes about this producer group.
    pub async fn heartbeat(&self) -> Result<()> {
        let session = self.session();
        let data = HeartbeatData {
            client_id: session.client_id().to_owned(),
            producer_data_set: vec![
                ProducerData {
                    group_name: self.inner.config.group.clone(),
                },
                ProducerData {
                    group_name: "CLIENT_INNER_PRODUCER".to_owned(),
                },
            ],
            ..HeartbeatData::default()
        };
        let body = data.encode()?;
        for addr in self.inner.routes.all_master_addrs() {
            let req = request(RequestCode::HeartBeat).with_body(body.clone());
            session
                .invoke_ok(&addr, req, &[ResponseCode::Success], None)
                .await?;
        }
        Ok(())
    }

    /// Unregisters the producer group from every known master (best effort, errors returned).
    pub async fn shutdown(&self) -> Result<()> {
        let header = UnregisterClientRequestHeader {
            client_id: self.session().client_id().to_owned(),
            producer_group: Some(self.inner.config.group.clone()),
            consumer_group: None,
        };
        for addr in self.inner.routes.all_master_addrs() {
            let req = request(RequestCode::UnregisterClient).with_header(&header);
            self.session()
                .invoke_ok(&addr, req, &[ResponseCode::Success], None)
                .await?;
        }
        Ok(())
    }

    fn session(&self) -> &Arc<Session> {
        self.inner.routes.session()
    }

    async fn publish_route(&self, topic: &str) -> Result<Arc<crate::route::TopicRoute>> {
        let nums = self.inner.config.default_topic_queue_nums;
        self.inner.routes.publish_route(topic, nums).await
    }

    /// Master address of the queue's broker, from the topic's route (fetched if needed).
    async fn master_addr(&self, queue: &MessageQueue) -> Result<String> {
        let route = self.publish_route(&queue.topic).await?;
        route
            .master_addr(&queue.broker_name)
            .map(str::to_owned)
            .or_else(|| self.inner.routes.master_addr(&queue.broker_name))
            .ok_or_else(|| ClientError::NoBrokerAddr {
                broker: queue.broker_name.clone(),
            })
    }

    async fn send_with_retries(&self, outgoing: Outgoing) -> Result<SendResult> {
        let config = &self.inner.config;
        let deadline = Instant::now() + config.send_timeout;
        let mut failed_broker: Option<String> = None;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = self
                .attempt(&outgoing, failed_broker.as_deref(), deadline)
                .await;
            let (error, broker) = match outcome {
                Ok(result) => return Ok(result),
                Err(failure) => failure,
            };
            let time_left = deadline.saturating_duration_since(Instant::now());
            if !is_retryable(&error) || attempts > config.retry_times || time_left.is_zero() {
                return Err(ClientError::SendFailed {
                    topic: outgoing.topic.clone(),
                    attempts,
                    last: Box::new(error),
                });
            }
            tracing::debug!(topic = %outgoing.topic, ?broker, %error, "send failed, retrying");
            self.inner.routes.invalidate(&outgoing.topic);
            failed_broker = broker;
        }
    }

    /// One attempt; on failure also returns the broker it went to, if one was chosen.
    async fn attempt(
        &self,
        outgoing: &Outgoing,
        avoid: Option<&str>,
        deadline: Instant,
    ) -> Result<SendResult, (ClientError, Option<String>)> {
        let route = self
            .publish_route(&outgoing.topic)
            .await
            .map_err(|e| (e, None))?;
        let queue = self
            .inner
            .round_robin
            .select(&route.publish, avoid)
            .cloned();
        let queue = queue.ok_or_else(|| {
            let e = ClientError::NoQueue {
                topic: outgoing.topic.clone(),
                kind: "writable",
            };
            (e, None)
        })?;
        let time_left = deadline.saturating_duration_since(Instant::now());
        self.send_once(outgoing, &queue, time_left)
            .await
            .map_err(|e| (e, Some(queue.broker_name.clone())))
    }

    async fn send_once(
        &self,
        outgoing: &Outgoing,
        queue: &MessageQueue,
        timeout: Duration,
    ) -> Result<SendResult> {
        let addr = self.master_addr(queue).await?;
        let accepted = [
            ResponseCode::Success,
            ResponseCode::FlushDiskTimeout,
            ResponseCode::FlushSlaveTimeout,
            ResponseCode::SlaveNotAvailable,
        ];
        let command = self.command(outgoing, queue);
        let response = self
            .session()
            .invoke_ok(&addr, command, &accepted, Some(timeout))
            .await?;
        send_result(&response, outgoing, queue)
    }

    fn command(&self, outgoing: &Outgoing, queue: &MessageQueue) -> RemotingCommand {
        let config = &self.inner.config;
        let header = SendMessageRequestHeaderV2 {
            a: config.group.clone(),
            b: outgoing.topic.clone(),
            c: AUTO_CREATE_TOPIC.to_owned(),
            d: config.default_topic_queue_nums,
            e: queue.queue_id,
            f: outgoing.sys_flag,
            g: now_millis(),
            h: outgoing.flag,
            i: Some(outgoing.properties.clone()),
            j: Some(0),
            k: Some(false),
            l: None,
            m: outgoing.batch.then_some(true),
            n: Some(queue.broker_name.clone()),
        };
        let code = if outgoing.batch {
            RequestCode::SendBatchMessage
        } else {
            RequestCode::SendMessageV2
        };
        request(code)
            .with_header(&header)
            .with_body(outgoing.body.clone())
    }

    fn prepare(&self, mut message: Message) -> Result<Outgoing> {
        let config = &self.inner.config;
        check_topic(&message.topic)?;
        check_body(message.body.len(), config.max_message_size)?;
        let msg_id = self.assign_id(&mut message);
        let mut flags = 0;
        let mut body = message.body.clone();
        if body.len() > config.compress_over {
            body = Bytes::from(compress(&body, config.compress_level)?);
            flags |= sys_flag::COMPRESSED | sys_flag::COMPRESSION_ZLIB;
        }
        flags |= crate::transaction::prepared_flag(&message);
        Ok(Outgoing {
            properties: message.properties_string(),
            topic: message.topic,
            body,
            sys_flag: flags,
            flag: message.flag,
            msg_id,
            batch: false,
        })
    }

    fn prepare_batch(&self, messages: Vec<Message>) -> Result<Outgoing> {
        let topic = check_batch(&messages)?;
        let mut ids = Vec::with_capacity(messages.len());
        let mut entries = Vec::with_capacity(messages.len());
        for mut message in messages {
            ids.push(self.assign_id(&mut message));
            entries.push(BatchEntry {
                flag: message.flag,
                properties: message.properties_string(),
                body: message.body,
            });
        }
        let mut body = BytesMut::new();
        encode_batch(&entries, &mut body)?;
        check_body(body.len(), self.inner.config.max_message_size)?;
        // No batch-level UNIQ_KEY: 5.0-5.3.3 brokers copy these properties into every inner
        // message, which would give the whole batch one id (protocol ref §10 item 13).
        let properties = ferrimq_remoting::message::format_properties([(property::WAIT, "true")]);
        Ok(Outgoing {
            topic,
            body: body.freeze(),
            properties,
            sys_flag: 0,
            flag: 0,
            msg_id: ids.join(","),
            batch: true,
        })
    }

    /// Keeps an existing UNIQ_KEY (a resend), else assigns a new one; returns it.
    fn assign_id(&self, message: &mut Message) -> String {
        if let Some(id) = message.uniq_key() {
            return id.to_owned();
        }
        let id = self.inner.ids.next_id();
        message
            .properties
            .insert(property::UNIQ_KEY.to_owned(), id.clone());
        id
    }
}

fn send_result(
    response: &RemotingCommand,
    outgoing: &Outgoing,
    queue: &MessageQueue,
) -> Result<SendResult> {
    let header: SendMessageResponseHeader = response.decode_header()?;
    let status = match ResponseCode::from_code(response.code) {
        Some(ResponseCode::FlushDiskTimeout) => SendStatus::FlushDiskTimeout,
        Some(ResponseCode::FlushSlaveTimeout) => SendStatus::FlushSlaveTimeout,
        Some(ResponseCode::SlaveNotAvailable) => SendStatus::SlaveNotAvailable,
        _ => SendStatus::SendOk,
    };
    Ok(SendResult {
        status,
        msg_id: outgoing.msg_id.clone(),
        offset_msg_id: header.msg_id,
        queue: MessageQueue {
            queue_id: header.queue_id,
            ..queue.clone()
        },
        queue_offset: header.queue_offset,
        transaction_id: header.transaction_id,
        region_id: response.ext_fields.get("MSG_REGION").cloned(),
    })
}

/// Topic name rule of `TopicValidator`: 1..=127 chars of `[%|a-zA-Z0-9_-]`.
pub fn check_topic(topic: &str) -> Result<()> {
    let valid_chars = topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'));
    if topic.is_empty() || topic.len() > 127 || !valid_chars {
        return Err(ClientError::InvalidMessage {
            reason: format!("topic {topic:?} must be 1-127 chars of [%|a-zA-Z0-9_-]"),
        });
    }
    Ok(())
}

fn check_body(len: usize, max: usize) -> Result<()> {
    if len == 0 || len > max {
        return Err(ClientError::InvalidMessage {
            reason: format!("body of {len} bytes, must be 1..={max}"),
        });
    }
    Ok(())
}

/// Batch rules of Java `MessageBatch.generateFromList`; returns the common topic.
fn check_batch(messages: &[Message]) -> Result<String> {
    let invalid = |reason: String| Err(ClientError::InvalidMessage { reason });
    let Some(first) = messages.first() else {
        return invalid("empty batch".to_owned());
    };
    for m in messages {
        if m.topic != first.topic {
            return invalid(format!(
                "batch mixes topics {} and {}",
                first.topic, m.topic
            ));
        }
        if m.properties.contains_key(property::DELAY) {
            return invalid("delayed messages cannot be batched".to_owned());
        }
        if m.body.is_empty() {
            return invalid("empty body in batch".to_owned());
        }
    }
    if first.topic.starts_with("%RETRY%") {
        return invalid("retry topics cannot be batched".to_owned());
    }
    check_topic(&first.topic)?;
    Ok(first.topic.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_rules() {
        let m = |t: &str| Message::new(t, "x");
        assert_eq!(check_batch(&[m("A"), m("A")]).unwrap(), "A");
        assert!(check_batch(&[]).is_err());
        assert!(check_batch(&[m("A"), m("B")]).is_err());
        assert!(check_batch(&[m("%RETRY%g")]).is_err());
        assert!(check_batch(&[m("A").with_property("DELAY", "3")]).is_err());
        assert!(check_batch(&[Message::new("A", "")]).is_err());
    }

    #[test]
    fn topic_rules() {
        assert!(check_topic("Topic_1-x%|").is_ok());
        assert!(check_topic("").is_err());
        assert!(check_topic("a b").is_err());
        assert!(check_topic(&"x".repeat(128)).is_err());
        assert!(check_topic(&"x".repeat(127)).is_ok());
    }
}
