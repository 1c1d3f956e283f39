//! Topic routes from the name servers, cached per topic.
//!
//! A route is fetched with GET_ROUTEINFO_BY_TOPIC (105) and kept; it is refetched when older than
//! the poll interval (Java `pollNameServerInterval`, 30 s), when a caller invalidates it after a
//! failure, or by the periodic refresher ([`RouteCache::spawn_refresher`]). When every name server
//! is unreachable the cached route keeps being served, so sends and pulls go on. For a topic the
//! name servers do not know, a producer falls back to the route of "TBW102" (protocol ref §3.9):
//! `min(defaultTopicQueueNums, TBW102 queues)` queues on its brokers; the broker then auto-creates
//! the topic on the first send.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use ferrimq_remoting::RequestCode;
use ferrimq_remoting::ResponseCode;
use ferrimq_remoting::body::{JsonBody, MessageQueue, TopicRouteData};
use ferrimq_remoting::header::typed::GetRouteInfoRequestHeader;

use crate::error::{ClientError, Result};
use crate::session::{Session, request};

/// Topic used as the auto-create template (`TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC`).
pub const AUTO_CREATE_TOPIC: &str = "TBW102";
const PERM_READ: i32 = 4;
const PERM_WRITE: i32 = 2;

/// One topic's route and the queues derived from it.
#[derive(Debug, Clone)]
pub struct TopicRoute {
    /// Topic.
    pub topic: String,
    /// Route as the name server sent it.
    pub data: TopicRouteData,
    /// Queues a producer may send to (write queues of writable masters).
    pub publish: Vec<MessageQueue>,
    /// Queues a consumer may pull from (read queues of readable brokers).
    pub subscribe: Vec<MessageQueue>,
    /// Built from the TBW102 route because the topic has none yet.
    pub from_default: bool,
    fetched_at: Instant,
}

impl TopicRoute {
    /// Derives publish and subscribe queues of `topic` from `data`.
    pub fn new(topic: &str, data: TopicRouteData) -> Self {
        TopicRoute::with_limit(topic, data, i32::MAX, false)
    }

    fn with_limit(topic: &str, data: TopicRouteData, limit: i32, from_default: bool) -> Self {
        let mut queue_datas = data.queue_datas.clone();
        queue_datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        let mut publish = Vec::new();
        let mut subscribe = Vec::new();
        for qd in &queue_datas {
            let has_master = data
                .broker_datas
                .iter()
                .any(|b| b.broker_name == qd.broker_name && b.master_addr().is_some());
            let queues = |count: i32| {
                (0..count.min(limit)).map(|id| MessageQueue {
                    broker_name: qd.broker_name.clone(),
                    queue_id: id,
                    topic: topic.to_owned(),
                })
            };
            if qd.perm & PERM_WRITE != 0 && has_master {
                publish.extend(queues(qd.write_queue_nums));
            }
            if qd.perm & PERM_READ != 0 {
                subscribe.extend(queues(qd.read_queue_nums));
            }
        }
        TopicRoute {
            topic: topic.to_owned(),
            data,
            publish,
            subscribe,
            from_default,
            fetched_at: Instant::now(),
        }
    }

    /// Master address of `broker_name` in this route.
    pub fn master_addr(&self, broker_name: &str) -> Option<&str> {
        self.data
            .broker_datas
            .iter()
            .find(|b| b.broker_name == broker_name)
            .and_then(|b| b.master_addr())
    }

    /// Master addresses of every broker in the route.
    pub fn master_addrs(&self) -> Vec<String> {
        self.data
            .broker_datas
            .iter()
            .filter_map(|b| b.master_addr().map(str::to_owned))
            .collect()
    }
}

/// Routes by topic, shared by the producer, consumer and admin of a session.
#[derive(Debug)]
pub struct RouteCache {
    session: Arc<Session>,
    routes: RwLock<HashMap<String, Arc<TopicRoute>>>,
    max_age: Duration,
}

impl RouteCache {
    /// A cache whose entries are refetched after `max_age`.
    pub fn new(session: Arc<Session>, max_age: Duration) -> Arc<Self> {
        Arc::new(RouteCache {
            session,
            routes: RwLock::default(),
            max_age,
        })
    }

    /// The session this cache asks through.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// Fetches the route of `topic` from the name servers (no cache involved).
    pub async fn fetch(&self, topic: &str) -> Result<TopicRouteData> {
        let header = GetRouteInfoRequestHeader {
            topic: topic.to_owned(),
            accept_standard_json_only: Some(true),
        };
        let req = request(RequestCode::GetRouteinfoByTopic).with_header(&header);
        let response = self
            .session
            .invoke_namesrv(req, &[ResponseCode::Success])
            .await
            .map_err(|e| match e {
                ClientError::Broker { code, remark, .. }
                    if code == ResponseCode::TopicNotExist.code() =>
                {
                    ClientError::NoRoute {
                        topic: topic.to_owned(),
                        reason: remark,
                    }
                }
                other => other,
            })?;
        Ok(TopicRouteData::decode(&response.body)?)
    }

    /// The route of `topic` for consuming or administering: cached if fresh, else fetched; the
    /// cached one when the name servers cannot be reached.
    pub async fn route(&self, topic: &str) -> Result<Arc<TopicRoute>> {
        let cached = self.cached(topic);
        if let Some(route) = cached.as_ref().filter(|r| self.is_fresh(r)) {
            return Ok(Arc::clone(route));
        }
        match self.fetch(topic).await {
            Ok(data) => Ok(self.store(TopicRoute::new(topic, data))),
            Err(e @ ClientError::NoRoute { .. }) => {
                self.remove(topic);
                Err(e)
            }
            Err(e) => cached.ok_or(e),
        }
    }

