//! Faults: what can go wrong, scripted ([`Fault`], `World::schedule`) or
//! drawn from the seed ([`Chaos`]).

use std::fmt;
use std::ops::Range;
use std::time::Duration;

/// One thing that goes wrong (or gets repaired), by node name.
///
/// Apply one now with the `World` method of the same name, or at a virtual
/// time with [`World::schedule`](crate::World::schedule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The node's process dies: every task and socket at once; its peers
    /// get a connection reset.
    Crash(String),
    /// The node starts again (crashing it first if it is up), running its
    /// main function from the start with fresh state.
    Restart(String),
    /// The world asks the node to stop: [`stop_signal`](crate::stop_signal)
    /// completes on it (a simulated `SIGTERM`).
    Stop(String),
    /// Nothing gets through between two nodes, in either direction; what
    /// is sent waits for the heal. Connects time out.
    Partition(String, String),
    /// Ends a partition: held segments arrive at once, in order.
    Heal(String, String),
    /// Ends every partition.
    HealAll,
    /// The link `from -> to` delivers nothing for `duration`, then
    /// everything at once (FoundationDB's clogging; one direction).
    Clog {
        /// Sending node.
        from: String,
        /// Receiving node.
        to: String,
        /// How long.
        duration: Duration,
    },
    /// Adds `extra` latency between two nodes, both ways (zero undoes it).
    Slow {
        /// One node.
        a: String,
        /// The other.
        b: String,
        /// Added to every segment's latency.
        extra: Duration,
    },
    /// Resets every connection between two nodes (both ends see
    /// `ConnectionReset`).
    Reset(String, String),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Crash(node) => write!(f, "crash {node}"),
            Fault::Restart(node) => write!(f, "restart {node}"),
            Fault::Stop(node) => write!(f, "stop {node}"),
            Fault::Partition(a, b) => write!(f, "partition {a} | {b}"),
            Fault::Heal(a, b) => write!(f, "heal {a} | {b}"),
            Fault::HealAll => write!(f, "heal all"),
            Fault::Clog { from, to, duration } => write!(f, "clog {from} -> {to} for {duration:?}"),
            Fault::Slow { a, b, extra } => write!(f, "slow {a} <-> {b} by {extra:?}"),
            Fault::Reset(a, b) => write!(f, "reset connections {a} <-> {b}"),
        }
    }
}

/// Faults drawn from the seed while the world runs: the randomized part of
/// a simulation test.
///
/// Every `interval` (drawn from the range) a fault starts, its kind picked
/// by the weights: a crash of a target node (restarted after `duration`),
/// a partition between a target and another node (healed after
/// `duration`), a clog of one direction of such a link (for `duration`),
/// a reset of the connections between two nodes, or a slow link (back to
/// normal after `duration`). A crash never takes more than `max_down`
/// targets down at once. No fault starts after `until`, so a run can
/// finish; repairs still happen.
///
/// Each started fault is numbered in order. [`Config::skip`](crate::Config)
/// lists numbers not to apply (their draws still happen, so the others stay
/// the same): the harness uses it to shrink a failing seed's faults to the
/// few that matter.
#[derive(Debug, Clone)]
pub struct Chaos {
    /// Time between two faults.
    pub interval: Range<Duration>,
    /// No fault starts after this much virtual time.
    pub until: Duration,
    /// How long a fault lasts (downtime, partition, clog, slowness).
    pub duration: Range<Duration>,
    /// Nodes that may crash or be cut off; empty: every node added with
    /// `World::node` (clients are never crashed).
    pub targets: Vec<String>,
    /// Most targets down at once.
    pub max_down: usize,
    /// Weight of crashes (with restart).
    pub crash: u32,
    /// Weight of partitions (with heal).
    pub partition: u32,
    /// Weight of clogged links.
    pub clog: u32,
    /// Weight of connection resets.
    pub reset: u32,
    /// Weight of slow links.
    pub slow: u32,
}

impl Default for Chaos {
    fn default() -> Chaos {
        Chaos {
            interval: Duration::from_millis(50)..Duration::from_millis(500),
            until: Duration::from_secs(10),
            duration: Duration::from_millis(10)..Duration::from_millis(500),
            targets: Vec::new(),
            max_down: 1,
            crash: 3,
            partition: 2,
            clog: 2,
            reset: 1,
            slow: 1,
        }
    }
}

/// A fault the world applied, for the report and for shrinking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Virtual time since the world started.
    pub at: Duration,
    /// What happened.
    pub fault: Fault,
    /// `Some(n)`: the `n`th fault [`Chaos`] started (repairs are not
    /// numbered; skipping a fault skips its repair).
    pub chaos: Option<u64>,
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>10.3}ms  {}", self.at.as_secs_f64() * 1e3, self.fault)?;
        if let Some(n) = self.chaos {
            write!(f, "  (chaos #{n})")?;
        }
        Ok(())
    }
}
