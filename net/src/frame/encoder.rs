//! Encoding: frames appended to a `Vec<u8>`, so many frames queued in one
//! tick can leave in a single `write`.

use std::time::Duration;

use super::{Frame, FrameError, Kind, LENGTH_LEN, MIN_BODY_LEN, VERSION};

impl Frame<'_> {
    /// Appends this frame's bytes to `out`.
    ///
    /// # Errors
    ///
    /// [`FrameError::MethodTooLong`] for a method over 65535 bytes and
    /// [`FrameError::TooLarge`] for a frame whose length does not fit the
    /// `u32` prefix; `out` is left as it was.
    #[inline]
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        match self {
            Frame::Request { id, method, deadline, payload } => {
                encode_request(out, *id, method, *deadline, payload)
            }
            Frame::Response { id, payload } => encode_parts(out, Kind::Response, *id, "", None, &[payload]),
            Frame::Error { id, code, message } => {
                encode_parts(out, Kind::Error, *id, "", None, &[&code.to_be_bytes(), message.as_bytes()])
            }
            Frame::Cancel { id } => encode_parts(out, Kind::Cancel, *id, "", None, &[]),
            Frame::Ping { id, payload } => encode_parts(out, Kind::Ping, *id, "", None, &[payload]),
            Frame::Pong { id, payload } => encode_parts(out, Kind::Pong, *id, "", None, &[payload]),
        }
    }
}

/// Appends a request frame to `out` without building a [`Frame`] first
/// (what `Frame::Request { .. }.encode(out)` does, from the parts).
///
/// # Errors
///
/// As [`Frame::encode`].
#[inline]
pub fn encode_request(
    out: &mut Vec<u8>,
    id: u64,
    method: &str,
    deadline: Option<Duration>,
    payload: &[u8],
) -> Result<(), FrameError> {
    encode_parts(out, Kind::Request, id, method, deadline, &[payload])
}

/// Appends one frame: length, header, then the payload pieces in order.
#[inline]
fn encode_parts(
    out: &mut Vec<u8>,
    kind: Kind,
    id: u64,
    method: &str,
    deadline: Option<Duration>,
    payload: &[&[u8]],
) -> Result<(), FrameError> {
    let method_len = u16::try_from(method.len()).map_err(|_| FrameError::MethodTooLong(method.len()))?;
    let deadline_len = if deadline.is_some() { 8 } else { 0 };
    let payload_len: usize = payload.iter().map(|piece| piece.len()).sum();
    let body_len = MIN_BODY_LEN + method.len() + deadline_len + payload_len;
    let length = u32::try_from(body_len)
        .map_err(|_| FrameError::TooLarge { size: body_len, limit: u32::MAX as usize })?;

    // The fixed fields go in as two small arrays around the method: a few
    // copies per frame rather than one bounds-checked push per field.
    let mut head = [0u8; 16];
    head[..4].copy_from_slice(&length.to_be_bytes());
    head[4] = VERSION;
    head[5] = kind as u8;
    head[6..14].copy_from_slice(&id.to_be_bytes());
    head[14..].copy_from_slice(&method_len.to_be_bytes());
    let mut tail = [0u8; 9];
    let tail_len = match deadline {
        Some(remaining) => {
            let micros = u64::try_from(remaining.as_micros()).unwrap_or(u64::MAX);
            tail[0] = 1;
            tail[1..].copy_from_slice(&micros.to_be_bytes());
            9
        }
        None => 1,
    };
    out.reserve(LENGTH_LEN + body_len);
    out.extend_from_slice(&head);
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(&tail[..tail_len]);
    for piece in payload {
        out.extend_from_slice(piece);
    }
    Ok(())
}
