//! `RpcError`: every way a call can fail, and its error-frame code.

use std::error::Error;
use std::fmt;
use std::io;

use crate::frame::{code, FrameError};

/// Why a call failed.
///
/// On the server, a handler returns one of these to send an error frame
/// ([`code`](RpcError::code) and the message); on the client, an error
/// frame is turned back into the matching variant.
#[derive(Debug)]
#[non_exhaustive]
pub enum RpcError {
    /// The deadline passed (locally, or the server reported code 2).
    Timeout,
    /// The server cancelled the call before its handler finished (code 3;
    /// the reference server does so when its shutdown grace period ends).
    /// The call may have been partly carried out.
    Cancelled,
    /// The server is shutting down and did **not** process the call: it
    /// refused it (code 7), or the call was never sent because the server's
    /// shutdown notice had arrived, or the connection ended in order after
    /// that notice with the call unanswered. Safe to retry elsewhere.
    ShuttingDown,
    /// The connection closed before the answer arrived.
    ConnectionClosed,
    /// The server has no route for this method (code 1).
    UnknownMethod(String),
    /// The server answered with an error code and message.
    Remote {
        /// See [`crate::frame::code`]; 1000 and up are the application's.
        code: u16,
        /// Human-readable explanation.
        message: String,
    },
    /// A frame exceeded the receiver's size limit (code 5).
    FrameTooLarge {
        /// The frame's length field.
        size: usize,
        /// The receiver's limit.
        limit: usize,
    },
    /// The peer sent bytes that are not a valid frame.
    Protocol(FrameError),
    /// A socket operation failed.
    Io(io::Error),
    /// The handler panicked or failed unexpectedly (code 4).
    Internal(String),
    /// A payload is not the type it should be (code 8 when a server reports
    /// it). With the `serde` feature: an answer a typed call cannot decode,
    /// or a request a typed route could not decode.
    Decode {
        /// The expected type, as `std::any::type_name` spells it.
        type_name: String,
        /// What the decoder reported.
        reason: String,
    },
    /// A value could not be encoded for a typed call (feature `serde`);
    /// nothing was sent. A server sends it as an `internal` error.
    Encode {
        /// The type, as `std::any::type_name` spells it.
        type_name: String,
        /// What the encoder reported.
        reason: String,
    },
}

impl RpcError {
    /// The error-frame code a server sends for this error.
    pub fn code(&self) -> u16 {
        match self {
            RpcError::Timeout => code::DEADLINE_EXCEEDED,
            RpcError::Cancelled => code::CANCELLED,
            RpcError::ShuttingDown => code::SHUTTING_DOWN,
            RpcError::UnknownMethod(_) => code::UNKNOWN_METHOD,
            RpcError::Remote { code, .. } => *code,
            RpcError::FrameTooLarge { .. } => code::FRAME_TOO_LARGE,
            RpcError::Protocol(_) => code::PROTOCOL,
            RpcError::Decode { .. } => code::BAD_PAYLOAD,
            RpcError::ConnectionClosed
            | RpcError::Io(_)
            | RpcError::Internal(_)
            | RpcError::Encode { .. } => code::INTERNAL,
        }
    }

    /// The error-frame message a server sends for this error.
    pub fn message(&self) -> String {
        match self {
            RpcError::Remote { message, .. } | RpcError::Internal(message) => message.clone(),
            other => other.to_string(),
        }
    }

    /// Rebuilds the error a client reports for an error frame. `method` is
    /// the called method, for [`RpcError::UnknownMethod`].
    pub(crate) fn from_frame(code: u16, message: String, method: &str) -> RpcError {
        match code {
            code::UNKNOWN_METHOD => RpcError::UnknownMethod(method.to_owned()),
            code::DEADLINE_EXCEEDED => RpcError::Timeout,
            code::CANCELLED => RpcError::Cancelled,
            code::SHUTTING_DOWN => RpcError::ShuttingDown,
            code::INTERNAL => RpcError::Internal(message),
            code::FRAME_TOO_LARGE => match parse_too_large(&message) {
                Some((size, limit)) => RpcError::FrameTooLarge { size, limit },
                None => RpcError::Remote { code, message },
            },
            code::BAD_PAYLOAD => match parse_bad_payload(&message) {
                Some((type_name, reason)) => RpcError::Decode { type_name, reason },
                None => RpcError::Remote { code, message },
            },
            _ => RpcError::Remote { code, message },
        }
    }

