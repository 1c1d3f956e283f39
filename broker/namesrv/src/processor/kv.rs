//! Processors of the KV config: PUT_KV_CONFIG (100), GET_KV_CONFIG (101), DELETE_KV_CONFIG
//! (102) and GET_KVLIST_BY_NAMESPACE (219).

use ferrimq_remoting::body::{JsonBody, KvTable};
use ferrimq_remoting::header::typed::{
    GetKvConfigResponseHeader, GetKvListByNamespaceRequestHeader, KvConfigKeyRequestHeader,
    PutKvConfigRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, ResponseCode};

use super::{NamesrvState, RequestContext, success};
use crate::error::Result;

/// PUT_KV_CONFIG: sets a value and persists the store.
pub(super) fn put_kv_config(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: PutKvConfigRequestHeader = request.decode_header()?;
    state
        .kv
        .put(&header.namespace, &header.key, &header.value)?;
    Ok(success(request))
}

/// GET_KV_CONFIG: the value in the `value` response header, or QUERY_NOT_FOUND (22).
pub(super) fn get_kv_config(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: KvConfigKeyRequestHeader = request.decode_header()?;
    match state.kv.get(&header.namespace, &header.key) {
        Some(value) => {
            Ok(success(request).with_header(&GetKvConfigResponseHeader { value: Some(value) }))
        }
        None => Ok(RemotingCommand::error_response(
            request,
            ResponseCode::QueryNotFound,
            format!(
                "No config item, Namespace: {} Key: {}",
                header.namespace, header.key
            ),
        )),
    }
}

/// DELETE_KV_CONFIG: removes a value (success whether or not it existed).
pub(super) fn delete_kv_config(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: KvConfigKeyRequestHeader = request.decode_header()?;
    state.kv.delete(&header.namespace, &header.key)?;
    Ok(success(request))
}

/// GET_KVLIST_BY_NAMESPACE: the namespace as a KVTable body, or QUERY_NOT_FOUND (22).
pub(super) fn get_kvlist_by_namespace(
    state: &NamesrvState,
    request: &RemotingCommand,
    _ctx: &RequestContext,
) -> Result<RemotingCommand> {
    let header: GetKvListByNamespaceRequestHeader = request.decode_header()?;
    match state.kv.namespace(&header.namespace) {
        Some(table) => Ok(success(request).with_body(KvTable { table }.encode()?)),
        None => Ok(RemotingCommand::error_response(
            request,
            ResponseCode::QueryNotFound,
            format!("No config item, Namespace: {}", header.namespace),
        )),
    }
}
