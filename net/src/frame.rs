//! Length-prefixed frames: the unit the RPC layer sends over a byte stream.
//!
//! TCP delivers a stream of bytes with no boundaries; a frame puts them
//! back. Every frame starts with a big-endian `u32` giving the number of
//! bytes that follow, so a reader knows how much to wait for before it
//! parses anything. The layout of what follows (version, kind, request id,
//! method, deadline, payload) is documented byte by byte in
//! `docs/PROTOCOL.md`; the constants below are the same table in code.
//!
//! Two halves:
//!
//! - **Encoding** appends to a `Vec<u8>`, so many frames queued in one tick
//!   can leave in a single `write` ([`Frame::encode`], [`encode_request`]).
//! - **Decoding** is incremental: bytes arrive in whatever chunks the kernel
//!   hands out and accumulate in a [`ReadBuffer`]; [`Decoder::decode`] takes
//!   one whole frame off the front, or returns `Ok(None)` when the frame is
//!   still incomplete (an expected state, not an error). [`Decoder::peek`]
//!   does the same without copying: a [`FrameRef`] borrows the method and
//!   payload from the buffer, for receivers that keep only part of a frame.
//!
//! A frame whose declared length exceeds the decoder's limit is rejected as
//! soon as its four length bytes arrive, before anything is buffered for
//! it: a peer cannot make us allocate more than the limit.
//!
//! # Examples
//!
//! ```
//! use corio_net::frame::{Decoder, Frame, ReadBuffer};
//!
//! let mut wire = Vec::new();
//! Frame::Response { id: 7, payload: b"hi".to_vec() }.encode(&mut wire).unwrap();
//! Frame::Cancel { id: 8 }.encode(&mut wire).unwrap(); // batched in the same buffer
//!
//! let decoder = Decoder::new();
//! let mut buf = ReadBuffer::new();
//! buf.extend_from_slice(&wire[..5]); // a partial frame...
//! assert_eq!(decoder.decode(&mut buf), Ok(None)); // ...is incomplete, not an error
//! buf.extend_from_slice(&wire[5..]);
//! assert_eq!(decoder.decode(&mut buf), Ok(Some(Frame::Response { id: 7, payload: b"hi".to_vec() })));
//! assert_eq!(decoder.decode(&mut buf), Ok(Some(Frame::Cancel { id: 8 })));
//! assert_eq!(decoder.decode(&mut buf), Ok(None));
//! ```
//!
//! # Errors
//!
//! Every malformed input gives a [`FrameError`] naming what was wrong; none
//! panics. After an error the stream is out of step (the decoder cannot know
//! where the next frame starts), so the connection should be closed.

use std::fmt;
use std::str;
use std::time::Duration;

/// The protocol version this crate speaks (header byte 0).
pub const VERSION: u8 = 1;

/// Default hard limit on a frame's length field: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// Bytes of the length prefix.
pub const LENGTH_LEN: usize = 4;

/// Smallest possible frame body (after the length prefix): version (1) +
/// kind (1) + id (8) + method length (2) + deadline flag (1).
pub const MIN_BODY_LEN: usize = 13;

/// Error codes carried by error frames. Codes below 1000 are the
/// protocol's; applications use 1000 and up.
pub mod code {
    /// The request named a method the server has no route for.
    pub const UNKNOWN_METHOD: u16 = 1;
    /// The request's deadline passed before the handler finished.
    pub const DEADLINE_EXCEEDED: u16 = 2;
    /// The handler was cancelled.
    pub const CANCELLED: u16 = 3;
    /// The handler panicked or failed unexpectedly.
    pub const INTERNAL: u16 = 4;
    /// A frame exceeded the receiver's size limit; the message reads
    /// `frame of <size> bytes exceeds the limit of <limit> bytes`.
    /// The connection is closed after this error.
    pub const FRAME_TOO_LARGE: u16 = 5;
    /// A frame was malformed; the connection is closed after this error.
    pub const PROTOCOL: u16 = 6;
    /// The server is shutting down and takes no new requests.
    pub const SHUTTING_DOWN: u16 = 7;
    /// The request's payload is not what the route expects (a typed route
    /// could not decode it); the message reads
    /// ``cannot decode `<type>`: <reason>``. The connection stays open.
    pub const BAD_PAYLOAD: u16 = 8;
    /// First code free for applications.
    pub const APPLICATION: u16 = 1000;
}

