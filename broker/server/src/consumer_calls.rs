//! Admin requests the broker answers by calling the consumer clients of a group on the
//! connections they heartbeat on, as Java's `Broker2Client` does:
//!
//! - INVOKE_BROKER_TO_RESET_OFFSET (222): computes each queue's new offset (the offset at a store
//!   time, or the queue end for timestamp -1; kept at the committed offset when that is lower and
//!   the reset is not forced), sends RESET_CONSUMER_CLIENT_OFFSET (220, oneway, ResetOffsetBody)
//!   to every online member and answers the admin with the same table; CONSUMER_NOT_ONLINE when
//!   the group has no member (mqadmin then falls back to rewriting the offsets itself).
//! - INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223): asks every member (or the one named by
//!   `clientAddr`, which carries a client id) for its offsets with GET_CONSUMER_STATUS_FROM_CLIENT
//!   (221) and answers GetConsumerStatusBody with `consumerTable` = client id -> its queue offsets.
//! - GET_CONSUMER_RUNNING_INFO (307): forwarded to the named client, its answer relayed.
//! - CONSUME_MESSAGE_DIRECTLY (309): the message named by the offset msg id is read from the
//!   CommitLog, attached as the body and forwarded to the named client, its answer relayed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferrimq_fastjson::{Key, Object, Value};
use ferrimq_remoting::body::{JsonBody, MessageQueue};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_store::store::MessageStore;
use ferrimq_transport::{Channel, DispatchTable, HandlerResult};
use serde::{Deserialize, Serialize};

use crate::broker::Handles;
use crate::consumers::ConsumerRegistry;
use crate::response::reject;
use crate::topics::TopicRegistry;

/// How long a forwarded call waits for the client.
const CLIENT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// ResetOffsetBody: queue -> offset, keyed by MessageQueue objects (fastjson dialect).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResetOffsetBody {
    /// Queue -> new consumer offset.
    #[serde(with = "ferrimq_fastjson::object_keys")]
    pub offset_table: HashMap<MessageQueue, i64>,
}

impl JsonBody for ResetOffsetBody {
    fn encode(&self) -> Result<bytes::Bytes, ferrimq_remoting::RemotingError> {
        self.encode_fastjson()
    }
}

/// The processor of 222, 223, 307 and 309.
#[derive(Debug)]
pub struct ConsumerCalls {
    store: Arc<MessageStore>,
    metadata: Arc<Metadata>,
    topics: Arc<TopicRegistry>,
    consumers: Arc<ConsumerRegistry>,
    broker_name: String,
}

/// Routes 222, 223, 307 and 309 to a [`ConsumerCalls`].
pub(crate) fn route_consumer_calls(table: &mut DispatchTable, h: &Handles, broker_name: &str) {
    let calls = Arc::new(ConsumerCalls {
        store: Arc::clone(&h.store),
        metadata: Arc::clone(&h.metadata),
        topics: Arc::clone(&h.topics),
        consumers: Arc::clone(&h.consumers),
        broker_name: broker_name.to_owned(),
    });
    let c = Arc::clone(&calls);
    table.insert(RequestCode::InvokeBrokerToResetOffset, move |req, _ch| {
        let result = c.reset_offset(&req);
        async move { result }
    });
    let c = Arc::clone(&calls);
    table.insert(
        RequestCode::InvokeBrokerToGetConsumerStatus,
        move |req, _ch| {
            let c = Arc::clone(&c);
            async move { c.consumer_status(req).await }
        },
    );
    let c = Arc::clone(&calls);
    table.insert(RequestCode::GetConsumerRunningInfo, move |req, _ch| {
        let c = Arc::clone(&c);
        async move { c.forward(req).await }
    });
    table.insert(RequestCode::ConsumeMessageDirectly, move |req, _ch| {
        let c = Arc::clone(&calls);
        async move { c.consume_directly(req).await }
    });
}

