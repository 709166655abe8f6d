//! The core's notion of time.
//!
//! The core never reads a clock: every input carries `now`, an [`Instant`]
//! that the driver derives from its own clock (the raw-socket driver from
//! `std::time::Instant`, the simulator from virtual time). An `Instant` is a
//! count of microseconds since an arbitrary epoch chosen by the driver.

use core::num::NonZeroU64;
use core::ops::{Add, AddAssign, Sub};
pub use core::time::Duration;

/// A point in time, in microseconds from an epoch chosen by the driver,
/// up to `u64::MAX - 1` µs (later instants saturate there).
///
/// Held as microseconds plus one in a `NonZeroU64`, so that an
/// `Option<Instant>` (every timer of a connection, every endpoint slot's
/// deadline) takes 8 bytes instead of 16: with thousands of connections,
/// fewer bytes per connection mean fewer cache misses per segment
/// (BENCHMARKS.md §2).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(NonZeroU64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(NonZeroU64::MIN);

    /// An instant `micros` microseconds after the epoch (saturating at
    /// `u64::MAX - 1`).
    pub const fn from_micros(micros: u64) -> Self {
        match NonZeroU64::new(micros.saturating_add(1)) {
            Some(n) => Instant(n),
            None => Instant(NonZeroU64::MAX),
        }
    }

    /// An instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant::from_micros(millis.saturating_mul(1000))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0.get() - 1
    }

    /// Milliseconds since the epoch (truncated).
    pub const fn as_millis(self) -> u64 {
        self.as_micros() / 1000
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.as_micros().saturating_sub(earlier.as_micros()))
    }
}

impl Default for Instant {
    /// The epoch.
    fn default() -> Self {
        Instant::ZERO
    }
}

impl core::fmt::Debug for Instant {
    /// `Instant(µs since the epoch)`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Instant").field(&self.as_micros()).finish()
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant::from_micros(self.as_micros().saturating_add(micros(rhs)))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl core::fmt::Display for Instant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let us = self.as_micros();
        write!(f, "{}.{:06}", us / 1_000_000, us % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(5);
        assert_eq!(t + Duration::from_millis(1), Instant::from_micros(6000));
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t - Instant::ZERO, Duration::from_millis(5));
        assert_eq!(Instant::from_micros(u64::MAX) + Duration::from_secs(1), Instant::from_micros(u64::MAX));
        assert_eq!(Instant::from_micros(u64::MAX).as_micros(), u64::MAX - 1);
        assert_eq!(Instant::from_micros(1_500_000).to_string(), "1.500000");
        assert_eq!(format!("{:?}", Instant::from_micros(7)), "Instant(7)");
        assert_eq!(Instant::default(), Instant::ZERO);
        assert_eq!(Instant::ZERO.as_micros(), 0);
        assert!(Instant::from_micros(3) < Instant::from_micros(4));
        assert_eq!(core::mem::size_of::<Option<Instant>>(), 8);
    }
}
