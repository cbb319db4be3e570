//! [`ClientState`]: what the calling tasks, the reader and the writer of
//! one connection share; how each frame from the server settles a call,
//! starts the shutdown, or fails the connection.

use std::cell::RefCell;
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use super::call_table::{CallSlot, CallTable};
use crate::frame::{code, Frame, FrameError, Kind};
use crate::rpc::outbox::Outbox;
use crate::rpc::RpcError;

/// What the caller tasks, the reader and the writer share.
pub(super) struct ClientState {
    pub(super) outbox: Rc<Outbox>,
    pub(super) calls: RefCell<Calls>,
    pub(super) default_timeout: Option<Duration>,
}

/// The calls in flight and the connection's condition, behind one borrow.
pub(super) struct Calls {
    /// One slot per call in flight, found by request id.
    pub(super) slots: CallTable,
    /// Set once the connection has failed: why. New calls fail with it.
    pub(super) closed: Option<RpcError>,
    /// Set when the server's shutdown notice arrives: new calls fail with
    /// [`RpcError::ShuttingDown`] without being sent, calls already sent
    /// are still answered, and once none waits our sending side closes.
    pub(super) shutting_down: bool,
}

impl ClientState {
    /// Handles one frame from the server; wakers to wake go to `wakers`.
    ///
    /// # Errors
    ///
    /// A connection error (`docs/PROTOCOL.md`): the server reported one
    /// (codes 5 and 6, or any error with id 0 but the shutdown notice), or
    /// it sent a frame only a client may send. The caller fails every call
    /// still waiting with it.
    #[inline]
    pub(super) fn deliver(&self, frame: Frame<'_>, wakers: &mut Vec<Waker>) -> Result<(), RpcError> {
        let (id, answer) = match frame {
            Frame::Response { id, payload } => (id, Ok(payload.into_owned())),
            Frame::Error { id: 0, code: code::SHUTTING_DOWN, .. } => {
                self.begin_shutdown();
                return Ok(());
            }
            Frame::Error { id: 0, code, message } => {
                // About the connection itself: every call fails with it.
                return Err(RpcError::from_frame(code, message.into_owned(), ""));
            }
            Frame::Error { id, code, message } => {
                let error = RpcError::from_frame(code, message.into_owned(), "");
                if code == code::FRAME_TOO_LARGE || code == code::PROTOCOL {
                    // The named call fails with the server's reason; the
                    // connection ends, and every other call with it.
                    self.settle(id, Err(error), wakers);
                    return Err(RpcError::ConnectionClosed);
                }
                (id, Err(error))
            }
            Frame::Ping { id, payload } => {
                let _ = self.outbox.push(|out| Frame::Pong { id, payload }.encode(out));
                return Ok(());
            }
            // We send no pings, but a late or stray pong is harmless.
            Frame::Pong { .. } => return Ok(()),
            Frame::Request { .. } => return Err(FrameError::WrongDirection(Kind::Request).into()),
            Frame::Cancel { .. } => return Err(FrameError::WrongDirection(Kind::Cancel).into()),
        };
        self.settle(id, answer, wakers);
        Ok(())
    }

    /// Stores the answer of call `id`, if a call still waits for it (an
    /// answer for a cancelled call is dropped).
    #[inline]
    fn settle(&self, id: u64, answer: Result<Vec<u8>, RpcError>, wakers: &mut Vec<Waker>) {
        let mut calls = self.calls.borrow_mut();
        if let Some(slot) = calls.slots.get_mut(id) {
            if let CallSlot::Waiting(waker) = std::mem::replace(slot, CallSlot::Done(answer)) {
                wakers.extend(waker);
            }
        }
    }

    /// The server's shutdown notice: no new calls; close our side once no
    /// call waits for an answer (the server then closes the connection).
    pub(super) fn begin_shutdown(&self) {
        let mut calls = self.calls.borrow_mut();
        calls.shutting_down = true;
        self.close_if_drained(&calls);
    }

    /// After the shutdown notice, closes our sending side once no call
    /// waits: nothing is left to send (no request, no cancel).
    #[inline]
    pub(super) fn close_if_drained(&self, calls: &Calls) {
        if calls.shutting_down && !calls.slots.iter().any(|slot| matches!(slot, CallSlot::Waiting(_))) {
            self.outbox.close();
        }
    }

    /// Fails every waiting call with `reason` and refuses new ones.
    pub(super) fn fail(&self, reason: RpcError) {
        let mut calls = self.calls.borrow_mut();
        let mut wakers = Vec::new();
        for slot in calls.slots.iter_mut() {
            if let CallSlot::Waiting(waker) = slot {
                wakers.extend(waker.take());
                *slot = CallSlot::Done(Err(reason.duplicate()));
            }
        }
        calls.closed.get_or_insert(reason);
        drop(calls);
        self.outbox.close();
        for waker in wakers {
            waker.wake();
        }
    }
}
