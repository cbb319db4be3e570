//! Whole-file reads and writes that do not stall the runtime.
//!
//! Regular files are always "ready" as far as epoll is concerned, so a file
//! read cannot be parked on the reactor the way a socket read is: the
//! syscall itself blocks, on the disk. Each helper here runs the matching
//! `std::fs` call on the blocking pool ([`spawn_blocking`]) and parks the
//! calling task until it is done. They are the common cases of
//! `tokio::fs` (`read`, `read_to_string`, `write`); for anything else, call
//! `std::fs` inside [`spawn_blocking`] yourself.
//!
//! # Examples
//!
//! ```
//! corio_runtime::block_on(async {
//!     let path = std::env::temp_dir().join(format!("corio-fs-doc-{}", std::process::id()));
//!     corio_runtime::fs::write(&path, "port = 7000\n").await.unwrap();
//!     let text = corio_runtime::fs::read_to_string(&path).await.unwrap();
//!     assert_eq!(text, "port = 7000\n");
//!     # std::fs::remove_file(&path).unwrap();
//! });
//! ```

use std::io;
use std::path::Path;

use crate::blocking::{join_error_to_io, spawn_blocking};

/// Reads a whole file into bytes ([`std::fs::read`] on the blocking pool).
///
/// # Errors
///
/// As [`std::fs::read`]: `NotFound`, `PermissionDenied`, and so on.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    run(move || std::fs::read(path)).await
}

/// Reads a whole file into a `String` ([`std::fs::read_to_string`] on the
/// blocking pool).
///
/// # Errors
///
/// As [`std::fs::read_to_string`]; `InvalidData` if the file is not UTF-8.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    run(move || std::fs::read_to_string(path)).await
}

/// Creates or truncates a file and writes `contents` to it
/// ([`std::fs::write`] on the blocking pool). The bytes are copied first,
/// since the pool thread cannot borrow them from the caller.
///
/// # Errors
///
/// As [`std::fs::write`]: a missing directory is `NotFound`, and so on.
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_owned();
    run(move || std::fs::write(path, contents)).await
}

/// Runs a file operation on the pool; a panic there (a bug, since `std::fs`
/// reports failures as errors) becomes an `io::Error` too.
async fn run<T: Send + 'static>(op: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    spawn_blocking(op).await.map_err(join_error_to_io)?
}