/// The kind byte (header byte 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A call: method, optional deadline, argument bytes.
    Request = 0,
    /// A successful answer to the request with the same id.
    Response = 1,
    /// A failed answer: error code and message.
    Error = 2,
    /// The caller gave up on the request with this id.
    Cancel = 3,
    /// A liveness probe; answered by a `Pong` with the same id and payload.
    Ping = 4,
    /// The answer to a `Ping`.
    Pong = 5,
}

impl Kind {
    /// The kind for a wire byte, if it names one.
    pub fn from_u8(byte: u8) -> Option<Kind> {
        Some(match byte {
            0 => Kind::Request,
            1 => Kind::Response,
            2 => Kind::Error,
            3 => Kind::Cancel,
            4 => Kind::Ping,
            5 => Kind::Pong,
            _ => return None,
        })
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Call `method` with `payload`; answer within `deadline` if given
    /// (relative: time remaining when the frame was sent).
    Request {
        /// Chosen by the caller, unique among its calls in flight.
        id: u64,
        /// The route name (UTF-8, at most 65535 bytes).
        method: String,
        /// Time left for the call, measured by the sender.
        deadline: Option<Duration>,
        /// The argument bytes (opaque to the protocol).
        payload: Vec<u8>,
    },
    /// The successful result of request `id`.
    Response {
        /// The request's id.
        id: u64,
        /// The result bytes.
        payload: Vec<u8>,
    },
    /// The failure of request `id` (or of the connection, for id 0).
    Error {
        /// The request's id; 0 for an error about the connection itself.
        id: u64,
        /// See [`code`].
        code: u16,
        /// A human-readable explanation (UTF-8).
        message: String,
    },
    /// The caller no longer wants the answer to request `id`.
    Cancel {
        /// The request's id.
        id: u64,
    },
    /// Liveness probe; the peer answers with a `Pong` echoing id and payload.
    Ping {
        /// Chosen by the sender.
        id: u64,
        /// Echoed back.
        payload: Vec<u8>,
    },
    /// Answer to a `Ping`.
    Pong {
        /// The ping's id.
        id: u64,
        /// The ping's payload.
        payload: Vec<u8>,
    },
}

impl Frame {
    /// The frame's request id.
    pub fn id(&self) -> u64 {
        match *self {
            Frame::Request { id, .. }
            | Frame::Response { id, .. }
            | Frame::Error { id, .. }
            | Frame::Cancel { id }
            | Frame::Ping { id, .. }
            | Frame::Pong { id, .. } => id,
        }
    }

    /// The frame's kind byte.
    pub fn kind(&self) -> Kind {
        match self {
            Frame::Request { .. } => Kind::Request,
            Frame::Response { .. } => Kind::Response,
            Frame::Error { .. } => Kind::Error,
            Frame::Cancel { .. } => Kind::Cancel,
            Frame::Ping { .. } => Kind::Ping,
            Frame::Pong { .. } => Kind::Pong,
        }
    }

    /// Appends this frame's bytes to `out`.
    ///
    /// # Errors
    ///
    /// [`FrameError::MethodTooLong`] for a method over 65535 bytes and
    /// [`FrameError::TooLarge`] for a frame whose length does not fit the
    /// `u32` prefix; `out` is left as it was.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        self.as_ref().encode(out)
    }

    /// A view of this frame that borrows its strings and bytes.
    pub fn as_ref(&self) -> FrameRef<'_> {
        match self {
            Frame::Request { id, method, deadline, payload } => {
                FrameRef::Request { id: *id, method, deadline: *deadline, payload }
            }
            Frame::Response { id, payload } => FrameRef::Response { id: *id, payload },
            Frame::Error { id, code, message } => FrameRef::Error { id: *id, code: *code, message },
            Frame::Cancel { id } => FrameRef::Cancel { id: *id },
            Frame::Ping { id, payload } => FrameRef::Ping { id: *id, payload },
            Frame::Pong { id, payload } => FrameRef::Pong { id: *id, payload },
        }
    }
}

