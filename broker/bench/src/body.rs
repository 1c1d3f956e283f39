//! The stamped message body and the per-producer sequence sets used to count every message.
//!
//! Each benchmark message body starts with a 32-byte stamp: magic "FMQB", the run id, the
//! producer id, a per-producer sequence number and the send time (Unix epoch nanoseconds, so a
//! consumer in another process on the same host can compute end-to-end latency), followed by
//! filler up to the requested size. The sequence numbers let the e2e mode state exactly which
//! acknowledged messages arrived, which arrived twice and which never did.

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes of the stamp at the start of every body.
pub const STAMP_LEN: usize = 32;
const MAGIC: &[u8; 4] = b"FMQB";

/// What a body says about its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Run that sent it.
    pub run_id: u64,
    /// Producer worker within the run.
    pub producer: u32,
    /// Sequence number within the producer.
    pub seq: u64,
    /// Send time (intended send time in fixed-rate runs), Unix epoch nanoseconds.
    pub sent_at_ns: u64,
}

impl Stamp {
    /// A body of `size` bytes (at least [`STAMP_LEN`]) starting with this stamp.
    pub fn body(&self, size: usize, filler: &Bytes) -> Bytes {
        let size = size.max(STAMP_LEN);
        let mut buf = BytesMut::with_capacity(size);
        buf.put_slice(MAGIC);
        buf.put_u64(self.run_id);
        buf.put_u32(self.producer);
        buf.put_u64(self.seq);
        buf.put_u64(self.sent_at_ns);
        let rest = size - STAMP_LEN;
        buf.put_slice(&filler[..rest.min(filler.len())]);
        buf.resize(size, b'x');
        buf.freeze()
    }

    /// Reads the stamp of `body`, if it has one.
    pub fn read(body: &[u8]) -> Option<Stamp> {
        if body.len() < STAMP_LEN || &body[..4] != MAGIC {
            return None;
        }
        let u64_at =
            |at: usize| u64::from_be_bytes(body[at..at + 8].try_into().unwrap_or_default());
        Some(Stamp {
            run_id: u64_at(4),
            producer: u32::from_be_bytes(body[12..16].try_into().unwrap_or_default()),
            seq: u64_at(16),
            sent_at_ns: u64_at(24),
        })
    }
}

/// Printable filler of `size` bytes (a repeating alphabet, like the Java benchmark's bodies).
pub fn filler(size: usize) -> Bytes {
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    Bytes::from(
        (0..size)
            .map(|i| alphabet[i % alphabet.len()])
            .collect::<Vec<u8>>(),
    )
}

/// Now as Unix epoch nanoseconds.
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A growable set of sequence numbers (a bitmap: sequences are dense from 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSet {
    words: Vec<u64>,
    len: u64,
}

impl SeqSet {
    /// Adds `seq`; false if it was already there.
    pub fn insert(&mut self, seq: u64) -> bool {
        let word = (seq / 64) as usize;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let bit = 1u64 << (seq % 64);
        let fresh = self.words[word] & bit == 0;
        self.words[word] |= bit;
        self.len += u64::from(fresh);
        fresh
    }

    /// Whether `seq` is in the set.
    pub fn contains(&self, seq: u64) -> bool {
        self.words
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    /// Members.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds every member of `other`; returns how many were already present.
    pub fn union_counting_overlap(&mut self, other: &SeqSet) -> u64 {
        if self.words.len() < other.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        let mut overlap = 0;
        for (mine, theirs) in self.words.iter_mut().zip(&other.words) {
            overlap += u64::from((*mine & theirs).count_ones());
            *mine |= theirs;
        }
        self.len += other.len - overlap;
        overlap
    }

    /// Members of `self` not in `other`.
    pub fn count_missing_from(&self, other: &SeqSet) -> u64 {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let theirs = other.words.get(i).copied().unwrap_or(0);
                u64::from((w & !theirs).count_ones())
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_pads_to_size() {
        let stamp = Stamp {
            run_id: 0x0102_0304_0506_0708,
            producer: 7,
            seq: 123_456,
            sent_at_ns: 1_700_000_000_000_000_000,
        };
        let fill = filler(2048);
        let body = stamp.body(1024, &fill);
        assert_eq!(body.len(), 1024);
        assert_eq!(Stamp::read(&body), Some(stamp));
        assert_eq!(&body[STAMP_LEN..STAMP_LEN + 3], b"abc");
        assert_eq!(stamp.body(10, &fill).len(), STAMP_LEN);
        assert_eq!(Stamp::read(b"not a stamped body at all, not one"), None);
        assert_eq!(Stamp::read(b"FMQB"), None);
    }

    #[test]
    fn seq_sets_count_overlap_and_missing() {
        let mut acked = SeqSet::default();
        for s in 0..200 {
            assert!(acked.insert(s));
        }
        assert!(!acked.insert(5));
        assert_eq!(acked.len(), 200);
        let mut a = SeqSet::default();
        let mut b = SeqSet::default();
        for s in 0..120 {
            a.insert(s);
        }
        for s in 100..190 {
            b.insert(s);
        }
        assert_eq!(a.union_counting_overlap(&b), 20);
        assert_eq!(a.len(), 190);
        assert!(a.contains(189) && !a.contains(190));
        assert_eq!(acked.count_missing_from(&a), 10);
        assert_eq!(a.count_missing_from(&acked), 0);
    }
}
