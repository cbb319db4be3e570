//! The executor's side of tracing: a traced runtime's tick, the polls of
//! its `block_on` future, and the wakes of its parks, each recorded in the
//! runtime's `Tracer` (`trace/`). `executor.rs` calls into here behind one
//! branch on `Core::tracer` per tick, per park and per poll of the
//! `block_on` future, so a runtime that does not trace runs none of it.
//!
//! Spawns and wakes are not hooked where they happen (`spawn_on`,
//! `Scheduler::schedule`): `Runtime::record_wakes` reads them from the run
//! queue's new entries after each poll, each wake of a park and each drain
//! of the injector; see `docs/ARCHITECTURE.md`, "Tracing and task dumps".

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use super::Runtime;
use crate::driver::Origin;
use crate::run_queue::RunQueue;
use crate::stats::bump;
use crate::task::RunOutcome;
use crate::trace::event::{Cause, Outcome, MAIN};
use crate::trace::tracer::Tracer;

/// What the run queue and the `block_on` future's flag looked like before a
/// poll or a wake, for `Runtime::record_wakes`.
#[derive(Clone, Copy)]
pub(super) struct Queued {
    len: usize,
    /// Tasks with this id or higher were spawned since.
    next_task: u64,
    main_woken: bool,
}

impl Runtime {
    /// The tick of a traced runtime: the same, with the poll's start and
    /// end recorded around `Task::run`.
    #[cold]
    #[inline(never)]
    pub(super) fn tick_traced(&self, tracer: &Tracer) {
        let core = &*self.core;
        let pop = if core.run_queue.is_seeded() { RunQueue::pop_drawn } else { RunQueue::pop };
        for poll in 0..self.config.budget {
            let Some(task) = pop(&core.run_queue) else {
                return;
            };
            bump(&core.counters.polls, 1);
            let id = task.id();
            // One clock read per poll: a poll after the first of the tick
            // begins where the previous one ended.
            let before = self.before_poll(tracer, id, poll == 0);
            let outcome = task.run();
            let traced = match &outcome {
                RunOutcome::Pending => Outcome::Idle,
                RunOutcome::Reschedule(_) => Outcome::Rescheduled,
                RunOutcome::Completed => Outcome::Completed,
                RunOutcome::Panicked(_) => Outcome::Panicked,
                RunOutcome::Skipped => Outcome::Cancelled,
            };
            self.after_poll(tracer, id, before, traced);
            if !self.finish_poll(outcome) {
                return;
            }
        }
    }

    /// Polls the `block_on` future of a traced runtime, recording the poll.
    #[cold]
    #[inline(never)]
    pub(super) fn poll_main_traced<F: Future>(
        &self,
        tracer: &Tracer,
        future: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        let before = self.before_poll(tracer, MAIN, true);
        let poll = future.poll(cx);
        let outcome = if poll.is_ready() { Outcome::Completed } else { Outcome::Idle };
        self.after_poll(tracer, MAIN, before, outcome);
        poll
    }

    /// Records the start of a poll of `lane`; returns what
    /// [`record_wakes`](Runtime::record_wakes) compares with afterwards.
    fn before_poll(&self, tracer: &Tracer, lane: u64, fresh: bool) -> Queued {
        if lane == MAIN && self.main.woken_remotely.swap(false, Ordering::AcqRel) {
            tracer.woken_remotely(&self.core.clock, MAIN);
        }
        let queued = self.queued();
        tracer.poll_start(&self.core.clock, lane, fresh);
        queued
    }

    /// Records the wakes a poll of `lane` made, then its end.
    fn after_poll(&self, tracer: &Tracer, lane: u64, before: Queued, outcome: Outcome) {
        self.record_wakes(tracer, before);
        tracer.poll_end(&self.core.clock, lane, outcome);
    }

    /// What the run queue and the `block_on` flag look like now.
    pub(super) fn queued(&self) -> Queued {
        Queued {
            len: self.core.run_queue.len(),
            next_task: self.core.next_task_id.get(),
            main_woken: self.main.is_woken(),
        }
    }

    /// Records a wake or a spawn for every task queued since `before`
    /// (and a wake of the `block_on` future if its flag was set since),
    /// caused by whatever the tracer says the runtime is doing. Only the
    /// back of the queue grows between two pops, so the new entries are
    /// exactly the tasks that were woken, or spawned (those have ids from
    /// `next_task` on). This is how a trace sees wakes and spawns without a
    /// hook on the wake path, and without reading the clock for each: they
    /// are recorded in order when the poll or the wake returns.
    pub(super) fn record_wakes(&self, tracer: &Tracer, before: Queued) {
        self.core.run_queue.for_each_from(before.len, |task| {
            let id = task.id();
            if id < before.next_task {
                tracer.woken(id);
            } else {
                tracer.spawn(id);
            }
        });
        // A flag set by another thread meanwhile is recorded when the
        // future is polled (`before_poll`), not blamed on this poll.
        if !before.main_woken && self.main.is_woken() && !self.main.woken_remotely.load(Ordering::Acquire) {
            tracer.woken(MAIN);
        }
    }

    /// The end of a traced park: wakes the wakers the drivers handed back,
    /// each after its origin (a readiness event, a fired timer) is
    /// recorded, and records whom each wake queued.
    #[cold]
    #[inline(never)]
    pub(super) fn wake_traced(&self, tracer: &Tracer, wakers: &mut Vec<Waker>, origins: Vec<Origin>) {
        let core = &*self.core;
        let mut wakers = wakers.drain(..);
        for origin in &origins {
            match *origin {
                Origin::Io { token, ready, .. } => {
                    tracer.io_ready(token, ready, || core.reactor.source_label(token));
                }
                Origin::Timer { deadline, .. } => tracer.timer_fired(&core.clock, deadline),
            }
            for waker in wakers.by_ref().take(origin.wakers()) {
                let before = self.queued();
                waker.wake();
                self.record_wakes(tracer, before);
            }
        }
        tracer.set_cause(Cause::Unknown);
        for waker in wakers {
            waker.wake();
        }
        tracer.put_origins(origins);
    }
}
