//! Subscription-group removal: DELETE_SUBSCRIPTIONGROUP (207), as sent by `mqadmin deleteSubGroup`
//! and `ferrimq admin group delete`.
//!
//! Like the Java broker, the group's config leaves subscriptionGroup.json; its consumer offsets
//! stay unless the request asks for `cleanOffset` (5.x `deleteSubGroup -r true`). Deleting a group
//! that does not exist succeeds, as in Java (the tools delete from every master of a cluster).
//! The group's `%RETRY%` / `%DLQ%` topics are deleted by the tools with DELETE_TOPIC_IN_BROKER.

use std::sync::Arc;

use ferrimq_remoting::header::typed::DeleteSubscriptionGroupRequestHeader;
use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_transport::HandlerResult;

use crate::response::reject;

/// Handles subscription-group removal; holds the metadata tables only.
#[derive(Debug)]
pub struct GroupAdminProcessor {
    /// Groups and consumer offsets.
    pub metadata: Arc<Metadata>,
}

impl GroupAdminProcessor {
    /// DELETE_SUBSCRIPTIONGROUP (207): header `groupName`, optional `cleanOffset`.
    pub fn delete_group(&self, request: &RemotingCommand) -> HandlerResult {
        let h: DeleteSubscriptionGroupRequestHeader = request.decode_header()?;
        if let Err(err) = ferrimq_config::topic::validate_group(&h.group_name) {
            return Ok(Some(reject(
                request,
                ResponseCode::SystemError,
                err.to_string(),
            )));
        }
        let removed = self.metadata.groups.remove(&h.group_name).is_some();
        if removed {
            self.metadata.groups.persist()?;
        }
        let mut offsets = 0;
        if h.clean_offset == Some(true) {
            offsets = self.metadata.consumer_offsets.remove_group(&h.group_name);
            if offsets > 0 {
                self.metadata.consumer_offsets.persist()?;
            }
        }
        tracing::info!(group = %h.group_name, removed, offsets, "subscription group deleted");
        Ok(Some(RemotingCommand::response_to(
            request,
            ResponseCode::Success,
        )))
    }
}

#[cfg(test)]
mod tests {
    use ferrimq_config::SubscriptionGroupConfig;
    use ferrimq_remoting::RequestCode;
    use ferrimq_store::seam::real_files;

    use super::*;

    fn delete(group: &str, clean_offset: Option<bool>) -> RemotingCommand {
        let header = DeleteSubscriptionGroupRequestHeader {
            group_name: group.to_owned(),
            clean_offset,
        };
        RemotingCommand::request(RequestCode::DeleteSubscriptionGroup, 1).with_header(&header)
    }

    #[test]
    fn deletes_the_group_and_its_offsets_only_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_dir = dir.path().join("config");
        let metadata = Arc::new(Metadata::open(&config_dir, real_files()).expect("metadata"));
        let p = GroupAdminProcessor {
            metadata: Arc::clone(&metadata),
        };
        for name in ["A", "B"] {
            metadata.groups.upsert(SubscriptionGroupConfig::new(name));
            metadata.consumer_offsets.commit("T", name, 0, 5);
        }

        let answer = p
            .delete_group(&delete("A", None))
            .expect("ok")
            .expect("answer");
        assert_eq!(answer.code, ResponseCode::Success.code());
        assert!(metadata.groups.get("A").is_none());
        assert_eq!(metadata.consumer_offsets.query("T", "A", 0), Some(5));
        let reopened = Metadata::open(&config_dir, real_files()).expect("reopen");
        assert!(!reopened.groups.names().contains(&"A".to_owned()));

        p.delete_group(&delete("B", Some(true))).expect("ok");
        assert!(metadata.groups.get("B").is_none());
        assert_eq!(metadata.consumer_offsets.query("T", "B", 0), None);

        let missing = p
            .delete_group(&delete("Nobody", Some(true)))
            .expect("ok")
            .expect("answer");
        assert_eq!(missing.code, ResponseCode::Success.code());
        let bad = p
            .delete_group(&delete("bad group", None))
            .expect("ok")
            .expect("answer");
        assert_eq!(bad.code, ResponseCode::SystemError.code());
    }
}
