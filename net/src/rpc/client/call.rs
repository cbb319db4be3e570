//! [`Call`]: the future of one call's answer, and its cancel on drop.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::call_table::CallSlot;
use super::state::ClientState;
use crate::frame::Frame;
use crate::rpc::RpcError;

/// The answer of one call: resolves when the reader fills its slot.
/// Dropping it early frees the id and tells the server to cancel.
pub(super) struct Call<'a> {
    pub(super) state: Rc<ClientState>,
    pub(super) id: u64,
    /// For [`RpcError::UnknownMethod`].
    pub(super) method: &'a str,
    pub(super) finished: bool,
}

impl Future for Call<'_> {
    type Output = Result<Vec<u8>, RpcError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut calls = self.state.calls.borrow_mut();
        if let Some(CallSlot::Waiting(waker)) = calls.slots.get_mut(self.id) {
            // `clone_from` replaces the stored waker only if it would wake another task.
            waker.get_or_insert_with(|| cx.waker().clone()).clone_from(cx.waker());
            return Poll::Pending;
        }
        let answer = match calls.slots.remove(self.id) {
            Some(CallSlot::Done(answer)) => answer,
            // Not waiting and not done: the slot is gone, so is the connection.
            _ => Err(RpcError::ConnectionClosed),
        };
        self.state.close_if_drained(&calls);
        drop(calls);
        self.finished = true;
        Poll::Ready(match answer {
            Err(RpcError::UnknownMethod(_)) => Err(RpcError::UnknownMethod(self.method.to_owned())),
            other => other,
        })
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut calls = self.state.calls.borrow_mut();
        let slot = calls.slots.remove(self.id);
        let open = calls.closed.is_none();
        if let (Some(CallSlot::Waiting(_)), true) = (slot, open) {
            let id = self.id;
            let _ = self.state.outbox.push(|out| Frame::Cancel { id }.encode(out));
        }
        // The cancel, if any, is queued first: closing flushes it.
        self.state.close_if_drained(&calls);
    }
}
