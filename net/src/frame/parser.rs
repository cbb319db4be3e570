//! The frame body, after the length prefix, parsed field by field in wire
//! order (`docs/PROTOCOL.md` is the same table in prose).

use std::str;
use std::time::Duration;

use std::borrow::Cow;

use super::{Frame, FrameError, Kind, VERSION};

/// A cursor over one frame body that turns running out of bytes into
/// [`FrameError::Truncated`] naming the field.
struct Cursor<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], FrameError> {
        let end = self.at.checked_add(n);
        let bytes = end.and_then(|end| self.body.get(self.at..end));
        let bytes = bytes.ok_or(FrameError::Truncated { field, length: self.body.len() })?;
        self.at += n;
        Ok(bytes)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, FrameError> {
        Ok(self.take(1, field)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], FrameError> {
        let bytes = self.take(N, field)?;
        Ok(bytes.try_into().unwrap_or([0; N]))
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = &self.body[self.at..];
        self.at = self.body.len();
        rest
    }
}

/// Parses the bytes after the length prefix, in wire order.
#[inline]
pub(super) fn parse_body(body: &[u8]) -> Result<Frame<'_>, FrameError> {
    let mut cursor = Cursor { body, at: 0 };
    let (kind, id, method_len) = match body.first_chunk::<12>() {
        // The usual case: the fixed fields are all there, one bounds check.
        Some(&[version, kind_byte, i0, i1, i2, i3, i4, i5, i6, i7, m0, m1]) => {
            if version != VERSION {
                return Err(FrameError::UnsupportedVersion(version));
            }
            let kind = Kind::from_u8(kind_byte).ok_or(FrameError::UnknownKind(kind_byte))?;
            cursor.at = 12;
            (
                kind,
                u64::from_be_bytes([i0, i1, i2, i3, i4, i5, i6, i7]),
                u16::from_be_bytes([m0, m1]) as usize,
            )
        }
        // A truncated header: field by field, to name the one cut off.
        None => {
            let version = cursor.u8("version byte")?;
            if version != VERSION {
                return Err(FrameError::UnsupportedVersion(version));
            }
            let kind_byte = cursor.u8("kind byte")?;
            let kind = Kind::from_u8(kind_byte).ok_or(FrameError::UnknownKind(kind_byte))?;
            let id = u64::from_be_bytes(cursor.array("request id")?);
            (kind, id, u16::from_be_bytes(cursor.array("method length")?) as usize)
        }
    };
    let method = cursor.take(method_len, "method name")?;
    // Every frame but a request has an empty method: skip the validation call.
    let method = match method {
        [] => "",
        bytes => str::from_utf8(bytes)
            .map_err(|error| FrameError::InvalidMethod { valid_up_to: error.valid_up_to() })?,
    };
    let deadline = match cursor.u8("deadline flag")? {
        0 => None,
        1 => Some(Duration::from_micros(u64::from_be_bytes(cursor.array("deadline")?))),
        flag => return Err(FrameError::InvalidDeadlineFlag(flag)),
    };
    if kind != Kind::Request {
        if !method.is_empty() {
            return Err(FrameError::UnexpectedMethod(kind));
        }
        if deadline.is_some() {
            return Err(FrameError::UnexpectedDeadline(kind));
        }
    }
    Ok(match kind {
        Kind::Request => Frame::Request {
            id,
            method: Cow::Borrowed(method),
            deadline,
            payload: Cow::Borrowed(cursor.rest()),
        },
        Kind::Response => Frame::Response { id, payload: Cow::Borrowed(cursor.rest()) },
        Kind::Error => {
            let code = u16::from_be_bytes(cursor.array("error code")?);
            let message = str::from_utf8(cursor.rest()).map_err(|_| FrameError::InvalidErrorMessage)?;
            Frame::Error { id, code, message: Cow::Borrowed(message) }
        }
        // A cancel carries nothing more; trailing bytes are ignored.
        Kind::Cancel => Frame::Cancel { id },
        Kind::Ping => Frame::Ping { id, payload: Cow::Borrowed(cursor.rest()) },
        Kind::Pong => Frame::Pong { id, payload: Cow::Borrowed(cursor.rest()) },
    })
}
