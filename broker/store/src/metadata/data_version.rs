//! `DataVersion`: the version stamp RocketMQ attaches to each metadata table (and sends in
//! REGISTER_BROKER, so the name server knows whether a broker's topics changed). JSON:
//! `{"counter":N,"timestamp":T}`, plus `"stateVersion":S` in 5.x files.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A table's version: a counter bumped on every change and the time of the last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataVersion {
    /// 5.x state-machine version; absent in 4.x files and kept absent when written back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_version: Option<i64>,
    /// Milliseconds since the epoch of the last change.
    #[serde(default)]
    pub timestamp: i64,
    /// Number of changes.
    #[serde(default)]
    pub counter: i64,
}

impl Default for DataVersion {
    /// A fresh version: counter 0, stamped now (as Java's constructor does).
    fn default() -> Self {
        Self {
            state_version: None,
            timestamp: now_millis(),
            counter: 0,
        }
    }
}

impl DataVersion {
    /// Records a change now (Java `nextVersion()`: also resets a present stateVersion to 0).
    pub fn next_version(&mut self) {
        self.next_version_at(now_millis());
    }

    /// Records a change at `timestamp` ms (for deterministic tests).
    pub fn next_version_at(&mut self, timestamp: i64) {
        self.timestamp = timestamp;
        self.counter += 1;
        if self.state_version.is_some() {
            self.state_version = Some(0);
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_4x_and_5x_forms() {
        let v4: DataVersion =
            serde_json::from_str(r#"{"counter":3,"timestamp":1700000000000}"#).unwrap();
        assert_eq!(
            v4,
            DataVersion {
                state_version: None,
                timestamp: 1_700_000_000_000,
                counter: 3
            }
        );
        assert_eq!(
            serde_json::to_string(&v4).unwrap(),
            r#"{"timestamp":1700000000000,"counter":3}"#
        );
        let v5: DataVersion =
            serde_json::from_str(r#"{"stateVersion":7,"counter":1,"timestamp":5}"#).unwrap();
        assert_eq!(v5.state_version, Some(7));
    }

    #[test]
    fn next_version_bumps_counter_and_time() {
        let mut v = DataVersion {
            state_version: Some(9),
            timestamp: 1,
            counter: 41,
        };
        v.next_version_at(1000);
        assert_eq!(
            v,
            DataVersion {
                state_version: Some(0),
                timestamp: 1000,
                counter: 42
            }
        );
        let mut fresh = DataVersion::default();
        let before = fresh.timestamp;
        fresh.next_version();
        assert_eq!(fresh.counter, 1);
        assert!(fresh.timestamp >= before);
    }
}
