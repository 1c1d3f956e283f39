//! The SLAVE role of a broker (brokerRole=SLAVE, brokerId >= 1): what a slave refuses, where
//! it learns its master, and how consumer commits it receives while the master is away are
//! kept until the master can take them.
//!
//! - [`MasterLink`]: the master's broker address (for metadata sync, see
//!   [`crate::slave_sync`]) and HA address (for the replication client), as watch channels.
//!   They come from the REGISTER_BROKER response (`masterAddr`, `haServerAddr`, filled by the
//!   NameServer for a slave once the master of its brokerName is registered); a configured
//!   `haMasterAddress` pins the HA address, as in Java (`updateMasterHAServerAddrPeriodically`).
//! - [`route_slave`]: the dispatch entries a slave answers differently from a master: sends are
//!   refused with SERVICE_NOT_AVAILABLE (Java's store answers PutMessageStatus
//!   SERVICE_NOT_AVAILABLE on a slave), END_TRANSACTION with SLAVE_NOT_AVAILABLE, admin writes
//!   with SYSTEM_ERROR, and
//!   UPDATE_CONSUMER_OFFSET is stored locally *and* remembered in [`LocalCommits`].
//!
//! Why [`LocalCommits`]: a consumer whose master is down commits its offsets to the slave (the
//! Java client's `findBrokerAddressInAdmin` falls back to any broker of the group). Java's slave
//! then overwrites them with the master's stale table at the next sync once the master is back,
//! so a consumer restarted at that moment re-reads from the master's old offset. Here the slave
//! forwards every commit newer than the master's to the master before taking the master's
//! table (see [`crate::slave_sync`]), so those offsets survive the master's return.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferrimq_config::BrokerSettings;
use ferrimq_remoting::header::typed::UpdateConsumerOffsetRequestHeader;
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_store::metadata::Metadata;
use ferrimq_transport::{Channel, DispatchTable, HandlerResult};
use tokio::sync::watch;

use crate::broker::Handles;
use crate::response::reject;
use crate::slave_sync::SlaveSync;

/// Remark of a send refused by a slave (the text Java's send processor gives for
/// SERVICE_NOT_AVAILABLE, which its store answers on a slave).
pub const SLAVE_SEND_REMARK: &str = "service not available now. It may be caused by one of the \
     following reasons: the broker's disk is full, messages are put to the slave, message store \
     has been shut down, etc.";

/// Remark of an admin write refused by a slave (Java 5.x `validateSlave`).
pub const SLAVE_ADMIN_REMARK: &str = "Can't modify topic or subscription group from slave broker, please execute it from master broker.";

/// Remark of an END_TRANSACTION refused by a slave (Java's EndTransactionProcessor).
pub const SLAVE_END_TRANSACTION_REMARK: &str =
    "Message store is slave mode, so end transaction is forbidden.";

/// Where the master of this slave's group is, as last learnt.
#[derive(Debug)]
pub struct MasterLink {
    master_addr: watch::Sender<Option<String>>,
    ha_addr: watch::Sender<Option<String>>,
    ha_pinned: bool,
}

impl MasterLink {
    /// A link with nothing learnt yet; `configured_ha` (`haMasterAddress`) pins the HA address.
    pub fn new(configured_ha: Option<String>) -> Self {
        let ha_pinned = configured_ha.is_some();
        MasterLink {
            master_addr: watch::channel(None).0,
            ha_addr: watch::channel(configured_ha).0,
            ha_pinned,
        }
    }

    /// Records the addresses of a REGISTER_BROKER response. A missing `masterAddr` means the
    /// master is not registered (down or expired): metadata sync pauses. A missing HA address
    /// keeps the last one, so the replication client keeps retrying the same master.
    pub fn learn(&self, master_addr: Option<String>, ha_addr: Option<String>) {
        let master_addr = master_addr.filter(|a| !a.is_empty());
        self.master_addr.send_if_modified(|current| {
            if *current == master_addr {
                return false;
            }
            match &master_addr {
                Some(addr) => tracing::info!(master = %addr, "master broker address learnt"),
                None => tracing::warn!("master broker not registered with the name server"),
            }
            *current = master_addr;
            true
        });
        let Some(ha) = ha_addr.filter(|a| !a.is_empty()) else {
            return;
        };
        if self.ha_pinned {
            return;
        }
        self.ha_addr.send_if_modified(|current| {
            if current.as_deref() == Some(ha.as_str()) {
                return false;
            }
            tracing::info!(ha_master = %ha, "master HA address learnt");
            *current = Some(ha);
            true
        });
    }

    /// The master's broker address, if known.
    pub fn master_addr(&self) -> Option<String> {
        self.master_addr.borrow().clone()
    }

