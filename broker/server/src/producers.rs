//! The producer table: which client (on which connection) belongs to which producer group.
//!
//! Filled by the `producerDataSet` of HEART_BEAT, emptied by UNREGISTER_CLIENT, by connection
//! close and by expiry (a channel silent for [`PRODUCER_CHANNEL_EXPIRY`] is dropped, as Java's
//! `ProducerManager` does). The transaction check-back service reads it to find a live
//! connection of a producer group; GET_PRODUCER_CONNECTION_LIST (204) reports it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferrimq_remoting::body::{Connection, ProducerConnection};
use ferrimq_remoting::header::typed::GetProducerConnectionListRequestHeader;
use ferrimq_remoting::{LanguageCode, RemotingCommand, ResponseCode};
use ferrimq_transport::{Channel, HandlerResult};

use crate::response::reject;

/// A producer channel without a heartbeat for this long is dropped (Java: 120 s).
pub const PRODUCER_CHANNEL_EXPIRY: Duration = Duration::from_secs(120);

/// One connection of a producer group.
#[derive(Debug, Clone)]
struct Member {
    client_id: String,
    channel: Channel,
    language: LanguageCode,
    version: i32,
    last_heartbeat: Instant,
}

/// Producer groups and their connections (by connection id).
#[derive(Debug)]
pub struct ProducerRegistry {
    groups: Mutex<HashMap<String, BTreeMap<u64, Member>>>,
    expiry: Duration,
}

impl Default for ProducerRegistry {
    fn default() -> Self {
        ProducerRegistry::new()
    }
}

impl ProducerRegistry {
    /// An empty table with the Java expiry.
    pub fn new() -> Self {
        ProducerRegistry::with_expiry(PRODUCER_CHANNEL_EXPIRY)
    }

    /// An empty table dropping channels silent for `expiry`.
    pub fn with_expiry(expiry: Duration) -> Self {
        ProducerRegistry {
            groups: Mutex::new(HashMap::new()),
            expiry,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<u64, Member>>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers (or refreshes) `client_id` on `channel` as a producer of `group`; returns true
    /// when the connection is new to the group.
    pub fn register(
        &self,
        group: &str,
        client_id: &str,
        channel: &Channel,
        language: LanguageCode,
        version: i32,
    ) -> bool {
        let member = Member {
            client_id: client_id.to_owned(),
            channel: channel.clone(),
            language,
            version,
            last_heartbeat: Instant::now(),
        };
        let mut groups = self.lock();
        let members = groups.entry(group.to_owned()).or_default();
        members.insert(channel.id(), member).is_none()
    }

    /// Removes `client_id` from `group`; returns true when it was a member.
    pub fn unregister(&self, group: &str, client_id: &str) -> bool {
        let mut groups = self.lock();
        let Some(members) = groups.get_mut(group) else {
            return false;
        };
        let before = members.len();
        members.retain(|_, m| m.client_id != client_id);
        let removed = members.len() != before;
        if members.is_empty() {
            groups.remove(group);
        }
        removed
    }

    /// Removes every membership of a closed connection; returns the groups that lost it.
    pub fn remove_channel(&self, channel_id: u64) -> Vec<String> {
        let mut groups = self.lock();
        let mut changed = Vec::new();
        groups.retain(|name, members| {
            if members.remove(&channel_id).is_some() {
                changed.push(name.clone());
            }
            !members.is_empty()
        });
        changed.sort();
        changed
    }

    /// Drops channels that are closed or silent for longer than the expiry; returns how many.
    pub fn expire(&self) -> usize {
        let now = Instant::now();
        let mut groups = self.lock();
        let mut dropped = 0;
        groups.retain(|group, members| {
            members.retain(|_, m| {
                let alive =
                    m.channel.is_active() && now.duration_since(m.last_heartbeat) < self.expiry;
                if !alive {
                    tracing::info!(group = %group, client = %m.client_id, "producer channel expired");
                    dropped += 1;
                }
                alive
            });
            !members.is_empty()
        });
        dropped
    }

    /// A live connection of `group` to send a check-back on: the most recently heard from.
    pub fn available_channel(&self, group: &str) -> Option<Channel> {
        self.expire();
        let groups = self.lock();
        groups
            .get(group)?
            .values()
            .filter(|m| m.channel.is_active())
            .max_by_key(|m| m.last_heartbeat)
            .map(|m| m.channel.clone())
    }

    /// Names of the groups with at least one connection, sorted.
    pub fn groups(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// GET_PRODUCER_CONNECTION_LIST body of `group`; `None` when no producer is online.
    pub fn connection(&self, group: &str) -> Option<ProducerConnection> {
        let groups = self.lock();
        let members = groups.get(group)?;
        let connection_set: BTreeSet<Connection> = members
            .values()
            .map(|m| Connection {
                client_addr: m.channel.peer_addr().to_string(),
                client_id: m.client_id.clone(),
                language: m.language,
                version: m.version,
            })
            .collect();
        Some(ProducerConnection { connection_set })
    }

    /// GET_PRODUCER_CONNECTION_LIST (204): the group's connections, or SYSTEM_ERROR naming the
    /// group when none is online (as Java answers).
    pub fn connection_list(&self, request: &RemotingCommand) -> HandlerResult {
        let h: GetProducerConnectionListRequestHeader = request.decode_header()?;
        let Some(connection) = self.connection(&h.producer_group) else {
            let remark = format!("the producer group[{}] not exist", h.producer_group);
            return Ok(Some(reject(request, ResponseCode::SystemError, remark)));
        };
        let body = ferrimq_remoting::body::JsonBody::encode(&connection)?;
        Ok(Some(
            RemotingCommand::response_to(request, ResponseCode::Success).with_body(body),
        ))
    }
}
