//! The HA wire format (RocketMQ 4.x `HAConnection` / `HAClient`), plain TCP, big-endian:
//!
//! - slave -> master: an 8-byte offset report, the slave's CommitLog end;
//! - master -> slave: frames `{offset i64, body size i32, body}`, the body being raw
//!   CommitLog bytes starting at `offset`; a size of 0 is a heartbeat.
//!
//! Decoding checks the whole frame is buffered before taking it.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{HaError, Result};

/// Bytes of a frame header.
pub const HEADER_LEN: usize = 12;
/// Bytes of an offset report.
pub const REPORT_LEN: usize = 8;
/// Largest body accepted: far above any transfer batch and any single record (4 MiB default
/// maximum message size), it only rejects garbage.
pub const MAX_BODY: usize = 64 << 20;

/// One master -> slave frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Master CommitLog offset of the body's first byte.
    pub offset: u64,
    /// Raw CommitLog bytes (empty for a heartbeat).
    pub body: Bytes,
}

/// The header of a frame carrying `body_len` bytes from `offset`.
pub fn encode_header(offset: u64, body_len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&(offset as i64).to_be_bytes());
    h[8..].copy_from_slice(&(body_len as i32).to_be_bytes());
    h
}

/// An offset report.
pub fn encode_report(offset: u64) -> [u8; REPORT_LEN] {
    (offset as i64).to_be_bytes()
}

/// Decodes an offset report (negative values, never sent, read as 0).
pub fn decode_report(b: [u8; REPORT_LEN]) -> u64 {
    i64::from_be_bytes(b).max(0) as u64
}

/// Takes the next whole frame off `buf`; `Ok(None)` until one is fully buffered.
pub fn decode_frame(buf: &mut BytesMut) -> Result<Option<Frame>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let offset = i64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
    let size = i32::from_be_bytes(buf[8..12].try_into().expect("4 bytes"));
    if offset < 0 || size < 0 || size as usize > MAX_BODY {
        return Err(HaError::BadFrame { offset, size });
    }
    let size = size as usize;
    if buf.len() < HEADER_LEN + size {
        buf.reserve(HEADER_LEN + size - buf.len());
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    let body = buf.split_to(size).freeze();
    Ok(Some(Frame {
        offset: offset as u64,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(offset: u64, body: &[u8]) -> Vec<u8> {
        let mut v = encode_header(offset, body.len()).to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn header_layout_is_big_endian_offset_then_size() {
        assert_eq!(
            encode_header(0x0102_0304_0506_0708, 0x0A0B),
            [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x0A, 0x0B]
        );
        assert_eq!(encode_report(1 << 40), [0, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(decode_report(encode_report(987_654_321)), 987_654_321);
    }

    #[test]
    fn decodes_frames_split_anywhere() {
        let mut wire = frame_bytes(4096, b"hello");
        wire.extend(frame_bytes(4101, b""));
        wire.extend(frame_bytes(4101, b"world!"));
        for cut in 0..wire.len() {
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = Vec::new();
            while let Some(f) = decode_frame(&mut buf).expect("valid") {
                got.push(f);
            }
            buf.extend_from_slice(&wire[cut..]);
            while let Some(f) = decode_frame(&mut buf).expect("valid") {
                got.push(f);
            }
            let offsets: Vec<u64> = got.iter().map(|f| f.offset).collect();
            assert_eq!(offsets, vec![4096, 4101, 4101], "cut at {cut}");
            assert_eq!(&got[0].body[..], b"hello");
            assert!(got[1].body.is_empty());
            assert_eq!(&got[2].body[..], b"world!");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn rejects_impossible_headers() {
        let mut neg = BytesMut::from(&encode_header(0, 0)[..]);
        neg[8..12].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            decode_frame(&mut neg),
            Err(HaError::BadFrame {
                offset: 0,
                size: -1
            })
        ));
        let mut big = BytesMut::from(&encode_header(7, MAX_BODY + 1)[..]);
        assert!(matches!(
            decode_frame(&mut big),
            Err(HaError::BadFrame { offset: 7, .. })
        ));
        let mut neg_off = BytesMut::from(&encode_header(u64::MAX, 1)[..]);
        assert!(matches!(
            decode_frame(&mut neg_off),
            Err(HaError::BadFrame {
                offset: -1,
                size: 1
            })
        ));
    }
}
