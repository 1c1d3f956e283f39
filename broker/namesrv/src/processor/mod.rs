//! Request processors: one function per request code and one table mapping codes to them.
//!
//! A processor is pure: it takes the name server's state, the request and a small
//! [`RequestContext`] (who asked, over which connection, when) and returns the response. No
//! sockets and no clock, so every processor is unit-testable and the transport only has to look
//! codes up in [`PROCESSORS`] (or call [`process`]). Failures (undecodable headers or bodies,
//! KV persistence) come back as [`NamesrvError`] and are mapped to `SYSTEM_ERROR` responses in
//! [`process`], the one place errors become codes, as Java's remoting layer does.

mod broker;
mod kv;
mod route;

use ferrimq_config::NamesrvConfig;
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};

use crate::error::Result;
use crate::kv::KvConfig;
use crate::route::{ConnectionId, RouteTable};

pub use broker::{
    BrokerHeartbeatRequestHeader, QueryDataVersionRequestHeader, QueryDataVersionResponseHeader,
};

/// Everything processors read and change.
#[derive(Debug)]
pub struct NamesrvState {
    /// Settings (orderMessageEnable, enableAllTopicList, ...).
    pub config: NamesrvConfig,
    /// The route table.
    pub routes: RouteTable,
    /// The KV config store.
    pub kv: KvConfig,
}

impl NamesrvState {
    /// State with an empty route table and the KV config loaded from `config.kv_config_path`.
    pub fn open(config: NamesrvConfig) -> Result<Self> {
        let kv = KvConfig::load(config.kv_config_path.clone())?;
        Ok(NamesrvState {
            config,
            routes: RouteTable::new(),
            kv,
        })
    }
}

/// Who sent a request, and when it is processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// "ip:port" of the peer, for logs.
    pub peer_addr: String,
    /// The connection the request came over; brokers are removed when it closes.
    pub connection: ConnectionId,
    /// Processing time, ms since the Unix epoch.
    pub now_ms: u64,
}

/// A request processor.
pub type Processor =
    fn(&NamesrvState, &RemotingCommand, &RequestContext) -> Result<RemotingCommand>;

/// The dispatch table: every request code the name server answers.
pub const PROCESSORS: &[(RequestCode, Processor)] = &[
    (RequestCode::PutKvConfig, kv::put_kv_config),
    (RequestCode::GetKvConfig, kv::get_kv_config),
    (RequestCode::DeleteKvConfig, kv::delete_kv_config),
    (
        RequestCode::GetKvlistByNamespace,
        kv::get_kvlist_by_namespace,
    ),
    (RequestCode::QueryDataVersion, broker::query_data_version),
    (RequestCode::RegisterBroker, broker::register_broker),
    (RequestCode::UnregisterBroker, broker::unregister_broker),
    (RequestCode::BrokerHeartbeat, broker::broker_heartbeat),
    (
        RequestCode::GetRouteinfoByTopic,
        route::get_routeinfo_by_topic,
    ),
    (
        RequestCode::GetBrokerClusterInfo,
        route::get_broker_cluster_info,
    ),
    (
        RequestCode::WipeWritePermOfBroker,
        route::wipe_write_perm_of_broker,
    ),
    (
        RequestCode::AddWritePermOfBroker,
        route::add_write_perm_of_broker,
    ),
    (
        RequestCode::GetAllTopicListFromNameserver,
        route::get_all_topic_list,
    ),
    (
        RequestCode::DeleteTopicInNamesrv,
        route::delete_topic_in_namesrv,
    ),
    (
        RequestCode::GetTopicsByCluster,
        route::get_topics_by_cluster,
    ),
    (
        RequestCode::GetSystemTopicListFromNs,
        route::get_system_topic_list,
    ),
    (RequestCode::GetUnitTopicList, route::get_unit_topic_list),
    (
        RequestCode::GetHasUnitSubTopicList,
        route::get_has_unit_sub_topic_list,
    ),
    (
        RequestCode::GetHasUnitSubUnunitTopicList,
        route::get_has_unit_sub_ununit_topic_list,
    ),
    (RequestCode::GetNamesrvConfig, get_namesrv_config),
];

/// The processor of a wire code, if the name server serves it.
pub fn processor_for(code: i32) -> Option<Processor> {
    PROCESSORS
        .iter()
        .find(|(request_code, _)| request_code.code() == code)
        .map(|(_, processor)| *processor)
}

/// Runs the processor of `request.code` and returns the response to send: `None` for a oneway
/// request, `REQUEST_CODE_NOT_SUPPORTED` for an unknown code, `SYSTEM_ERROR` with the error's
/// text when the processor fails.
pub fn process(
    state: &NamesrvState,
    request: &RemotingCommand,
    ctx: &RequestContext,
) -> Option<RemotingCommand> {
    let response = match processor_for(request.code) {
        Some(processor) => processor(state, request, ctx).unwrap_or_else(|error| {
            tracing::warn!(code = request.code, peer = %ctx.peer_addr, %error, "request failed");
            RemotingCommand::error_response(request, ResponseCode::SystemError, error.to_string())
        }),
        None => RemotingCommand::error_response(
            request,
            ResponseCode::RequestCodeNotSupported,
            format!(" request type {} not supported", request.code),
        ),
    };
    (!request.is_oneway()).then_some(response)
}

/// A plain SUCCESS response.
fn success(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::Success)
}

/// GET_NAMESRV_CONFIG (319): every setting as `key=value` lines, as Java's properties dump.
fn get_namesrv_config(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let props = state.config.to_properties();
    let text: String = props.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    Ok(success(request).with_body(text.into_bytes()))
}