    /// The route of `topic` for producing: like [`RouteCache::route`], but a topic without a route
    /// gets `min(queue_nums, TBW102 queues)` queues on the TBW102 brokers.
    pub async fn publish_route(&self, topic: &str, queue_nums: i32) -> Result<Arc<TopicRoute>> {
        match self.route(topic).await {
            Err(ClientError::NoRoute { reason, .. }) => {
                let data =
                    self.fetch(AUTO_CREATE_TOPIC)
                        .await
                        .map_err(|e| ClientError::NoRoute {
                            topic: topic.to_owned(),
                            reason: format!("{reason}; no {AUTO_CREATE_TOPIC} fallback: {e}"),
                        })?;
                let route = TopicRoute::with_limit(topic, data, queue_nums, true);
                Ok(self.store(route))
            }
            outcome => outcome,
        }
    }

    /// Marks the route of `topic` stale so the next use refetches it.
    pub fn invalidate(&self, topic: &str) {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(route) = routes.get_mut(topic) {
            let mut stale = TopicRoute::clone(route);
            stale.fetched_at = Instant::now() - self.max_age - Duration::from_millis(1);
            *route = Arc::new(stale);
        }
    }

    /// Refetches every cached topic; failures keep the old entry. Returns how many refreshed.
    pub async fn refresh_all(&self) -> usize {
        let topics: Vec<String> = self.read().keys().cloned().collect();
        let mut refreshed = 0;
        for topic in topics {
            if let Ok(data) = self.fetch(&topic).await {
                self.store(TopicRoute::new(&topic, data));
                refreshed += 1;
            }
        }
        refreshed
    }

    /// Refreshes every cached route each `interval` until the cache is dropped.
    pub fn spawn_refresher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<RouteCache> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(cache) = weak.upgrade() else { return };
                cache.refresh_all().await;
            }
        })
    }

    /// Master address of `broker_name` from any cached route.
    pub fn master_addr(&self, broker_name: &str) -> Option<String> {
        self.read()
            .values()
            .find_map(|r| r.master_addr(broker_name).map(str::to_owned))
    }

    /// Master addresses of every broker in every cached route, deduplicated.
    pub fn all_master_addrs(&self) -> Vec<String> {
        let mut addrs: Vec<String> = self
            .read()
            .values()
            .flat_map(|r| r.master_addrs())
            .collect();
        addrs.sort();
        addrs.dedup();
        addrs
    }

    /// The cached route of `topic`, fresh or not.
    pub fn cached(&self, topic: &str) -> Option<Arc<TopicRoute>> {
        self.read().get(topic).cloned()
    }

    fn is_fresh(&self, route: &TopicRoute) -> bool {
        let max_age = if route.from_default {
            self.max_age.min(Duration::from_secs(1))
        } else {
            self.max_age
        };
        route.fetched_at.elapsed() < max_age
    }

    fn store(&self, route: TopicRoute) -> Arc<TopicRoute> {
        let route = Arc::new(route);
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes.insert(route.topic.clone(), Arc::clone(&route));
        route
    }

    fn remove(&self, topic: &str) {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes.remove(topic);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<TopicRoute>>> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrimq_remoting::body::{BrokerData, QueueData};

    fn data() -> TopicRouteData {
        let qd = |name: &str, perm, r, w| QueueData {
            broker_name: name.into(),
            read_queue_nums: r,
            write_queue_nums: w,
            perm,
            topic_sys_flag: 0,
        };
        let bd = |name: &str, addrs: &[(i64, &str)]| BrokerData {
            broker_addrs: addrs.iter().map(|(id, a)| (*id, a.to_string())).collect(),
            broker_name: name.into(),
            cluster: "c".into(),
            enable_acting_master: None,
            zone_name: None,
        };
        TopicRouteData {
            broker_datas: vec![
                bd("b1", &[(0, "h1:1"), (1, "h1s:1")]),
                bd("b2", &[(0, "h2:1")]),
                bd("b3", &[(1, "h3s:1")]),
            ],
            queue_datas: vec![qd("b2", 4, 2, 2), qd("b1", 6, 3, 2), qd("b3", 6, 1, 1)],
            ..TopicRouteData::default()
        }
    }

    fn ids(queues: &[MessageQueue]) -> Vec<(String, i32)> {
        queues
            .iter()
            .map(|q| (q.broker_name.clone(), q.queue_id))
            .collect()
    }

    #[test]
    fn publish_queues_are_write_queues_of_writable_masters() {
        let route = TopicRoute::new("T", data());
        let s = |b: &str, i| (b.to_string(), i);
        assert_eq!(ids(&route.publish), vec![s("b1", 0), s("b1", 1)]);
        assert_eq!(
            ids(&route.subscribe),
            vec![
                s("b1", 0),
                s("b1", 1),
                s("b1", 2),
                s("b2", 0),
                s("b2", 1),
                s("b3", 0)
            ]
        );
        assert!(route.publish.iter().all(|q| q.topic == "T"));
        assert_eq!(route.master_addr("b2"), Some("h2:1"));
        assert_eq!(route.master_addr("b3"), None);
        assert_eq!(route.master_addrs(), vec!["h1:1", "h2:1"]);
    }

    #[test]
    fn default_route_limits_queue_count() {
        let route = TopicRoute::with_limit("New", data(), 1, true);
        assert_eq!(ids(&route.publish), vec![("b1".to_string(), 0)]);
        assert!(route.from_default);
    }
}
