//! Raw CommitLog access for master/slave replication.
//!
//! The master ships CommitLog bytes, not messages: [`CommitLog::replica_chunk`] returns whole
//! records (and the end-of-file blank marker with its padding) from an offset, at most a batch
//! size, never across a file end, as RocketMQ's HA transfer does. The slave writes them back at
//! exactly its own end with [`CommitLog::append_replica`]: a gap or an overlap is refused, the
//! chunk is checked record by record, and the store's dispatcher then builds the ConsumeQueues
//! and indexes from the appended bytes, exactly as on the master.
//!
//! This is a child module of the CommitLog type's module so it can take the put lock.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::CommitLog;
use crate::error::{Result, StoreError};
use crate::flush::FlushWait;
use crate::mapped_file::MappedFile;
use crate::record::Decoded;
use crate::record::view::{DecodeChecks, decode};

/// A run of raw CommitLog bytes read for a slave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaChunk {
    /// Global offset of the first byte.
    pub offset: u64,
    /// Whole records (or a blank marker and its padding), zero-copy.
    pub bytes: Bytes,
}

impl ReplicaChunk {
    /// Offset just past the chunk.
    pub fn end(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
}

/// What [`CommitLog::append_replica`] wrote.
#[derive(Debug)]
pub struct ReplicaAppend {
    /// The CommitLog end after the append.
    pub end_offset: u64,
    /// Under SYNC_FLUSH: completes when the appended bytes are durable.
    pub flush: Option<FlushWait>,
}

/// Walks the records of `buf` (which starts at global `offset`, `to_file_end` bytes before
/// the end of its file) and returns the length of the longest prefix of whole records not
/// longer than `limit` (the first record always counts, whatever its size) and the newest
/// store timestamp in it. Bytes that are not a record are `Corrupt` when `strict`, else they
/// end the prefix.
fn whole_records(
    buf: &[u8],
    offset: u64,
    to_file_end: usize,
    checks: DecodeChecks,
    limit: usize,
    strict: bool,
) -> std::result::Result<(usize, i64), (u64, String)> {
    let (mut at, mut ts) = (0usize, 0i64);
    while at < buf.len() {
        let checks = DecodeChecks {
            position: Some(offset + at as u64),
            ..checks
        };
        let len = match decode(&buf[at..], checks) {
            Ok(Decoded::Message(m)) => {
                ts = ts.max(m.store_timestamp());
                m.total_size()
            }
            Ok(Decoded::Blank { remaining }) if to_file_end.checked_sub(at) == Some(remaining) => {
                remaining
            }
            Ok(Decoded::Blank { remaining }) => {
                let why = format!("blank marker of {remaining} bytes does not reach the file end");
                return Err((offset + at as u64, why));
            }
            Err(e) if strict => return Err((offset + at as u64, e.to_string())),
            Err(_) => break,
        };
        if at > 0 && at + len > limit {
            break;
        }
        if at + len > buf.len() {
            if strict {
                return Err((offset + at as u64, "record continues past the chunk".into()));
            }
            break;
        }
        at += len;
    }
    Ok((at, ts))
}

impl CommitLog {
    /// Whole records from `offset`, at most `max_bytes` (one record larger than that is sent
    /// alone), never crossing a file end. `Ok(None)` when nothing is written at `offset` yet
    /// or it is no longer stored; an offset at the exact end of a full file continues in the
    /// next file. `Corrupt` when `offset` is not a record boundary.
    pub fn replica_chunk(&self, offset: u64, max_bytes: usize) -> Result<Option<ReplicaChunk>> {
        let Some(file) = self.file_at(offset) else {
            return Ok(None);
        };
        let pos = (offset - file.base_offset()) as usize;
        let wrote = file.wrote_position();
        if pos >= wrote {
            return Ok(None);
        }
        let avail = file
            .read(pos, wrote - pos)
            .expect("below the write position");
        let checks = DecodeChecks {
            max_size: self.config.max_message_size,
            crc: false,
            position: None,
        };
        let to_end = file.size() - pos;
        let (len, _) = whole_records(avail, offset, to_end, checks, max_bytes, false)
            .map_err(|(at, why)| corrupt_at(&file, at, why))?;
        if len == 0 {
            let why = "not a record boundary (or an unfinished record)";
            return Err(corrupt_at(&file, offset, why.into()));
        }
        let bytes = file.bytes(pos, len).expect("below the write position");
        Ok(Some(ReplicaChunk { offset, bytes }))
    }

    /// Appends raw bytes replicated from a master at exactly the current end: they must be
    /// whole records (ending a file only with its blank marker) and fit in the current file;
    /// the first file of an empty log is created at `offset` (a file boundary). Refuses a
    /// gap or an overlap with [`StoreError::ReplicaOffset`].
    pub fn append_replica(&self, offset: u64, data: &[u8]) -> Result<ReplicaAppend> {
        let mut w = self.lock_writer();
        self.check_writable()?;
        let file_size = self.config.file_size;
        let file = match w.current.as_ref().filter(|f| !f.is_full()) {
            Some(f) => Arc::clone(f),
            None => {
                let expected = self.max_offset();
                let empty = w.current.is_none() && self.files().last().is_none();
                let aligned = offset % file_size as u64 == 0;
                if !(empty && aligned) && offset != expected {
                    return Err(self.replica_offset_error(expected, offset));
                }
                let next = self.files().create_next(offset)?;
                w.current = Some(Arc::clone(&next));
                next
            }
        };
        let expected = file.base_offset() + file.wrote_position() as u64;
        if offset != expected {
            return Err(self.replica_offset_error(expected, offset));
        }
        if data.is_empty() {
            return Ok(ReplicaAppend {
                end_offset: expected,
                flush: None,
            });
        }
        let checks = DecodeChecks {
            max_size: self.config.max_message_size,
            crc: false,
            position: None,
        };
        let (_, ts) = whole_records(data, offset, file.remaining(), checks, usize::MAX, true)
            .map_err(|(at, why)| corrupt_at(&file, at, why))?;
        if data.len() > file.remaining() {
            let why = format!(
                "replicated chunk of {} bytes crosses the file end ({} bytes left)",
                data.len(),
                file.remaining()
            );
            return Err(corrupt_at(&file, offset, why));
        }
        file.append_with(data.len(), |dst| dst.copy_from_slice(data))
            .expect("room was checked under the put lock");
        w.last_timestamp = w.last_timestamp.max(ts);
        let ts = w.last_timestamp;
        self.durability
            .appended_timestamp
            .store(ts, Ordering::Release);
        drop(w);
        let end = offset + data.len() as u64;
        self.wrote_to(end);
        Ok(ReplicaAppend {
            end_offset: end,
            flush: self.flusher.request(end),
        })
    }

    fn replica_offset_error(&self, expected: u64, got: u64) -> StoreError {
        StoreError::ReplicaOffset {
            dir: self.config.dir.clone(),
            expected,
            got,
        }
    }
}

fn corrupt_at(file: &MappedFile, global: u64, why: String) -> StoreError {
    let pos = global.saturating_sub(file.base_offset());
    StoreError::corrupt(
        file.path(),
        pos,
        format!("commit log offset {global}: {why}"),
    )
}
