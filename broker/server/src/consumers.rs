//! The consumer table: which client (on which connection) belongs to which consumer group and
//! what the group subscribes to. Filled by HEART_BEAT, emptied by UNREGISTER_CLIENT and by
//! connection close; read by pulls (the registered subscription) and GET_CONSUMER_LIST_BY_GROUP.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use ferrimq_remoting::body::{ConsumerData, SubscriptionData};
use ferrimq_transport::Channel;

/// One client of a group.
#[derive(Debug, Clone)]
struct Member {
    client_id: String,
    channel: Channel,
}

/// One consumer group.
#[derive(Debug, Default)]
struct Group {
    /// By connection id.
    members: BTreeMap<u64, Member>,
    /// By topic.
    subscriptions: HashMap<String, SubscriptionData>,
}

/// Consumer groups and their members.
#[derive(Debug, Default)]
pub struct ConsumerRegistry {
    groups: Mutex<HashMap<String, Group>>,
}

impl ConsumerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        ConsumerRegistry::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers (or refreshes) `client_id` on `channel` as a member of `data.group_name`.
    /// Returns true when the membership changed (a new member), i.e. the group must be told.
    pub fn register(&self, data: &ConsumerData, client_id: &str, channel: &Channel) -> bool {
        let mut groups = self.lock();
        let group = groups.entry(data.group_name.clone()).or_default();
        let member = Member {
            client_id: client_id.to_owned(),
            channel: channel.clone(),
        };
        let joined = group
            .members
            .insert(channel.id(), member)
            .is_none_or(|old| old.client_id != client_id);
        for sub in &data.subscription_data_set {
            let newer = group
                .subscriptions
                .get(&sub.topic)
                .is_none_or(|old| old.sub_version <= sub.sub_version);
            if newer {
                group.subscriptions.insert(sub.topic.clone(), sub.clone());
            }
        }
        joined
    }

    /// Removes `client_id` from `group`; returns true when it was a member.
    pub fn unregister(&self, group: &str, client_id: &str) -> bool {
        let mut groups = self.lock();
        let Some(g) = groups.get_mut(group) else {
            return false;
        };
        let before = g.members.len();
        g.members.retain(|_, m| m.client_id != client_id);
        let removed = g.members.len() != before;
        if g.members.is_empty() {
            groups.remove(group);
        }
        removed
    }

    /// Removes every membership of a closed connection; returns the groups that changed.
    pub fn remove_channel(&self, channel_id: u64) -> Vec<String> {
        let mut groups = self.lock();
        let mut changed = Vec::new();
        groups.retain(|name, g| {
            if g.members.remove(&channel_id).is_some() {
                changed.push(name.clone());
            }
            !g.members.is_empty()
        });
        changed
    }

    /// The group's registered subscription of `topic`; `Err(false)` when the group is unknown,
    /// `Err(true)` when the group does not subscribe to the topic.
    pub fn subscription(&self, group: &str, topic: &str) -> Result<SubscriptionData, bool> {
        let groups = self.lock();
        let g = groups.get(group).ok_or(false)?;
        g.subscriptions.get(topic).cloned().ok_or(true)
    }

    /// Client ids of the group's members, sorted.
    pub fn client_ids(&self, group: &str) -> Vec<String> {
        let groups = self.lock();
        let mut ids: Vec<String> = groups
            .get(group)
            .map(|g| g.members.values().map(|m| m.client_id.clone()).collect())
            .unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Live connections of the group's members.
    pub fn channels(&self, group: &str) -> Vec<Channel> {
        let groups = self.lock();
        groups
            .get(group)
            .map(|g| g.members.values().map(|m| m.channel.clone()).collect())
            .unwrap_or_default()
    }

    /// Groups whose members subscribe to `topic` (QUERY_TOPIC_CONSUME_BY_WHO).
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        let groups = self.lock();
        let mut names: Vec<String> = groups
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }
}