/// A decoded frame that borrows its method, message and payload from the
/// bytes it was decoded from: what [`Decoder::peek`] returns, so a receiver
/// copies only what it keeps (the RPC server copies the payload of a
/// request it runs and never the method name it looks up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameRef<'a> {
    /// See [`Frame::Request`].
    Request {
        /// See [`Frame::Request`].
        id: u64,
        /// See [`Frame::Request`].
        method: &'a str,
        /// See [`Frame::Request`].
        deadline: Option<Duration>,
        /// See [`Frame::Request`].
        payload: &'a [u8],
    },
    /// See [`Frame::Response`].
    Response {
        /// See [`Frame::Response`].
        id: u64,
        /// See [`Frame::Response`].
        payload: &'a [u8],
    },
    /// See [`Frame::Error`].
    Error {
        /// See [`Frame::Error`].
        id: u64,
        /// See [`Frame::Error`].
        code: u16,
        /// See [`Frame::Error`].
        message: &'a str,
    },
    /// See [`Frame::Cancel`].
    Cancel {
        /// See [`Frame::Cancel`].
        id: u64,
    },
    /// See [`Frame::Ping`].
    Ping {
        /// See [`Frame::Ping`].
        id: u64,
        /// See [`Frame::Ping`].
        payload: &'a [u8],
    },
    /// See [`Frame::Pong`].
    Pong {
        /// See [`Frame::Pong`].
        id: u64,
        /// See [`Frame::Pong`].
        payload: &'a [u8],
    },
}

impl FrameRef<'_> {
    /// Copies the borrowed parts into an owned [`Frame`].
    pub fn to_frame(&self) -> Frame {
        match *self {
            FrameRef::Request { id, method, deadline, payload } => {
                Frame::Request { id, method: method.to_owned(), deadline, payload: payload.to_vec() }
            }
            FrameRef::Response { id, payload } => Frame::Response { id, payload: payload.to_vec() },
            FrameRef::Error { id, code, message } => Frame::Error { id, code, message: message.to_owned() },
            FrameRef::Cancel { id } => Frame::Cancel { id },
            FrameRef::Ping { id, payload } => Frame::Ping { id, payload: payload.to_vec() },
            FrameRef::Pong { id, payload } => Frame::Pong { id, payload: payload.to_vec() },
        }
    }

    /// Appends this frame's bytes to `out`; see [`Frame::encode`].
    ///
    /// # Errors
    ///
    /// As [`Frame::encode`].
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        match *self {
            FrameRef::Request { id, method, deadline, payload } => {
                encode_request(out, id, method, deadline, payload)
            }
            FrameRef::Response { id, payload } => encode_parts(out, Kind::Response, id, "", None, &[payload]),
            FrameRef::Error { id, code, message } => {
                encode_parts(out, Kind::Error, id, "", None, &[&code.to_be_bytes(), message.as_bytes()])
            }
            FrameRef::Cancel { id } => encode_parts(out, Kind::Cancel, id, "", None, &[]),
            FrameRef::Ping { id, payload } => encode_parts(out, Kind::Ping, id, "", None, &[payload]),
            FrameRef::Pong { id, payload } => encode_parts(out, Kind::Pong, id, "", None, &[payload]),
        }
    }
}

/// Appends a request frame to `out` without building a [`Frame`] (no copy
/// of the method or payload into owned values first).
///
/// # Errors
///
/// As [`Frame::encode`].
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

