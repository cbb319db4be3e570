//! `Outbox`: the shared outgoing buffer of one connection, and its writer task.
//!
//! Many tasks answer or call over one socket. None of them writes: each
//! appends its encoded frame to the outbox and wakes the writer task. The
//! writer runs after them (the run queue is FIFO), swaps the whole buffer
//! out and writes it with as few syscalls as the kernel allows. So frames
//! queued in the same tick leave in one `write`: batching for free, and no
//! task ever waits for another's write to finish.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::transport::Transport;
use crate::io::{AsyncRead, AsyncWrite};

/// Buffers above this size are released after they are written, so one
/// burst does not pin its memory for the connection's life.
const KEEP_CAPACITY: usize = 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    state: RefCell<OutboxState>,
}

#[derive(Debug, Default)]
struct OutboxState {
    /// Encoded frames not yet handed to the writer.
    buffer: Vec<u8>,
    /// The writer task, parked while `buffer` is empty.
    writer: Option<Waker>,
    /// Set by `close`: write what is queued, shut the write side, stop.
    closing: bool,
    /// Set when the writer task has stopped (closed, or a write failed):
    /// nothing pushed from then on could ever be sent.
    finished: bool,
    /// A task waiting for `buffer` to drain (the server's reader, pausing
    /// while a client does not read its answers).
    drained: Option<Waker>,
    /// Calls to `push` so far: lets the server's reader tell whether the
    /// frames it just read produced anything to send.
    pushes: u64,
}

impl Outbox {
    /// Appends frames with `encode` and wakes the writer. Returns what
    /// `encode` returned.
    ///
    /// Frames pushed after [`close`](Outbox::close) still leave while the
    /// writer flushes (it writes whatever is queued when it looks, so a
    /// shutdown notice racing a closing connection still reaches the peer).
    /// Once the writer has stopped they are dropped: nothing could send
    /// them, and keeping them would let a peer grow our memory (a server
    /// that pings a client which has closed its side).
    pub(crate) fn push<R>(&self, encode: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut state = self.state.borrow_mut();
        if state.finished {
            drop(state);
            return encode(&mut Vec::new());
        }
        let result = encode(&mut state.buffer);
        state.pushes += 1;
        let writer = state.writer.take();
        drop(state);
        if let Some(writer) = writer {
            writer.wake();
        }
        result
    }

    /// How many times [`push`](Outbox::push) was called so far.
    pub(crate) fn pushes(&self) -> u64 {
        self.state.borrow().pushes
    }

    /// Asks the writer to flush what is queued, shut down the write side
    /// and finish.
    pub(crate) fn close(&self) {
        let mut state = self.state.borrow_mut();
        state.closing = true;
        let writer = state.writer.take();
        drop(state);
        if let Some(writer) = writer {
            writer.wake();
        }
    }

    /// Whether at most `limit` bytes wait to be handed to the writer; if
    /// not, the task is woken when the writer takes them.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>, limit: usize) -> bool {
        let mut state = self.state.borrow_mut();
        if state.buffer.len() <= limit || state.closing {
            return true;
        }
        // `clone_from` replaces the stored waker only if it would wake another task.
        state.drained.get_or_insert_with(|| cx.waker().clone()).clone_from(cx.waker());
        false
    }

    /// The writer task's body: until closed, wait for frames, write them all.
    ///
    /// # Errors
    ///
    /// The first write error; the caller fails the connection.
    pub(crate) async fn run<S>(self: Rc<Self>, stream: Rc<Transport<S>>) -> io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let result = self.write_until_closed(&stream).await;
        // From now on nothing is sent: drop what is queued (after a failed
        // write) and what is pushed later, and release a waiting reader.
        let mut state = self.state.borrow_mut();
        state.finished = true;
        state.buffer = Vec::new();
        let waiting = state.drained.take();
        drop(state);
        if let Some(waiting) = waiting {
            waiting.wake();
        }
        result
    }

    async fn write_until_closed<S>(&self, stream: &Transport<S>) -> io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let mut batch = Vec::new();
        loop {
            let closing = poll_fn(|cx| {
                let mut state = self.state.borrow_mut();
                if !state.buffer.is_empty() {
                    std::mem::swap(&mut state.buffer, &mut batch);
                    if let Some(waiting) = state.drained.take() {
                        drop(state);
                        waiting.wake();
                    }
                    return Poll::Ready(false);
                }
                if state.closing {
                    return Poll::Ready(true);
                }
                state.writer.get_or_insert_with(|| cx.waker().clone()).clone_from(cx.waker());
                Poll::Pending
            })
            .await;
            if closing {
                // Ignore errors: the peer may already be gone.
                let _ = stream.shutdown().await;
                return Ok(());
            }
            stream.write_all(&batch).await?;
            batch.clear();
            if batch.capacity() > KEEP_CAPACITY {
                batch = Vec::new();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::AsyncReadExt;
    use crate::net::{TcpListener, TcpStream};

    /// What `close` promises: frames queued before the writer has flushed
    /// still go (even those pushed after `close`); once it has stopped, a
    /// push is dropped rather than kept where nothing can send it.
    #[test]
    fn frames_leave_until_the_writer_stops_and_are_dropped_after() {
        corio_runtime::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let stream = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            let (mut peer, _) = listener.accept().await.unwrap();
            let outbox = Rc::new(Outbox::default());
            let writer = corio_runtime::spawn(outbox.clone().run(Rc::new(Transport::new(stream))));
            outbox.push(|out| out.extend_from_slice(b"before "));
            outbox.close();
            outbox.push(|out| out.extend_from_slice(b"after close"));
            writer.await.unwrap().unwrap();
            let pushes = outbox.pushes();
            let encoded = outbox.push(|out| {
                out.extend_from_slice(b"after the writer stopped");
                "encoded"
            });
            assert_eq!(encoded, "encoded", "push still returns what encode returned");
            assert!(outbox.state.borrow().buffer.is_empty(), "nothing kept after the writer stopped");
            assert_eq!(outbox.pushes(), pushes, "a dropped frame is not counted");
            let mut received = Vec::new();
            peer.read_to_end(&mut received).await.unwrap();
            assert_eq!(received, b"before after close");
        });
    }
}
