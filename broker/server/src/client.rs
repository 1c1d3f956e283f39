//! Client management: HEART_BEAT (34), UNREGISTER_CLIENT (35), GET_CONSUMER_LIST_BY_GROUP (38),
//! the NOTIFY_CONSUMER_IDS_CHANGED (40) oneway sent to a group when its membership changes, and
//! the connection-close listener that cleans the consumer table. Heartbeats and unregistrations
//! also feed the producer table ([`crate::producers`]) the transaction check-back reads.

use std::sync::Arc;

use ferrimq_config::topic::retry_topic;
use ferrimq_remoting::body::{GetConsumerListByGroupResponseBody, HeartbeatData, JsonBody};
use ferrimq_remoting::header::typed::{ConsumerGroupRequestHeader, UnregisterClientRequestHeader};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_transport::{Channel, ChannelListener, HandlerResult, next_opaque};

use crate::consumers::{ClientInfo, ConsumerRegistry};
use crate::producers::ProducerRegistry;
use crate::response::reject;
use crate::topics::TopicRegistry;

/// The client processor and the handles it needs.
#[derive(Debug)]
pub struct ClientProcessor {
    /// Consumer groups.
    pub consumers: Arc<ConsumerRegistry>,
    /// Producer groups (transaction check-backs).
    pub producers: Arc<ProducerRegistry>,
    /// Topic configs (for `%RETRY%` topics).
    pub topics: Arc<TopicRegistry>,
    /// `notifyConsumerIdsChangedEnable`.
    pub notify_ids_changed: bool,
}

impl ClientProcessor {
    /// HEART_BEAT: registers the client's consumer groups (creating their retry topics) and
    /// tells each group whose membership changed.
    pub fn heartbeat(&self, request: &RemotingCommand, channel: &Channel) -> HandlerResult {
        let data = HeartbeatData::decode(&request.body)?;
        for producer in &data.producer_data_set {
            let group = &producer.group_name;
            let (language, version) = (request.language, request.version);
            if self
                .producers
                .register(group, &data.client_id, channel, language, version)
            {
                tracing::info!(group = %group, client = %data.client_id, "producer joined");
            }
        }
        for consumer in &data.consumer_data_set {
            self.topics
                .ensure_group_topic(&retry_topic(&consumer.group_name));
            let client = ClientInfo {
                client_id: &data.client_id,
                channel,
                language: request.language,
                version: request.version,
            };
            if self.consumers.register(consumer, client) {
                tracing::info!(group = %consumer.group_name, client = %data.client_id, "consumer joined");
                self.notify_group(&consumer.group_name);
            }
        }
        Ok(Some(RemotingCommand::response_to(
            request,
            ResponseCode::Success,
        )))
    }

    /// UNREGISTER_CLIENT: removes the client from its consumer group.
    pub fn unregister(&self, request: &RemotingCommand) -> HandlerResult {
        let h: UnregisterClientRequestHeader = request.decode_header()?;
        if let Some(group) = h.producer_group.as_deref().filter(|g| !g.is_empty()) {
            self.producers.unregister(group, &h.client_id);
        }
        if let Some(group) = h.consumer_group.as_deref().filter(|g| !g.is_empty()) {
            if self.consumers.unregister(group, &h.client_id) {
                tracing::info!(group, client = %h.client_id, "consumer left");
                self.notify_group(group);
            }
        }
        Ok(Some(RemotingCommand::response_to(
            request,
            ResponseCode::Success,
        )))
    }

    /// GET_CONSUMER_LIST_BY_GROUP.
    pub fn consumer_list(&self, request: &RemotingCommand) -> HandlerResult {
        let h: ConsumerGroupRequestHeader = request.decode_header()?;
        let ids = self.consumers.client_ids(&h.consumer_group);
        if ids.is_empty() {
            return Ok(Some(reject(
                request,
                ResponseCode::SystemError,
                format!("no consumer for this group, {}", h.consumer_group),
            )));
        }
        let body = GetConsumerListByGroupResponseBody {
            consumer_id_list: ids,
        }
        .encode()?;
        Ok(Some(
            RemotingCommand::response_to(request, ResponseCode::Success).with_body(body),
        ))
    }

    /// GET_CONSUMER_CONNECTION_LIST (203): CONSUMER_NOT_ONLINE (206) for a group without members.
    pub fn consumer_connections(&self, request: &RemotingCommand) -> HandlerResult {
        let h: ConsumerGroupRequestHeader = request.decode_header()?;
        let Some(connection) = self.consumers.connection(&h.consumer_group) else {
            let remark = format!("the consumer group[{}] not online", h.consumer_group);
            return Ok(Some(reject(
                request,
                ResponseCode::ConsumerNotOnline,
                remark,
            )));
        };
        let body = connection.encode()?;
        Ok(Some(
            RemotingCommand::response_to(request, ResponseCode::Success).with_body(body),
        ))
    }

    /// Sends NOTIFY_CONSUMER_IDS_CHANGED (oneway) to every member of `group`.
    pub fn notify_group(&self, group: &str) {
        if !self.notify_ids_changed {
            return;
        }
        notify_group(&self.consumers, group);
    }
}

fn notify_group(consumers: &ConsumerRegistry, group: &str) {
    let header = ConsumerGroupRequestHeader {
        consumer_group: group.to_owned(),
    };
    for channel in consumers.channels(group) {
        let command =
            RemotingCommand::request(RequestCode::NotifyConsumerIdsChanged, next_opaque())
                .with_header(&header)
                .into_oneway();
        if let Err(err) = channel.send_oneway(command) {
            tracing::debug!(group, peer = %channel.peer_addr(), error = %err, "notify consumer ids changed failed");
        }
    }
}

/// Cleans the consumer table when a connection closes and tells the affected groups.
#[derive(Debug)]
pub struct ClientCleaner {
    /// Consumer groups.
    pub consumers: Arc<ConsumerRegistry>,
    /// Producer groups.
    pub producers: Arc<ProducerRegistry>,
    /// `notifyConsumerIdsChangedEnable`.
    pub notify_ids_changed: bool,
}

impl ChannelListener for ClientCleaner {
    fn on_closed(&self, channel: &Channel) {
        self.producers.remove_channel(channel.id());
        for group in self.consumers.remove_channel(channel.id()) {
            tracing::info!(group = %group, peer = %channel.peer_addr(), "consumer connection closed");
            if self.notify_ids_changed {
                notify_group(&self.consumers, &group);
            }
        }
    }
}
