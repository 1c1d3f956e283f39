//! `Admin`: the operations of `mqadmin` over name servers and brokers (protocol ref §3.9, §3.10).
//!
//! Cluster-wide writes go to every master of the cluster as found in GET_BROKER_CLUSTER_INFO
//! (106); per-topic reads go to every master in the topic's route and are merged. Consumer-group
//! reads use the route of "%RETRY%<group>", as `mqadmin consumerProgress` does. The operator's
//! `TopicAdmin` and the CLI are built on these calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ferrimq_config::{SubscriptionGroupConfig, TopicConfig};
use ferrimq_remoting::body::{
    ClusterInfo, ConsumeStats, ConsumerConnection, JsonBody, KvTable, TopicConfigSerializeWrapper,
    TopicList, TopicRouteData, TopicStatsTable,
};
use ferrimq_remoting::header::typed::{
    BrokerNameRequestHeader, ConsumerGroupRequestHeader, CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader, DeleteTopicFromNamesrvRequestHeader,
    GetConsumeStatsRequestHeader, QueryMessageRequestHeader, TopicRequestHeader,
    ViewMessageRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};

use crate::error::{ClientError, Result};
use crate::message::{MessageExt, decode_records};
use crate::message_id::decode_offset_msg_id;
use crate::route::{AUTO_CREATE_TOPIC, RouteCache};
use crate::session::{Session, request};

/// Admin client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Admin {
    routes: Arc<RouteCache>,
}

impl Admin {
    /// An admin client on `session` (routes always fetched fresh).
    pub fn new(session: Arc<Session>) -> Self {
        Admin {
            routes: RouteCache::new(session, Duration::ZERO),
        }
    }

    /// The session this admin client uses (to build consumers or producers on it).
    pub fn session(&self) -> &Arc<Session> {
        self.routes.session()
    }

    async fn broker_call(
        &self,
        addr: &str,
        req: RemotingCommand,
        accepted: &[ResponseCode],
    ) -> Result<RemotingCommand> {
        self.session().invoke_ok(addr, req, accepted, None).await
    }

