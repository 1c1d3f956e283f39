//! A forward cursor over CommitLog records, for the dispatcher (and replication).
//!
//! It yields every record from a start offset in order, hops over the end-of-file blank marker
//! to the next file, and stops (returns `None`) at the end of written data; calling it again
//! later continues from [`RecordCursor::offset`]. Records are zero-copy `Bytes`; decode them
//! with [`MessageView::new`](crate::record::MessageView::new).

use crate::error::{Result, StoreError};
use crate::record::Decoded;
use crate::record::view::{DecodeChecks, decode};

use super::commitlog::{CommitLog, StoredRecord};

/// See the module docs.
#[derive(Debug)]
pub struct RecordCursor<'a> {
    log: &'a CommitLog,
    offset: u64,
}

impl<'a> RecordCursor<'a> {
    pub(super) fn new(log: &'a CommitLog, offset: u64) -> Self {
        RecordCursor { log, offset }
    }

    /// Offset of the next record to read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record, `Ok(None)` at the end of written data, `Corrupt` for bytes that are
    /// not a record (the cursor then stays on them).
    pub fn next_record(&mut self) -> Result<Option<StoredRecord>> {
        loop {
            let Some(file) = self.log.file_at(self.offset) else {
                return Ok(None);
            };
            let pos = (self.offset - file.base_offset()) as usize;
            let wrote = file.wrote_position();
            if pos >= wrote {
                if wrote == file.size() {
                    self.offset = file.base_offset() + file.size() as u64;
                    continue;
                }
                return Ok(None);
            }
            let avail = file
                .read(pos, wrote - pos)
                .expect("below the write position");
            let checks = DecodeChecks {
                max_size: self.log.config().max_message_size,
                crc: false,
                position: Some(self.offset),
            };
            match decode(avail, checks) {
                Ok(Decoded::Message(m)) => {
                    let len = m.total_size();
                    let bytes = file.bytes(pos, len).expect("below the write position");
                    let rec = StoredRecord {
                        offset: self.offset,
                        bytes,
                    };
                    self.offset += len as u64;
                    return Ok(Some(rec));
                }
                Ok(Decoded::Blank { .. }) => {
                    self.offset = file.base_offset() + file.size() as u64;
                }
                Err(e) => {
                    return Err(StoreError::corrupt(
                        file.path(),
                        pos as u64,
                        format!("commit log offset {}: {e}", self.offset),
                    ));
                }
            }
        }
    }
}

impl Iterator for RecordCursor<'_> {
    type Item = Result<StoredRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}
