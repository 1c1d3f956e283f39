//! Mapping of store outcomes to RocketMQ response codes, in one place, so every processor
//! answers the same failure with the same code and remark.

use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_store::StoreError;

/// The response code and remark Java brokers use for a store failure on append.
pub fn store_error_code(err: &StoreError) -> ResponseCode {
    match err {
        StoreError::MessageTooLarge { .. } | StoreError::IllegalMessage(_) => {
            ResponseCode::MessageIllegal
        }
        StoreError::DiskFull { .. }
        | StoreError::DiskUsageTooHigh { .. }
        | StoreError::Poisoned { .. }
        | StoreError::ShutDown => ResponseCode::ServiceNotAvailable,
        _ => ResponseCode::SystemError,
    }
}

/// The error response of `request` for a store failure.
pub fn store_error_response(request: &RemotingCommand, err: &StoreError) -> RemotingCommand {
    tracing::warn!(code = request.code, error = %err, "store refused the request");
    RemotingCommand::error_response(request, store_error_code(err), err.to_string())
}

/// Shorthand for an error response.
pub fn reject(
    request: &RemotingCommand,
    code: ResponseCode,
    remark: impl Into<String>,
) -> RemotingCommand {
    RemotingCommand::error_response(request, code, remark)
}