    /// GET_BROKER_CLUSTER_INFO (106).
    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        let req = request(RequestCode::GetBrokerClusterInfo);
        let response = self
            .session()
            .invoke_namesrv(req, &[ResponseCode::Success])
            .await?;
        Ok(ClusterInfo::decode(&response.body)?)
    }

    /// Master addresses of the brokers of `cluster`, by broker name.
    pub async fn cluster_masters(&self, cluster: &str) -> Result<BTreeMap<String, String>> {
        let info = self.cluster_info().await?;
        let names = info
            .cluster_addr_table
            .get(cluster)
            .cloned()
            .unwrap_or_default();
        let masters: BTreeMap<String, String> = names
            .iter()
            .filter_map(|name| {
                let data = info.broker_addr_table.get(name)?;
                Some((name.clone(), data.master_addr()?.to_owned()))
            })
            .collect();
        if masters.is_empty() {
            return Err(ClientError::NoBrokerAddr {
                broker: format!("any master of cluster {cluster}"),
            });
        }
        Ok(masters)
    }

    /// GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206).
    pub async fn topic_list(&self) -> Result<BTreeSet<String>> {
        let req = request(RequestCode::GetAllTopicListFromNameserver);
        let response = self
            .session()
            .invoke_namesrv(req, &[ResponseCode::Success])
            .await?;
        Ok(TopicList::decode(&response.body)?.topic_list)
    }

    /// GET_ROUTEINFO_BY_TOPIC (105), fresh from the name servers.
    pub async fn route(&self, topic: &str) -> Result<TopicRouteData> {
        self.routes.fetch(topic).await
    }

    /// UPDATE_AND_CREATE_TOPIC (17) on one broker.
    pub async fn create_topic_on_broker(&self, addr: &str, config: &TopicConfig) -> Result<()> {
        let attributes: Vec<String> = config
            .attributes
            .iter()
            .map(|(k, v)| format!("+{k}={v}"))
            .collect();
        let header = CreateTopicRequestHeader {
            topic: config.topic_name.clone(),
            default_topic: AUTO_CREATE_TOPIC.to_owned(),
            read_queue_nums: config.read_queue_nums as i32,
            write_queue_nums: config.write_queue_nums as i32,
            perm: i32::from(config.perm.0),
            topic_filter_type: config.topic_filter_type.as_str().to_owned(),
            topic_sys_flag: Some(config.topic_sys_flag as i32),
            order: config.order,
            attributes: (!attributes.is_empty()).then(|| attributes.join(",")),
            force: None,
        };
        let req = request(RequestCode::UpdateAndCreateTopic).with_header(&header);
        self.broker_call(addr, req, &[ResponseCode::Success])
            .await
            .map(drop)
    }

    /// Creates or updates `config` on every master of `cluster`; returns the broker names.
    pub async fn create_topic(&self, cluster: &str, config: &TopicConfig) -> Result<Vec<String>> {
        let masters = self.cluster_masters(cluster).await?;
        for addr in masters.values() {
            self.create_topic_on_broker(addr, config).await?;
        }
        Ok(masters.into_keys().collect())
    }

    /// DELETE_TOPIC_IN_BROKER (215) on every master of `cluster`, then DELETE_TOPIC_IN_NAMESRV
    /// (216) on every name server.
    pub async fn delete_topic(&self, cluster: &str, topic: &str) -> Result<()> {
        let header = TopicRequestHeader {
            topic: topic.to_owned(),
        };
        for addr in self.cluster_masters(cluster).await?.values() {
            let req = request(RequestCode::DeleteTopicInBroker).with_header(&header);
            self.broker_call(addr, req, &[ResponseCode::Success])
                .await?;
        }
        let header = DeleteTopicFromNamesrvRequestHeader {
            topic: topic.to_owned(),
            cluster_name: Some(cluster.to_owned()),
        };
        let req = request(RequestCode::DeleteTopicInNamesrv).with_header(&header);
        self.session()
            .invoke_all_namesrv(req, &[ResponseCode::Success])
            .await
    }

    /// GET_ALL_TOPIC_CONFIG (21) of one broker.
    pub async fn topic_configs(&self, addr: &str) -> Result<TopicConfigSerializeWrapper> {
        let req = request(RequestCode::GetAllTopicConfig);
        let response = self
            .broker_call(addr, req, &[ResponseCode::Success])
            .await?;
        Ok(TopicConfigSerializeWrapper::decode(&response.body)?)
    }

    /// GET_TOPIC_STATS_INFO (202) of every broker of the topic's route, merged.
    pub async fn topic_stats(&self, topic: &str) -> Result<TopicStatsTable> {
        let route = self.routes.route(topic).await?;
        let header = TopicRequestHeader {
            topic: topic.to_owned(),
        };
        let mut merged = TopicStatsTable::default();
        for addr in route.master_addrs() {
            let req = request(RequestCode::GetTopicStatsInfo).with_header(&header);
            let response = self
                .broker_call(&addr, req, &[ResponseCode::Success])
                .await?;
            merged
                .offset_table
                .extend(TopicStatsTable::decode(&response.body)?.offset_table);
        }
        Ok(merged)
    }

    /// Masters serving "%RETRY%<group>" (where the group's consumers heartbeat); every master
    /// the name servers know when that topic has no route (a group only ever read by pulls
    /// without heartbeats, e.g. `ferrimq consume`, has no retry topic).
    pub async fn group_masters(&self, group: &str) -> Result<Vec<String>> {
        match self.routes.route(&format!("%RETRY%{group}")).await {
            Ok(route) => Ok(route.master_addrs()),
            Err(ClientError::NoRoute { .. }) => {
                let info = self.cluster_info().await?;
                let masters: BTreeSet<String> = info
                    .broker_addr_table
                    .values()
                    .filter_map(|b| b.master_addr().map(str::to_owned))
                    .collect();
                Ok(masters.into_iter().collect())
            }
            Err(e) => Err(e),
        }
    }

    /// GET_CONSUME_STATS (208) of every broker of [`Admin::group_masters`], merged.
    pub async fn consume_stats(&self, group: &str, topic: Option<&str>) -> Result<ConsumeStats> {
        let masters = self.group_masters(group).await?;
        let header = GetConsumeStatsRequestHeader {
            consumer_group: group.to_owned(),
            topic: topic.map(str::to_owned),
        };
        let mut merged = ConsumeStats::default();
        for addr in masters {
            let req = request(RequestCode::GetConsumeStats).with_header(&header);
            let response = self
                .broker_call(&addr, req, &[ResponseCode::Success])
                .await?;
            let stats = ConsumeStats::decode(&response.body)?;
            merged.consume_tps += stats.consume_tps;
            merged.offset_table.extend(stats.offset_table);
        }
        Ok(merged)
    }

    /// GET_CONSUMER_CONNECTION_LIST (203) from the first master serving "%RETRY%<group>".
    pub async fn consumer_connections(&self, group: &str) -> Result<ConsumerConnection> {
        let route = self.routes.route(&format!("%RETRY%{group}")).await?;
        let addr =
            route
                .master_addrs()
                .into_iter()
                .next()
                .ok_or_else(|| ClientError::NoBrokerAddr {
                    broker: format!("any master serving %RETRY%{group}"),
                })?;
        let header = ConsumerGroupRequestHeader {
            consumer_group: group.to_owned(),
        };
        let req = request(RequestCode::GetConsumerConnectionList).with_header(&header);
        let response = self
            .broker_call(&addr, req, &[ResponseCode::Success])
            .await?;
        Ok(ConsumerConnection::decode(&response.body)?)
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200) on every master of `cluster`.
    pub async fn create_subscription_group(
        &self,
        cluster: &str,
        config: &SubscriptionGroupConfig,
    ) -> Result<()> {
        let body = group_body(config)?;
        for addr in self.cluster_masters(cluster).await?.values() {
            let req =
                request(RequestCode::UpdateAndCreateSubscriptionGroup).with_body(body.clone());
            self.broker_call(addr, req, &[ResponseCode::Success])
                .await?;
        }
        Ok(())
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200) on one broker.
    pub async fn create_subscription_group_on_broker(
        &self,
        addr: &str,
        config: &SubscriptionGroupConfig,
    ) -> Result<()> {
        let body = group_body(config)?;
        let req = request(RequestCode::UpdateAndCreateSubscriptionGroup).with_body(body);
        self.broker_call(addr, req, &[ResponseCode::Success])
            .await
            .map(drop)
    }

    /// DELETE_SUBSCRIPTIONGROUP (207) on one broker; `clean_offset` also drops its offsets.
    pub async fn delete_subscription_group_on_broker(
        &self,
        addr: &str,
        group: &str,
        clean_offset: bool,
    ) -> Result<()> {
        let header = DeleteSubscriptionGroupRequestHeader {
            group_name: group.to_owned(),
            clean_offset: Some(clean_offset),
        };
        let req = request(RequestCode::DeleteSubscriptionGroup).with_header(&header);
        self.broker_call(addr, req, &[ResponseCode::Success])
            .await
            .map(drop)
    }

    /// DELETE_SUBSCRIPTIONGROUP (207) on every master of `cluster`; returns the broker names.
    pub async fn delete_subscription_group(
        &self,
        cluster: &str,
        group: &str,
        clean_offset: bool,
    ) -> Result<Vec<String>> {
        let masters = self.cluster_masters(cluster).await?;
        for addr in masters.values() {
            self.delete_subscription_group_on_broker(addr, group, clean_offset)
                .await?;
        }
        Ok(masters.into_keys().collect())
    }

    /// The config of `topic` on one broker (from GET_ALL_TOPIC_CONFIG), if it has the topic.
    pub async fn topic_config_on_broker(
        &self,
        addr: &str,
        topic: &str,
    ) -> Result<Option<TopicConfig>> {
        let mut all = self.topic_configs(addr).await?;
        Ok(all.topic_config_table.remove(topic))
    }

    /// WIPE_WRITE_PERM_OF_BROKER (205) on every name server; returns topics affected per server.
    pub async fn wipe_write_perm(&self, broker_name: &str) -> Result<BTreeMap<String, i32>> {
        self.write_perm(
            RequestCode::WipeWritePermOfBroker,
            "wipeTopicCount",
            broker_name,
        )
        .await
    }

    /// ADD_WRITE_PERM_OF_BROKER (327) on every name server; returns topics affected per server.
    pub async fn add_write_perm(&self, broker_name: &str) -> Result<BTreeMap<String, i32>> {
        self.write_perm(
            RequestCode::AddWritePermOfBroker,
            "addTopicCount",
            broker_name,
        )
        .await
    }

    async fn write_perm(
        &self,
        code: RequestCode,
        count_field: &str,
        broker_name: &str,
    ) -> Result<BTreeMap<String, i32>> {
        let header = BrokerNameRequestHeader {
            broker_name: broker_name.to_owned(),
        };
        let mut counts = BTreeMap::new();
        for addr in self.session().namesrv_addrs() {
            let req = request(code).with_header(&header);
            let response = self
                .broker_call(&addr, req, &[ResponseCode::Success])
                .await?;
            let count = response
                .ext_fields
                .get(count_field)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            counts.insert(addr, count);
        }
        Ok(counts)
    }

    /// VIEW_MESSAGE_BY_ID (33) for an offsetMsgId, or QUERY_MESSAGE by UNIQ_KEY in `topic`.
    pub async fn view_message(&self, topic: &str, msg_id: &str) -> Result<MessageExt> {
        if let Some((store_host, offset)) = decode_offset_msg_id(msg_id) {
            let header = ViewMessageRequestHeader {
                topic: Some(topic.to_owned()),
                offset,
            };
            let req = request(RequestCode::ViewMessageById).with_header(&header);
            let addr = store_host.to_string();
            if let Ok(response) = self.broker_call(&addr, req, &[ResponseCode::Success]).await {
                if let Some(message) = decode_records(&response.body)?.into_iter().next() {
                    return Ok(message);
                }
            }
        }
        let found = self.query_message(topic, msg_id, 32, true).await?;
        found
            .into_iter()
            .find(|m| m.msg_id() == msg_id || m.offset_msg_id == msg_id)
            .ok_or_else(|| ClientError::Broker {
                addr: "every broker of the route".to_owned(),
                request: RequestCode::QueryMessage.code(),
                code: ResponseCode::QueryNotFound.code(),
                remark: format!("message {msg_id} not found in {topic}"),
            })
    }

    /// QUERY_MESSAGE (12) by key (or UNIQ_KEY when `unique`) on every broker of the route.
    pub async fn query_message(
        &self,
        topic: &str,
        key: &str,
        max_num: i32,
        unique: bool,
    ) -> Result<Vec<MessageExt>> {
        self.query_message_between(topic, key, max_num, unique, 0, i64::MAX)
            .await
    }

    /// QUERY_MESSAGE (12) by key (or UNIQ_KEY when `unique`) among the messages stored between
    /// `begin` and `end` (ms, inclusive), on every broker of the route.
    pub async fn query_message_between(
        &self,
        topic: &str,
        key: &str,
        max_num: i32,
        unique: bool,
        begin: i64,
        end: i64,
    ) -> Result<Vec<MessageExt>> {
        let route = self.routes.route(topic).await?;
        let header = QueryMessageRequestHeader {
            topic: topic.to_owned(),
            key: key.to_owned(),
            max_num,
            begin_timestamp: begin,
            end_timestamp: end,
            unique_key_query: Some(unique),
        };
        let accepted = [ResponseCode::Success, ResponseCode::QueryNotFound];
        let mut found = Vec::new();
        for addr in route.master_addrs() {
            let req = request(RequestCode::QueryMessage).with_header(&header);
            let response = self.broker_call(&addr, req, &accepted).await?;
            if response.code == ResponseCode::Success.code() {
                found.extend(decode_records(&response.body)?);
            }
        }
        Ok(found)
    }

    /// GET_BROKER_RUNTIME_INFO (28) of one broker.
    pub async fn broker_runtime_info(&self, addr: &str) -> Result<BTreeMap<String, String>> {
        let req = request(RequestCode::GetBrokerRuntimeInfo);
        let response = self
            .broker_call(addr, req, &[ResponseCode::Success])
            .await?;
        Ok(KvTable::decode(&response.body)?.table)
    }
}

/// The JSON body of UPDATE_AND_CREATE_SUBSCRIPTIONGROUP.
fn group_body(config: &SubscriptionGroupConfig) -> Result<Vec<u8>> {
    serde_json::to_vec(config).map_err(|e| ClientError::InvalidMessage {
        reason: format!(
            "subscription group {} not encodable: {e}",
            config.group_name
        ),
    })
}
