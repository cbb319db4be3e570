//! The read and write steps shared by every socket type of this crate.
//!
//! Each follows the reactor's edge-triggered rule through
//! [`IoSource::poll_read_with`] / [`IoSource::poll_write_with`]: try the
//! syscall while the source is marked ready; on `WouldBlock` clear the mark
//! and let the task wait (idle, in no queue) until the next readiness event.
//! A read that returns fewer bytes than asked also clears the readable mark
//! (and only it: `IoSource::clear_readable` says why that is safe), which
//! saves the `WouldBlock` syscall that would follow. Writes pass the
//! caller's slice straight to `write(2)` / `writev(2)`: no copy.

use std::io::{self, IoSlice, Read, Write};
use std::task::{Context, Poll};

use corio_runtime::reactor::IoSource;
use mio::event::Source;

/// One `read(2)`, retried under the edge-triggered rule.
pub(crate) fn poll_read<S>(io: &IoSource<S>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>
where
    S: Source,
    for<'a> &'a S: Read,
{
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    let len = buf.len();
    let result = io.poll_read_with(cx, |mut source| source.read(buf));
    // A short read drained the socket: skip the read that would only say
    // `WouldBlock` (see `IoSource::clear_readable`).
    if let Poll::Ready(Ok(n)) = result {
        if n > 0 && n < len {
            io.clear_readable();
        }
    }
    result
}

/// One `write(2)`, retried under the edge-triggered rule.
pub(crate) fn poll_write<S>(io: &IoSource<S>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>
where
    S: Source,
    for<'a> &'a S: Write,
{
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    io.poll_write_with(cx, |mut source| source.write(buf))
}

/// One `writev(2)`, retried under the edge-triggered rule.
pub(crate) fn poll_write_vectored<S>(
    io: &IoSource<S>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>>
where
    S: Source,
    for<'a> &'a S: Write,
{
    if bufs.iter().all(|b| b.is_empty()) {
        return Poll::Ready(Ok(0));
    }
    io.poll_write_with(cx, |mut source| source.write_vectored(bufs))
}

/// Waits for a non-blocking `connect(2)` to finish: the socket turns
/// writable when it has, and `SO_ERROR` then tells success from failure.
///
/// `take_error` and `peer_addr` stand in for the socket type's own methods.
pub(crate) async fn finish_connect<S: Source>(
    io: &IoSource<S>,
    take_error: impl Fn(&S) -> io::Result<Option<io::Error>>,
    is_connected: impl Fn(&S) -> io::Result<()>,
) -> io::Result<()> {
    loop {
        std::future::poll_fn(|cx| io.poll_write_ready(cx)).await?;
        if let Some(error) = take_error(io.get_ref())? {
            return Err(error);
        }
        match is_connected(io.get_ref()) {
            Ok(()) => return Ok(()),
            // A spurious wake-up: the handshake is still in flight. The
            // kernel will report writable (or an error) when it ends.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => io.clear_write_ready(),
            Err(e) => return Err(e),
        }
    }
}
