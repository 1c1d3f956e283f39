//! The raw RocketMQ remoting requests the operator sends to NameServers and brokers.
//!
//! [`BrokerCalls`] is the narrow seam between the admin composition in [`crate::remote_admin`]
//! (which decides what to ask and how to combine the answers) and the wire. [`RemotingCalls`]
//! implements it with `ferrimq-client`; unit tests implement it with canned answers. Every call
//! names its target explicitly (NameServer list or broker address) because one operator serves
//! many clusters at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrimq_client::session::request;
use ferrimq_client::{Admin, Session, SessionConfig};
use ferrimq_config::TopicConfig;
use ferrimq_remoting::body::{ClusterInfo, ConsumeStats, ConsumerConnection, GroupList, JsonBody};
use ferrimq_remoting::header::typed::{
    ConsumerGroupRequestHeader, GetConsumeStatsRequestHeader, TopicRequestHeader,
};
use ferrimq_remoting::{RequestCode, ResponseCode};
use futures::future::BoxFuture;

use crate::topics::AdminError;

/// Result of one remote call.
pub type CallResult<T> = Result<T, AdminError>;

/// The requests the operator's admin logic is built from.
pub trait BrokerCalls: Send + Sync {
    /// GET_BROKER_CLUSTER_INFO (106) from the NameServers `namesrv` (`host:port;host:port`).
    fn cluster_info<'a>(&'a self, namesrv: &'a str) -> BoxFuture<'a, CallResult<ClusterInfo>>;
    /// GET_ALL_TOPIC_CONFIG (21) of the broker at `addr`.
    fn topic_configs<'a>(
        &'a self,
        addr: &'a str,
    ) -> BoxFuture<'a, CallResult<BTreeMap<String, TopicConfig>>>;
    /// QUERY_TOPIC_CONSUME_BY_WHO (300): groups with online subscribers or offsets on `topic`.
    fn consumer_groups<'a>(
        &'a self,
        addr: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, CallResult<BTreeSet<String>>>;
    /// GET_CONSUME_STATS (208) of `group` on `topic` at one broker.
    fn consume_stats<'a>(
        &'a self,
        addr: &'a str,
        group: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, CallResult<ConsumeStats>>;
    /// GET_CONSUMER_CONNECTION_LIST (203): whether `group` has an online consumer at `addr`.
    fn group_online<'a>(&'a self, addr: &'a str, group: &'a str)
    -> BoxFuture<'a, CallResult<bool>>;
    /// UPDATE_AND_CREATE_TOPIC (17) on the broker at `addr`.
    fn update_topic<'a>(
        &'a self,
        addr: &'a str,
        config: &'a TopicConfig,
    ) -> BoxFuture<'a, CallResult<()>>;
    /// WIPE_WRITE_PERM_OF_BROKER (205) on every NameServer of `namesrv`.
    fn wipe_write_perm<'a>(
        &'a self,
        namesrv: &'a str,
        broker_name: &'a str,
    ) -> BoxFuture<'a, CallResult<()>>;
    /// ADD_WRITE_PERM_OF_BROKER (327) on every NameServer of `namesrv`.
    fn add_write_perm<'a>(
        &'a self,
        namesrv: &'a str,
        broker_name: &'a str,
    ) -> BoxFuture<'a, CallResult<()>>;
}

/// [`BrokerCalls`] over the RocketMQ remoting protocol (`ferrimq-client`).
pub struct RemotingCalls {
    timeout: Duration,
    /// One session per NameServer list, created on first use.
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl RemotingCalls {
    /// Calls with a per-request `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The session for `namesrv` (`host:port;host:port`); broker calls use the empty list.
    fn session(&self, namesrv: &str) -> Arc<Session> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions
            .entry(namesrv.to_string())
            .or_insert_with(|| {
                let addrs = namesrv
                    .split(';')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_string);
                let mut config = SessionConfig::new(addrs);
                config.request_timeout = self.timeout;
                config.instance_name = "ferrimq-operator".to_string();
                Session::new(config)
            })
            .clone()
    }

    fn admin(&self, namesrv: &str) -> Admin {
        Admin::new(self.session(namesrv))
    }

    async fn broker_request(
        &self,
        addr: &str,
        command: ferrimq_remoting::RemotingCommand,
        accepted: &[ResponseCode],
    ) -> CallResult<ferrimq_remoting::RemotingCommand> {
        self.session("")
            .invoke_ok(addr, command, accepted, None)
            .await
            .map_err(|e| failed(addr, e))
    }
}

