//! Round-trip time estimation and the retransmission timeout (RFC 6298).
//!
//! [`RttEstimator`] keeps the smoothed round-trip time (SRTT) and its
//! variation (RTTVAR), derives the retransmission timeout (RTO) from them,
//! and applies exponential backoff on timeouts. Which measurements are
//! valid samples (Karn's algorithm, RFC 6298 §3; timestamps, RFC 7323 §4)
//! and when the backoff is reset are decided by the connection.
//!
//! All arithmetic is exact integer arithmetic in nanoseconds (saturating),
//! so results are deterministic.

use crate::time::Duration;

/// The clock granularity `G` of RFC 6298 §2 (the core's clock ticks in
/// microseconds, but 1 ms is the conventional and safer floor for the
/// variance term).
pub(crate) const CLOCK_GRANULARITY: Duration = Duration::from_millis(1);

/// `K` of RFC 6298 §2.
const K: u128 = 4;

/// The RFC 6298 retransmission timer estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RttEstimator {
    /// SRTT in nanoseconds; meaningful once `has_sample` (RFC 6298 §2.1).
    srtt: u64,
    /// RTTVAR in nanoseconds (0 until the first sample).
    rttvar: u64,
    /// The RTO before backoff, already clamped to `[min_rto, max_rto]`.
    base_rto: Duration,
    /// Lower bound of the RTO (RFC 6298 §2.4).
    min_rto: Duration,
    /// Upper bound of the RTO, also capping the backoff (RFC 6298 §2.5,
    /// §5.5).
    max_rto: Duration,
    /// Consecutive backoffs (timeouts) since the last reset (RFC 6298 §5.5).
    backoff: u32,
    /// The smallest sample seen, in nanoseconds (RFC 8985 §6.2 and RFC 9406
    /// use it); meaningful once `has_sample`.
    min_rtt: u64,
    /// A sample has been taken: `srtt` and `min_rtt` are set. One flag for
    /// both (they are only ever set together) instead of two `Option`s
    /// keeps the estimator, read on every ACK, 16 bytes smaller.
    has_sample: bool,
}

/// `d` in nanoseconds, saturating at `u64::MAX` (about 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `n` nanoseconds as a `Duration`, saturating at `u64::MAX`.
fn from_nanos(n: u128) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
}

