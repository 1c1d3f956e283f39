//! ferrimq-remoting: the RocketMQ remoting wire protocol, and nothing else.
//!
//! Bytes in, typed values out. No sockets, no runtime, no store: the transport (tokio) and the
//! processors build on this crate, and the fuzz targets drive the same entry points.
//!
//! How data moves:
//! 1. [`frame::FrameCodec::decode`] waits for a whole length-prefixed frame, then splits it into
//!    header and body ([`frame`]).
//! 2. The header is parsed by [`header::json`] or [`header::binary`] according to the frame's
//!    serialize type, giving a [`RemotingCommand`] whose custom fields sit in `ext_fields`.
//! 3. A processor reads its typed header with [`RemotingCommand::decode_header`]
//!    ([`header::typed`]) and its body with the JSON types of [`body`] or the batch codec of
//!    [`message`].
//! 4. The answer is built with [`RemotingCommand::response_to`] (same opaque, same serialize
//!    type) and written with [`frame::FrameCodec::encode`].
//!
//! Codes live in [`codes`]; every failure is a [`RemotingError`] variant.

pub mod body;
pub mod codes;
pub mod command;
mod cursor;
pub mod error;
mod ext_fields;
pub mod frame;
pub mod header;
pub mod message;

pub use codes::{LanguageCode, RequestCode, ResponseCode};
pub use command::{ExtFields, RemotingCommand, SerializeType};
pub use error::RemotingError;
pub use frame::FrameCodec;
pub use header::typed::CommandHeader;
