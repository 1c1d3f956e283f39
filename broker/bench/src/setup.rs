//! Getting a cluster ready for a run: client sessions, topic names, topic creation through the
//! admin client and waiting until the name servers route every topic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrimq_client::{Admin, RouteCache, Session, SessionConfig};
use ferrimq_config::{Perm, TopicConfig};
use ferrimq_remoting::SerializeType;

use crate::error::{BenchError, Result};

/// How long topic routes may take to appear on the name servers after creation.
const ROUTE_WAIT: Duration = Duration::from_secs(40);

/// Where and what a run talks to.
#[derive(Debug, Clone)]
pub struct Target {
    /// Name-server addresses ("host:port", several separated by ';').
    pub namesrv: String,
    /// Base topic name.
    pub topic: String,
    /// Number of topics: 1 uses `topic` itself, N > 1 uses `topic-0` .. `topic-(N-1)`.
    pub topics: usize,
    /// Queues per topic (read = write) when creating topics.
    pub queues: u32,
    /// Create or update the topics through the admin client before the run.
    pub create_topic: bool,
    /// Cluster the topics are created in.
    pub cluster: String,
    /// Header serialization of every request (JSON or ROCKETMQ binary).
    pub serialize: SerializeType,
}

impl Target {
    /// The topic names of the run.
    pub fn topic_names(&self) -> Vec<String> {
        if self.topics <= 1 {
            return vec![self.topic.clone()];
        }
        (0..self.topics)
            .map(|i| format!("{}-{i}", self.topic))
            .collect()
    }

    /// A new session (one connection per peer) named `instance`.
    pub fn session(&self, instance: &str) -> Arc<Session> {
        let addrs = self
            .namesrv
            .split(';')
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let mut config = SessionConfig::new(addrs);
        config.instance_name = format!("{}-{instance}", std::process::id());
        config.transport.write_queue = 16 * 1024;
        config.transport.max_in_flight = 16 * 1024;
        config.transport.serialize_type = Some(self.serialize);
        Session::new(config)
    }

    /// Creates the topics if asked, then waits until each has a route.
    pub async fn prepare(&self) -> Result<Vec<String>> {
        let names = self.topic_names();
        let session = self.session("admin");
        if self.create_topic {
            let admin = Admin::new(session.clone());
            let masters = admin.cluster_masters(&self.cluster).await?;
            for name in &names {
                let config = TopicConfig::with_queues(name, self.queues, Perm::READ_WRITE);
                for addr in masters.values() {
                    admin.create_topic_on_broker(addr, &config).await?;
                }
            }
            wait_for_routes(&session, &names).await?;
        }
        session.shutdown();
        Ok(names)
    }
}

/// Polls the name servers until every topic in `names` has a route, or fails after a while.
async fn wait_for_routes(session: &Arc<Session>, names: &[String]) -> Result<()> {
    let routes = RouteCache::new(session.clone(), Duration::ZERO);
    let deadline = Instant::now() + ROUTE_WAIT;
    for name in names {
        loop {
            match routes.fetch(name).await {
                Ok(route) if !route.queue_datas.is_empty() => break,
                outcome => {
                    if Instant::now() > deadline {
                        let reason = match outcome {
                            Err(e) => e.to_string(),
                            Ok(_) => "route has no queues".to_owned(),
                        };
                        return Err(BenchError::Setup {
                            what: format!("route of created topic {name}"),
                            reason,
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(topics: usize) -> Target {
        Target {
            namesrv: "127.0.0.1:9876".into(),
            topic: "Bench".into(),
            topics,
            queues: 8,
            create_topic: false,
            cluster: "DefaultCluster".into(),
            serialize: SerializeType::Json,
        }
    }

    #[test]
    fn one_topic_keeps_its_name_many_get_suffixes() {
        assert_eq!(target(1).topic_names(), vec!["Bench".to_owned()]);
        assert_eq!(
            target(3).topic_names(),
            vec!["Bench-0".to_owned(), "Bench-1".into(), "Bench-2".into()]
        );
        assert_eq!(target(1000).topic_names().len(), 1000);
    }
}