    /// The master's HA address, if known.
    pub fn ha_addr(&self) -> Option<String> {
        self.ha_addr.borrow().clone()
    }

    /// Follows the master's broker address.
    pub fn watch_master(&self) -> watch::Receiver<Option<String>> {
        self.master_addr.subscribe()
    }

    /// Follows the master's HA address (the replication client's input).
    pub fn watch_ha(&self) -> watch::Receiver<Option<String>> {
        self.ha_addr.subscribe()
    }
}

/// The link of a SLAVE (`None` for a master), pinned to `haMasterAddress` when configured.
pub fn master_link(settings: &BrokerSettings) -> Option<Arc<MasterLink>> {
    if settings.broker_role.is_master() {
        return None;
    }
    let configured = settings.ha_master_address.as_ref().map(|h| h.0.clone());
    tracing::info!(broker_id = settings.broker_id, ha_master = ?configured, "starting as a SLAVE");
    Some(Arc::new(MasterLink::new(configured)))
}

/// The metadata sync task of a slave.
pub(crate) fn sync_task(
    link: &Arc<MasterLink>,
    handles: &Handles,
    settings: &BrokerSettings,
) -> Arc<SlaveSync> {
    let timeout = Duration::from_millis(settings.register_broker_timeout_mills.clamp(1000, 10_000));
    Arc::new(SlaveSync::new(
        Arc::clone(link),
        Arc::clone(&handles.topics),
        Arc::clone(&handles.metadata),
        Arc::clone(&handles.local_commits),
        timeout,
    ))
}

/// Queue of a consumer offset: (topic, group, queue id).
pub type OffsetKey = (String, String, i32);

/// Consumer offsets committed on this slave that the master has not been given yet.
#[derive(Debug, Default)]
pub struct LocalCommits {
    pending: Mutex<BTreeMap<OffsetKey, i64>>,
}

impl LocalCommits {
    /// Remembers a commit received by the slave.
    pub fn record(&self, topic: &str, group: &str, queue_id: i32, offset: i64) {
        self.lock()
            .insert((topic.to_owned(), group.to_owned(), queue_id), offset);
    }

    /// Takes every remembered commit (the sync hands them to the master).
    pub fn take(&self) -> BTreeMap<OffsetKey, i64> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back commits the master could not take; a newer commit recorded meanwhile wins.
    pub fn restore(&self, commits: BTreeMap<OffsetKey, i64>) {
        let mut pending = self.lock();
        for (key, offset) in commits {
            pending.entry(key).or_insert(offset);
        }
    }

    /// Number of commits waiting for the master.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when the master has every commit.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<OffsetKey, i64>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// UPDATE_CONSUMER_OFFSET on a slave: stored like on a master, and remembered for the master.
#[derive(Debug)]
pub struct SlaveOffsetProcessor {
    /// Consumer offsets.
    pub metadata: Arc<Metadata>,
    /// Commits the master has not seen.
    pub commits: Arc<LocalCommits>,
}

impl SlaveOffsetProcessor {
    /// Handles UPDATE_CONSUMER_OFFSET (15).
    pub fn update(&self, request: &RemotingCommand) -> HandlerResult {
        let h: UpdateConsumerOffsetRequestHeader = request.decode_header()?;
        self.metadata.consumer_offsets.commit(
            &h.topic,
            &h.consumer_group,
            h.queue_id,
            h.commit_offset,
        );
        self.commits
            .record(&h.topic, &h.consumer_group, h.queue_id, h.commit_offset);
        Ok(Some(RemotingCommand::response_to(
            request,
            ResponseCode::Success,
        )))
    }
}

/// One connected slave as the master's HA server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveProgress {
    /// The slave's HA connection address.
    pub addr: String,
    /// CommitLog offset the slave acknowledged.
    pub acked_offset: u64,
    /// Master end minus `acked_offset`.
    pub lag_bytes: u64,
}

/// Replication state as the HA service reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaStatus {
    /// A master: its connected slaves.
    Master {
        /// Connected slaves.
        slaves: Vec<SlaveProgress>,
    },
    /// A slave: its replication client.
    Slave {
        /// Connected to the master's HA port.
        connected: bool,
        /// This slave's CommitLog end.
        offset: u64,
    },
}

/// Reads the HA service's state on demand.
pub type HaStatusSource = Box<dyn Fn() -> HaStatus + Send + Sync>;

/// A slave lagging less than this is "in sync" (Java's `haSlaveFallbehindMax`, 256 MiB).
const IN_SYNC_LAG: u64 = 256 * 1024 * 1024;

