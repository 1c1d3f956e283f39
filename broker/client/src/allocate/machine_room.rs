//! Machine-room aware strategies.
//!
//! [`ByMachineRoom`] (Java `AllocateMessageQueueByMachineRoom`): broker names are
//! `room@broker`; only queues of the configured rooms are shared, in blocks, the remainder one
//! each to the first members. [`MachineRoomNearby`] (Java `AllocateMachineRoomNearby`): queues
//! of a room go to the consumers in that room (by an inner strategy); queues of a room without
//! consumers are shared by everyone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use ferrimq_remoting::body::MessageQueue;

use super::averagely::position;
use super::{AllocateError, AllocateStrategy, check};

/// Shares the queues of the consumer's data centres (`consume_idcs`).
#[derive(Debug, Clone, Default)]
pub struct ByMachineRoom {
    /// Rooms whose queues this group consumes (the part of `room@broker` before `@`).
    pub consume_idcs: BTreeSet<String>,
}

impl ByMachineRoom {
    /// A strategy consuming the queues of `rooms`.
    pub fn new(rooms: impl IntoIterator<Item = impl Into<String>>) -> Self {
        ByMachineRoom {
            consume_idcs: rooms.into_iter().map(Into::into).collect(),
        }
    }

    fn in_rooms(&self, queue: &MessageQueue) -> bool {
        let parts: Vec<&str> = queue.broker_name.split('@').collect();
        parts.len() == 2 && self.consume_idcs.contains(parts[0])
    }
}

impl AllocateStrategy for ByMachineRoom {
    fn name(&self) -> String {
        "MACHINE_ROOM".to_owned()
    }

    fn allocate(
        &self,
        _group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Result<Vec<MessageQueue>, AllocateError> {
        if !check(current_cid, mq_all, cid_all)? {
            return Ok(Vec::new());
        }
        let index = position(current_cid, cid_all);
        let eligible: Vec<&MessageQueue> = mq_all.iter().filter(|q| self.in_rooms(q)).collect();
        let per = eligible.len() / cid_all.len();
        let rem = eligible.len() % cid_all.len();
        let mut result: Vec<MessageQueue> = eligible[per * index..per * index + per]
            .iter()
            .map(|q| (*q).clone())
            .collect();
        if rem > index {
            result.push(eligible[index + per * cid_all.len()].clone());
        }
        Ok(result)
    }
}

/// Tells which machine room a broker queue and a consumer are deployed in.
pub trait MachineRoomResolver: Send + Sync + Debug {
    /// Room of the broker holding `queue` (`None` = unknown, an error).
    fn broker_deploy_in(&self, queue: &MessageQueue) -> Option<String>;
    /// Room of the consumer `client_id` (`None` = unknown, an error).
    fn consumer_deploy_in(&self, client_id: &str) -> Option<String>;
}

/// Prefers queues of the consumer's own room; rooms without consumers are shared by all.
#[derive(Debug, Clone)]
pub struct MachineRoomNearby {
    inner: Arc<dyn AllocateStrategy>,
    resolver: Arc<dyn MachineRoomResolver>,
}

impl MachineRoomNearby {
    /// Allocates within each room with `inner`, rooms told by `resolver`.
    pub fn new(inner: Arc<dyn AllocateStrategy>, resolver: Arc<dyn MachineRoomResolver>) -> Self {
        MachineRoomNearby { inner, resolver }
    }

    fn queues_by_room(
        &self,
        mq_all: &[MessageQueue],
    ) -> Result<BTreeMap<String, Vec<MessageQueue>>, AllocateError> {
        let mut rooms: BTreeMap<String, Vec<MessageQueue>> = BTreeMap::new();
        for queue in mq_all {
            let room = known(self.resolver.broker_deploy_in(queue), || {
                format!("{queue:?}")
            })?;
            rooms.entry(room).or_default().push(queue.clone());
        }
        Ok(rooms)
    }

    fn consumers_by_room(
        &self,
        cid_all: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, AllocateError> {
        let mut rooms: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for cid in cid_all {
            let room = known(self.resolver.consumer_deploy_in(cid), || cid.clone())?;
            rooms.entry(room).or_default().push(cid.clone());
        }
        Ok(rooms)
    }
}

fn known(room: Option<String>, what: impl FnOnce() -> String) -> Result<String, AllocateError> {
    room.filter(|r| !r.is_empty())
        .ok_or_else(|| AllocateError::UnknownMachineRoom { what: what() })
}

impl AllocateStrategy for MachineRoomNearby {
    fn name(&self) -> String {
        format!("MACHINE_ROOM_NEARBY-{}", self.inner.name())
    }

    fn allocate(
        &self,
        group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Result<Vec<MessageQueue>, AllocateError> {
        if !check(current_cid, mq_all, cid_all)? {
            return Ok(Vec::new());
        }
        let mut queue_rooms = self.queues_by_room(mq_all)?;
        let consumer_rooms = self.consumers_by_room(cid_all)?;
        let mut result = Vec::new();
        let own_room = self.resolver.consumer_deploy_in(current_cid);
        if let Some(room) = own_room {
            let own_queues = queue_rooms.remove(&room).unwrap_or_default();
            if let (false, Some(peers)) = (own_queues.is_empty(), consumer_rooms.get(&room)) {
                result.extend(
                    self.inner
                        .allocate(group, current_cid, &own_queues, peers)?,
                );
            }
        }
        for (room, queues) in &queue_rooms {
            if !consumer_rooms.contains_key(room) {
                result.extend(self.inner.allocate(group, current_cid, queues, cid_all)?);
            }
        }
        Ok(result)
    }
}
