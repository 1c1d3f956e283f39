//! Processors of route queries and route administration: GET_ROUTEINFO_BY_TOPIC (105),
//! GET_BROKER_CLUSTER_INFO (106), the topic lists (206, 224, 304, 311–313),
//! WIPE/ADD_WRITE_PERM_OF_BROKER (205, 327) and DELETE_TOPIC_IN_NAMESRV (216).

use ferrimq_remoting::body::{JsonBody, STANDARD_JSON_ROUTE_VERSION, TopicList};
use ferrimq_remoting::header::typed::{
    AddWritePermOfBrokerResponseHeader, BrokerNameRequestHeader,
    DeleteTopicFromNamesrvRequestHeader, GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader, WipeWritePermOfBrokerResponseHeader,
};
use ferrimq_remoting::{RemotingCommand, ResponseCode};

use super::{NamesrvState, RequestContext, success};
use crate::error::Result;
use crate::kv::NAMESPACE_ORDER_TOPIC_CONFIG;
use crate::route::{UnitFilter, WritePermChange};

/// `FAQUrl.suggestTodo(FAQUrl.APPLY_TOPIC_URL)`, appended by Java to the not-found remark.
const APPLY_TOPIC_SUGGESTION: &str =
    "\nSee http://rocketmq.apache.org/docs/faq/ for further details.";

/// GET_ROUTEINFO_BY_TOPIC: the topic's route, with `orderTopicConf` when ordered messages are
/// enabled, in standard JSON for version >= 401 (or on request) and fastjson's unquoted numeric
/// `brokerAddrs` keys for older clients. Unknown topic: TOPIC_NOT_EXIST (17).
pub(super) fn get_routeinfo_by_topic(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: GetRouteInfoRequestHeader = request.decode_header()?;
    let Some(mut route) = state.routes.route(&header.topic) else {
        return Ok(RemotingCommand::error_response(
            request,
            ResponseCode::TopicNotExist,
            format!(
                "No topic route info in name server for the topic: {}{APPLY_TOPIC_SUGGESTION}",
                header.topic
            ),
        ));
    };
    if state.config.order_message_enable {
        route.order_topic_conf = state.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, &header.topic);
    }
    let standard_only = header.accept_standard_json_only.unwrap_or(false);
    let body = route.encode_for_version(request.version, standard_only)?;
    Ok(success(request).with_body(body))
}

/// GET_BROKER_CLUSTER_INFO: every broker group and cluster. Same key style rule as routes
/// (Java always sends fastjson's unquoted keys here; Java clients read both, other clients only
/// the standard form).
pub(super) fn get_broker_cluster_info(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let info = state.routes.cluster_info();
    let body = if request.version >= STANDARD_JSON_ROUTE_VERSION {
        info.encode()?
    } else {
        info.encode_fastjson()?
    };
    Ok(success(request).with_body(body))
}

/// WIPE_WRITE_PERM_OF_BROKER: clears PERM_WRITE on every topic of the broker.
pub(super) fn wipe_write_perm_of_broker(
    state: &NamesrvState,
    request: &RemotingCommand,
    ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: BrokerNameRequestHeader = request.decode_header()?;
    let count = state
        .routes
        .change_write_perm(&header.broker_name, WritePermChange::Wipe);
    tracing::warn!(broker = %header.broker_name, count, peer = %ctx.peer_addr, "wiped write perm");
    Ok(
        success(request).with_header(&WipeWritePermOfBrokerResponseHeader {
            wipe_topic_count: i32::try_from(count).unwrap_or(i32::MAX),
        }),
    )
}

/// ADD_WRITE_PERM_OF_BROKER: sets read+write on every topic of the broker.
pub(super) fn add_write_perm_of_broker(
    state: &NamesrvState,
    request: &RemotingCommand,
    ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: BrokerNameRequestHeader = request.decode_header()?;
    let count = state
        .routes
        .change_write_perm(&header.broker_name, WritePermChange::Add);
    tracing::info!(broker = %header.broker_name, count, peer = %ctx.peer_addr, "added write perm");
    Ok(
        success(request).with_header(&AddWritePermOfBrokerResponseHeader {
            add_topic_count: i32::try_from(count).unwrap_or(i32::MAX),
        }),
    )
}

/// DELETE_TOPIC_IN_NAMESRV: removes the topic's route, or only its queues on the brokers of
/// `clusterName` when given.
pub(super) fn delete_topic_in_namesrv(
    state: &NamesrvState,
    request: &RemotingCommand,
    ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: DeleteTopicFromNamesrvRequestHeader = request.decode_header()?;
    let cluster = header
        .cluster_name
        .as_deref()
        .filter(|name| !name.trim().is_empty());
    let removed = state.routes.delete_topic(&header.topic, cluster);
    tracing::info!(topic = %header.topic, ?cluster, removed, peer = %ctx.peer_addr, "delete topic");
    Ok(success(request))
}

/// GET_ALL_TOPIC_LIST_FROM_NAMESERVER, unless `enableAllTopicList` is off.
pub(super) fn get_all_topic_list(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    if !state.config.enable_all_topic_list {
        return Ok(disabled(request));
    }
    topic_list_response(request, &state.routes.all_topics())
}

/// GET_TOPICS_BY_CLUSTER, unless `enableTopicList` is off.
pub(super) fn get_topics_by_cluster(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    if !state.config.enable_topic_list {
        return Ok(disabled(request));
    }
    let header: GetTopicsByClusterRequestHeader = request.decode_header()?;
    topic_list_response(request, &state.routes.topics_of_cluster(&header.cluster))
}

/// GET_SYSTEM_TOPIC_LIST_FROM_NS: cluster and broker names plus one broker address.
pub(super) fn get_system_topic_list(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    topic_list_response(request, &state.routes.system_topics())
}

/// GET_UNIT_TOPIC_LIST, unless `enableTopicList` is off.
pub(super) fn get_unit_topic_list(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    unit_topic_list(state, request, UnitFilter::Unit)
}

/// GET_HAS_UNIT_SUB_TOPIC_LIST, unless `enableTopicList` is off.
pub(super) fn get_has_unit_sub_topic_list(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    unit_topic_list(state, request, UnitFilter::HasUnitSub)
}

/// GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST, unless `enableTopicList` is off.
pub(super) fn get_has_unit_sub_ununit_topic_list(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    unit_topic_list(state, request, UnitFilter::HasUnitSubNotUnit)
}

fn unit_topic_list(
    state: &NamesrvState,
    request: &RemotingCommand,
    filter: UnitFilter,
) -> Result<RemotingCommand> {
    if !state.config.enable_topic_list {
        return Ok(disabled(request));
    }
    topic_list_response(request, &state.routes.unit_topics(filter))
}

fn topic_list_response(request: &RemotingCommand, list: &TopicList) -> Result<RemotingCommand> {
    Ok(success(request).with_body(list.encode()?))
}

/// Java's answer when a topic-list feature is switched off.
fn disabled(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::error_response(request, ResponseCode::SystemError, "disable")
}
