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
//!   does the same without copying: its [`Frame`] borrows the method and
//!   payload from the buffer, for receivers that keep only part of a frame.
//!
//! A frame whose declared length exceeds the decoder's limit is rejected as
//! soon as its four length bytes arrive, before anything is buffered for
//! it: a peer cannot make us allocate more than the limit.
//!
//! # Layout
//!
//! - `mod.rs`: the wire constants and [`Frame`], one frame of any kind,
//!   borrowing or owning its bytes;
//! - `code.rs`: the error codes ([`code`]); `kind.rs`: [`Kind`], the kind byte;
//! - `encoder.rs`: [`Frame::encode`] and [`encode_request`], appending to a `Vec<u8>`;
//! - `read_buffer.rs`: [`ReadBuffer`], where received bytes wait to be decoded;
//! - `decoder.rs`: [`Decoder`], which takes whole frames off a `ReadBuffer`
//!   within its size limit, and [`peek_id`];
//! - `parser.rs`: the frame body, field by field, in wire order;
//! - `error.rs`: [`FrameError`].
//!
//! # Examples
//!
//! ```
//! use corio_net::frame::{Decoder, Frame, ReadBuffer};
//!
//! let mut wire = Vec::new();
//! Frame::Response { id: 7, payload: b"hi"[..].into() }.encode(&mut wire).unwrap();
//! Frame::Cancel { id: 8 }.encode(&mut wire).unwrap(); // batched in the same buffer
//!
//! let decoder = Decoder::new();
//! let mut buf = ReadBuffer::new();
//! buf.extend_from_slice(&wire[..5]); // a partial frame...
//! assert_eq!(decoder.decode(&mut buf), Ok(None)); // ...is incomplete, not an error
//! buf.extend_from_slice(&wire[5..]);
//! assert_eq!(decoder.decode(&mut buf), Ok(Some(Frame::Response { id: 7, payload: b"hi"[..].into() })));
//! assert_eq!(decoder.decode(&mut buf), Ok(Some(Frame::Cancel { id: 8 })));
//! assert_eq!(decoder.decode(&mut buf), Ok(None));
//! ```
//!
//! # Errors
//!
//! Every malformed input gives a [`FrameError`] naming what was wrong; none
//! panics. After an error the stream is out of step (the decoder cannot know
//! where the next frame starts), so the connection should be closed.

use std::borrow::Cow;
use std::time::Duration;

pub mod code;
mod decoder;
mod encoder;
mod error;
mod kind;
mod parser;
mod read_buffer;
#[cfg(test)]
mod tests;

pub use decoder::{peek_id, Decoder};
pub use encoder::encode_request;
pub use error::FrameError;
pub use kind::Kind;
pub use read_buffer::ReadBuffer;

/// The protocol version this crate speaks (header byte 0).
pub const VERSION: u8 = 1;

/// Default hard limit on a frame's length field: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// Bytes of the length prefix.
pub const LENGTH_LEN: usize = 4;

/// Smallest possible frame body (after the length prefix): version (1) +
/// kind (1) + id (8) + method length (2) + deadline flag (1).
pub const MIN_BODY_LEN: usize = 13;

/// One frame of any kind.
///
/// The method, message and payload are [`Cow`]s, so one type serves both
/// ways a frame is held. [`Decoder::peek`] returns a frame that *borrows*
/// them from the bytes it was decoded from, so a receiver copies only what
/// it keeps (the RPC server copies the payload of a request it runs and
/// never the method name it looks up). [`Decoder::decode`] and
/// [`into_owned`](Frame::into_owned) give a `Frame<'static>` that owns
/// them, for a receiver that keeps whole frames after the buffer moves on
/// (a test peer collecting what a server sent). To send, build a frame
/// from borrowed or owned parts alike (`.into()` turns a `&str`, `String`,
/// `&[u8]` or `Vec<u8>` into its `Cow`) and [`encode`](Frame::encode) it.
///
/// # Examples
///
/// ```
/// use corio_net::frame::{Decoder, Frame, ReadBuffer};
///
/// let mut wire = Vec::new();
/// Frame::Ping { id: 1, payload: b"hi"[..].into() }.encode(&mut wire).unwrap();
///
/// let mut buf = ReadBuffer::new();
/// buf.extend_from_slice(&wire);
/// let (frame, size) = Decoder::new().peek(&buf).unwrap().unwrap(); // borrows from `buf`
/// let kept: Frame<'static> = frame.into_owned(); // copies, so `buf` may move on
/// buf.consume(size);
/// assert_eq!(kept, Frame::Ping { id: 1, payload: b"hi".to_vec().into() });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Call `method` with `payload`; answer within `deadline` if given
    /// (relative: time remaining when the frame was sent).
    Request {
        /// Chosen by the caller, unique among its calls in flight.
        id: u64,
        /// The route name (UTF-8, at most 65535 bytes).
        method: Cow<'a, str>,
        /// Time left for the call, measured by the sender.
        deadline: Option<Duration>,
        /// The argument bytes (opaque to the protocol).
        payload: Cow<'a, [u8]>,
    },
    /// The successful result of request `id`.
    Response {
        /// The request's id.
        id: u64,
        /// The result bytes.
        payload: Cow<'a, [u8]>,
    },
    /// The failure of request `id` (or of the connection, for id 0).
    Error {
        /// The request's id; 0 for an error about the connection itself.
        id: u64,
        /// See [`code`].
        code: u16,
        /// A human-readable explanation (UTF-8).
        message: Cow<'a, str>,
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
        payload: Cow<'a, [u8]>,
    },
    /// Answer to a `Ping`.
    Pong {
        /// The ping's id.
        id: u64,
        /// The ping's payload.
        payload: Cow<'a, [u8]>,
    },
}

impl Frame<'_> {
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

    /// The same frame owning its parts (copying those it borrowed).
    pub fn into_owned(self) -> Frame<'static> {
        let own = |bytes: Cow<'_, [u8]>| Cow::Owned(bytes.into_owned());
        match self {
            Frame::Request { id, method, deadline, payload } => Frame::Request {
                id,
                method: Cow::Owned(method.into_owned()),
                deadline,
                payload: own(payload),
            },
            Frame::Response { id, payload } => Frame::Response { id, payload: own(payload) },
            Frame::Error { id, code, message } => {
                Frame::Error { id, code, message: Cow::Owned(message.into_owned()) }
            }
            Frame::Cancel { id } => Frame::Cancel { id },
            Frame::Ping { id, payload } => Frame::Ping { id, payload: own(payload) },
            Frame::Pong { id, payload } => Frame::Pong { id, payload: own(payload) },
        }
    }
}
