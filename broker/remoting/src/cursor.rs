//! A bounds-checked big-endian reader over a byte slice, shared by the binary decoders.
//!
//! Every read checks what is left and reports [`RemotingError::Truncated`] (with the offset in
//! the enclosing structure) instead of panicking; int32 lengths that are negative are
//! [`RemotingError::Malformed`].

use crate::error::{RemotingError, Result};

/// Bounds-checked big-endian cursor; every read reports `Truncated` instead of panicking.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    /// Position of the next read inside `bytes`.
    pub(crate) offset: usize,
    /// Offset of `bytes` inside the enclosing structure, added to error offsets.
    pub(crate) base: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader {
            bytes,
            offset: 0,
            base: 0,
            what,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.offset >= self.bytes.len()
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let have = self.bytes.len() - self.offset;
        if len > have {
            return Err(RemotingError::Truncated {
                what: self.what,
                offset: self.base + self.offset,
                need: len,
                have,
            });
        }
        let slice = &self.bytes[self.offset..self.offset + len];
        self.offset += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// An int32 length that must not be negative.
    pub(crate) fn length(&mut self, what: &'static str) -> Result<usize> {
        let len = self.i32()?;
        usize::try_from(len).map_err(|_| self.negative(what, len.into()))
    }

    pub(crate) fn negative(&self, what: &'static str, len: i64) -> RemotingError {
        RemotingError::Malformed {
            what,
            offset: self.base + self.offset,
            reason: format!("negative length {len}"),
        }
    }
}
