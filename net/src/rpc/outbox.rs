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
    /// A task waiting for `buffer` to drain (the server's reader, pausing
    /// while a client does not read its answers).
    drained: Option<Waker>,
    /// Calls to `push` so far: lets the server's reader tell whether the
    /// frames it just read produced anything to send.
    pushes: u64,
}

impl Outbox {
    /// Appends frames with `encode` and wakes the writer. Returns what
    /// `encode` returned. Frames pushed after `close` are dropped.
    pub(crate) fn push<R>(&self, encode: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut state = self.state.borrow_mut();
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
