//! The client's reader task: every answer to the call that waits for it.

use std::rc::Rc;

use super::state::ClientState;
use crate::frame::{Decoder, FrameError, ReadBuffer};
use crate::io::{AsyncRead, AsyncWrite};
use crate::rpc::transport::Transport;
use crate::rpc::RpcError;

/// Size of the reader's buffer, hence of its largest single read.
const READ_BUFFER: usize = 64 * 1024;

/// The reader task: decode answers, fill slots, wake callers.
pub(super) async fn read_loop<S>(state: Rc<ClientState>, stream: Rc<Transport<S>>, decoder: Decoder)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let mut buffer = ReadBuffer::with_capacity(READ_BUFFER);
    let mut wakers = Vec::new();
    let reason = loop {
        let n = match stream.read(buffer.unfilled()).await {
            Ok(0) if !buffer.is_empty() => break FrameError::UnexpectedEof { buffered: buffer.len() }.into(),
            Ok(0) if state.calls.borrow().shutting_down => {
                // After the server's shutdown notice, an orderly end of
                // stream means the server answered every request it read:
                // a call still unanswered was never read, never processed.
                break RpcError::ShuttingDown;
            }
            Ok(0) => break RpcError::ConnectionClosed,
            Ok(n) => n,
            Err(error) => break RpcError::Io(error),
        };
        buffer.advance(n);
        let decoded = loop {
            match decoder.peek(&buffer) {
                Ok(Some((frame, size))) => {
                    if let Err(error) = state.deliver(frame, &mut wakers) {
                        break Err(error);
                    }
                    buffer.consume(size);
                }
                Ok(None) => break Ok(()),
                Err(error) => break Err(error.into()),
            }
        };
        for waker in wakers.drain(..) {
            waker.wake();
        }
        if let Err(error) = decoded {
            break error;
        }
    };
    state.fail(reason);
}