    /// A copy for each of many waiting calls (`io::Error` is not `Clone`:
    /// its kind and message are kept).
    pub(crate) fn duplicate(&self) -> RpcError {
        match self {
            RpcError::Timeout => RpcError::Timeout,
            RpcError::Cancelled => RpcError::Cancelled,
            RpcError::ShuttingDown => RpcError::ShuttingDown,
            RpcError::ConnectionClosed => RpcError::ConnectionClosed,
            RpcError::UnknownMethod(method) => RpcError::UnknownMethod(method.clone()),
            RpcError::Remote { code, message } => RpcError::Remote { code: *code, message: message.clone() },
            RpcError::FrameTooLarge { size, limit } => RpcError::FrameTooLarge { size: *size, limit: *limit },
            RpcError::Protocol(error) => RpcError::Protocol(error.clone()),
            RpcError::Io(error) => RpcError::Io(io::Error::new(error.kind(), error.to_string())),
            RpcError::Internal(message) => RpcError::Internal(message.clone()),
            RpcError::Decode { type_name, reason } => {
                RpcError::Decode { type_name: type_name.clone(), reason: reason.clone() }
            }
            RpcError::Encode { type_name, reason } => {
                RpcError::Encode { type_name: type_name.clone(), reason: reason.clone() }
            }
        }
    }
}

/// Reads `frame of <size> bytes exceeds the limit of <limit> bytes`.
fn parse_too_large(message: &str) -> Option<(usize, usize)> {
    let mut numbers = message.split(' ').filter_map(|word| word.parse::<usize>().ok());
    Some((numbers.next()?, numbers.next()?))
}

/// Reads ``cannot decode `<type>`: <reason>``.
fn parse_bad_payload(message: &str) -> Option<(String, String)> {
    let (type_name, reason) = message.strip_prefix("cannot decode `")?.split_once("`: ")?;
    Some((type_name.to_owned(), reason.to_owned()))
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Timeout => f.write_str("deadline exceeded"),
            RpcError::Cancelled => f.write_str("call cancelled"),
            RpcError::ShuttingDown => f.write_str("the server is shutting down; the call was not processed"),
            RpcError::ConnectionClosed => f.write_str("connection closed before the answer arrived"),
            RpcError::UnknownMethod(method) => write!(f, "unknown method `{method}`"),
            RpcError::Remote { code, message } => write!(f, "remote error {code}: {message}"),
            RpcError::FrameTooLarge { size, limit } => {
                write!(f, "{}", FrameError::TooLarge { size: *size, limit: *limit })
            }
            RpcError::Protocol(error) => write!(f, "protocol error: {error}"),
            RpcError::Io(error) => write!(f, "i/o error: {error}"),
            RpcError::Internal(message) => write!(f, "internal error: {message}"),
            RpcError::Decode { type_name, reason } => write!(f, "cannot decode `{type_name}`: {reason}"),
            RpcError::Encode { type_name, reason } => write!(f, "cannot encode `{type_name}`: {reason}"),
        }
    }
}

impl Error for RpcError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RpcError::Protocol(error) => Some(error),
            RpcError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for RpcError {
    fn from(error: io::Error) -> RpcError {
        RpcError::Io(error)
    }
}

impl From<FrameError> for RpcError {
    fn from(error: FrameError) -> RpcError {
        match error {
            FrameError::TooLarge { size, limit } => RpcError::FrameTooLarge { size, limit },
            other => RpcError::Protocol(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_round_trips_through_its_message() {
        let sent = RpcError::FrameTooLarge { size: 17_000_000, limit: 16_777_216 };
        let back = RpcError::from_frame(sent.code(), sent.message(), "m");
        assert!(matches!(back, RpcError::FrameTooLarge { size: 17_000_000, limit: 16_777_216 }), "{back:?}");
    }

    #[test]
    fn decode_round_trips_through_its_message() {
        let sent = RpcError::Decode { type_name: "app::Point".into(), reason: "hit the end: `x`".into() };
        let back = RpcError::from_frame(sent.code(), sent.message(), "m");
        assert!(
            matches!(&back, RpcError::Decode { type_name, reason }
                if type_name == "app::Point" && reason == "hit the end: `x`"),
            "{back:?}"
        );
    }
}
