//! The consumer table: which client (on which connection) belongs to which consumer group and
//! what the group subscribes to. Filled by HEART_BEAT, emptied by UNREGISTER_CLIENT and by
//! connection close; read by pulls (the registered subscription) and GET_CONSUMER_LIST_BY_GROUP.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use ferrimq_remoting::LanguageCode;
use ferrimq_remoting::body::Connection;
use ferrimq_remoting::body::{
    ConsumeFromWhere, ConsumeType, ConsumerConnection, ConsumerData, MessageModel, SubscriptionData,
};
use ferrimq_transport::Channel;

/// One client of a group.
#[derive(Debug, Clone)]
struct Member {
    client_id: String,
    channel: Channel,
    language: LanguageCode,
    version: i32,
}

/// Who a heartbeat came from.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo<'a> {
    /// `clientID` of the heartbeat.
    pub client_id: &'a str,
    /// The connection it came on.
    pub channel: &'a Channel,
    /// The request's `language`.
    pub language: LanguageCode,
    /// The request's `version`.
    pub version: i32,
}

/// One consumer group.
#[derive(Debug, Default)]
struct Group {
    /// By connection id.
    members: BTreeMap<u64, Member>,
    /// By topic.
    subscriptions: HashMap<String, SubscriptionData>,
    /// As last reported.
    consume_type: ConsumeType,
    message_model: MessageModel,
    consume_from_where: ConsumeFromWhere,
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

    /// Registers (or refreshes) the client as a member of `data.group_name`. Returns true when
    /// the membership changed (a new member), i.e. the group must be told.
    pub fn register(&self, data: &ConsumerData, client: ClientInfo<'_>) -> bool {
        let mut groups = self.lock();
        let group = groups.entry(data.group_name.clone()).or_default();
        group.consume_type = data.consume_type;
        group.message_model = data.message_model;
        group.consume_from_where = data.consume_from_where;
        let member = Member {
            client_id: client.client_id.to_owned(),
            channel: client.channel.clone(),
            language: client.language,
            version: client.version,
        };
        let joined = group
            .members
            .insert(client.channel.id(), member)
            .is_none_or(|old| old.client_id != client.client_id);
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

    /// GET_CONSUMER_CONNECTION_LIST: the group's connections and subscriptions; `None` when no
    /// member is online.
    pub fn connection(&self, group: &str) -> Option<ConsumerConnection> {
        let groups = self.lock();
        let g = groups.get(group)?;
        let connection_set = g
            .members
            .values()
            .map(|m| Connection {
                client_addr: m.channel.peer_addr().to_string(),
                client_id: m.client_id.clone(),
                language: m.language,
                version: m.version,
            })
            .collect();
        Some(ConsumerConnection {
            connection_set,
            consume_from_where: Some(g.consume_from_where),
            consume_type: Some(g.consume_type),
            message_model: Some(g.message_model),
            subscription_table: g
                .subscriptions
                .iter()
                .map(|(t, s)| (t.clone(), s.clone()))
                .collect(),
        })
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
