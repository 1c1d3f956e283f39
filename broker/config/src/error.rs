//! ConfigError: everything that can be wrong with a configuration file, each variant naming
//! the key and the offending value (or the line, for syntax) so the operator knows what to fix.

use std::path::PathBuf;

/// Errors raised while reading, resolving or validating configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A configuration file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error, as text (keeps the error `Clone + Eq`).
        reason: String,
    },
    /// A `.properties` line is malformed (for instance a bad `\uXXXX` escape).
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line where the logical line starts.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A value does not parse as the key's type.
    #[error("{key}={value}: {reason}")]
    InvalidValue {
        /// The key, as RocketMQ spells it.
        key: String,
        /// The raw value.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// Two or more keys contradict each other (e.g. `brokerId=0` with `brokerRole=SLAVE`).
    #[error("inconsistent settings {keys:?}: {reason}")]
    Inconsistent {
        /// The keys involved.
        keys: Vec<String>,
        /// Why the combination is refused.
        reason: String,
    },
    /// Several problems at once, in key order; every one is reported, not only the first.
    #[error("{} configuration problems: {}", .0.len(), join(.0))]
    Many(Vec<ConfigError>),
    /// A topic or group name breaks RocketMQ's naming rules.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
}

fn join(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ConfigError {
    /// Builds an [`ConfigError::InvalidValue`].
    pub fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    /// Folds a list of problems into one error (`None` when the list is empty).
    pub fn from_list(mut errors: Vec<ConfigError>) -> Option<Self> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ConfigError::Many(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_lists_every_problem() {
        let err = ConfigError::from_list(vec![
            ConfigError::invalid("listenPort", "x", "not a number"),
            ConfigError::invalid("brokerId", "-1", "negative"),
        ])
        .unwrap();
        assert_eq!(
            err.to_string(),
            "2 configuration problems: listenPort=x: not a number; brokerId=-1: negative"
        );
        assert_eq!(ConfigError::from_list(Vec::new()), None);
    }
}
