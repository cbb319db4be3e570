//! The event log: a running digest of everything the world did, and an
//! optional printed trace.
//!
//! Two runs of one seed must do the same things in the same order at the
//! same virtual times; the digest is how that is checked without keeping
//! the whole log. Each event feeds a few 64-bit words into the digest
//! (what happened, where, when, how many bytes and a hash of them, how
//! many task polls a node's turn took). It is a fingerprint, not a
//! cryptographic hash: it tells two runs apart, nothing more.

use corio_runtime::time::VirtualClock;
use std::fmt;

use crate::rng::mix;

/// The digest and, when tracing, the lines of the log.
pub(crate) struct Log {
    digest: u64,
    events: u64,
    /// Print each event to stderr (`CORIO_SIM_TRACE=1` or `Config::trace`).
    trace: bool,
    /// The world's clock: every event is stamped with its virtual time.
    clock: VirtualClock,
}

impl Log {
    pub(crate) fn new(trace: bool, clock: VirtualClock) -> Log {
        Log { digest: 0x6A09_E667_F3BC_C908, events: 0, trace, clock }
    }

    /// Feeds one event, stamped with the virtual time: its kind and its
    /// fields. `describe` is only called when tracing.
    pub(crate) fn record(&mut self, words: &[u64], describe: impl FnOnce() -> String) {
        let at = self.clock.elapsed();
        self.events += 1;
        self.feed(at.as_nanos() as u64);
        for &word in words {
            self.feed(word);
        }
        if self.trace {
            eprintln!("[sim {:>12.6}ms] {}", at.as_secs_f64() * 1e3, describe());
        }
    }

    fn feed(&mut self, word: u64) {
        self.digest = mix(self.digest ^ word).wrapping_add(0x9E37_79B9_7F4A_7C15);
    }

    pub(crate) fn digest(&self) -> Digest {
        Digest(mix(self.digest ^ self.events))
    }

    pub(crate) fn events(&self) -> u64 {
        self.events
    }
}

/// A fingerprint of one run's event log; printed as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub u64);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A hash of some bytes, for the log (FNV-1a, 64 bits).
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut hash = 0xCBF2_9CE4_8422_2325u64;
    for &byte in bytes {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    hash
}