/// Replication fields of GET_BROKER_RUNTIME_INFO: the master link of a slave and the state of
/// the HA service, installed with [`ReplicationView::set_source`] once replication started.
#[derive(Default)]
pub struct ReplicationView {
    link: Option<Arc<MasterLink>>,
    source: std::sync::OnceLock<HaStatusSource>,
}

impl std::fmt::Debug for ReplicationView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationView")
            .field("link", &self.link)
            .field("has_source", &self.source.get().is_some())
            .finish()
    }
}

impl ReplicationView {
    /// The view of a broker; `link` is `Some` on a slave.
    pub fn new(link: Option<Arc<MasterLink>>) -> Self {
        ReplicationView {
            link,
            source: std::sync::OnceLock::new(),
        }
    }

    /// The master link of a slave.
    pub fn master_link(&self) -> Option<&Arc<MasterLink>> {
        self.link.as_ref()
    }

    /// Installs the HA state reader (once; later calls are ignored and return false).
    pub fn set_source(&self, source: HaStatusSource) -> bool {
        self.source.set(source).is_ok()
    }

    /// The runtime-info entries; `put_where` is this broker's CommitLog end. Keys follow Java:
    /// `masterPutWhere`, `slaveFallBehindMuch` (master end minus the best slave's ack),
    /// `inSyncSlaveNums`, `haConnectionInfo` (5.x HAConnectionRuntimeInfo fields) on a master;
    /// `masterAddr`, `haMasterAddress`, `haClientRuntimeInfo` (5.x HAClientRuntimeInfo
    /// fields) on a slave.
    pub fn runtime_entries(&self, put_where: u64) -> Vec<(&'static str, String)> {
        let status = self.source.get().map(|read| read());
        match (&self.link, status) {
            (Some(link), status) => slave_entries(link, status),
            (None, Some(HaStatus::Master { slaves })) => master_entries(put_where, &slaves),
            (None, _) => master_entries(put_where, &[]),
        }
    }
}

fn master_entries(put_where: u64, slaves: &[SlaveProgress]) -> Vec<(&'static str, String)> {
    let best = slaves.iter().map(|s| s.acked_offset).max().unwrap_or(0);
    let in_sync = slaves.iter().filter(|s| s.lag_bytes < IN_SYNC_LAG).count();
    let connections: Vec<String> = slaves
        .iter()
        .map(|s| {
            format!(
                "{{\"addr\":\"{}\",\"slaveAckOffset\":{},\"diff\":{},\"inSync\":{}}}",
                s.addr,
                s.acked_offset,
                s.lag_bytes,
                s.lag_bytes < IN_SYNC_LAG
            )
        })
        .collect();
    vec![
        ("masterPutWhere", put_where.to_string()),
        (
            "slaveFallBehindMuch",
            put_where.saturating_sub(best).to_string(),
        ),
        ("inSyncSlaveNums", in_sync.to_string()),
        ("haConnectionInfo", format!("[{}]", connections.join(","))),
    ]
}

fn slave_entries(link: &MasterLink, status: Option<HaStatus>) -> Vec<(&'static str, String)> {
    let (connected, offset) = match status {
        Some(HaStatus::Slave { connected, offset }) => (connected, offset),
        _ => (false, 0),
    };
    let ha = link.ha_addr().unwrap_or_default();
    vec![
        ("masterAddr", link.master_addr().unwrap_or_default()),
        ("haMasterAddress", ha.clone()),
        (
            "haClientRuntimeInfo",
            format!(
                "{{\"masterAddr\":\"{ha}\",\"maxOffset\":{offset},\"isActivated\":{connected}}}"
            ),
        ),
    ]
}

/// Send codes a slave refuses.
const SEND_CODES: [RequestCode; 4] = [
    RequestCode::SendMessage,
    RequestCode::SendMessageV2,
    RequestCode::SendBatchMessage,
    RequestCode::ConsumerSendMsgBack,
];

/// Admin writes a slave refuses (they must go to the master, which the slave then copies).
const ADMIN_WRITE_CODES: [RequestCode; 4] = [
    RequestCode::UpdateAndCreateTopic,
    RequestCode::DeleteTopicInBroker,
    RequestCode::UpdateAndCreateSubscriptionGroup,
    RequestCode::DeleteSubscriptionGroup,
];

