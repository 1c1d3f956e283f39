//! Metadata sync of a slave from its master (Java's `SlaveSynchronize`): at start and every
//! 10 s, GET_ALL_TOPIC_CONFIG (21), GET_ALL_CONSUMER_OFFSET (43), GET_ALL_DELAY_OFFSET (45) and
//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) from the master address the NameServer reported
//! ([`MasterLink`]). The CommitLog arrives through the HA stream; these tables do not.
//!
//! Each table is applied like Java does (the master's content wins), with two refinements:
//! - topics the master deleted since the last sync are deleted here, while topics this slave
//!   created itself (system topics, `%RETRY%` topics from heartbeats) are left alone;
//! - consumer commits the slave received while the master was away ([`LocalCommits`]) that are
//!   ahead of the master's table are first sent to the master (UPDATE_CONSUMER_OFFSET) and kept
//!   locally, so a consumer's progress made on the slave survives the master's return.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferrimq_remoting::body::{JsonBody, SubscriptionGroupWrapper, TopicConfigSerializeWrapper};
use ferrimq_remoting::header::typed::UpdateConsumerOffsetRequestHeader;
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_store::metadata::consumer_offsets::{ConsumerOffsetWrapper, split_offset_key};
use ferrimq_store::metadata::delay_offsets::DelayOffsetWrapper;
use ferrimq_transport::{ClientConfig, DispatchTable, RemotingClient, next_opaque};
use tokio::sync::watch;

use crate::slave::{LocalCommits, MasterLink, OffsetKey};
use crate::topics::TopicRegistry;

/// Period of the sync (Java: every 10 s, first after 3 s; here also right at start).
pub const SYNC_PERIOD: Duration = Duration::from_secs(10);

/// Why one sync round stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No master registered with the NameServer (down, or not started yet).
    #[error("master address unknown")]
    NoMaster,
    /// The request did not get an answer.
    #[error("{code} to master {addr}: {source}")]
    Transport {
        /// Master address.
        addr: String,
        /// Request code name.
        code: &'static str,
        /// Transport failure.
        #[source]
        source: ferrimq_transport::TransportError,
    },
    /// The master answered with an error code.
    #[error("{code} refused by master {addr}: code {response}, {remark}")]
    Refused {
        /// Master address.
        addr: String,
        /// Request code name.
        code: &'static str,
        /// Response code.
        response: i32,
        /// Response remark.
        remark: String,
    },
    /// The body could not be decoded.
    #[error("{code} body from master {addr} is not valid: {reason}")]
    Body {
        /// Master address.
        addr: String,
        /// Request code name.
        code: &'static str,
        /// Decoder message.
        reason: String,
    },
}

/// What one successful round changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Topics created or updated.
    pub topics_updated: usize,
    /// Topics removed because the master removed them.
    pub topics_removed: usize,
    /// Queue offsets taken from the master.
    pub offsets_applied: usize,
    /// Local commits sent to the master.
    pub offsets_forwarded: usize,
    /// Delay levels taken from the master.
    pub delay_levels: usize,
    /// Groups created or updated.
    pub groups_updated: usize,
}

/// The slave's sync task and the tables it writes.
pub struct SlaveSync {
    link: Arc<MasterLink>,
    topics: Arc<TopicRegistry>,
    metadata: Arc<Metadata>,
    commits: Arc<LocalCommits>,
    client: RemotingClient,
    timeout: Duration,
    synced_topics: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for SlaveSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlaveSync")
            .field("master", &self.link.master_addr())
            .finish()
    }
}

impl SlaveSync {
    /// A sync task writing into the slave's tables.
    pub fn new(
        link: Arc<MasterLink>,
        topics: Arc<TopicRegistry>,
        metadata: Arc<Metadata>,
        commits: Arc<LocalCommits>,
        timeout: Duration,
    ) -> Self {
        SlaveSync {
            link,
            topics,
            metadata,
            commits,
            client: RemotingClient::new(ClientConfig::default(), DispatchTable::new()),
            timeout,
            synced_topics: Mutex::new(BTreeSet::new()),
        }
    }