/// One client's `messageQueueTable` (object keys kept as they are) from its 221 answer.
async fn client_offsets(channel: &Channel, call: RemotingCommand) -> Result<Value, String> {
    let answer = channel
        .invoke(call, CLIENT_CALL_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if answer.code != ResponseCode::Success.code() || answer.body.is_empty() {
        return Err(format!("code {} {:?}", answer.code, answer.remark));
    }
    match ferrimq_fastjson::parse_bytes(&answer.body).map_err(|e| e.to_string())? {
        Value::Object(o) => Ok(o
            .get("messageQueueTable")
            .cloned()
            .unwrap_or(Value::Object(Object::new()))),
        _ => Err("body is not an object".into()),
    }
}

fn field<'a>(request: &'a RemotingCommand, name: &str) -> Option<&'a str> {
    request.ext_fields.get(name).map(String::as_str)
}

fn missing(request: &RemotingCommand, name: &str) -> RemotingCommand {
    reject(
        request,
        ResponseCode::SystemError,
        format!("the header field {name} is missing"),
    )
}

impl ConsumerCalls {
    /// INVOKE_BROKER_TO_RESET_OFFSET (222).
    pub fn reset_offset(&self, request: &RemotingCommand) -> HandlerResult {
        let (Some(topic), Some(group)) = (field(request, "topic"), field(request, "group")) else {
            return Ok(Some(missing(request, "topic/group")));
        };
        let timestamp: i64 = field(request, "timestamp")
            .and_then(|t| t.parse().ok())
            .unwrap_or(-1);
        let force = field(request, "isForce").is_some_and(|f| f == "true");
        let Some(config) = self.topics.get(topic) else {
            let remark = format!(
                "[reset-offset] reset offset failed, no topic in this broker. topic={topic}"
            );
            return Ok(Some(reject(request, ResponseCode::SystemError, remark)));
        };
        let mut offset_table = HashMap::new();
        for queue_id in 0..config.write_queue_nums as i32 {
            let Some(committed) = self.metadata.consumer_offsets.query(topic, group, queue_id)
            else {
                let remark = format!("THe consumer group <{group}> not exist");
                return Ok(Some(reject(request, ResponseCode::SystemError, remark)));
            };
            let at_time = if timestamp == -1 {
                self.store.max_offset_in_queue(topic, queue_id)
            } else {
                self.store.offset_by_timestamp(topic, queue_id, timestamp)
            } as i64;
            let offset = if force || at_time < committed {
                at_time
            } else {
                committed
            };
            let queue = MessageQueue {
                broker_name: self.broker_name.clone(),
                queue_id,
                topic: topic.to_owned(),
            };
            offset_table.insert(queue, offset);
        }
        let channels = self.consumers.channels(group);
        if channels.is_empty() {
            let remark = format!(
                "Consumer not online, so can not reset offset, Group: {group} Topic: {topic} Timestamp: {timestamp}"
            );
            return Ok(Some(reject(
                request,
                ResponseCode::ConsumerNotOnline,
                remark,
            )));
        }
        let body = ResetOffsetBody { offset_table }.encode()?;
        for channel in channels {
            let call = RemotingCommand::request(RequestCode::ResetConsumerClientOffset, 0)
                .with_ext_field("topic", topic)
                .with_ext_field("group", group)
                .with_ext_field("timestamp", timestamp.to_string())
                .with_ext_field("isForce", force.to_string())
                .with_body(body.clone())
                .into_oneway();
            if let Err(e) = channel.send_oneway(call) {
                tracing::warn!(%group, peer = %channel.peer_addr(), error = %e, "reset offset call failed");
            }
        }
        tracing::info!(%group, %topic, timestamp, force, "consumer offsets reset");
        Ok(Some(
            RemotingCommand::response_to(request, ResponseCode::Success).with_body(body),
        ))
    }

    /// The group's live members as (client id, connection), matched through the connection
    /// list, sorted by client id.
    fn members(&self, group: &str) -> Vec<(String, Channel)> {
        let Some(connection) = self.consumers.connection(group) else {
            return Vec::new();
        };
        let channels = self.consumers.channels(group);
        let mut members: Vec<(String, Channel)> = connection
            .connection_set
            .iter()
            .filter_map(|c| {
                let channel = channels
                    .iter()
                    .find(|ch| ch.peer_addr().to_string() == c.client_addr && ch.is_active())?;
                Some((c.client_id.clone(), channel.clone()))
            })
            .collect();
        members.sort_by(|a, b| a.0.cmp(&b.0));
        members
    }

