//! A forward cursor over CommitLog records, for the dispatcher (and replication).
//!
//! It yields every record from a start offset in order, hops over the end-of-file blank marker
//! to the next file, and stops (returns `None`) at the end of written data; calling it again
//! later continues from [`RecordCursor::offset`]. Records are zero-copy `Bytes`; decode them
//! with [`MessageView::new`](crate::record::MessageView::new).

use std::sync::Arc;

use crate::error::{Result, StoreError};
use crate::mapped_file::MappedFile;
use crate::record::Decoded;
use crate::record::view::{DecodeChecks, decode};

use super::commitlog::{CommitLog, StoredRecord};

/// See the module docs.
#[derive(Debug)]
pub struct RecordCursor<'a> {
    log: &'a CommitLog,
    offset: u64,
    /// The file the last record came from: consecutive records mostly share it, and looking
    /// it up again would take the file list's lock and an `Arc` clone per record.
    file: Option<Arc<MappedFile>>,
}

impl<'a> RecordCursor<'a> {
    pub(super) fn new(log: &'a CommitLog, offset: u64) -> Self {
        RecordCursor {
            log,
            offset,
            file: None,
        }
    }

    /// Points `self.file` at the file holding `self.offset`, keeping the cached one while the
    /// offset is inside it.
    fn seek_file(&mut self) {
        let covers = self.file.as_ref().is_some_and(|f| {
            self.offset >= f.base_offset() && self.offset < f.base_offset() + f.size() as u64
        });
        if !covers {
            self.file = self.log.file_at(self.offset);
        }
    }

    /// Offset of the next record to read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record, `Ok(None)` at the end of written data, `Corrupt` for bytes that are
    /// not a record (the cursor then stays on them).
    pub fn next_record(&mut self) -> Result<Option<StoredRecord>> {
        loop {
            self.seek_file();
            let Some(file) = self.file.as_ref() else {
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
