//! [`Violation`]: a connection error (`docs/PROTOCOL.md`, "Connection
//! errors"), the one error frame the server sends before it closes.

use crate::frame::{self, code, FrameError, ReadBuffer};

/// A connection error: the error frame the server sends before closing.
pub(super) struct Violation {
    pub(super) id: u64,
    pub(super) code: u16,
    pub(super) message: String,
}

impl Violation {
    pub(super) fn protocol(message: String) -> Violation {
        Violation { id: 0, code: code::PROTOCOL, message }
    }

    /// For bytes the decoder rejected. The error goes to the offending
    /// frame's id when its header could be read (so a caller learns that
    /// *its* request was too large), else to id 0.
    pub(super) fn from_frame_error(error: &FrameError, buffer: &ReadBuffer) -> Violation {
        let (id, code) = match error {
            FrameError::TooLarge { .. } => (frame::peek_id(buffer).unwrap_or(0), code::FRAME_TOO_LARGE),
            FrameError::UnexpectedEof { .. } => (0, code::PROTOCOL),
            _ => (frame::peek_id(buffer).unwrap_or(0), code::PROTOCOL),
        };
        Violation { id, code, message: error.to_string() }
    }
}
