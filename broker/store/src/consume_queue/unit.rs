//! The 20-byte ConsumeQueue unit: where one message of a queue lives in the CommitLog.
//!
//! Layout (big-endian, reference §7.2): commitLogOffset i64 | size i32 | tagsCode i64.
//! A *blank* unit `{0, i32::MAX, 0}` fills the head of a queue file created mid-sequence and
//! any gap the dispatcher had to skip; readers treat it as "no message here".

/// Bytes per unit.
pub const UNIT_SIZE: usize = 20;

/// One ConsumeQueue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqUnit {
    /// CommitLog offset of the record.
    pub commit_log_offset: i64,
    /// Whole record size in bytes.
    pub size: i32,
    /// Java `String.hashCode` of the TAGS property (0 when absent), or a delivery time for
    /// the schedule topic.
    pub tags_code: i64,
}

impl CqUnit {
    /// The filler unit RocketMQ writes where no message exists.
    pub const BLANK: CqUnit = CqUnit {
        commit_log_offset: 0,
        size: i32::MAX,
        tags_code: 0,
    };

    /// Encodes the unit into its on-disk form.
    pub fn encode(&self) -> [u8; UNIT_SIZE] {
        let mut b = [0u8; UNIT_SIZE];
        b[0..8].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }

    /// Decodes a unit from exactly [`UNIT_SIZE`] bytes.
    pub fn decode(b: &[u8]) -> CqUnit {
        let mut off = [0u8; 8];
        off.copy_from_slice(&b[0..8]);
        let mut size = [0u8; 4];
        size.copy_from_slice(&b[8..12]);
        let mut tags = [0u8; 8];
        tags.copy_from_slice(&b[12..20]);
        CqUnit {
            commit_log_offset: i64::from_be_bytes(off),
            size: i32::from_be_bytes(size),
            tags_code: i64::from_be_bytes(tags),
        }
    }

    /// True for the filler unit.
    pub fn is_blank(&self) -> bool {
        *self == CqUnit::BLANK
    }

    /// RocketMQ's recovery test: a unit is valid when its offset is non-negative and its
    /// size positive (blank units are valid; an all-zero, never written unit is not).
    pub fn is_valid(&self) -> bool {
        self.commit_log_offset >= 0 && self.size > 0
    }

    /// CommitLog offset just past the record, for a real (non-blank) unit.
    pub fn end_offset(&self) -> u64 {
        self.commit_log_offset as u64 + self.size as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let u = CqUnit {
            commit_log_offset: 0x0102030405060708,
            size: 0x0A0B0C0D,
            tags_code: -2,
        };
        let b = u.encode();
        assert_eq!(&b[0..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[8..12], &[0x0A, 0x0B, 0x0C, 0x0D]);
        assert_eq!(
            &b[12..20],
            &[0xFF; 8][..7]
                .iter()
                .chain(&[0xFE])
                .copied()
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(CqUnit::decode(&b), u);
    }

    #[test]
    fn validity() {
        assert!(CqUnit::BLANK.is_valid());
        assert!(CqUnit::BLANK.is_blank());
        assert!(!CqUnit::decode(&[0u8; 20]).is_valid());
        let torn = CqUnit {
            commit_log_offset: -1,
            size: 10,
            tags_code: 0,
        };
        assert!(!torn.is_valid());
    }
}
