//! Seeded randomness: every random choice of a run comes from one seed,
//! split into independent streams (one per link direction, one for the
//! scenario settings, …) so that adding a draw in one place does not
//! shift the draws made elsewhere.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use toytcp_core::Duration;

/// SplitMix64 finaliser: a bijective mix of 64 bits.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A source of random choices. Implemented by [`SimRng`] (seeded) and
/// [`ByteSource`] (fuzzer bytes). The provided methods are written so that
/// an all-zero source gives the smallest value of every range and `false`
/// for every [`chance`](Draw::chance): an empty fuzzer input is the
/// simplest scenario.
pub trait Draw {
    /// 64 random bits.
    fn next_u64(&mut self) -> u64;

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (no draw when `p <= 0`).
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (p >= 1.0 || self.unit() >= 1.0 - p)
    }

    /// Uniform in `lo..=hi` (`lo` when `hi <= lo`).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + self.next_u64() % (span + 1)
    }

    /// Uniform in `[lo, hi)` for floats.
    fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Log-uniform in `lo..=hi`: as many small values as large ones.
    fn log_range(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = ((lo.max(1) as f64).ln(), (hi.max(lo).max(1) as f64).ln());
        (self.range_f64(l, h).exp().round() as u64).clamp(lo, hi.max(lo))
    }

    /// Uniform duration in `lo..=hi`, microsecond resolution.
    fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        Duration::from_micros(self.range(lo.as_micros() as u64, hi.as_micros() as u64))
    }

    /// One element of a non-empty slice.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

/// A deterministic random number generator (xoshiro256++).
#[derive(Clone, Debug)]
pub struct SimRng(Xoshiro256PlusPlus);

impl SimRng {
    /// The generator of stream `stream` derived from `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        SimRng(Xoshiro256PlusPlus::seed_from_u64(mix64(seed ^ mix64(stream.wrapping_add(0x5EED)))))
    }
}

impl Draw for SimRng {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

/// Choices read from a byte string, 8 bytes (little-endian) per draw,
/// zeros once the bytes run out.
#[derive(Clone, Debug)]
pub struct ByteSource<'a> {
    data: &'a [u8],
}

impl<'a> ByteSource<'a> {
    /// Draws from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        ByteSource { data }
    }
}

impl Draw for ByteSource<'_> {
    fn next_u64(&mut self) -> u64 {
        let n = self.data.len().min(8);
        let mut word = [0u8; 8];
        word[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        u64::from_le_bytes(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| SimRng::new(7, 1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(SimRng::new(7, 1).next_u64(), SimRng::new(7, 2).next_u64());
        assert_ne!(SimRng::new(7, 1).next_u64(), SimRng::new(8, 1).next_u64());
    }

    #[test]
    fn ranges_stay_in_bounds() {
        let mut r = SimRng::new(1, 1);
        for _ in 0..10_000 {
            let x = r.range(3, 9);
            assert!((3..=9).contains(&x));
            let y = r.log_range(64, 9000);
            assert!((64..=9000).contains(&y));
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
        assert_eq!(r.range(5, 5), 5);
    }

    #[test]
    fn empty_bytes_give_the_smallest_choices() {
        let mut b = ByteSource::new(&[]);
        assert_eq!(b.range(3, 9), 3);
        assert!(!b.chance(0.99));
        assert_eq!(b.log_range(64, 9000), 64);
        let mut b = ByteSource::new(&[1, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(b.next_u64(), 1);
        assert_eq!(b.next_u64(), 2);
        assert_eq!(b.next_u64(), 0);
    }
}