fn failed(target: &str, error: impl std::fmt::Display) -> AdminError {
    AdminError {
        target: target.to_string(),
        message: error.to_string(),
    }
}

impl BrokerCalls for RemotingCalls {
    fn cluster_info<'a>(&'a self, namesrv: &'a str) -> BoxFuture<'a, CallResult<ClusterInfo>> {
        Box::pin(async move {
            self.admin(namesrv)
                .cluster_info()
                .await
                .map_err(|e| failed(namesrv, e))
        })
    }

    fn topic_configs<'a>(
        &'a self,
        addr: &'a str,
    ) -> BoxFuture<'a, CallResult<BTreeMap<String, TopicConfig>>> {
        Box::pin(async move {
            let wrapper = self
                .admin("")
                .topic_configs(addr)
                .await
                .map_err(|e| failed(addr, e))?;
            Ok(wrapper.topic_config_table)
        })
    }

    fn consumer_groups<'a>(
        &'a self,
        addr: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, CallResult<BTreeSet<String>>> {
        Box::pin(async move {
            let header = TopicRequestHeader {
                topic: topic.to_string(),
            };
            let command = request(RequestCode::QueryTopicConsumeByWho).with_header(&header);
            let response = self
                .broker_request(addr, command, &[ResponseCode::Success])
                .await?;
            let groups = GroupList::decode(&response.body).map_err(|e| failed(addr, e))?;
            Ok(groups.group_list)
        })
    }

    fn consume_stats<'a>(
        &'a self,
        addr: &'a str,
        group: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, CallResult<ConsumeStats>> {
        Box::pin(async move {
            let header = GetConsumeStatsRequestHeader {
                consumer_group: group.to_string(),
                topic: Some(topic.to_string()),
            };
            let command = request(RequestCode::GetConsumeStats).with_header(&header);
            let response = self
                .broker_request(addr, command, &[ResponseCode::Success])
                .await?;
            ConsumeStats::decode(&response.body).map_err(|e| failed(addr, e))
        })
    }

    fn group_online<'a>(
        &'a self,
        addr: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, CallResult<bool>> {
        Box::pin(async move {
            let header = ConsumerGroupRequestHeader {
                consumer_group: group.to_string(),
            };
            let command = request(RequestCode::GetConsumerConnectionList).with_header(&header);
            let accepted = [ResponseCode::Success, ResponseCode::ConsumerNotOnline];
            let response = self.broker_request(addr, command, &accepted).await?;
            if response.code != ResponseCode::Success.code() {
                return Ok(false);
            }
            let connections =
                ConsumerConnection::decode(&response.body).map_err(|e| failed(addr, e))?;
            Ok(!connections.connection_set.is_empty())
        })
    }

    fn update_topic<'a>(
        &'a self,
        addr: &'a str,
        config: &'a TopicConfig,
    ) -> BoxFuture<'a, CallResult<()>> {
        Box::pin(async move {
            self.admin("")
                .create_topic_on_broker(addr, config)
                .await
                .map_err(|e| failed(addr, e))
        })
    }

    fn wipe_write_perm<'a>(
        &'a self,
        namesrv: &'a str,
        broker_name: &'a str,
    ) -> BoxFuture<'a, CallResult<()>> {
        Box::pin(async move {
            self.admin(namesrv)
                .wipe_write_perm(broker_name)
                .await
                .map(drop)
                .map_err(|e| failed(namesrv, e))
        })
    }

    fn add_write_perm<'a>(
        &'a self,
        namesrv: &'a str,
        broker_name: &'a str,
    ) -> BoxFuture<'a, CallResult<()>> {
        Box::pin(async move {
            self.admin(namesrv)
                .add_write_perm(broker_name)
                .await
                .map(drop)
                .map_err(|e| failed(namesrv, e))
        })
    }
}
