//! Topic and broker permission bits (RocketMQ `PermName`): READ 4, WRITE 2, INHERIT 1 and
//! PRIORITY 8. Valid topic permissions are `0..8`; `perm2String` renders "RWX".

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::setting::Setting;

/// A permission bit set, serialized as the plain integer Java uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Perm(pub u8);

impl Perm {
    /// Priority flag (8); outside the valid range for topics.
    pub const PRIORITY: u8 = 8;
    /// Consumers may pull (4).
    pub const READ: u8 = 4;
    /// Producers may send (2).
    pub const WRITE: u8 = 2;
    /// The topic may serve as an auto-create template (1), as TBW102 does.
    pub const INHERIT: u8 = 1;
    /// Read + write: the default for new topics and for `brokerPermission`.
    pub const READ_WRITE: Perm = Perm(Self::READ | Self::WRITE);
    /// Read + write + inherit: TBW102 and the cluster/broker-name topics.
    pub const ALL: Perm = Perm(Self::READ | Self::WRITE | Self::INHERIT);

    /// Pulls are allowed.
    pub fn is_readable(self) -> bool {
        self.0 & Self::READ == Self::READ
    }

    /// Sends are allowed.
    pub fn is_writeable(self) -> bool {
        self.0 & Self::WRITE == Self::WRITE
    }

    /// Usable as an auto-create template.
    pub fn is_inherited(self) -> bool {
        self.0 & Self::INHERIT == Self::INHERIT
    }

    /// Carries the priority flag.
    pub fn is_priority(self) -> bool {
        self.0 & Self::PRIORITY == Self::PRIORITY
    }

    /// Readable or writeable.
    pub fn is_accessible(self) -> bool {
        self.is_readable() || self.is_writeable()
    }

    /// `PermName.isValid`: `0 <= perm < PRIORITY`.
    pub fn is_valid(self) -> bool {
        self.0 < Self::PRIORITY
    }

    /// This permission with the write bit cleared (namesrv "wipe write perm").
    pub fn without_write(self) -> Perm {
        Perm(self.0 & !Self::WRITE)
    }

    /// Bits present in both (a topic's perm limited by `brokerPermission`).
    pub fn intersect(self, other: Perm) -> Perm {
        Perm(self.0 & other.0)
    }
}

/// `perm2String`: "R", "W", "X" (inherit) or "-" in three fixed positions, e.g. `RW-`.
impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = if self.is_readable() { 'R' } else { '-' };
        let w = if self.is_writeable() { 'W' } else { '-' };
        let x = if self.is_inherited() { 'X' } else { '-' };
        write!(f, "{r}{w}{x}")
    }
}

impl Default for Perm {
    fn default() -> Self {
        Perm::READ_WRITE
    }
}

impl Setting for Perm {
    fn parse_setting(raw: &str) -> Result<Self, String> {
        let value = raw
            .parse::<u8>()
            .map_err(|e| format!("expected a permission 0..7: {e}"))?;
        let perm = Perm(value);
        if !perm.is_valid() {
            return Err("expected a permission 0..7 (4=read, 2=write, 1=inherit)".to_owned());
        }
        Ok(perm)
    }
    fn render_setting(&self) -> Option<String> {
        Some(self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_rendering() {
        assert_eq!(Perm(6).to_string(), "RW-");
        assert_eq!(Perm(7).to_string(), "RWX");
        assert_eq!(Perm(4).to_string(), "R--");
        assert_eq!(Perm(0).to_string(), "---");
        assert!(Perm(6).is_readable() && Perm(6).is_writeable() && !Perm(6).is_inherited());
        assert!(!Perm(1).is_accessible());
        assert!(Perm(8).is_priority());
        assert_eq!(Perm(7).without_write(), Perm(5));
        assert_eq!(Perm(7).intersect(Perm(4)), Perm(4));
    }

    #[test]
    fn validity_is_below_priority() {
        assert!((0..8).all(|p| Perm(p).is_valid()));
        assert!(!Perm(8).is_valid());
        assert!(Perm::parse_setting("8").is_err());
        assert_eq!(Perm::parse_setting("7"), Ok(Perm::ALL));
    }

    #[test]
    fn serializes_as_a_plain_integer() {
        assert_eq!(serde_json::to_string(&Perm(6)).unwrap(), "6");
        assert_eq!(serde_json::from_str::<Perm>("7").unwrap(), Perm::ALL);
    }
}
