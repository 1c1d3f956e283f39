//! Typed custom headers: per-operation structs mapped to and from `extFields`.
//!
//! Java maps a `CommandCustomHeader` to `extFields` by reflection on *field names* (not getters),
//! writing `String.valueOf(field)` and omitting nulls. We declare each header once with
//! [`command_header!`], naming the Java field for every Rust field. A plain field type is
//! required (absent -> [`RemotingError::MissingField`] naming the Java field); `Option<T>` is
//! optional. Numbers that do not parse give [`RemotingError::InvalidField`]; booleans parse like
//! Java's `Boolean.parseBoolean` ("true" in any case is true, anything else false). Unknown keys are
//! ignored, so extra 5.x fields (`ns`, `nsd`, `oway`, `lo`, ...) never fail a request.

mod admin;
mod client;
mod namesrv;
mod offset;
mod pull;
mod query;
mod send;
mod transaction;

pub use admin::*;
pub use client::*;
pub use namesrv::*;
pub use offset::*;
pub use pull::*;
pub use query::*;
pub use send::*;
pub use transaction::*;

use crate::command::ExtFields;
use crate::error::{RemotingError, Result};

/// A custom header: a struct whose fields travel as `extFields` string pairs.
pub trait CommandHeader: Sized {
    /// The Java field names this header reads and writes, in declaration order.
    const FIELD_NAMES: &'static [&'static str];

    /// Writes every present field into `fields`, stringified.
    fn write_fields(&self, fields: &mut ExtFields);

    /// Reads the header from `fields`, failing on missing required or unparsable fields.
    fn read_fields(fields: &ExtFields) -> Result<Self>;
}

/// A scalar that can be a header field: parsed from and rendered to its Java string form.
pub trait HeaderValue: Sized {
    /// Parses the raw string of `field`.
    fn parse(field: &'static str, raw: &str) -> Result<Self>;
    /// Renders the value as Java's `String.valueOf` would.
    fn render(&self) -> String;
}

impl HeaderValue for String {
    fn parse(_field: &'static str, raw: &str) -> Result<Self> {
        Ok(raw.to_owned())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

impl HeaderValue for bool {
    fn parse(_field: &'static str, raw: &str) -> Result<Self> {
        Ok(raw.eq_ignore_ascii_case("true"))
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

macro_rules! numeric_header_value {
    ($($ty:ty),*) => {$(
        impl HeaderValue for $ty {
            fn parse(field: &'static str, raw: &str) -> Result<Self> {
                raw.parse().map_err(|_| RemotingError::invalid_field(field, raw))
            }
            fn render(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
numeric_header_value!(i32, i64);

/// How a struct field is read and written: required (`T`) or optional (`Option<T>`).
pub trait HeaderField: Sized {
    /// Reads the field named `key` from its raw value, if any.
    fn read(key: &'static str, raw: Option<&String>) -> Result<Self>;
    /// Writes the field under `key` unless it is absent.
    fn write(&self, key: &'static str, fields: &mut ExtFields);
}

impl<T: HeaderValue> HeaderField for T {
    fn read(key: &'static str, raw: Option<&String>) -> Result<Self> {
        match raw {
            Some(raw) => T::parse(key, raw),
            None => Err(RemotingError::MissingField { field: key }),
        }
    }
    fn write(&self, key: &'static str, fields: &mut ExtFields) {
        fields.insert_static(key, self.render());
    }
}

impl<T: HeaderValue> HeaderField for Option<T> {
    fn read(key: &'static str, raw: Option<&String>) -> Result<Self> {
        raw.map(|raw| T::parse(key, raw)).transpose()
    }
    fn write(&self, key: &'static str, fields: &mut ExtFields) {
        if let Some(value) = self {
            fields.insert_static(key, value.render());
        }
    }
}

/// Declares a header struct and its [`CommandHeader`] mapping.
///
/// Each field is written `pub rust_name: Type => "javaFieldName",` with a doc comment. Exported
/// so crates above this one (client, server) can declare headers this crate does not know yet.
#[macro_export]
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty => $key:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl $crate::header::typed::CommandHeader for $name {
            const FIELD_NAMES: &'static [&'static str] = &[$($key),*];

            #[allow(unused_variables)]
            fn write_fields(&self, fields: &mut $crate::command::ExtFields) {
                $( $crate::header::typed::HeaderField::write(&self.$field, $key, fields); )*
            }

            #[allow(unused_variables)]
            fn read_fields(
                fields: &$crate::command::ExtFields,
            ) -> $crate::error::Result<Self> {
                Ok($name {
                    $( $field: $crate::header::typed::HeaderField::read($key, fields.get($key))?, )*
                })
            }
        }
    };
}
pub use crate::command_header;

command_header! {
    /// A header without fields (HEART_BEAT, GET_BROKER_CLUSTER_INFO, LOCK_BATCH_MQ, ...).
    pub struct EmptyHeader {}
}

#[cfg(test)]
mod tests {
    use super::*;

    command_header! {
        /// Test header covering each field kind.
        pub struct Sample {
            /// Required string.
            pub name: String => "name",
            /// Required int.
            pub count: i32 => "cnt",
            /// Optional long.
            pub offset: Option<i64> => "offset",
            /// Optional bool.
            pub on: Option<bool> => "on",
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> ExtFields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn round_trips_and_omits_absent() {
        let header = Sample {
            name: "g".into(),
            count: -3,
            offset: None,
            on: Some(true),
        };
        let mut out = ExtFields::new();
        header.write_fields(&mut out);
        assert_eq!(out, fields(&[("name", "g"), ("cnt", "-3"), ("on", "true")]));
        assert_eq!(Sample::read_fields(&out), Ok(header));
    }

    #[test]
    fn missing_and_invalid_fields_are_named() {
        assert_eq!(
            Sample::read_fields(&fields(&[("cnt", "1")])),
            Err(RemotingError::MissingField { field: "name" })
        );
        assert_eq!(
            Sample::read_fields(&fields(&[("name", "x"), ("cnt", "1"), ("offset", "12a")])),
            Err(RemotingError::InvalidField {
                field: "offset",
                value: "12a".into()
            })
        );
        assert_eq!(
            Sample::read_fields(&fields(&[("name", "x"), ("cnt", "99999999999")])),
            Err(RemotingError::InvalidField {
                field: "cnt",
                value: "99999999999".into()
            })
        );
    }

    #[test]
    fn booleans_parse_like_java() {
        for (raw, expected) in [("TRUE", true), ("true", true), ("yes", false), ("1", false)] {
            let parsed = Sample::read_fields(&fields(&[("name", ""), ("cnt", "0"), ("on", raw)]));
            assert_eq!(parsed.map(|s| s.on), Ok(Some(expected)), "{raw}");
        }
    }

    #[test]
    fn empty_header_ignores_everything() {
        assert_eq!(
            EmptyHeader::read_fields(&fields(&[("x", "y")])),
            Ok(EmptyHeader {})
        );
    }
}
