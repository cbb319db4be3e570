//! The connection's reader task: reads frames and hands each to the
//! connection in arrival order, within the limits that push back on a
//! client (`max_in_flight`, unsent answers), until the connection ends;
//! then closes it.

use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use corio_runtime::spawn_named;
use corio_runtime::time::timeout;

use super::connection::{encode_error, Force, ServerConnection};
use super::state::ServerState;
use super::violation::Violation;
use crate::frame::{Decoder, ReadBuffer};
use crate::io::{AsyncRead, AsyncWrite};
use crate::rpc::transport::Transport;

/// Answers that may wait in a connection's outbox before its reader stops
/// reading: a client that sends but never reads cannot grow server memory.
const MAX_UNSENT: usize = 1024 * 1024;

/// Frames handled per reader poll before it yields to other tasks.
const FRAMES_PER_POLL: usize = 256;

/// How long a connection the server closes keeps draining what the peer
/// still sends, so the last frames are not lost to a TCP reset.
const LINGER: Duration = Duration::from_secs(1);

/// Why a connection's reader stopped.
enum End {
    /// The client closed its side.
    Eof,
    /// The server closes the connection.
    Forced(Force),
    /// Reading failed.
    Io(io::Error),
    /// The client broke a rule that ends the connection (`docs/PROTOCOL.md`,
    /// "Connection errors"): the error frame to send, then close.
    Violation(Violation),
}

/// One connection's reader task: starts its writer task, reads and handles
/// frames until the connection ends, then settles what still runs, closes
/// the outbox and (unless the connection broke) drains for a moment.
pub(super) async fn run_connection<S>(
    server: Rc<ServerState>,
    connection: Rc<ServerConnection>,
    stream: Rc<Transport<S>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let writer_connection = connection.clone();
    let writer = connection.outbox.clone().run(stream.clone());
    let writer = spawn_named("rpc server writer", async move {
        if let Err(error) = writer.await {
            writer_connection.force_close(Force::Broken);
            return Err(error);
        }
        Ok(())
    });

    let mut buffer = ReadBuffer::with_capacity(64 * 1024);
    let decoder = Decoder::with_max_frame_size(server.config.max_frame_size);
    let end = poll_fn(|cx| connection.poll_frames(&server, &stream, &mut buffer, &decoder, cx)).await;
    let peer = connection.peer;
    let mut linger = true;
    match end {
        End::Eof => {
            // The client sent its last frame: answer what is running.
            connection.until_idle().await;
            linger = false;
        }
        End::Forced(force) => connection.cancel_all(force),
        End::Io(error) => {
            server.log(&format!("connection from {peer}: read failed: {error}"));
            connection.cancel_all(Force::Broken);
            linger = false;
        }
        End::Violation(violation) => {
            server.log(&format!("connection from {peer} closed: {}", violation.message));
            connection.cancel_all(Force::Broken);
            let Violation { id, code, message } = violation;
            connection.outbox.push(|out| encode_error(out, id, code, &message));
        }
    }
    connection.outbox.close();
    if let Ok(Err(error)) = writer.await {
        server.log(&format!("connection from {peer}: write failed: {error}"));
    }
    if linger {
        // Drain (and drop) what the client still sends for a moment, so
        // closing with unread bytes does not reset the connection before
        // the client has read our last frames.
        let mut scratch = [0u8; 4096];
        let _ = timeout(LINGER, async { while let Ok(1..) = stream.read(&mut scratch).await {} }).await;
    }
    server.closed(connection.id);
}

impl ServerConnection {
    /// The reader: decode frames and handle them until the connection ends.
    fn poll_frames<S>(
        self: &Rc<Self>,
        server: &ServerState,
        stream: &Transport<S>,
        buffer: &mut ReadBuffer,
        decoder: &Decoder,
        cx: &mut Context<'_>,
    ) -> Poll<End>
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        self.set_reader(cx.waker());
        for _ in 0..FRAMES_PER_POLL {
            if let Some(force) = self.forced.get() {
                return Poll::Ready(End::Forced(force));
            }
            if !self.shutting_down.get() && self.running.borrow().len() >= self.max_in_flight {
                // Backpressure: read nothing until a handler finishes.
                return Poll::Pending;
            }
            if !self.outbox.poll_room(cx, MAX_UNSENT) {
                // The client is not reading its answers: stop reading its requests.
                return Poll::Pending;
            }
            match decoder.peek(buffer) {
                Ok(Some((frame, size))) => {
                    if let Err(violation) = self.handle(&server.config.routes, frame, cx) {
                        return Poll::Ready(End::Violation(violation));
                    }
                    buffer.consume(size);
                    continue;
                }
                Ok(None) => self.acknowledge_if_silent(stream),
                Err(error) => {
                    return Poll::Ready(End::Violation(Violation::from_frame_error(&error, buffer)))
                }
            }
            match stream.poll_read(cx, buffer.unfilled()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(match decoder.decode_eof(buffer) {
                        Ok(()) => End::Eof,
                        Err(error) => End::Violation(Violation::from_frame_error(&error, buffer)),
                    })
                }
                Poll::Ready(Ok(n)) => {
                    buffer.advance(n);
                    if self.read_at.get().is_none() {
                        self.read_at.set(Some(self.outbox.pushes()));
                    }
                }
                Poll::Ready(Err(error)) => return Poll::Ready(End::Io(error)),
            }
        }
        // Fair share used: let other tasks run, continue on the next tick.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Acknowledges what was just read at once if it produced nothing to
    /// send (a request whose handler waits, a cancel).
    ///
    /// Once a connection has answered anything, Linux delays the ACK of
    /// what it receives, hoping to send it with the answer. A client that
    /// leaves Nagle's algorithm on holds its next small frame (a cancel, a
    /// ping, the next request) until that ACK arrives: until the handler
    /// answers, or the delayed-ACK timer fires tens of milliseconds later.
    /// `TCP_QUICKACK` sends the ACK now. When the frames did produce an
    /// answer, the answer carries the ACK and no syscall is spent.
    fn acknowledge_if_silent<S>(&self, stream: &Transport<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        if let Some(pushes) = self.read_at.take() {
            if pushes == self.outbox.pushes() {
                stream.acknowledge_now();
            }
        }
    }
}
