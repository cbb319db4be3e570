//! The world's random numbers: one seed, split into independent streams.

use std::ops::Range;
use std::time::Duration;

/// A small seeded generator (SplitMix64, the same one the runtime's
/// seeded run queue uses), with the draws a simulation needs.
///
/// Deterministic by construction: the same seed gives the same numbers on
/// every machine. Use it for a test's own choices (which node to crash,
/// how many items) so the seed decides those too:
///
/// ```
/// use corio_sim::Rng;
///
/// let mut a = Rng::new(42);
/// let mut b = Rng::new(42);
/// assert_eq!(a.below(1000), b.below(1000));
/// assert!(Rng::new(7).range(10..20) >= 10);
/// ```
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// An independent generator for one purpose (`salt` names it), so
    /// drawing more numbers for one purpose does not shift the others.
    pub fn fork(&self, salt: u64) -> Rng {
        Rng(mix(self.0 ^ mix(salt.wrapping_add(0x5851_F42D_4C95_7F2D))))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n`; `0` when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `range` (its start when it is empty).
    pub fn range(&mut self, range: Range<u64>) -> u64 {
        range.start + self.below(range.end.saturating_sub(range.start))
    }

    /// A duration in `range`, to the nanosecond (its start when empty).
    pub fn duration(&mut self, range: Range<Duration>) -> Duration {
        let span = range.end.saturating_sub(range.start).as_nanos().min(u128::from(u64::MAX)) as u64;
        range.start + Duration::from_nanos(self.below(span))
    }

    /// `true` with probability `p` (clamped to 0..=1).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) < p
    }

    /// Shuffles `items` (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// SplitMix64's output function: a bijection that spreads every input bit.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_range_and_forks_differ() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            assert!(rng.below(7) < 7);
            let d = rng.duration(Duration::from_millis(1)..Duration::from_millis(3));
            assert!(d >= Duration::from_millis(1) && d < Duration::from_millis(3));
        }
        assert_eq!(rng.below(0), 0);
        assert_ne!(Rng::new(1).fork(1).next_u64(), Rng::new(1).fork(2).next_u64());
        let mut items: Vec<u32> = (0..10).collect();
        rng.shuffle(&mut items);
        items.sort_unstable();
        assert_eq!(items, (0..10).collect::<Vec<_>>());
    }
}
