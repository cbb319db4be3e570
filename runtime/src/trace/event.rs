//! What a trace records: [`Event`]s, each a timestamp and a [`What`], kept
//! in a bounded [`Ring`] that forgets the oldest first.
//!
//! Events are small plain values (no strings but an occasional shared
//! label) so recording one is a clock read and a push. Turning them into
//! the Chrome trace-event format happens once, when the trace is written
//! (`json.rs`).

use std::collections::VecDeque;
use std::panic::Location;
use std::rc::Rc;
use std::time::Instant;

/// A row of the trace: 0 is the `block_on` future (not a task, but polled
/// like one), any other number is the task with that id.
pub(crate) type Lane = u64;

/// The lane of the `block_on` future.
pub(crate) const MAIN: Lane = 0;

/// Who caused an event: whatever the runtime was doing when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// Nothing the runtime knows of: outside any poll and any park (a
    /// spawn before `block_on`, a destructor at shutdown).
    Unknown,
    /// A poll of this lane: a task, or the `block_on` future.
    Poll(Lane),
    /// Readiness of the I/O source with this token.
    Io(u64),
    /// A timer with this deadline (trace nanoseconds) fired.
    Timer(u64),
    /// Another thread: a wake or a spawn that came through the injector.
    Remote,
}

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `Pending`, and now idle in no queue.
    Idle,
    /// `Pending`, but woken during the poll: queued again.
    Rescheduled,
    /// Returned (for the `block_on` future: `block_on` returns).
    Completed,
    /// Panicked.
    Panicked,
    /// Not polled: cancelled while it sat in the queue.
    Cancelled,
}

impl Outcome {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Outcome::Idle => "idle",
            Outcome::Rescheduled => "rescheduled",
            Outcome::Completed => "completed",
            Outcome::Panicked => "panicked",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// The task is gone after this.
    pub(crate) fn is_final(self) -> bool {
        matches!(self, Outcome::Completed | Outcome::Panicked | Outcome::Cancelled)
    }
}

/// How long a reactor turn may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timeout {
    Zero,
    /// Until this trace time (nanoseconds).
    Until(u64),
    Forever,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum What {
    /// A task was spawned (its name is in the tracer's records).
    Spawn { task: u64, by: Cause },
    /// A poll of `lane` began.
    PollStart { lane: Lane },
    /// The poll of `lane` ended.
    PollEnd { lane: Lane, outcome: Outcome },
    /// A wake queued `lane` (for the `block_on` future: set its flag).
    Wake { lane: Lane, by: Cause },
    /// A wake found `lane` already scheduled, running or finished (with
    /// the `trace-ignored-wakes` feature).
    #[cfg_attr(not(feature = "trace-ignored-wakes"), allow(dead_code))]
    WakeIgnored { lane: Lane, by: Cause },
    /// The executor began to park.
    ParkStart,
    /// It asked the reactor for events (`epoll_wait`), waiting at most so long.
    ReactorStart { timeout: Timeout },
    /// The reactor returned this many events.
    ReactorEnd { events: u32 },
    /// A readiness event for a source (`reactor::READABLE`, ... bits); its
    /// label, if any, is in the tracer's table.
    IoReady { token: u64, ready: u8 },
    /// A timer due at `deadline` (trace nanoseconds) fired.
    TimerFired { deadline: u64 },
    /// The park ended: every waker it collected was woken.
    ParkEnd,
}

/// One recorded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// When it happened, if the clock was read for it; `None`: right after
    /// the previous event (what a poll did, recorded when it returns). The
    /// trace's timestamps are computed from these when it is written
    /// (`json.rs`): converting an `Instant` costs more than reading it.
    pub(crate) at: Option<Instant>,
    pub(crate) what: What,
}

/// A task's name: given at spawn, or where it was spawned.
#[derive(Debug, Clone)]
pub(crate) enum Name {
    Site(&'static Location<'static>),
    Given(Rc<str>),
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Name::Site(location) => write!(f, "{}:{}", location.file(), location.line()),
            Name::Given(name) => f.write_str(name),
        }
    }
}

/// The last `capacity` events.
#[derive(Debug)]
pub(crate) struct Ring {
    events: VecDeque<Event>,
    capacity: usize,
    /// Events forgotten to stay within `capacity`.
    dropped: u64,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Ring {
        // Grows as needed: a short run does not pay for a long run's buffer.
        Ring { events: VecDeque::new(), capacity: capacity.max(1), dropped: 0 }
    }

    pub(crate) fn push(&mut self, event: Event) {
        if self.events.len() == self.capacity {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(event);
    }

    pub(crate) fn events(&self) -> &VecDeque<Event> {
        &self.events
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_events() {
        let mut ring = Ring::new(3);
        for lane in 0..5 {
            ring.push(Event { at: None, what: What::PollStart { lane } });
        }
        let kept: Vec<What> = ring.events().iter().map(|e| e.what).collect();
        assert_eq!(kept, [2, 3, 4].map(|lane| What::PollStart { lane }));
        assert_eq!(ring.dropped(), 2);
    }

    #[test]
    fn an_event_is_small() {
        // Recording is a push of one of these: keep it a few words.
        assert!(std::mem::size_of::<Event>() <= 48, "{}", std::mem::size_of::<Event>());
    }
}
