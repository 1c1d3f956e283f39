//! The two serializations of the command header, and the typed custom headers.
//!
//! [`json`] and [`binary`] turn the fixed header fields plus `extFields` into bytes and back; they
//! never look at the meaning of a field. [`typed`] maps `extFields` to per-operation structs.

pub mod binary;
pub mod json;
pub mod typed;
