//! Group membership: the heartbeat that registers this consumer (and its subscriptions) with the
//! brokers, and the member list (GET_CONSUMER_LIST_BY_GROUP) a clustering rebalance divides by.

use std::collections::BTreeSet;

use ferrimq_remoting::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, GetConsumerListByGroupResponseBody, HeartbeatData,
    JsonBody, SubscriptionData,
};
use ferrimq_remoting::header::typed::GetConsumerListByGroupRequestHeader;
use ferrimq_remoting::{RequestCode, ResponseCode};

use super::Shared;
use crate::consumer::StartPosition;
use crate::error::{ClientError, Result};
use crate::message_id::now_millis;
use crate::session::request;
use crate::subscription::subscription;

/// The HEART_BEAT body of this consumer.
fn heartbeat_data(shared: &Shared) -> HeartbeatData {
    let subs: Vec<SubscriptionData> = shared
        .subscription_table()
        .iter()
        .map(|(topic, expression)| subscription(topic, expression, now_millis()))
        .collect();
    HeartbeatData {
        client_id: shared.session().client_id().to_owned(),
        consumer_data_set: vec![ConsumerData {
            consume_from_where: match shared.config.consume_from {
                StartPosition::First => ConsumeFromWhere::ConsumeFromFirstOffset,
                StartPosition::Last => ConsumeFromWhere::ConsumeFromLastOffset,
                StartPosition::Timestamp(_) => ConsumeFromWhere::ConsumeFromTimestamp,
            },
            consume_type: ConsumeType::ConsumePassively,
            group_name: shared.config.group.clone(),
            message_model: shared.config.model,
            subscription_data_set: subs,
            unit_mode: false,
        }],
        ..HeartbeatData::default()
    }
}

/// Sends the heartbeat to every master of every subscribed topic that has a route. A topic
/// without a route yet is skipped (a later heartbeat reaches its brokers once it exists); fails
/// only if brokers or name servers were tried and none answered.
pub(super) async fn heartbeat(shared: &Shared) -> Result<()> {
    let mut addrs = BTreeSet::new();
    let mut last_error = None;
    for topic in shared.subscription_table().keys() {
        match shared.routes.route(topic).await {
            Ok(route) => addrs.extend(route.master_addrs()),
            Err(ClientError::NoRoute { reason, .. }) => {
                tracing::debug!(%topic, %reason, "no route yet; heartbeat skips it");
            }
            Err(e) => last_error = Some(e),
        }
    }
    let body = heartbeat_data(shared).encode()?;
    let mut reached = 0;
    for addr in &addrs {
        let req = request(RequestCode::HeartBeat).with_body(body.clone());
        match shared
            .session()
            .invoke_ok(addr, req, &[ResponseCode::Success], None)
            .await
        {
            Ok(_) => reached += 1,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "heartbeat failed");
                last_error = Some(e);
            }
        }
    }
    match (reached, last_error) {
        (0, Some(e)) => Err(e),
        _ => Ok(()),
    }
}

/// Client ids of the group's members as a broker serving `topic` knows them.
pub(super) async fn consumer_ids(shared: &Shared, topic: &str) -> Result<Vec<String>> {
    let route = shared.routes.route(topic).await?;
    let addr = route
        .master_addrs()
        .into_iter()
        .next()
        .ok_or_else(|| ClientError::NoRoute {
            topic: topic.to_owned(),
            reason: "no master in route".to_owned(),
        })?;
    let header = GetConsumerListByGroupRequestHeader {
        consumer_group: shared.config.group.clone(),
    };
    let req = request(RequestCode::GetConsumerListByGroup).with_header(&header);
    let response = shared
        .session()
        .invoke_ok(&addr, req, &[ResponseCode::Success], None)
        .await?;
    Ok(GetConsumerListByGroupResponseBody::decode(&response.body)?.consumer_id_list)
}
