//! [`FrameError`]: why bytes could not be encoded or decoded as a frame.

use std::fmt;

use super::{Kind, MIN_BODY_LEN, VERSION};

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
