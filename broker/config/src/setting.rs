//! How one typed setting is read from and written to its `.properties` text, and the
//! [`section!`](crate::section) macro that declares a config section as a table of
//! `field: Type = "rocketmqKey", default;` rows. The table is the single source of a section's
//! keys: resolving, rendering and the list of known keys all come from it, so the data plane and
//! the operator cannot disagree on a key name.

use std::path::PathBuf;

/// A value that can live in a `.properties` file.
pub trait Setting: Sized {
    /// Parses the (already trimmed) raw text; the error says why it was refused.
    fn parse_setting(raw: &str) -> Result<Self, String>;
    /// Renders the value; `None` leaves the key out (an unset optional).
    fn render_setting(&self) -> Option<String>;
}

macro_rules! integer_setting {
    ($($ty:ty),*) => {$(
        impl Setting for $ty {
            fn parse_setting(raw: &str) -> Result<Self, String> {
                raw.parse::<$ty>().map_err(|e| format!("expected {}: {e}", stringify!($ty)))
            }
            fn render_setting(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}

integer_setting!(u8, u16, u32, u64, i32, i64);

impl Setting for bool {
    /// Accepts `true`/`false` in any case. (Java's `Boolean.parseBoolean` turns any other text
    /// into `false` silently; refusing it catches `autoCreateTopicEnable=yes`.)
    fn parse_setting(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("expected true or false".to_owned()),
        }
    }
    fn render_setting(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl Setting for String {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        Ok(raw.to_owned())
    }
    fn render_setting(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl Setting for PathBuf {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("expected a path".to_owned());
        }
        Ok(PathBuf::from(raw))
    }
    fn render_setting(&self) -> Option<String> {
        Some(self.display().to_string())
    }
}

/// An optional setting: an empty value means unset (as an empty `brokerIP2=` does in Java).
impl<T: Setting> Setting for Option<T> {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Ok(None);
        }
        T::parse_setting(raw).map(Some)
    }
    fn render_setting(&self) -> Option<String> {
        self.as_ref().and_then(Setting::render_setting)
    }
}

/// Declares a config section: a struct with public fields, its `Default` (RocketMQ's
/// defaults), `KEYS`, and crate-private `read_keys` / `write_keys`.
#[macro_export]
#[doc(hidden)]
macro_rules! section {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty = $key:literal, $default:expr;
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[doc = concat!("\n\nKey: `", $key, "`.")]
                pub $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }

        impl $name {
            /// Every key of this section, as RocketMQ spells it, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Overwrites fields from `props`; every unparsable value is pushed to `errors`.
            pub(crate) fn read_keys(
                &mut self,
                props: &$crate::properties::Properties,
                errors: &mut Vec<$crate::error::ConfigError>,
            ) {
                $(
                    if let Some(raw) = props.get($key) {
                        match <$ty as $crate::setting::Setting>::parse_setting(raw) {
                            Ok(value) => self.$field = value,
                            Err(reason) => errors.push($crate::error::ConfigError::invalid($key, raw, reason)),
                        }
                    }
                )*
            }

            /// Writes every set field into `props`.
            pub(crate) fn write_keys(&self, props: &mut $crate::properties::Properties) {
                $(
                    if let Some(text) = $crate::setting::Setting::render_setting(&self.$field) {
                        props.set($key, text);
                    }
                )*
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_refuse_garbage_and_overflow() {
        assert_eq!(u16::parse_setting("10911"), Ok(10911));
        assert_eq!(
            u16::parse_setting("70000").unwrap_err(),
            "expected u16: number too large to fit in target type"
        );
        assert!(u64::parse_setting("-1").is_err());
        assert_eq!(i64::parse_setting("-1"), Ok(-1));
    }

    #[test]
    fn booleans_are_strict_but_case_insensitive() {
        assert_eq!(bool::parse_setting("TRUE"), Ok(true));
        assert_eq!(bool::parse_setting("False"), Ok(false));
        assert_eq!(
            bool::parse_setting("yes"),
            Err("expected true or false".to_owned())
        );
    }

    #[test]
    fn empty_optional_is_unset() {
        assert_eq!(Option::<String>::parse_setting(""), Ok(None));
        assert_eq!(Option::<u16>::parse_setting("1"), Ok(Some(1)));
        assert_eq!(Option::<u16>::None.render_setting(), None);
        assert!(PathBuf::parse_setting("").is_err());
    }
}
