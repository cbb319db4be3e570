//! [`Kind`]: the kind byte, header byte 1.

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
