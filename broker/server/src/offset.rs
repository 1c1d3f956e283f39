//! Consumer offsets and queue offsets: QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15,
//! oneway too), GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32),
//! SEARCH_OFFSET_BY_TIMESTAMP (29). Consumer offsets live in `consumerOffset.json` through
//! [`Metadata`]; the broker persists them periodically and at shutdown.

use std::sync::Arc;

use ferrimq_remoting::header::typed::{
    GetEarliestMsgStoretimeResponseHeader, GetMaxOffsetRequestHeader, OffsetResponseHeader,
    QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader, TopicQueueRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_store::store::MessageStore;
use ferrimq_transport::HandlerResult;

use crate::response::reject;

/// The offset processor and the handles it needs.
#[derive(Debug)]
pub struct OffsetProcessor {
    /// The message store (queue offsets).
    pub store: Arc<MessageStore>,
    /// Consumer offsets.
    pub metadata: Arc<Metadata>,
}

fn offset_response(request: &RemotingCommand, offset: i64) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success)
        .with_header(&OffsetResponseHeader { offset })
}

impl OffsetProcessor {
    /// QUERY_CONSUMER_OFFSET: the stored offset; with none stored, 0 when the queue still holds
    /// its first message (a new group on a fresh queue), else QUERY_NOT_FOUND (22).
    pub fn query(&self, request: &RemotingCommand) -> HandlerResult {
        let h: QueryConsumerOffsetRequestHeader = request.decode_header()?;
        let stored = self
            .metadata
            .consumer_offsets
            .query(&h.topic, &h.consumer_group, h.queue_id);
        if let Some(offset) = stored.filter(|o| *o >= 0) {
            return Ok(Some(offset_response(request, offset)));
        }
        if h.set_zero_if_not_found == Some(false) {
            return Ok(Some(reject(
                request,
                ResponseCode::QueryNotFound,
                "Not found, do not set to zero, maybe this group boot first",
            )));
        }
        let min = self.store.min_offset_in_queue(&h.topic, h.queue_id);
        let max = self.store.max_offset_in_queue(&h.topic, h.queue_id);
        if min == 0 && max > 0 {
            return Ok(Some(offset_response(request, 0)));
        }
        Ok(Some(reject(
            request,
            ResponseCode::QueryNotFound,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        )))
    }

    /// UPDATE_CONSUMER_OFFSET: stores the group's offset (persisted by the periodic task).
    pub fn update(&self, request: &RemotingCommand) -> HandlerResult {
        let h: UpdateConsumerOffsetRequestHeader = request.decode_header()?;
        self.metadata.consumer_offsets.commit(
            &h.topic,
            &h.consumer_group,
            h.queue_id,
            h.commit_offset,
        );
        Ok(Some(RemotingCommand::response_to(
            request,
            ResponseCode::Success,
        )))
    }

    /// GET_MAX_OFFSET: the next offset to be written.
    pub fn max(&self, request: &RemotingCommand) -> HandlerResult {
        let h: GetMaxOffsetRequestHeader = request.decode_header()?;
        let offset = self.store.max_offset_in_queue(&h.topic, h.queue_id);
        Ok(Some(offset_response(request, offset as i64)))
    }

    /// GET_MIN_OFFSET.
    pub fn min(&self, request: &RemotingCommand) -> HandlerResult {
        let h: TopicQueueRequestHeader = request.decode_header()?;
        let offset = self.store.min_offset_in_queue(&h.topic, h.queue_id);
        Ok(Some(offset_response(request, offset as i64)))
    }

    /// GET_EARLIEST_MSG_STORETIME (timestamp -1 when the queue is empty, as Java answers).
    pub fn earliest_time(&self, request: &RemotingCommand) -> HandlerResult {
        let h: TopicQueueRequestHeader = request.decode_header()?;
        let timestamp = self
            .store
            .earliest_message_time(&h.topic, h.queue_id)
            .unwrap_or(-1);
        Ok(Some(
            RemotingCommand::response_to(request, ResponseCode::Success)
                .with_header(&GetEarliestMsgStoretimeResponseHeader { timestamp }),
        ))
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP.
    pub fn search(&self, request: &RemotingCommand) -> HandlerResult {
        let h: SearchOffsetRequestHeader = request.decode_header()?;
        let offset = self
            .store
            .offset_by_timestamp(&h.topic, h.queue_id, h.timestamp);
        Ok(Some(offset_response(request, offset as i64)))
    }
}
