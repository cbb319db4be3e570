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
//! # Layout
//!
//! - `mod.rs`: the wire constants and [`Frame`], one frame of any kind;
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
}