/// Replaces the entries a slave answers differently; call after the master table is built.
pub(crate) fn route_slave(
    table: &mut DispatchTable,
    metadata: &Arc<Metadata>,
    commits: &Arc<LocalCommits>,
) {
    for code in SEND_CODES {
        table.insert(code, |request: RemotingCommand, _ch: Channel| async move {
            Ok(Some(refuse_send(&request)))
        });
    }
    for code in ADMIN_WRITE_CODES {
        table.insert(code, |request: RemotingCommand, _ch: Channel| async move {
            Ok(Some(reject(
                &request,
                ResponseCode::SystemError,
                SLAVE_ADMIN_REMARK,
            )))
        });
    }
    table.insert(
        RequestCode::EndTransaction,
        |request: RemotingCommand, _ch: Channel| async move {
            Ok(Some(reject(
                &request,
                ResponseCode::SlaveNotAvailable,
                SLAVE_END_TRANSACTION_REMARK,
            )))
        },
    );
    let offsets = Arc::new(SlaveOffsetProcessor {
        metadata: Arc::clone(metadata),
        commits: Arc::clone(commits),
    });
    table.insert(
        RequestCode::UpdateConsumerOffset,
        move |request: RemotingCommand, _ch: Channel| {
            let result = offsets.update(&request);
            async move { result }
        },
    );
}

/// The answer of a slave to a send: SERVICE_NOT_AVAILABLE (the consumer send-back gets
/// SYSTEM_ERROR with the store status name, as Java's `consumerSendMsgBack` answers).
pub fn refuse_send(request: &RemotingCommand) -> RemotingCommand {
    if request.code == i32::from(RequestCode::ConsumerSendMsgBack) {
        return reject(request, ResponseCode::SystemError, "SERVICE_NOT_AVAILABLE");
    }
    reject(
        request,
        ResponseCode::ServiceNotAvailable,
        SLAVE_SEND_REMARK,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learn_tracks_master_and_keeps_ha_when_absent() {
        let link = MasterLink::new(None);
        let mut ha = link.watch_ha();
        link.learn(Some("10.0.0.1:10911".into()), Some("10.0.0.1:10912".into()));
        assert_eq!(link.master_addr().as_deref(), Some("10.0.0.1:10911"));
        assert!(ha.has_changed().unwrap());
        assert_eq!(ha.borrow_and_update().as_deref(), Some("10.0.0.1:10912"));
        link.learn(None, None);
        assert_eq!(link.master_addr(), None);
        assert_eq!(link.ha_addr().as_deref(), Some("10.0.0.1:10912"));
        assert!(!ha.has_changed().unwrap());
    }

    #[test]
    fn configured_ha_address_is_pinned() {
        let link = MasterLink::new(Some("10.9.9.9:10912".into()));
        link.learn(Some("10.0.0.1:10911".into()), Some("10.0.0.1:10912".into()));
        assert_eq!(link.ha_addr().as_deref(), Some("10.9.9.9:10912"));
        assert_eq!(link.master_addr().as_deref(), Some("10.0.0.1:10911"));
    }

    #[test]
    fn master_entries_report_the_best_slave() {
        let view = ReplicationView::new(None);
        assert_eq!(
            view.runtime_entries(100),
            vec![
                ("masterPutWhere", "100".to_owned()),
                ("slaveFallBehindMuch", "100".to_owned()),
                ("inSyncSlaveNums", "0".to_owned()),
                ("haConnectionInfo", "[]".to_owned()),
            ]
        );
        let slaves = vec![SlaveProgress {
            addr: "127.0.0.1:5000".into(),
            acked_offset: 60,
            lag_bytes: 40,
        }];
        assert!(view.set_source(Box::new(move || HaStatus::Master {
            slaves: slaves.clone()
        })));
        let entries = view.runtime_entries(100);
        assert_eq!(entries[1], ("slaveFallBehindMuch", "40".to_owned()));
        assert_eq!(entries[2], ("inSyncSlaveNums", "1".to_owned()));
        assert_eq!(
            entries[3].1,
            r#"[{"addr":"127.0.0.1:5000","slaveAckOffset":60,"diff":40,"inSync":true}]"#
        );
    }

    #[test]
    fn slave_entries_report_the_link_and_client() {
        let link = Arc::new(MasterLink::new(None));
        link.learn(Some("10.0.0.1:10911".into()), Some("10.0.0.1:10912".into()));
        let view = ReplicationView::new(Some(link));
        view.set_source(Box::new(|| HaStatus::Slave {
            connected: true,
            offset: 77,
        }));
        assert_eq!(
            view.runtime_entries(77),
            vec![
                ("masterAddr", "10.0.0.1:10911".to_owned()),
                ("haMasterAddress", "10.0.0.1:10912".to_owned()),
                (
                    "haClientRuntimeInfo",
                    r#"{"masterAddr":"10.0.0.1:10912","maxOffset":77,"isActivated":true}"#
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn restore_keeps_newer_commits() {
        let commits = LocalCommits::default();
        commits.record("T", "G", 0, 5);
        let taken = commits.take();
        assert!(commits.is_empty());
        commits.record("T", "G", 0, 9);
        commits.restore(taken);
        assert_eq!(commits.take().get(&("T".into(), "G".into(), 0)), Some(&9));
    }
}
