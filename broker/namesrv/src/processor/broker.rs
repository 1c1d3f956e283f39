//! Processors of broker-to-name-server traffic: REGISTER_BROKER (103), UNREGISTER_BROKER (104),
//! QUERY_DATA_VERSION (322) and BROKER_HEARTBEAT (904).

use std::collections::BTreeMap;

use ferrimq_config::TopicConfig;
use ferrimq_remoting::body::{
    DataVersion, JsonBody, KvTable, RegisterBrokerBody, TopicConfigSerializeWrapper,
};
use ferrimq_remoting::header::typed::{
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RemotingError, ResponseCode, command_header};
use serde::Deserialize;

use super::{NamesrvState, RequestContext, success};
use crate::error::Result;
use crate::kv::NAMESPACE_ORDER_TOPIC_CONFIG;
use crate::route::Registration;

command_header! {
    /// QUERY_DATA_VERSION request (5.x brokers ask before re-registering).
    pub struct QueryDataVersionRequestHeader {
        /// Broker name.
        pub broker_name: String => "brokerName",
        /// "ip:port" of the broker.
        pub broker_addr: String => "brokerAddr",
        /// Cluster name.
        pub cluster_name: String => "clusterName",
        /// Broker id.
        pub broker_id: i64 => "brokerId",
    }
}

command_header! {
    /// QUERY_DATA_VERSION response.
    pub struct QueryDataVersionResponseHeader {
        /// True when the broker's topic table differs from what the name server holds.
        pub changed: bool => "changed",
    }
}

command_header! {
    /// BROKER_HEARTBEAT request (5.x). Only the fields the name server uses are declared.
    pub struct BrokerHeartbeatRequestHeader {
        /// Cluster name.
        pub cluster_name: String => "clusterName",
        /// "ip:port" of the broker.
        pub broker_addr: String => "brokerAddr",
        /// Broker name.
        pub broker_name: String => "brokerName",
    }
}

/// REGISTER_BROKER: checks the body CRC, records the broker and its topics, and answers a
/// slave with its master's addresses. The body of the answer is the ORDER_TOPIC_CONFIG
/// namespace, when configured to return it and it exists.
pub(super) fn register_broker(
    state: &NamesrvState,
    request: &RemotingCommand,
    ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: RegisterBrokerRequestHeader = request.decode_header()?;
    let expected_crc = header.body_crc32.unwrap_or(0);
    if expected_crc != 0 && masked_crc32(&request.body) != expected_crc {
        tracing::warn!(peer = %ctx.peer_addr, broker = %header.broker_addr, "register body crc32 mismatch");
        return Ok(RemotingCommand::error_response(
            request,
            ResponseCode::SystemError,
            "crc32 not match",
        ));
    }
    let compressed = header.compressed.unwrap_or(false) || looks_zlib(&request.body);
    let body = registration_body(request, compressed)?;
    let registration = Registration {
        cluster_name: header.cluster_name,
        broker_name: header.broker_name,
        broker_addr: header.broker_addr,
        broker_id: header.broker_id,
        ha_server_addr: header.ha_server_addr,
        heartbeat_timeout_millis: header
            .heartbeat_timeout_millis
            .and_then(|ms| u64::try_from(ms).ok())
            .filter(|ms| *ms > 0),
        enable_acting_master: header.enable_acting_master,
        topics: body.topic_config_serialize_wrapper,
        filter_servers: body.filter_server_list,
        connection: ctx.connection,
    };
    tracing::debug!(broker = %registration.broker_addr, id = registration.broker_id, peer = %ctx.peer_addr, "register broker");
    let outcome = state.routes.register(registration, ctx.now_ms);
    let response = success(request).with_header(&RegisterBrokerResponseHeader {
        ha_server_addr: outcome.ha_server_addr,
        master_addr: outcome.master_addr,
    });
    if !state.config.return_order_topic_config_to_broker {
        return Ok(response);
    }
    match state.kv.namespace(NAMESPACE_ORDER_TOPIC_CONFIG) {
        Some(table) => Ok(response.with_body(KvTable { table }.encode()?)),
        None => Ok(response),
    }
}