    /// The connection of `client_id` in `group`.
    fn client_channel(&self, group: &str, client_id: &str) -> Option<Channel> {
        self.members(group)
            .into_iter()
            .find_map(|(id, ch)| (id == client_id).then_some(ch))
    }

    /// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223).
    async fn consumer_status(&self, request: RemotingCommand) -> HandlerResult {
        let (Some(topic), Some(group)) = (field(&request, "topic"), field(&request, "group"))
        else {
            return Ok(Some(missing(&request, "topic/group")));
        };
        let only = field(&request, "clientAddr").filter(|c| !c.trim().is_empty());
        let members = self.members(group);
        if members.is_empty() {
            let remark = format!("No Any Consumer online in the consumer group: [{group}]");
            return Ok(Some(reject(&request, ResponseCode::SystemError, remark)));
        }
        let mut consumer_table = Object::new();
        for (client_id, channel) in members {
            if only.is_some_and(|o| o != client_id) {
                continue;
            }
            let mut call = RemotingCommand::request(RequestCode::GetConsumerStatusFromClient, 0)
                .with_ext_field("topic", topic)
                .with_ext_field("group", group);
            if let Some(o) = only {
                call = call.with_ext_field("clientAddr", o);
            }
            match client_offsets(&channel, call).await {
                Ok(offsets) => consumer_table.push(Key::String(client_id), offsets),
                Err(e) => {
                    tracing::warn!(%group, %client_id, error = %e, "consumer status call failed")
                }
            }
        }
        let mut body = Object::new();
        body.push(
            Key::String("consumerTable".into()),
            Value::Object(consumer_table),
        );
        body.push(
            Key::String("messageQueueTable".into()),
            Value::Object(Object::new()),
        );
        let text = ferrimq_fastjson::write::write_compact(&Value::Object(body));
        Ok(Some(
            RemotingCommand::response_to(&request, ResponseCode::Success)
                .with_body(text.into_bytes()),
        ))
    }

    /// Relays `request` (its code, header and body) to the client it names.
    async fn forward(&self, request: RemotingCommand) -> HandlerResult {
        let (Some(group), Some(client_id)) = (
            field(&request, "consumerGroup"),
            field(&request, "clientId"),
        ) else {
            return Ok(Some(missing(&request, "consumerGroup/clientId")));
        };
        let Some(channel) = self.client_channel(group, client_id) else {
            let remark = format!("The Consumer <{client_id}> not online");
            return Ok(Some(reject(&request, ResponseCode::SystemError, remark)));
        };
        let mut call = RemotingCommand::request(request.code, 0);
        call.ext_fields = request.ext_fields.clone();
        call.body = request.body.clone();
        match channel.invoke(call, CLIENT_CALL_TIMEOUT).await {
            Ok(answer) => {
                let mut response = RemotingCommand::response_to(&request, answer.code);
                response.remark = answer.remark;
                response.body = answer.body;
                Ok(Some(response))
            }
            Err(e) => {
                let remark = format!("invoke consumer <{client_id}> failed: {e}");
                Ok(Some(reject(&request, ResponseCode::SystemError, remark)))
            }
        }
    }

    /// CONSUME_MESSAGE_DIRECTLY (309): attaches the stored message, then forwards.
    async fn consume_directly(&self, mut request: RemotingCommand) -> HandlerResult {
        let Some(msg_id) = field(&request, "msgId") else {
            return Ok(Some(missing(&request, "msgId")));
        };
        let offset = msg_id
            .len()
            .checked_sub(16)
            .and_then(|start| u64::from_str_radix(&msg_id[start..], 16).ok());
        let record = offset.map(|o| self.store.get_message_by_offset(o));
        match record {
            Some(Ok(Some(record))) => request.body = record.bytes,
            Some(Err(e)) => return Ok(Some(crate::response::store_error_response(&request, &e))),
            _ => {
                let remark = format!("can not find message by id {msg_id}");
                return Ok(Some(reject(&request, ResponseCode::NoMessage, remark)));
            }
        }
        self.forward(request).await
    }
}