    /// Syncs now and then every `period` (and whenever the master address changes) until
    /// `stop` flips; failures are logged and retried next round.
    pub async fn run(self: Arc<Self>, period: Duration, mut stop: watch::Receiver<bool>) {
        let mut master = self.link.watch_master();
        loop {
            match self.sync_all().await {
                Ok(report) if report != SyncReport::default() => {
                    tracing::info!(?report, "slave metadata synced from master");
                }
                Ok(_) | Err(SyncError::NoMaster) => {}
                Err(err) => tracing::warn!(error = %err, "slave metadata sync failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = master.changed() => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
        }
        self.client.shutdown();
    }

    /// One round: topics, consumer offsets, delay offsets, subscription groups. Like Java, a
    /// table that fails does not stop the others; the first failure is returned.
    pub async fn sync_all(&self) -> Result<SyncReport, SyncError> {
        let addr = self.link.master_addr().ok_or(SyncError::NoMaster)?;
        let mut report = SyncReport::default();
        let outcomes = [
            self.sync_topics(&addr, &mut report).await,
            self.sync_offsets(&addr, &mut report).await,
            self.sync_delay_offsets(&addr, &mut report).await,
            self.sync_groups(&addr, &mut report).await,
        ];
        match outcomes.into_iter().find_map(Result::err) {
            Some(err) => Err(err),
            None => Ok(report),
        }
    }

    async fn fetch(&self, addr: &str, code: RequestCode) -> Result<bytes::Bytes, SyncError> {
        let request = RemotingCommand::request(code, next_opaque());
        let response = self.call(addr, code, request).await?;
        Ok(response.body)
    }

    async fn call(
        &self,
        addr: &str,
        code: RequestCode,
        request: RemotingCommand,
    ) -> Result<RemotingCommand, SyncError> {
        let name = code.name();
        let response = self
            .client
            .invoke(addr, request, self.timeout)
            .await
            .map_err(|source| SyncError::Transport {
                addr: addr.to_owned(),
                code: name,
                source,
            })?;
        if response.code != ResponseCode::Success.code() {
            return Err(SyncError::Refused {
                addr: addr.to_owned(),
                code: name,
                response: response.code,
                remark: response.remark.unwrap_or_default(),
            });
        }
        Ok(response)
    }

    async fn sync_topics(&self, addr: &str, report: &mut SyncReport) -> Result<(), SyncError> {
        let code = RequestCode::GetAllTopicConfig;
        let body = self.fetch(addr, code).await?;
        let wrapper =
            TopicConfigSerializeWrapper::decode(&body).map_err(|e| body_error(addr, code, e))?;
        let master: BTreeSet<String> = wrapper.topic_config_table.keys().cloned().collect();
        for config in wrapper.topic_config_table.into_values() {
            if self.topics.get(&config.topic_name).as_ref() != Some(&config) {
                self.topics.upsert(config);
                report.topics_updated += 1;
            }
        }
        let previous = std::mem::replace(
            &mut *self
                .synced_topics
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            master.clone(),
        );
        for gone in previous.difference(&master) {
            if self.topics.remove(gone).is_some() {
                report.topics_removed += 1;
            }
        }
        Ok(())
    }

    async fn sync_offsets(&self, addr: &str, report: &mut SyncReport) -> Result<(), SyncError> {
        let code = RequestCode::GetAllConsumerOffset;
        let body = self.fetch(addr, code).await?;
        let master: ConsumerOffsetWrapper =
            ferrimq_fastjson::from_slice(&body).map_err(|e| body_error(addr, code, e))?;
        let ahead = self.forward_local_commits(addr, &master).await;
        report.offsets_forwarded += ahead.len();
        let table = &self.metadata.consumer_offsets;
        for (key, queues) in &master.offset_table {
            let Some((topic, group)) = split_offset_key(key) else {
                continue;
            };
            for (&queue_id, &offset) in queues {
                let local_key = (topic.to_owned(), group.to_owned(), queue_id);
                if ahead.contains(&local_key) {
                    continue;
                }
                if table.query(topic, group, queue_id) != Some(offset) {
                    table.commit(topic, group, queue_id, offset);
                    report.offsets_applied += 1;
                }
            }
        }
        Ok(())
    }

    /// Sends the master every local commit ahead of its table; returns the queues whose local
    /// offset must not be overwritten by the master's this round (forwarded, or still pending
    /// because the master did not take them).
    async fn forward_local_commits(
        &self,
        addr: &str,
        master: &ConsumerOffsetWrapper,
    ) -> BTreeSet<OffsetKey> {
        let pending = self.commits.take();
        let mut keep = BTreeSet::new();
        let mut failed = BTreeMap::new();
        for ((topic, group, queue_id), offset) in pending {
            let master_offset = master
                .offset_table
                .get(&ferrimq_store::metadata::consumer_offsets::offset_key(
                    &topic, &group,
                ))
                .and_then(|q| q.get(&queue_id).copied());
            if master_offset.is_some_and(|m| m >= offset) {
                continue;
            }
            let key = (topic, group, queue_id);
            if let Err(err) = self.push_offset(addr, &key, offset).await {
                tracing::warn!(error = %err, topic = %key.0, group = %key.1, queue_id,
                    "forwarding a slave-side consumer offset to the master failed");
                failed.insert(key.clone(), offset);
            } else {
                tracing::info!(topic = %key.0, group = %key.1, queue_id, offset,
                    "consumer offset committed on the slave forwarded to the master");
            }
            keep.insert(key);
        }
        self.commits.restore(failed);
        keep
    }

    async fn push_offset(&self, addr: &str, key: &OffsetKey, offset: i64) -> Result<(), SyncError> {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: key.1.clone(),
            topic: key.0.clone(),
            queue_id: key.2,
            commit_offset: offset,
        };
        let code = RequestCode::UpdateConsumerOffset;
        let request = RemotingCommand::request(code, next_opaque()).with_header(&header);
        self.call(addr, code, request).await.map(|_| ())
    }

    async fn sync_delay_offsets(
        &self,
        addr: &str,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let code = RequestCode::GetAllDelayOffset;
        let body = self.fetch(addr, code).await?;
        let master: DelayOffsetWrapper =
            ferrimq_fastjson::from_slice(&body).map_err(|e| body_error(addr, code, e))?;
        let table = &self.metadata.delay_offsets;
        let mut changed = false;
        for (level, offset) in master.offset_table {
            if table.get(level) != Some(offset) {
                table.update(level, offset);
                report.delay_levels += 1;
                changed = true;
            }
        }
        if changed {
            self.persist(|m| m.delay_offsets.persist()).await;
        }
        Ok(())
    }

    async fn sync_groups(&self, addr: &str, report: &mut SyncReport) -> Result<(), SyncError> {
        let code = RequestCode::GetAllSubscriptionGroupConfig;
        let body = self.fetch(addr, code).await?;
        let wrapper =
            SubscriptionGroupWrapper::decode(&body).map_err(|e| body_error(addr, code, e))?;
        let table = &self.metadata.groups;
        for config in wrapper.subscription_group_table.into_values() {
            if table.get(&config.group_name).as_ref() != Some(&config) {
                table.upsert(config);
                report.groups_updated += 1;
            }
        }
        if report.groups_updated > 0 {
            self.persist(|m| m.groups.persist()).await;
        }
        Ok(())
    }

    async fn persist(
        &self,
        write: impl FnOnce(&Metadata) -> ferrimq_store::metadata::error::Result<()> + Send + 'static,
    ) {
        let metadata = Arc::clone(&self.metadata);
        match tokio::task::spawn_blocking(move || write(&metadata)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "persisting synced metadata failed"),
            Err(err) => tracing::error!(error = %err, "metadata persistence task failed"),
        }
    }
}

fn body_error(addr: &str, code: RequestCode, err: impl std::fmt::Display) -> SyncError {
    SyncError::Body {
        addr: addr.to_owned(),
        code: code.name(),
        reason: err.to_string(),
    }
}
