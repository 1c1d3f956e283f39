//! The master side of a slave's metadata sync (Java's AdminBrokerProcessor):
//! GET_ALL_CONSUMER_OFFSET (43), GET_ALL_DELAY_OFFSET (45) and GET_ALL_SUBSCRIPTIONGROUP_CONFIG
//! (201). GET_ALL_TOPIC_CONFIG (21) lives with the topic admin in [`crate::admin`].
//!
//! The bodies are the tables' own JSON in fastjson's dialect, as Java writes them: a Java slave
//! parses them (ConsumerOffsetSerializeWrapper with unquoted queue-id keys, the delayOffset.json
//! content that the slave writes verbatim to its file, SubscriptionGroupWrapper), and so does
//! ferrimq's own [`crate::slave_sync`]. Every broker answers them, slaves included, as in Java.

use std::sync::Arc;

use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_transport::HandlerResult;

use crate::response::reject;

/// The sync-source processor; holds the metadata tables only.
#[derive(Debug)]
pub struct AdminSyncProcessor {
    /// The four metadata tables.
    pub metadata: Arc<Metadata>,
}

impl AdminSyncProcessor {
    /// GET_ALL_CONSUMER_OFFSET (43): `{"offsetTable":{"topic@group":{0:12,...}},...}`.
    pub fn all_consumer_offsets(&self, request: &RemotingCommand) -> HandlerResult {
        Ok(Some(json_body(
            request,
            self.metadata.consumer_offsets.encode(),
            "No consumer offset in this broker",
        )))
    }

    /// GET_ALL_DELAY_OFFSET (45): the delayOffset.json content, `{"offsetTable":{1:0,...},...}`.
    pub fn all_delay_offsets(&self, request: &RemotingCommand) -> HandlerResult {
        Ok(Some(json_body(
            request,
            self.metadata.delay_offsets.encode(),
            "No delay offset in this broker",
        )))
    }

    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201):
    /// `{"subscriptionGroupTable":{name:config},"dataVersion":{...}}`.
    pub fn all_groups(&self, request: &RemotingCommand) -> HandlerResult {
        Ok(Some(json_body(
            request,
            self.metadata.groups.encode(),
            "No subscription group in this broker",
        )))
    }
}

/// SUCCESS with `encoded` as body; SYSTEM_ERROR with `empty_remark` when there is nothing to
/// send (Java's wording) or with the encoder's message when encoding failed.
fn json_body(
    request: &RemotingCommand,
    encoded: ferrimq_store::metadata::error::Result<String>,
    empty_remark: &str,
) -> RemotingCommand {
    match encoded {
        Ok(text) if !text.is_empty() => {
            RemotingCommand::response_to(request, ResponseCode::Success).with_body(text)
        }
        Ok(_) => reject(request, ResponseCode::SystemError, empty_remark),
        Err(err) => reject(request, ResponseCode::SystemError, err.to_string()),
    }
}
