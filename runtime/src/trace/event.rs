//! What a trace records: [`Event`]s, each a timestamp and a [`What`], kept
//! in a bounded [`Ring`] that forgets the oldest first.
//!
//! Events are small plain values (no strings but an occasional shared
//! label) so recording one is a clock read and a push. Turning them into
//! the Chrome trace-event format happens once, when the trace is written
//! (`json.rs`).

use std::panic::Location;
use std::rc::Rc;

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

/// An event's timestamp that says "right after the previous event": the
/// clock was not read for it (what a poll did, recorded when it returns).
/// A reading at or before the trace epoch is 0 too, and always was to the
/// writer, which makes timestamps strictly increasing (`json.rs`).
pub(crate) const NEXT: u64 = 0;

/// One recorded event, packed into 32 bytes: half of a cache line.
///
/// A full ring is written at every push and read only when the trace is
/// written, so its size is memory traffic on the traced hot path (at the
/// default capacity the ring is far bigger than the caches). [`What`]
/// itself would take 32 bytes (a [`Cause`] is a tag and a word of its own,
/// which an enum around it cannot share) and an `Instant` 16, so an event
/// keeps its words and its tags side by side and turns back into a
/// [`What`] when the trace is written ([`Event::what`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// When it happened, in nanoseconds since the trace epoch
    /// (`tracer::nanos`), or [`NEXT`]. The trace's timestamps are computed
    /// from these when it is written (`json.rs`).
    pub(crate) at: u64,
    /// The task, lane, token, deadline or count the event is about.
    a: u64,
    /// The number its cause carries (a lane, a token, a deadline).
    b: u64,
    kind: Kind,
    by: CauseKind,
    outcome: Outcome,
    timeout: TimeoutKind,
    ready: u8,
}

/// Which [`What`] an [`Event`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Spawn,
    PollStart,
    PollEnd,
    Wake,
    WakeIgnored,
    ParkStart,
    ReactorStart,
    ReactorEnd,
    IoReady,
    TimerFired,
    ParkEnd,
}

/// A [`Cause`] without its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CauseKind {
    Unknown,
    Poll,
    Io,
    Timer,
    Remote,
}

/// A [`Timeout`] without its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeoutKind {
    Zero,
    Until,
    Forever,
}

impl Cause {
    fn split(self) -> (CauseKind, u64) {
        match self {
            Cause::Unknown => (CauseKind::Unknown, 0),
            Cause::Poll(lane) => (CauseKind::Poll, lane),
            Cause::Io(token) => (CauseKind::Io, token),
            Cause::Timer(deadline) => (CauseKind::Timer, deadline),
            Cause::Remote => (CauseKind::Remote, 0),
        }
    }
}

impl CauseKind {
    fn with(self, value: u64) -> Cause {
        match self {
            CauseKind::Unknown => Cause::Unknown,
            CauseKind::Poll => Cause::Poll(value),
            CauseKind::Io => Cause::Io(value),
            CauseKind::Timer => Cause::Timer(value),
            CauseKind::Remote => Cause::Remote,
        }
    }
}

impl Event {
    /// `what`, at `at` (nanoseconds since the trace epoch, or [`NEXT`]).
    #[inline]
    pub(crate) fn new(at: u64, what: What) -> Event {
        let plain = |kind, a| Event {
            at,
            a,
            b: 0,
            kind,
            by: CauseKind::Unknown,
            outcome: Outcome::Idle,
            timeout: TimeoutKind::Zero,
            ready: 0,
        };
        let caused = |kind, a, by: Cause| {
            let (by, b) = by.split();
            Event { by, b, ..plain(kind, a) }
        };
        match what {
            What::Spawn { task, by } => caused(Kind::Spawn, task, by),
            What::PollStart { lane } => plain(Kind::PollStart, lane),
            What::PollEnd { lane, outcome } => Event { outcome, ..plain(Kind::PollEnd, lane) },
            What::Wake { lane, by } => caused(Kind::Wake, lane, by),
            What::WakeIgnored { lane, by } => caused(Kind::WakeIgnored, lane, by),
            What::ParkStart => plain(Kind::ParkStart, 0),
            What::ReactorStart { timeout } => {
                let (timeout, until) = match timeout {
                    Timeout::Zero => (TimeoutKind::Zero, 0),
                    Timeout::Until(until) => (TimeoutKind::Until, until),
                    Timeout::Forever => (TimeoutKind::Forever, 0),
                };
                Event { timeout, ..plain(Kind::ReactorStart, until) }
            }
            What::ReactorEnd { events } => plain(Kind::ReactorEnd, u64::from(events)),
            What::IoReady { token, ready } => Event { ready, ..plain(Kind::IoReady, token) },
            What::TimerFired { deadline } => plain(Kind::TimerFired, deadline),
            What::ParkEnd => plain(Kind::ParkEnd, 0),
        }
    }