impl RttEstimator {
    /// A fresh estimator with no samples: RTO is `initial_rto` (RFC 6298
    /// §2.1 recommends 1 s), clamped to `[min_rto, max_rto]`. If `min_rto`
    /// exceeds `max_rto`, `max_rto` is raised to `min_rto`.
    pub(crate) fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let max_rto = max_rto.max(min_rto);
        RttEstimator {
            srtt: 0,
            rttvar: 0,
            base_rto: initial_rto.clamp(min_rto, max_rto),
            min_rto,
            max_rto,
            backoff: 0,
            min_rtt: 0,
            has_sample: false,
        }
    }

    /// Feeds one round-trip time measurement `rtt` (`R` in RFC 6298).
    ///
    /// The first sample sets `SRTT = R`, `RTTVAR = R/2` (§2.2); later ones
    /// set `RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|` and then
    /// `SRTT = 7/8 SRTT + 1/8 R` (§2.3, alpha = 1/8, beta = 1/4). Either way
    /// `RTO = SRTT + max(G, K * RTTVAR)` with `K = 4` and
    /// `G` = [`CLOCK_GRANULARITY`], clamped to `[min_rto, max_rto]` (§2.4,
    /// §2.5).
    ///
    /// Does not reset the backoff; the caller does that when appropriate
    /// (RFC 6298 §5.7 and Karn's algorithm, §3).
    pub(crate) fn sample(&mut self, rtt: Duration) {
        let r = nanos(rtt);
        self.min_rtt = if self.has_sample { self.min_rtt.min(r) } else { r };
        let (srtt, rttvar) = match self.srtt_nanos() {
            None => (r, r / 2),
            Some(srtt) => {
                let rttvar = (3 * u128::from(self.rttvar) + u128::from(srtt.abs_diff(r))) / 4;
                let srtt = (7 * u128::from(srtt) + u128::from(r)) / 8;
                // Both are weighted means of u64 values, so they fit.
                (srtt as u64, rttvar as u64)
            }
        };
        self.srtt = srtt;
        self.has_sample = true;
        self.rttvar = rttvar;
        let var_term = (K * u128::from(rttvar)).max(CLOCK_GRANULARITY.as_nanos());
        let rto = from_nanos(u128::from(srtt) + var_term);
        self.base_rto = rto.clamp(self.min_rto, self.max_rto);
    }

    /// The current RTO: [`RttEstimator::base_rto`] doubled once per backoff
    /// (RFC 6298 §5.5), capped at `max_rto`.
    pub(crate) fn rto(&self) -> Duration {
        let factor = 1u32.checked_shl(self.backoff).unwrap_or(0);
        if factor == 0 {
            return self.max_rto;
        }
        self.base_rto.saturating_mul(factor).min(self.max_rto)
    }

    /// The RTO computed from the samples (or the initial RTO), without
    /// backoff.
    pub(crate) fn base_rto(&self) -> Duration {
        self.base_rto
    }

    /// Backs the timer off after a retransmission timeout (RFC 6298 §5.5):
    /// the RTO doubles, saturating at `max_rto`. The count keeps increasing
    /// (saturating at `u32::MAX`) so the caller can use it as a
    /// consecutive-timeout counter even once the RTO has saturated.
    pub(crate) fn backoff(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Clears the backoff, returning the RTO to [`RttEstimator::base_rto`].
    pub(crate) fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// Backoffs since the last reset.
    #[allow(dead_code, reason = "part of the estimator API; not yet used by the connection")]
    pub(crate) fn backoff_count(&self) -> u32 {
        self.backoff
    }

    /// The smallest RTT sample so far.
    pub(crate) fn min_rtt(&self) -> Option<Duration> {
        self.has_sample.then(|| from_nanos(u128::from(self.min_rtt)))
    }

    /// SRTT, once there is a sample.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt_nanos().map(Duration::from_nanos)
    }

    /// SRTT in nanoseconds, once there is a sample (cheaper than a `Duration`
    /// on the per-ACK path).
    pub(crate) fn srtt_nanos(&self) -> Option<u64> {
        self.has_sample.then_some(self.srtt)
    }

    /// The round-trip time variation (zero before the first sample).
    pub(crate) fn rttvar(&self) -> Duration {
        Duration::from_nanos(self.rttvar)
    }

    /// Whether a sample has been taken.
    pub(crate) fn has_sample(&self) -> bool {
        self.has_sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shorthand for milliseconds.
    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// An estimator with RFC 6298's bounds: initial 1 s, min 1 s, max 60 s.
    fn rfc() -> RttEstimator {
        RttEstimator::new(ms(1000), ms(1000), ms(60_000))
    }

    /// An estimator with a low minimum so the formulas are visible.
    fn low() -> RttEstimator {
        RttEstimator::new(ms(1000), ms(1), ms(60_000))
    }

    /// Before any sample: the initial RTO, no SRTT.
    #[test]
    fn initial() {
        let e = rfc();
        assert!(!e.has_sample());
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), Duration::ZERO);
        assert_eq!(e.rto(), ms(1000));
        assert_eq!(e.base_rto(), ms(1000));
        assert_eq!(e.backoff_count(), 0);
        // The initial RTO is clamped too.
        assert_eq!(RttEstimator::new(ms(100), ms(200), ms(500)).rto(), ms(200));
        assert_eq!(RttEstimator::new(ms(900), ms(200), ms(500)).rto(), ms(500));
    }

    /// §2.2: SRTT = R, RTTVAR = R/2, RTO = R + 4 * R/2 = 3R.
    #[test]
    fn first_sample() {
        let mut e = low();
        e.sample(ms(100));
        assert!(e.has_sample());
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        assert_eq!(e.rto(), ms(300));
        // With the RFC minimum of 1 s.
        let mut e = rfc();
        e.sample(ms(100));
        assert_eq!(e.rto(), ms(1000));
        e.sample(ms(2000));
        assert!(e.rto() > ms(1000));
    }

    /// §2.3 over a sequence of samples, checked against hand-computed
    /// values.
    #[test]
    fn sample_sequence() {
        let mut e = low();
        e.sample(ms(100)); // SRTT 100, RTTVAR 50
        e.sample(ms(200));
        // RTTVAR = 3/4*50 + 1/4*|100-200| = 37.5 + 25 = 62.5
        // SRTT = 7/8*100 + 1/8*200 = 87.5 + 25 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        // RTO = 112.5 + 4*62.5 = 362.5
        assert_eq!(e.rto(), Duration::from_micros(362_500));
        e.sample(ms(112) + Duration::from_micros(500));
        // RTTVAR = 3/4*62.5 + 0 = 46.875; SRTT unchanged.
        assert_eq!(e.rttvar(), Duration::from_micros(46_875));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(112_500 + 187_500));
        e.sample(ms(40));
        // RTTVAR = 3/4*46.875 + 1/4*72.5 = 35.15625 + 18.125 = 53.28125
        // SRTT = 7/8*112.5 + 1/8*40 = 98.4375 + 5 = 103.4375
        assert_eq!(e.rttvar(), Duration::from_nanos(53_281_250));
        assert_eq!(e.srtt(), Some(Duration::from_nanos(103_437_500)));
        assert_eq!(e.rto(), Duration::from_nanos(103_437_500 + 4 * 53_281_250));
    }

    /// A steady RTT drives RTTVAR towards zero; then the G term of §2.3
    /// takes over.
    #[test]
    fn granularity_floor() {
        let mut e = RttEstimator::new(ms(1000), Duration::ZERO, ms(60_000));
        for _ in 0..200 {
            e.sample(ms(10));
        }
        assert_eq!(e.srtt(), Some(ms(10)));
        assert!(e.rttvar() < Duration::from_micros(250));
        assert_eq!(e.rto(), ms(11));
        // A zero RTT still gives at least G.
        let mut e = RttEstimator::new(ms(1000), Duration::ZERO, ms(60_000));
        e.sample(Duration::ZERO);
        assert_eq!(e.rto(), CLOCK_GRANULARITY);
    }

    /// §2.4/§2.5: the RTO is clamped to [min, max].
    #[test]
    fn clamps() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(2000));
        e.sample(ms(10)); // 30 ms raw
        assert_eq!(e.rto(), ms(200));
        e.sample(ms(5000)); // huge
        assert_eq!(e.rto(), ms(2000));
        assert_eq!(e.base_rto(), ms(2000));
        // Absurd samples saturate rather than overflow.
        e.sample(Duration::MAX);
        assert_eq!(e.rto(), ms(2000));
        // min > max: max raised to min.
        let e = RttEstimator::new(ms(1000), ms(3000), ms(2000));
        assert_eq!(e.rto(), ms(3000));
    }

    /// §5.5: each backoff doubles the RTO up to the maximum; sampling keeps
    /// the backoff; resetting restores the base RTO.
    #[test]
    fn backoff_doubling_and_cap() {
        let mut e = rfc();
        e.backoff();
        assert_eq!(e.backoff_count(), 1);
        assert_eq!(e.rto(), ms(2000));
        e.backoff();
        assert_eq!(e.rto(), ms(4000));
        for _ in 0..3 {
            e.backoff();
        }
        assert_eq!(e.backoff_count(), 5);
        assert_eq!(e.rto(), ms(32_000));
        e.backoff();
        assert_eq!(e.rto(), ms(60_000));
        for _ in 0..100 {
            e.backoff();
        }
        assert_eq!(e.backoff_count(), 106);
        assert_eq!(e.rto(), ms(60_000));
        assert_eq!(e.base_rto(), ms(1000));
        // A sample does not reset the backoff.
        e.sample(ms(500)); // base 500 + 4*250 = 1500
        assert_eq!(e.base_rto(), ms(1500));
        assert_eq!(e.rto(), ms(60_000));
        e.reset_backoff();
        assert_eq!(e.backoff_count(), 0);
        assert_eq!(e.rto(), ms(1500));
        e.backoff();
        assert_eq!(e.rto(), ms(3000));
        // The count itself saturates.
        e.backoff = u32::MAX;
        e.backoff();
        assert_eq!(e.backoff_count(), u32::MAX);
        assert_eq!(e.rto(), ms(60_000));
    }
}