/// The registration body. A zlib body is the compressed RegisterBrokerBody. A JSON body is a
/// RegisterBrokerBody (brokers of version >= 37) or a bare TopicConfigSerializeWrapper (older
/// ones); Java picks by the request version, but a sender that never set its remoting version
/// (0) still sends the new shape, so the shape is recognised by its keys instead. An absent
/// body registers no topics (DataVersion 0/0).
fn registration_body(request: &RemotingCommand, compressed: bool) -> Result<RegisterBrokerBody> {
    if request.body.is_empty() {
        return Ok(RegisterBrokerBody::default());
    }
    if compressed {
        return Ok(RegisterBrokerBody::decode_compressed(&request.body)?);
    }
    let any: AnyRegistrationBody =
        ferrimq_fastjson::from_slice(&request.body).map_err(|e| RemotingError::InvalidJson {
            reason: e.to_string(),
        })?;
    Ok(match any.topic_config_serialize_wrapper {
        Some(wrapper) => RegisterBrokerBody {
            filter_server_list: any.filter_server_list,
            topic_config_serialize_wrapper: wrapper,
        },
        None => RegisterBrokerBody {
            filter_server_list: any.filter_server_list,
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                data_version: any.data_version,
                topic_config_table: any.topic_config_table,
            },
        },
    })
}

/// Either JSON shape of a registration body: RegisterBrokerBody's keys plus the bare
/// TopicConfigSerializeWrapper's.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AnyRegistrationBody {
    filter_server_list: Vec<String>,
    topic_config_serialize_wrapper: Option<TopicConfigSerializeWrapper>,
    data_version: DataVersion,
    topic_config_table: BTreeMap<String, TopicConfig>,
}

/// True when `body` starts like a zlib stream (CMF 0x78: deflate, 32 KiB window), which JSON
/// never does. 5.x `BrokerOuterAPI.registerBrokerAll` compresses the body when
/// `compressedRegister=true` yet always sends `compressed=false`, so the flag cannot be trusted.
fn looks_zlib(body: &[u8]) -> bool {
    body.first() == Some(&0x78)
}

/// `UtilAll.crc32`: CRC32 masked to a non-negative Java int.
fn masked_crc32(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

/// UNREGISTER_BROKER: removes one broker address.
pub(super) fn unregister_broker(
    state: &NamesrvState,
    request: &RemotingCommand,
    ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: UnregisterBrokerRequestHeader = request.decode_header()?;
    tracing::info!(broker = %header.broker_addr, id = header.broker_id, peer = %ctx.peer_addr, "unregister broker");
    state.routes.unregister(
        &header.cluster_name,
        &header.broker_name,
        &header.broker_addr,
        header.broker_id,
    );
    Ok(success(request))
}

/// QUERY_DATA_VERSION: tells a broker whether its topic table changed since its last
/// registration (refreshing its liveness when not) and returns the version held here.
pub(super) fn query_data_version(
    state: &NamesrvState,
    request: &RemotingCommand,
    ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: QueryDataVersionRequestHeader = request.decode_header()?;
    let version: DataVersion =
        ferrimq_fastjson::from_slice(&request.body).map_err(|e| RemotingError::InvalidJson {
            reason: e.to_string(),
        })?;
    let changed = state
        .routes
        .is_topic_config_changed(&header.broker_addr, &version);
    if !changed {
        state.routes.touch(&header.broker_addr, ctx.now_ms);
    }
    let mut response = success(request).with_header(&QueryDataVersionResponseHeader { changed });
    if let Some(held) = state.routes.data_version(&header.broker_addr) {
        let body = serde_json::to_vec(&held).map_err(|e| RemotingError::json(&e))?;
        response = response.with_body(body);
    }
    Ok(response)
}

/// BROKER_HEARTBEAT: refreshes the liveness of a registered broker.
pub(super) fn broker_heartbeat(
    state: &NamesrvState,
    request: &RemotingCommand,
    ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: BrokerHeartbeatRequestHeader = request.decode_header()?;
    if !state.routes.touch(&header.broker_addr, ctx.now_ms) {
        tracing::debug!(broker = %header.broker_addr, cluster = %header.cluster_name, "heartbeat from unregistered broker");
    }
    Ok(success(request))
}
