//! Error codes carried by error frames. Codes below 1000 are the
//! protocol's; applications use 1000 and up.

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
