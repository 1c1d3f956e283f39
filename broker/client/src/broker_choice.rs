//! Which broker of a master/slave group a consumer talks to, per queue.
//!
//! Mirrors the Java client (`PullAPIWrapper.updatePullFromWhichNode` /
//! `recalculatePullFromWhichNode` and `MQClientInstance.findBrokerAddressInSubscribe`): each pull
//! answer carries `suggestWhichBrokerId`; the consumer remembers it per queue and pulls from that
//! broker next time if the route lists it, else from the master (brokerId 0), and when the
//! master is absent from the route (dead, expired from the name servers) from any slave of the
//! broker name (the lowest brokerId). Offset commits and queries, min/max offset and
//! search-by-time go to the master when it is in the route, else to a slave: the slave keeps
//! committed offsets and hands them to the master when it returns.

use std::collections::HashMap;
use std::sync::Mutex;

use ferrimq_remoting::body::MessageQueue;

use crate::route::TopicRoute;

/// brokerId of a master (`MixAll.MASTER_ID`).
pub const MASTER_ID: i64 = 0;

/// A broker picked for a request: its id in the group and its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenBroker {
    /// brokerId (0 = master).
    pub broker_id: i64,
    /// `host:port`.
    pub addr: String,
}

/// Picks `preferred` of `broker_name` if `route` lists it, else the master, else the slave with
/// the lowest brokerId; `None` when the route lists no address for `broker_name`.
pub fn choose(route: &TopicRoute, broker_name: &str, preferred: i64) -> Option<ChosenBroker> {
    let data = route
        .data
        .broker_datas
        .iter()
        .find(|b| b.broker_name == broker_name)?;
    let addrs = &data.broker_addrs;
    let pick = |id: i64| {
        addrs.get(&id).map(|addr| ChosenBroker {
            broker_id: id,
            addr: addr.clone(),
        })
    };
    pick(preferred).or_else(|| pick(MASTER_ID)).or_else(|| {
        // BTreeMap: the first entry is the lowest id; ids below 0 are not brokers.
        addrs
            .iter()
            .find(|(id, _)| **id > MASTER_ID)
            .and_then(|(id, _)| pick(*id))
    })
}

/// The broker id each queue's last pull answer suggested (absent = master).
#[derive(Debug, Default)]
pub struct PullFromWhichNode {
    suggested: Mutex<HashMap<MessageQueue, i64>>,
}

impl PullFromWhichNode {
    /// Remembers the broker id suggested for `queue` (Java `updatePullFromWhichNode`).
    pub fn update(&self, queue: &MessageQueue, broker_id: i64) {
        let mut suggested = self.suggested.lock().unwrap_or_else(|e| e.into_inner());
        suggested.insert(queue.clone(), broker_id);
    }

    /// The broker id to pull `queue` from next (Java `recalculatePullFromWhichNode`).
    pub fn recalculate(&self, queue: &MessageQueue) -> i64 {
        let suggested = self.suggested.lock().unwrap_or_else(|e| e.into_inner());
        suggested.get(queue).copied().unwrap_or(MASTER_ID)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use ferrimq_remoting::body::{BrokerData, QueueData, TopicRouteData};

    fn route(addrs: &[(i64, &str)]) -> TopicRoute {
        let data = TopicRouteData {
            broker_datas: vec![BrokerData {
                broker_addrs: addrs
                    .iter()
                    .map(|(id, a)| (*id, a.to_string()))
                    .collect::<BTreeMap<_, _>>(),
                broker_name: "b".into(),
                cluster: "c".into(),
                enable_acting_master: None,
                zone_name: None,
            }],
            queue_datas: vec![QueueData {
                broker_name: "b".into(),
                read_queue_nums: 1,
                write_queue_nums: 1,
                perm: 6,
                topic_sys_flag: 0,
            }],
            ..TopicRouteData::default()
        };
        TopicRoute::new("T", data)
    }

    fn chosen(id: i64, addr: &str) -> Option<ChosenBroker> {
        Some(ChosenBroker {
            broker_id: id,
            addr: addr.into(),
        })
    }

    #[test]
    fn suggested_broker_is_used_when_the_route_lists_it() {
        let r = route(&[(0, "m:1"), (1, "s1:1"), (2, "s2:1")]);
        assert_eq!(choose(&r, "b", 2), chosen(2, "s2:1"));
        assert_eq!(choose(&r, "b", 0), chosen(0, "m:1"));
    }

    #[test]
    fn unknown_suggestion_falls_back_to_the_master_then_the_lowest_slave() {
        let r = route(&[(0, "m:1"), (1, "s1:1")]);
        assert_eq!(choose(&r, "b", 5), chosen(0, "m:1"));
        let no_master = route(&[(2, "s2:1"), (1, "s1:1")]);
        assert_eq!(choose(&no_master, "b", 0), chosen(1, "s1:1"));
        assert_eq!(choose(&no_master, "b", 2), chosen(2, "s2:1"));
        assert_eq!(choose(&route(&[]), "b", 0), None);
        assert_eq!(choose(&r, "other", 0), None);
    }

    #[test]
    fn suggestions_are_remembered_per_queue() {
        let node = PullFromWhichNode::default();
        let q = |id| MessageQueue {
            topic: "T".into(),
            broker_name: "b".into(),
            queue_id: id,
        };
        assert_eq!(node.recalculate(&q(0)), MASTER_ID);
        node.update(&q(0), 1);
        assert_eq!((node.recalculate(&q(0)), node.recalculate(&q(1))), (1, 0));
        node.update(&q(0), 0);
        assert_eq!(node.recalculate(&q(0)), 0);
    }
}
