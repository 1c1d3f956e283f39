//! Length-prefixed frames: "is a whole frame buffered?", then parse exactly one.
//!
//! Wire format: `[length:i32][serializeType:u8 | headerLength:u24][header][body]`, where `length`
//! counts everything after itself. This mirrors Netty's
//! `LengthFieldBasedFrameDecoder(maxFrame, 0, 4, 0, 4)`: the maximum applies to the frame
//! *including* its 4-byte prefix, default 16 MiB (`com.rocketmq.remoting.frameMaxLength`).
//! The length checks run before a single byte of the frame is buffered, so a hostile length
//! cannot make the connection allocate; any error means the connection must be closed.

use bytes::{Buf, BytesMut};

use crate::command::{RemotingCommand, SerializeType};
use crate::error::{RemotingError, Result};
use crate::header::{binary, json};

/// Java's default `frameMaxLength`: 16 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Bytes of the length prefix.
const LENGTH_PREFIX: usize = 4;
/// Bytes of the serialize-type/header-length word.
const HEADER_WORD: usize = 4;

/// Frame decoder/encoder with a configurable size limit. Pure: bytes in, commands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCodec {
    max_frame_len: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameCodec {
    /// A codec accepting frames of at most `max_frame_len` bytes (length prefix included).
    pub const fn new(max_frame_len: usize) -> Self {
        FrameCodec { max_frame_len }
    }

    /// The configured maximum frame length.
    pub const fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Size of the first frame in `buf` once validated, or `None` while the prefix is incomplete.
    pub fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>> {
        let Some(prefix) = buf.first_chunk::<LENGTH_PREFIX>() else {
            return Ok(None);
        };
        let length = i32::from_be_bytes(*prefix);
        let Ok(length) = usize::try_from(length) else {
            return Err(RemotingError::InvalidLength { len: length.into() });
        };
        if length < HEADER_WORD {
            return Err(RemotingError::InvalidLength { len: length as i64 });
        }
        let total = length + LENGTH_PREFIX;
        if total > self.max_frame_len {
            return Err(RemotingError::FrameTooLarge {
                len: total as u64,
                max: self.max_frame_len,
            });
        }
        Ok(Some(total))
    }

    /// Takes exactly one frame off the front of `buf` and parses it.
    ///
    /// `Ok(None)` means more bytes are needed; nothing is consumed. No capacity is reserved for
    /// the announced size: a peer could otherwise pin 16 MiB per connection with four bytes.
    /// On error the offending frame, if complete, has been consumed, but the stream position can
    /// no longer be trusted: close the connection.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<RemotingCommand>> {
        let Some(total) = self.frame_len(buf)? else {
            return Ok(None);
        };
        if buf.len() < total {
            return Ok(None);
        }
        let mut frame = buf.split_to(total);
        frame.advance(LENGTH_PREFIX);
        let word = frame.get_u32();
        let serialize_type = SerializeType::from_byte((word >> 24) as u8)?;
        let header_len = (word & 0x00FF_FFFF) as usize;
        if header_len > frame.len() {
            return Err(RemotingError::HeaderTooLong {
                header_len,
                available: frame.len(),
            });
        }
        let header = frame.split_to(header_len);
        let mut command = match serialize_type {
            SerializeType::Json => json::decode(&header)?,
            SerializeType::RocketMq => binary::decode(&header)?,
        };
        command.body = frame.freeze();
        Ok(Some(command))
    }

    /// Appends the encoded frame of `command` to `dst`, refusing frames above the maximum.
    pub fn encode(&self, command: &RemotingCommand, dst: &mut BytesMut) -> Result<()> {
        let start = dst.len();
        command.encode(dst)?;
        let total = dst.len() - start;
        if total > self.max_frame_len {
            dst.truncate(start);
            return Err(RemotingError::FrameTooLarge {
                len: total as u64,
                max: self.max_frame_len,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(length: i32, word: u32, rest: &[u8]) -> BytesMut {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&length.to_be_bytes());
        buf.extend_from_slice(&word.to_be_bytes());
        buf.extend_from_slice(rest);
        buf
    }

    #[test]
    fn waits_for_whole_frame_without_consuming() {
        let codec = FrameCodec::default();
        let mut whole = BytesMut::new();
        let cmd = RemotingCommand::request(34, 3).with_body(&b"hello"[..]);
        codec.encode(&cmd, &mut whole).expect("encodes");
        for cut in 0..whole.len() {
            let mut partial = BytesMut::from(&whole[..cut]);
            assert_eq!(codec.decode(&mut partial), Ok(None), "cut at {cut}");
            assert_eq!(partial.len(), cut);
        }
        whole.extend_from_slice(&[0, 0]); // start of the next frame stays buffered
        let decoded = codec.decode(&mut whole).expect("valid").expect("complete");
        assert_eq!(decoded, cmd);
        assert_eq!(&whole[..], &[0, 0]);
    }

    #[test]
    fn rejects_bad_lengths_before_buffering() {
        let codec = FrameCodec::new(1024);
        let mut negative = BytesMut::from(&(-5i32).to_be_bytes()[..]);
        assert_eq!(
            codec.decode(&mut negative),
            Err(RemotingError::InvalidLength { len: -5 })
        );
        let mut tiny = BytesMut::from(&3i32.to_be_bytes()[..]);
        assert_eq!(
            codec.decode(&mut tiny),
            Err(RemotingError::InvalidLength { len: 3 })
        );
        let mut huge = BytesMut::from(&1021i32.to_be_bytes()[..]);
        assert_eq!(
            codec.decode(&mut huge),
            Err(RemotingError::FrameTooLarge {
                len: 1025,
                max: 1024
            })
        );
        let mut at_limit = BytesMut::from(&1020i32.to_be_bytes()[..]);
        assert_eq!(codec.decode(&mut at_limit), Ok(None));
    }

    #[test]
    fn rejects_inconsistent_header_words() {
        let codec = FrameCodec::default();
        let mut long_header = frame(8, 5, b"{}{}");
        assert_eq!(
            codec.decode(&mut long_header),
            Err(RemotingError::HeaderTooLong {
                header_len: 5,
                available: 4
            })
        );
        let mut bad_type = frame(6, (2 << 24) | 2, b"{}");
        assert_eq!(
            codec.decode(&mut bad_type),
            Err(RemotingError::UnknownSerializeType(2))
        );
    }

    #[test]
    fn encode_refuses_oversized_frames() {
        let codec = FrameCodec::new(64);
        let cmd = RemotingCommand::request(10, 1).with_body(vec![0u8; 64]);
        let mut dst = BytesMut::from(&b"keep"[..]);
        assert!(matches!(
            codec.encode(&cmd, &mut dst),
            Err(RemotingError::FrameTooLarge { max: 64, .. })
        ));
        assert_eq!(&dst[..], b"keep");
    }
}