    /// What happened: the [`What`] this event was made from.
    pub(crate) fn what(&self) -> What {
        let (a, by) = (self.a, self.by.with(self.b));
        match self.kind {
            Kind::Spawn => What::Spawn { task: a, by },
            Kind::PollStart => What::PollStart { lane: a },
            Kind::PollEnd => What::PollEnd { lane: a, outcome: self.outcome },
            Kind::Wake => What::Wake { lane: a, by },
            Kind::WakeIgnored => What::WakeIgnored { lane: a, by },
            Kind::ParkStart => What::ParkStart,
            Kind::ReactorStart => What::ReactorStart {
                timeout: match self.timeout {
                    TimeoutKind::Zero => Timeout::Zero,
                    TimeoutKind::Until => Timeout::Until(a),
                    TimeoutKind::Forever => Timeout::Forever,
                },
            },
            // Made from a `u32`.
            Kind::ReactorEnd => What::ReactorEnd { events: a as u32 },
            Kind::IoReady => What::IoReady { token: a, ready: self.ready },
            Kind::TimerFired => What::TimerFired { deadline: a },
            Kind::ParkEnd => What::ParkEnd,
        }
    }
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
///
/// A `Vec` that grows up to `capacity` and is then written round in place:
/// once full, a push overwrites the oldest event (at `head`) and moves
/// `head` on, so a push at the bound is one store and an index bump.
#[derive(Debug)]
pub(crate) struct Ring {
    /// Oldest first until full; then the oldest is at `head`, and the
    /// events before `head` are newer than those from it on.
    events: Vec<Event>,
    /// Where the next push goes once the ring is full (0 until then).
    head: usize,
    capacity: usize,
    /// Events forgotten to stay within `capacity`.
    dropped: u64,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Ring {
        // Grows as needed: a short run does not pay for a long run's buffer.
        Ring { events: Vec::new(), head: 0, capacity: capacity.max(1), dropped: 0 }
    }

    #[inline]
    pub(crate) fn push(&mut self, event: Event) {
        if self.events.len() < self.capacity {
            self.events.push(event);
            return;
        }
        if let Some(slot) = self.events.get_mut(self.head) {
            *slot = event;
        }
        self.head += 1;
        if self.head == self.capacity {
            self.head = 0;
        }
        self.dropped += 1;
    }

    /// The events kept, oldest first.
    pub(crate) fn events(&self) -> impl Iterator<Item = &Event> {
        let (newer, older) = self.events.split_at(self.head);
        older.iter().chain(newer)
    }

    /// How many events are kept.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
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
        let kept = |ring: &Ring| ring.events().map(|e| e.what()).collect::<Vec<What>>();
        for lane in 0..2 {
            ring.push(Event::new(NEXT, What::PollStart { lane }));
        }
        assert_eq!(kept(&ring), [0, 1].map(|lane| What::PollStart { lane }));
        for lane in 2..8 {
            ring.push(Event::new(NEXT, What::PollStart { lane }));
            assert_eq!(kept(&ring), [lane - 2, lane - 1, lane].map(|lane| What::PollStart { lane }));
        }
        assert_eq!((ring.len(), ring.dropped()), (3, 5));
    }

    #[test]
    fn an_event_gives_back_what_it_was_made_from() {
        let causes = [Cause::Unknown, Cause::Poll(u64::MAX), Cause::Io(1 << 40 | 7), Cause::Timer(5), Cause::Remote];
        let mut whats = vec![
            What::PollStart { lane: u64::MAX },
            What::ParkStart,
            What::ReactorStart { timeout: Timeout::Zero },
            What::ReactorStart { timeout: Timeout::Until(u64::MAX - 1) },
            What::ReactorStart { timeout: Timeout::Forever },
            What::ReactorEnd { events: u32::MAX },
            What::IoReady { token: u64::MAX, ready: 0b1010 },
            What::TimerFired { deadline: 123_456_789 },
            What::ParkEnd,
        ];
        for outcome in [Outcome::Idle, Outcome::Rescheduled, Outcome::Completed, Outcome::Panicked, Outcome::Cancelled] {
            whats.push(What::PollEnd { lane: 1 << 33, outcome });
        }
        for by in causes {
            whats.extend([
                What::Spawn { task: 1 << 35, by },
                What::Wake { lane: 9, by },
                What::WakeIgnored { lane: 0, by },
            ]);
        }
        for (at, what) in whats.into_iter().enumerate() {
            let event = Event::new(at as u64, what);
            assert_eq!((event.at, event.what()), (at as u64, what));
        }
    }

    #[test]
    fn an_event_is_small() {
        // Recording is a store of one of these into a ring far bigger than
        // the caches: keep it half a cache line.
        assert!(std::mem::size_of::<Event>() <= 32, "{}", std::mem::size_of::<Event>());
    }
}
