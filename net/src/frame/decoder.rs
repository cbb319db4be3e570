//! [`Decoder`]: whole frames off the front of a [`ReadBuffer`], within a
//! size limit.

use super::parser::parse_body;
use super::{Frame, FrameError, ReadBuffer, DEFAULT_MAX_FRAME_SIZE, LENGTH_LEN, VERSION};

/// Takes frames off the front of a [`ReadBuffer`], enforcing a size limit.
#[derive(Debug, Clone, Copy)]
pub struct Decoder {
    max_frame_size: usize,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with the default 16 MiB limit.
    pub fn new() -> Decoder {
        Decoder { max_frame_size: DEFAULT_MAX_FRAME_SIZE }
    }

    /// A decoder that rejects frames whose length field exceeds `limit`.
    pub fn with_max_frame_size(limit: usize) -> Decoder {
        Decoder { max_frame_size: limit }
    }

    /// The limit on a frame's length field.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Decodes the frame at the front of `buf` into one that owns its parts,
    /// and consumes its bytes.
    ///
    /// Returns `Ok(None)` while the frame is incomplete (nothing is consumed;
    /// read more bytes and call again).
    ///
    /// # Errors
    ///
    /// A [`FrameError`] naming the first problem found. The oversize check
    /// runs as soon as the 4 length bytes are in. The buffer is left as it
    /// was, so [`peek_id`] can still read the offending frame's id.
    pub fn decode(&self, buf: &mut ReadBuffer) -> Result<Option<Frame<'static>>, FrameError> {
        let Some((frame, size)) = self.peek(buf)? else {
            return Ok(None);
        };
        let frame = frame.into_owned();
        buf.consume(size);
        Ok(Some(frame))
    }

    /// Like [`decode`](Decoder::decode), but copies nothing and consumes
    /// nothing: returns the frame at the front of `buf`, borrowing its
    /// method, message and payload from `buf`, and its size on the wire.
    /// Call [`ReadBuffer::consume`] with that size once done with the frame.
    ///
    /// # Errors
    ///
    /// As [`decode`](Decoder::decode).
    pub fn peek<'b>(&self, buf: &'b ReadBuffer) -> Result<Option<(Frame<'b>, usize)>, FrameError> {
        let bytes = buf.as_slice();
        let Some(prefix) = bytes.first_chunk::<LENGTH_LEN>() else {
            return Ok(None);
        };
        let length = u32::from_be_bytes(*prefix) as usize;
        if length > self.max_frame_size {
            return Err(FrameError::TooLarge { size: length, limit: self.max_frame_size });
        }
        let Some(body) = bytes[LENGTH_LEN..].get(..length) else {
            return Ok(None);
        };
        Ok(Some((parse_body(body)?, LENGTH_LEN + length)))
    }

    /// Call when the stream has ended: `Ok` if it ended between frames.
    ///
    /// # Errors
    ///
    /// [`FrameError::UnexpectedEof`] if part of a frame is still buffered.
    pub fn decode_eof(&self, buf: &ReadBuffer) -> Result<(), FrameError> {
        match buf.len() {
            0 => Ok(()),
            buffered => Err(FrameError::UnexpectedEof { buffered }),
        }
    }
}

/// The request id of the frame at the front of `buf`, if its first bytes
/// are there and its version is ours: lets a receiver address an error
/// frame to the sender of a frame it rejects (an oversize one, say).
pub fn peek_id(buf: &ReadBuffer) -> Option<u64> {
    let bytes = buf.as_slice();
    if bytes.get(LENGTH_LEN) != Some(&VERSION) {
        return None;
    }
    let id = bytes.get(LENGTH_LEN + 2..LENGTH_LEN + 10)?;
    Some(u64::from_be_bytes(id.try_into().ok()?))
}