/// Why bytes could not be encoded or decoded as a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix declares more bytes than the limit allows.
    TooLarge {
        /// The declared length (bytes after the prefix).
        size: usize,
        /// The receiver's limit.
        limit: usize,
    },
    /// The declared length ends before a field the header needs.
    Truncated {
        /// The field that did not fit.
        field: &'static str,
        /// The declared length (bytes after the prefix).
        length: usize,
    },
    /// The version byte is not [`VERSION`].
    UnsupportedVersion(u8),
    /// The kind byte names no [`Kind`].
    UnknownKind(u8),
    /// The method name is not valid UTF-8.
    InvalidMethod {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// A frame other than a request carries a method name.
    UnexpectedMethod(Kind),
    /// The deadline flag is neither 0 nor 1.
    InvalidDeadlineFlag(u8),
    /// A frame other than a request carries a deadline.
    UnexpectedDeadline(Kind),
    /// An error frame's message is not valid UTF-8.
    InvalidErrorMessage,
    /// A method name longer than 65535 bytes cannot be encoded.
    MethodTooLong(usize),
    /// A frame of a kind that never travels in this direction: a response,
    /// error, request or cancel sent by the wrong side (`docs/PROTOCOL.md`,
    /// "Kinds").
    WrongDirection(Kind),
    /// The stream ended in the middle of a frame.
    UnexpectedEof {
        /// Bytes of the unfinished frame received before the end.
        buffered: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { size, limit } => {
                write!(f, "frame of {size} bytes exceeds the limit of {limit} bytes")
            }
            FrameError::Truncated { field, length } => write!(
                f,
                "truncated header: a frame of {length} bytes ends inside its {field} \
                 (a frame needs at least {MIN_BODY_LEN} bytes after the length prefix)"
            ),
            FrameError::UnsupportedVersion(version) => {
                write!(f, "unsupported protocol version {version} (this side speaks version {VERSION})")
            }
            FrameError::UnknownKind(kind) => write!(f, "unknown frame kind {kind} (known kinds are 0 to 5)"),
            FrameError::InvalidMethod { valid_up_to } => {
                write!(f, "method name is not valid UTF-8 (invalid byte at offset {valid_up_to})")
            }
            FrameError::UnexpectedMethod(kind) => {
                write!(f, "a {kind:?} frame carries a method name; only requests may")
            }
            FrameError::InvalidDeadlineFlag(flag) => write!(f, "deadline flag is {flag}; it must be 0 or 1"),
            FrameError::UnexpectedDeadline(kind) => {
                write!(f, "a {kind:?} frame carries a deadline; only requests may")
            }
            FrameError::InvalidErrorMessage => f.write_str("error frame message is not valid UTF-8"),
            FrameError::MethodTooLong(len) => {
                write!(f, "method name of {len} bytes is longer than the maximum of 65535")
            }
            FrameError::WrongDirection(kind) => {
                let only = match kind {
                    Kind::Request | Kind::Cancel => "only a client sends",
                    _ => "only a server sends",
                };
                write!(f, "received a {kind:?} frame, which {only}")
            }
            FrameError::UnexpectedEof { buffered } => {
                write!(f, "stream ended inside a frame ({buffered} bytes of it received)")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A growable byte buffer with a read offset: bytes are appended at the
/// back (by socket reads) and frames are taken off the front.
///
/// Consumed bytes are not moved on every frame; the live bytes are shifted
/// to the front only when the free space at the back runs out, so decoding
/// a batch of frames costs one copy per frame (into its payload), not one
/// per frame per frame.
#[derive(Debug, Default)]
pub struct ReadBuffer {
    /// Storage; `data[start..end]` holds the unconsumed bytes, the rest is
    /// scratch space for the next read (kept initialised, so no `unsafe`).
    data: Vec<u8>,
    start: usize,
    end: usize,
}

/// Least free space [`ReadBuffer::unfilled`] offers a read.
const MIN_FREE: usize = 4 * 1024;

impl ReadBuffer {
    /// An empty buffer (allocates on first use).
    pub fn new() -> ReadBuffer {
        ReadBuffer::default()
    }

    /// An empty buffer with room for `capacity` bytes: the size of the
    /// largest single read (the RPC layer uses 64 KiB).
    pub fn with_capacity(capacity: usize) -> ReadBuffer {
        ReadBuffer { data: vec![0; capacity], start: 0, end: 0 }
    }

    /// The unconsumed bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Number of unconsumed bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Drops `n` bytes from the front (at most all of them).
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to read into (at least 4 KiB). After reading `n` bytes
    /// into it, call [`advance`](ReadBuffer::advance).
    pub fn unfilled(&mut self) -> &mut [u8] {
        if self.data.len() - self.end < MIN_FREE {
            self.compact();
            if self.data.len() - self.end < MIN_FREE {
                // Still short: grow, doubling.
                let grown = (self.data.len() * 2).max(self.end + MIN_FREE);
                self.data.resize(grown, 0);
            }
        }
        &mut self.data[self.end..]
    }

    /// Shifts the live bytes to the front of the storage.
    fn compact(&mut self) {
        self.data.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// Marks `n` bytes of [`unfilled`](ReadBuffer::unfilled) as received
    /// (as tokio's `ReadBuf::advance`: the filled part grows by `n`).
    pub fn advance(&mut self, n: usize) {
        self.end = (self.end + n).min(self.data.len());
    }

    /// Appends bytes (for tests and for sources that are not sockets).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if self.data.len() - self.end < bytes.len() {
            self.compact();
        }
        // Drop the scratch tail and append: no zero-filling of spare room.
        self.data.truncate(self.end);
        self.data.extend_from_slice(bytes);
        self.end = self.data.len();
    }

    /// Releases memory beyond `keep` bytes of capacity when the buffer is
    /// empty (after a burst of large frames).
    pub fn shrink_if_empty(&mut self, keep: usize) {
        if self.is_empty() && self.data.len() > keep {
            self.data.truncate(keep);
            self.data.shrink_to_fit();
        }
    }
}

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

    /// Decodes the frame at the front of `buf` and consumes its bytes.
    ///
    /// Returns `Ok(None)` while the frame is incomplete (nothing is consumed;
    /// read more bytes and call again).
    ///
    /// # Errors
    ///
    /// A [`FrameError`] naming the first problem found. The oversize check
    /// runs as soon as the 4 length bytes are in. The buffer is left as it
    /// was, so [`peek_id`] can still read the offending frame's id.
    pub fn decode(&self, buf: &mut ReadBuffer) -> Result<Option<Frame>, FrameError> {
        let Some((frame, size)) = self.peek(buf)? else {
            return Ok(None);
        };
        let frame = frame.to_frame();
        buf.consume(size);
        Ok(Some(frame))
    }

    /// Like [`decode`](Decoder::decode), but copies nothing and consumes
    /// nothing: returns a view of the frame at the front of `buf` and its
    /// size on the wire. Call [`ReadBuffer::consume`] with that size once
    /// done with the view.
    ///
    /// # Errors
    ///
    /// As [`decode`](Decoder::decode).
    pub fn peek<'b>(&self, buf: &'b ReadBuffer) -> Result<Option<(FrameRef<'b>, usize)>, FrameError> {
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
fn parse_body(body: &[u8]) -> Result<FrameRef<'_>, FrameError> {
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
        Kind::Request => FrameRef::Request { id, method, deadline, payload: cursor.rest() },
        Kind::Response => FrameRef::Response { id, payload: cursor.rest() },
        Kind::Error => {
            let code = u16::from_be_bytes(cursor.array("error code")?);
            let message = str::from_utf8(cursor.rest()).map_err(|_| FrameError::InvalidErrorMessage)?;
            FrameRef::Error { id, code, message }
        }
        // A cancel carries nothing more; trailing bytes are ignored.
        Kind::Cancel => FrameRef::Cancel { id },
        Kind::Ping => FrameRef::Ping { id, payload: cursor.rest() },
        Kind::Pong => FrameRef::Pong { id, payload: cursor.rest() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Frame> {
        vec![
            Frame::Request { id: 1, method: "echo".into(), deadline: None, payload: b"hello".to_vec() },
            Frame::Request {
                id: u64::MAX,
                method: "ünïcode/method".into(),
                deadline: Some(Duration::from_micros(1_500_000)),
                payload: vec![],
            },
            Frame::Response { id: 2, payload: vec![0; 300] },
            Frame::Error { id: 3, code: code::UNKNOWN_METHOD, message: "no route for `x`".into() },
            Frame::Error { id: 0, code: 65535, message: String::new() },
            Frame::Cancel { id: 4 },
            Frame::Ping { id: 5, payload: b"p".to_vec() },
            Frame::Pong { id: 5, payload: vec![] },
        ]
    }

    #[test]
    fn round_trips_each_kind_whole_and_byte_by_byte() {
        let decoder = Decoder::new();
        for frame in samples() {
            let mut wire = Vec::new();
            frame.encode(&mut wire).unwrap();
            let mut buf = ReadBuffer::new();
            buf.extend_from_slice(&wire);
            assert_eq!(decoder.decode(&mut buf), Ok(Some(frame.clone())));
            assert!(buf.is_empty());

            let mut buf = ReadBuffer::new();
            for (i, byte) in wire.iter().enumerate() {
                assert_eq!(decoder.decode(&mut buf), Ok(None), "complete after {i} of {} bytes", wire.len());
                buf.extend_from_slice(&[*byte]);
            }
            assert_eq!(decoder.decode(&mut buf), Ok(Some(frame)));
        }
    }

    #[test]
    fn batched_frames_decode_in_order() {
        let mut wire = Vec::new();
        for frame in samples() {
            frame.encode(&mut wire).unwrap();
        }
        let mut buf = ReadBuffer::new();
        buf.extend_from_slice(&wire);
        let decoder = Decoder::new();
        let decoded: Vec<Frame> = std::iter::from_fn(|| decoder.decode(&mut buf).unwrap()).collect();
        assert_eq!(decoded, samples());
    }

    #[test]
    fn oversize_is_rejected_from_the_prefix_alone() {
        let decoder = Decoder::with_max_frame_size(100);
        let mut buf = ReadBuffer::new();
        buf.extend_from_slice(&101u32.to_be_bytes());
        assert_eq!(decoder.decode(&mut buf), Err(FrameError::TooLarge { size: 101, limit: 100 }));
        assert_eq!(
            decoder.decode(&mut buf).unwrap_err().to_string(),
            "frame of 101 bytes exceeds the limit of 100 bytes"
        );
    }

    #[test]
    fn each_header_error_is_named() {
        let decoder = Decoder::new();
        let check = |body: &[u8], expected: FrameError| {
            let mut buf = ReadBuffer::new();
            buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
            buf.extend_from_slice(body);
            assert_eq!(decoder.decode(&mut buf), Err(expected));
        };
        check(&[], FrameError::Truncated { field: "version byte", length: 0 });
        check(&[1, 0, 0, 0], FrameError::Truncated { field: "request id", length: 4 });
        check(&[2, 0], FrameError::UnsupportedVersion(2));
        check(&[1, 9], FrameError::UnknownKind(9));
        let mut body = vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 5, b'a'];
        check(&body, FrameError::Truncated { field: "method name", length: 13 });
        body.truncate(10);
        body.extend_from_slice(&[0, 2, 0xff, 0xfe, 0]);
        check(&body, FrameError::InvalidMethod { valid_up_to: 0 });
        let mut head = vec![1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b'm', 0];
        check(&head, FrameError::UnexpectedMethod(Kind::Response));
        head[10..].copy_from_slice(&[0, 0, 7, 0]);
        check(&head[..13], FrameError::InvalidDeadlineFlag(7));
        let mut head = vec![1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
        check(&head, FrameError::Truncated { field: "error code", length: 13 });
        head.extend_from_slice(&[0, 1, 0xc3]);
        check(&head, FrameError::InvalidErrorMessage);
    }

    #[test]
    fn encoder_rejects_long_method() {
        let mut out = Vec::new();
        let method = "m".repeat(70_000);
        let err = encode_request(&mut out, 1, &method, None, b"").unwrap_err();
        assert_eq!(err, FrameError::MethodTooLong(70_000));
        assert!(out.is_empty());
    }

    #[test]
    fn peek_id_reads_a_rejected_frame() {
        let mut wire = Vec::new();
        encode_request(&mut wire, 42, "big", None, &[0; 200]).unwrap();
        let mut buf = ReadBuffer::new();
        buf.extend_from_slice(&wire[..20]);
        assert!(Decoder::with_max_frame_size(64).decode(&mut buf).is_err());
        assert_eq!(peek_id(&buf), Some(42));
    }

    #[test]
    fn read_buffer_compacts_and_grows() {
        let mut buf = ReadBuffer::new();
        buf.extend_from_slice(&[7; 100_000]);
        buf.consume(99_990);
        assert_eq!(buf.as_slice(), &[7; 10]);
        let space = buf.unfilled().len();
        assert!((MIN_FREE..=200_000).contains(&space), "{space}");
        buf.consume(10);
        buf.shrink_if_empty(0);
        assert!(buf.is_empty());
    }
}
