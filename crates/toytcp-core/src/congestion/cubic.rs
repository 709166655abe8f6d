//! CUBIC (RFC 9438), with HyStart++ (RFC 9406) in slow start.
//!
//! Windows are bytes, time is microseconds, and everything is integer
//! arithmetic: the window function is evaluated per ACK with one 128-bit
//! cube and one division, and the cube root for K is taken only when a
//! congestion-avoidance epoch starts (once per congestion event).
//!
//! Choices the RFC leaves open, or where ToyTCP's division of labour
//! decides:
//! - Multiplicative decrease (§4.6) uses FlightSize, as the RFC's
//!   pseudocode does (`ssthresh = flight_size × β_cubic`), not cwnd: the
//!   connection passes RFC 5681's FlightSize (without limited-transmit
//!   segments), and the RFC requires implementations that use cwnd to keep
//!   an application-limited cwnd from growing by other means. cwnd itself is
//!   brought down by the connection during recovery (PRR or RFC 6582
//!   window deflation); `cwnd_prior` and W_max are taken from cwnd.
//! - The congestion-avoidance epoch (t_epoch, cwnd_epoch, K) starts with
//!   the first ACK in congestion avoidance after a congestion event, an RTO
//!   or slow start, so K is computed from the cwnd the connection left
//!   after recovery (§4.2, K from W_max − cwnd_epoch). If W_max is not above
//!   cwnd_epoch (after slow start, or after an RTO: §4.8), W_max becomes
//!   cwnd_epoch and K = 0: the convex region from the current window.
//! - RTT in W_cubic(t + RTT) is the smoothed RTT (§4.2), else the minimum
//!   RTT, else zero.
//! - Slow start below ssthresh is RFC 5681 with byte counting and
//!   L = 1 SMSS (RFC 3465), HyStart++ during the initial slow start (§4.10);
//!   see [`super::hystart`].
//! - Application-limited and idle periods (§5.8): an ACK the connection
//!   marks `app_limited` grows nothing, and the time since the ACK before it
//!   is taken out of t by moving t_epoch forward. An ACK arriving more than
//!   one RTT after the previous one ends an idle period (nothing was in
//!   flight, or the peer's window was shut); the gap less one RTT is taken
//!   out of t the same way. The controller has no hook for the sending side,
//!   so idleness is seen from the ACK clock.

use super::hystart::HyStart;
use super::{AckEvent, CongestionControl};
use crate::time::{Duration, Instant};

/// β_cubic = 0.7 (RFC 9438 §4.6), as a fraction.
const BETA_NUM: u64 = 7;
const BETA_DEN: u64 = 10;
/// C = 0.4 segments per second cubed (RFC 9438 §5), as a fraction.
const C_NUM: u128 = 2;
const C_DEN: u128 = 5;
/// α_cubic = 3 (1 − β_cubic) / (1 + β_cubic) = 9/17 (RFC 9438 §4.3).
const ALPHA_NUM: u64 = 9;
const ALPHA_DEN: u64 = 17;
/// Fast convergence keeps W_max × (1 + β_cubic) / 2 = 17/20 (§4.7).
const FAST_CONVERGENCE_NUM: u64 = 17;
const FAST_CONVERGENCE_DEN: u64 = 20;
/// (10^6 µs per second)^3: the window function's time unit conversion.
const MICROS_PER_SEC_CUBED: u128 = 1_000_000_000_000_000_000;

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The largest x with x³ ≤ n.
fn icbrt(n: u128) -> u64 {
    // (2^43)^3 exceeds u128::MAX, so the root lies below 2^43.
    let (mut lo, mut hi) = (0u64, 1u64 << 43);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let m = u128::from(mid);
        if m.checked_mul(m).and_then(|sq| sq.checked_mul(m)).is_some_and(|cube| cube <= n) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// `num / den` of `x`, saturating at u32::MAX.
fn scale(x: u32, num: u64, den: u64) -> u32 {
    u32::try_from(u64::from(x) * num / den).unwrap_or(u32::MAX)
}

/// What RFC 9438 §4.9 restores when a congestion event proves spurious.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Saved {
    cwnd: u32,
    ssthresh: u32,
    w_max: u32,
    cwnd_prior: u32,
    cwnd_epoch: u32,
    w_est: u32,
    k: u32,
    epoch_start: Option<Instant>,
}

/// The CUBIC controller (RFC 9438). All windows in bytes.
#[derive(Clone, Debug)]
pub struct Cubic {
    cwnd: u32,
    ssthresh: u32,
    /// W_max: cwnd just before the last reduction, or less with fast
    /// convergence (§4.7); 0 after an RTO until the next epoch (§4.8).
    w_max: u32,
    /// cwnd_prior: cwnd before the last congestion event; W_est growing past
    /// it switches α_cubic to 1 (§4.3).
    cwnd_prior: u32,
    /// cwnd_epoch: cwnd when the current congestion-avoidance stage began.
    cwnd_epoch: u32,
    /// W_est, the Reno-friendly window (§4.3).
    w_est: u32,
    /// K in microseconds (§4.2); at most about 2,200 s for any window that
    /// fits in a u32, so it fits too.
    k: u32,
    /// t_epoch, shifted forward over application-limited and idle time
    /// (§5.8); `None` until congestion avoidance (re)starts.
    epoch_start: Option<Instant>,
    /// When the last ACK came (idle detection); `None` right after an
    /// event, so that time spent in recovery is not taken for idleness.
    last_ack: Option<Instant>,
    /// Bytes × bytes of cubic growth not yet a whole byte of cwnd.
    cwnd_acc: u64,
    /// Seventeenths of bytes × bytes of W_est growth not yet a whole byte.
    est_acc: u64,
    /// State before the last congestion event or RTO, for [`Cubic::undo`].
    prior: Option<Box<Saved>>,
    hystart: HyStart,
}

impl Cubic {
    /// Heap bytes held: the undo snapshot once a congestion event or an
    /// RTO has saved one (for memory accounting).
    pub(crate) fn allocated(&self) -> usize {
        self.prior.as_ref().map_or(0, |_| core::mem::size_of::<Saved>())
    }

    /// A controller with an initial window of `initial_segments` × `smss`
    /// (RFC 6928), an arbitrarily high ssthresh (RFC 5681 §3.1), and
    /// HyStart++ in the initial slow start if `hystart`.
    pub fn new(initial_segments: u32, smss: u32, hystart: bool) -> Self {
        Cubic {
            cwnd: initial_segments.max(1).saturating_mul(smss),
            ssthresh: u32::MAX,
            w_max: 0,
            cwnd_prior: 0,
            cwnd_epoch: 0,
            w_est: 0,
            k: 0,
            epoch_start: None,
            last_ack: None,
            cwnd_acc: 0,
            est_acc: 0,
            prior: None,
            hystart: HyStart::new(hystart),
        }
    }

    /// W_cubic(t) in bytes (RFC 9438 §4.2, Figure 1), `t_us` microseconds
    /// after the epoch start: W_max + C (t − K)^3 segments.
    fn w_cubic(&self, t_us: u64, smss: u32) -> u64 {
        let k = u64::from(self.k);
        let (offset, above) = if t_us >= k { (t_us - k, true) } else { (k - t_us, false) };
        let offset = u128::from(offset);
        let delta = offset.saturating_mul(offset).saturating_mul(offset).saturating_mul(C_NUM * u128::from(smss))
            / (C_DEN * MICROS_PER_SEC_CUBED);
        let delta = u64::try_from(delta).unwrap_or(u64::MAX);
        if above { u64::from(self.w_max).saturating_add(delta) } else { u64::from(self.w_max).saturating_sub(delta) }
    }

    /// K = ∛((W_max − cwnd_epoch) / C) seconds (RFC 9438 §4.2, Figure 2),
    /// windows in segments; here in µs from windows in bytes.
    fn k_micros(w_max: u32, cwnd_epoch: u32, smss: u32) -> u32 {
        let excess = u128::from(w_max.saturating_sub(cwnd_epoch));
        let n = excess * C_DEN * MICROS_PER_SEC_CUBED / (C_NUM * u128::from(smss.max(1)));
        u32::try_from(icbrt(n)).unwrap_or(u32::MAX)
    }

    /// A congestion-avoidance stage begins now (§4.2, §4.3, §4.8).
    fn start_epoch(&mut self, now: Instant, smss: u32) {
        self.epoch_start = Some(now);
        self.cwnd_epoch = self.cwnd;
        self.w_est = self.cwnd;
        self.cwnd_acc = 0;
        self.est_acc = 0;
        if self.w_max <= self.cwnd {
            self.w_max = self.cwnd;
            self.k = 0;
        } else {
            self.k = Self::k_micros(self.w_max, self.cwnd, smss);
        }
    }

    fn saved(&self) -> Saved {
        Saved {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            w_max: self.w_max,
            cwnd_prior: self.cwnd_prior,
            cwnd_epoch: self.cwnd_epoch,
            w_est: self.w_est,
            k: self.k,
            epoch_start: self.epoch_start,
        }
    }

    /// ssthresh = max(FlightSize × β_cubic, 2 SMSS) (§4.6).
    fn reduced(flight_size: u32, smss: u32) -> u32 {
        scale(flight_size, BETA_NUM, BETA_DEN).max(smss.saturating_mul(2))
    }

    /// Congestion avoidance for one ACK (§4.2–§4.5).
    fn avoid(&mut self, ack: &AckEvent, smss: u32) {
        let start = self.epoch_start.unwrap_or(ack.now);
        let t = micros(ack.now.saturating_duration_since(start));
        let rtt = micros(ack.srtt.or(ack.min_rtt).unwrap_or(Duration::ZERO));
        let delivered = u64::from(ack.delivered);
        let cwnd = u64::from(self.cwnd.max(1));
        // W_est += α_cubic × segments_acked / cwnd (segments), α_cubic = 1
        // once W_est has reached cwnd_prior (§4.3).
        let alpha = if self.w_est >= self.cwnd_prior { ALPHA_DEN } else { ALPHA_NUM };
        self.est_acc = self.est_acc.saturating_add((alpha * u64::from(smss)).saturating_mul(delivered));
        let denominator = ALPHA_DEN * cwnd;
        let grow = self.est_acc / denominator;
        self.est_acc -= grow * denominator;
        self.w_est = self.w_est.saturating_add(u32::try_from(grow).unwrap_or(u32::MAX));
        if self.w_cubic(t, smss) < u64::from(self.w_est) {
            // Reno-friendly region (§4.3): cwnd = W_est.
            self.cwnd = self.cwnd.max(self.w_est);
            return;
        }
        // Concave (§4.4) and convex (§4.5) regions: grow by
        // (target − cwnd) / cwnd per SMSS acknowledged, the target being
        // W_cubic(t + RTT) clamped to [cwnd, 1.5 cwnd] (§4.2).
        let target = self.w_cubic(t.saturating_add(rtt), smss).clamp(cwnd, cwnd + cwnd / 2);
        self.cwnd_acc = self.cwnd_acc.saturating_add((target - cwnd).saturating_mul(delivered));
        let grow = self.cwnd_acc / cwnd;
        self.cwnd_acc -= grow * cwnd;
        self.cwnd = self.cwnd.saturating_add(u32::try_from(grow).unwrap_or(u32::MAX));
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn on_ack(&mut self, ack: &AckEvent) {
        let smss = ack.smss.max(1);
        let gap = self.last_ack.map(|last| ack.now.saturating_duration_since(last));
        self.last_ack = Some(ack.now);
        if ack.app_limited {
            // §5.8: no growth while application-limited, and the time does
            // not count towards t.
            if let (Some(start), Some(gap)) = (self.epoch_start.as_mut(), gap) {
                *start += gap;
            }
            return;
        }
        if self.cwnd < self.ssthresh {
            // §4.10: slow start, HyStart++ in the initial one.
            let step = self.hystart.slow_start(ack, self.ssthresh);
            self.cwnd = self.cwnd.saturating_add(step.grow);
            if step.enter_avoidance {
                self.ssthresh = self.cwnd;
            }
            return;
        }
        match self.epoch_start.as_mut() {
            None => self.start_epoch(ack.now, smss),
            Some(start) => {
                // An idle period ended (§5.8): take it out of t.
                if let (Some(gap), Some(rtt)) = (gap, ack.srtt.or(ack.min_rtt))
                    && gap > rtt
                {
                    *start += gap - rtt;
                }
            }
        }
        self.avoid(ack, smss);
    }
    fn on_congestion_event(&mut self, _now: Instant, flight_size: u32, smss: u32) {
        self.prior = Some(Box::new(self.saved()));
        // Fast convergence (§4.7): a window that stopped short of the last
        // W_max releases bandwidth by remembering less.
        self.w_max = if self.cwnd < self.w_max {
            scale(self.cwnd, FAST_CONVERGENCE_NUM, FAST_CONVERGENCE_DEN)
        } else {
            self.cwnd
        };
        self.cwnd_prior = self.cwnd;
        self.ssthresh = Self::reduced(flight_size, smss);
        self.epoch_start = None;
        self.last_ack = None;
        self.cwnd_acc = 0;
        self.est_acc = 0;
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd.max(1);
    }
    fn on_exit_recovery(&mut self, _now: Instant, _smss: u32) {
        // The epoch was ended by the congestion event (or restored by an
        // undo, which must stand); only the fractions are stale.
        self.cwnd_acc = 0;
        self.est_acc = 0;
    }
    fn on_rto(&mut self, _now: Instant, flight_size: u32, smss: u32) {
        // Keep the state from before the first of a series of timeouts.
        if self.prior.is_none() || self.cwnd > smss {
            self.prior = Some(Box::new(self.saved()));
            self.cwnd_prior = self.cwnd;
        }
        // §4.8: ssthresh as on a congestion event, cwnd to one segment
        // (RFC 5681), and the next congestion-avoidance stage starts with
        // K = 0 and W_max = cwnd_epoch, which W_max = 0 brings about.
        self.ssthresh = Self::reduced(flight_size, smss);
        self.cwnd = smss.max(1);
        self.w_max = 0;
        self.epoch_start = None;
        self.last_ack = None;
        self.cwnd_acc = 0;
        self.est_acc = 0;
    }
    fn undo(&mut self) {
        if let Some(saved) = self.prior.take() {
            // §4.9: restore cwnd (never lowering it, RFC 4015 §3), ssthresh,
            // W_max, K, the epoch and the Reno estimate.
            self.cwnd = self.cwnd.max(saved.cwnd);
            self.ssthresh = saved.ssthresh;
            self.w_max = saved.w_max;
            self.cwnd_prior = saved.cwnd_prior;
            self.cwnd_epoch = saved.cwnd_epoch;
            self.w_est = saved.w_est;
            self.k = saved.k;
            self.epoch_start = saved.epoch_start;
            self.last_ack = None;
            self.cwnd_acc = 0;
            self.est_acc = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::SeqNum;

    const MSS: u32 = 1000;

    fn segs(n: u32) -> u32 {
        n * MSS
    }

    /// RFC 9438 Figure 1 in f64, segments and seconds.
    fn w_cubic_f64(t: f64, k: f64, w_max_segs: f64) -> f64 {
        0.4 * (t - k).powi(3) + w_max_segs
    }

    /// A cwnd-limited flow with a fixed RTT and one ACK per SMSS: a window
    /// of ACKs spread evenly over every RTT. No connection involved.
    #[derive(Clone)]
    struct AckClock {
        cc: Cubic,
        /// Time as an exact offset from the start (ACK spacing is not a
        /// whole number of microseconds).
        elapsed: Duration,
        now: Instant,
        rtt: Duration,
        snd_una: SeqNum,
        app_limited: bool,
    }

    impl AckClock {
        fn new(cc: Cubic, rtt_ms: u64) -> Self {
            AckClock {
                cc,
                elapsed: Duration::ZERO,
                now: Instant::from_millis(1_000),
                rtt: Duration::from_millis(rtt_ms),
                snd_una: SeqNum(1),
                app_limited: false,
            }
        }

        fn ack_at(&mut self, now: Instant) {
            self.elapsed = now - Instant::from_millis(1_000);
            self.deliver(now);
        }

        fn deliver(&mut self, now: Instant) {
            self.now = now;
            self.snd_una += MSS;
            let ack = AckEvent {
                now,
                delivered: MSS,
                prior_in_flight: self.cc.cwnd(),
                smss: MSS,
                rtt: Some(self.rtt),
                min_rtt: Some(self.rtt),
                srtt: Some(self.rtt),
                snd_una: self.snd_una,
                snd_nxt: self.snd_una + self.cc.cwnd(),
                app_limited: self.app_limited,
            };
            self.cc.on_ack(&ack);
        }

        /// The next ACK, one RTT × SMSS / cwnd after the last.
        fn ack(&mut self) {
            self.elapsed += self.rtt * MSS / self.cc.cwnd().max(1);
            self.deliver(Instant::from_millis(1_000) + self.elapsed);
        }

        fn run_for(&mut self, d: Duration) {
            let end = self.now + d;
            while self.now < end {
                self.ack();
            }
        }

        /// A loss: reduction, then recovery ends with cwnd = ssthresh (what
        /// PRR leaves behind).
        fn loss(&mut self) {
            let cwnd = self.cc.cwnd();
            self.cc.on_congestion_event(self.now, cwnd, MSS);
            self.cc.set_cwnd(self.cc.ssthresh());
            self.cc.on_exit_recovery(self.now, MSS);
        }
    }

    /// A flow at `w_max` segments that has just lost and recovered: cwnd
    /// 0.7 × w_max, ssthresh the same, no epoch yet.
    fn after_loss(w_max: u32, rtt_ms: u64) -> AckClock {
        let mut clock = AckClock::new(Cubic::new(w_max, MSS, false), rtt_ms);
        clock.loss();
        clock
    }

    fn secs(s: f64) -> Duration {
        Duration::from_micros((s * 1e6) as u64)
    }

    #[test]
    fn integer_cube_root() {
        for n in [0u128, 1, 7, 8, 26, 27, 64, 1_000_000, 999_999, u128::from(u64::MAX), u128::MAX] {
            let r = u128::from(icbrt(n));
            assert!(r * r * r <= n, "{n}");
            let r1 = r + 1;
            assert!(r1.checked_mul(r1).and_then(|s| s.checked_mul(r1)).is_none_or(|c| c > n), "{n}");
        }
        assert_eq!(icbrt(27), 3);
        assert_eq!(icbrt(1_000_000_000_000_000_000), 1_000_000);
    }

    #[test]
    fn k_matches_the_rfc() {
        // K = ∛((W_max − cwnd_epoch) / C), windows in segments.
        for (w_max, epoch, smss) in [(100, 70, 1000), (1000, 700, 1460), (76, 63, 536), (10, 9, 1460)] {
            let k = Cubic::k_micros(w_max * smss, epoch * smss, smss);
            let expect = (f64::from(w_max - epoch) / 0.4).cbrt() * 1e6;
            assert!((f64::from(k) - expect).abs() <= 1.0, "K {k} µs, RFC {expect} µs");
        }
        // Loss at W_max = 100 segments: the epoch's K is ∛75 s ≈ 4.217 s.
        let mut clock = after_loss(100, 100);
        assert_eq!((clock.cc.cwnd(), clock.cc.ssthresh(), clock.cc.w_max), (segs(70), segs(70), segs(100)));
        clock.ack();
        assert_eq!(clock.cc.k, 4_217_163);
        assert_eq!(clock.cc.cwnd_epoch, segs(70));
        // No excess over W_max: K = 0.
        assert_eq!(Cubic::k_micros(segs(50), segs(60), MSS), 0);
    }

    #[test]
    fn window_function_matches_the_rfc_at_sample_points() {
        let mut clock = after_loss(100, 100);
        clock.ack();
        let cc = &clock.cc;
        let k = f64::from(cc.k) / 1e6;
        // Concave (t < K), at K, and convex (t > K).
        for t in [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, k, 4.5, 5.0, 6.0, 8.0, 10.0] {
            let got = cc.w_cubic((t * 1e6) as u64, MSS) as f64;
            let expect = w_cubic_f64(t, k, 100.0) * f64::from(MSS);
            assert!((got - expect).abs() <= 1.0, "t={t}: {got} vs {expect}");
        }
        // W_cubic(0) is cwnd_epoch, W_cubic(K) is W_max.
        assert!(cc.w_cubic(0, MSS).abs_diff(u64::from(segs(70))) <= 1);
        assert_eq!(cc.w_cubic(u64::from(cc.k), MSS), u64::from(segs(100)));
    }

    #[test]
    fn per_ack_growth_in_concave_and_convex_regions() {
        let rtt = 0.1;
        let mut base = after_loss(100, 100);
        base.ack();
        let k = f64::from(base.cc.k) / 1e6;
        let epoch = base.cc.epoch_start.unwrap();
        // One ACK of one SMSS at time t into the epoch, cwnd set to `cwnd`:
        // growth is (target − cwnd) / cwnd × SMSS, target = W_cubic(t + RTT)
        // clamped to [cwnd, 1.5 cwnd] (RFC 9438 §4.2, §4.4, §4.5).
        let one_ack = |t: f64, cwnd_segs: u32| {
            let mut clock = base.clone();
            clock.cc.set_cwnd(segs(cwnd_segs));
            clock.cc.last_ack = None;
            clock.ack_at(epoch + secs(t));
            let target = w_cubic_f64(t + rtt, k, 100.0).clamp(f64::from(cwnd_segs), 1.5 * f64::from(cwnd_segs));
            let expect = (target - f64::from(cwnd_segs)) / f64::from(cwnd_segs) * f64::from(MSS);
            (f64::from(clock.cc.cwnd() - segs(cwnd_segs)), expect)
        };
        // Concave: t = 1 s, cwnd 70 segments; about 255 bytes.
        let (got, expect) = one_ack(1.0, 70);
        assert!(expect > 250.0 && (got - expect).abs() <= 1.0, "{got} vs {expect}");
        // Convex: t = K + 2 s, cwnd 100 segments; about 37 bytes.
        let (got, expect) = one_ack(k + 2.0, 100);
        assert!(expect > 30.0 && (got - expect).abs() <= 1.0, "{got} vs {expect}");
        // Far in the convex region the target is capped at 1.5 cwnd: half
        // an SMSS per SMSS acknowledged.
        let (got, expect) = one_ack(k + 20.0, 100);
        assert_eq!((got, expect), (500.0, 500.0));
        // Above W_cubic(t + RTT) the target is cwnd: no growth.
        let (got, expect) = one_ack(1.0, 95);
        assert_eq!((got, expect), (0.0, 0.0));
    }

    #[test]
    fn regains_w_max_after_about_k() {
        // Loss at W_max = 100 segments, 100 ms RTT: K ≈ 4.217 s. The window
        // follows W_cubic: it climbs fast, flattens near W_max, and reaches
        // it about K after the epoch began, then accelerates beyond it.
        let mut clock = after_loss(100, 100);
        clock.ack();
        let start = clock.now;
        let k = f64::from(clock.cc.k) / 1e6;
        let mut samples = Vec::new();
        let mut regained = None;
        while clock.now < start + secs(k + 3.0) {
            clock.ack();
            let t = (clock.now - start).as_secs_f64();
            samples.push((t, f64::from(clock.cc.cwnd()) / f64::from(MSS), f64::from(clock.cc.w_est) / f64::from(MSS)));
            if regained.is_none() && clock.cc.cwnd() >= segs(100) {
                regained = Some(t);
            }
        }
        let regained = regained.expect("never regained W_max");
        assert!((regained - k).abs() < 0.3, "regained W_max at {regained} s, K = {k} s");
        let sample = |t: f64| *samples.iter().find(|s| s.0 >= t).unwrap();
        let at = |t: f64| sample(t).1;
        // cwnd tracks W_cubic(t) closely, until W_est, which grows one
        // segment per RTT once past cwnd_prior, overtakes it after K (the
        // Reno-friendly region, §4.3).
        let mut reno_friendly = 0;
        for t in [0.5, 1.0, 2.0, 3.0, 4.0, k + 0.5, k + 1.0, k + 1.5, k + 2.0, k + 2.9] {
            let (_, cwnd, w_est) = sample(t);
            let expect = w_cubic_f64(t, k, 100.0).max(w_est);
            assert!((cwnd - expect).abs() < 0.1, "t={t}: cwnd {cwnd} vs W_cubic {expect}");
            if w_est > w_cubic_f64(t, k, 100.0) {
                reno_friendly += 1;
            }
        }
        assert_eq!(reno_friendly, 2);
        // Concave then convex: growth slows towards K and speeds up after.
        let first = at(1.0) - at(0.0);
        let before_k = at(k) - at(k - 1.0);
        let after_k = at(k + 1.0) - at(k);
        let later = at(k + 2.0) - at(k + 1.0);
        assert!(first > 5.0 * before_k && later > 5.0 * after_k, "{first} {before_k} {after_k} {later}");
    }

    #[test]
    fn reno_friendly_region_on_short_rtts() {
        // At a 1 ms RTT the cubic curve barely moves in tens of RTTs, so
        // W_est decides: α_cubic = 9/17 segments per RTT until W_est reaches
        // cwnd_prior (100), then one segment per RTT (RFC 9438 §4.3).
        let mut clock = after_loss(100, 1);
        clock.ack();
        clock.run_for(Duration::from_millis(20));
        let expect = 70.0 + 20.0 * 9.0 / 17.0;
        let got = f64::from(clock.cc.cwnd()) / f64::from(MSS);
        assert!((got - expect).abs() < 0.5, "{got} vs {expect}");
        assert_eq!(clock.cc.cwnd(), clock.cc.w_est);
        // Until cwnd_prior: (100 − 70) / (9/17) ≈ 56.7 RTTs.
        let start = clock.now;
        while clock.cc.w_est < segs(100) {
            clock.ack();
        }
        let rtts = (clock.now - start).as_secs_f64() * 1000.0 + 20.0;
        assert!((rtts - 30.0 * 17.0 / 9.0).abs() < 2.0, "{rtts} RTTs");
        // Then α = 1: 20 RTTs add 20 segments.
        let before = clock.cc.cwnd();
        clock.run_for(Duration::from_millis(20));
        let grown = f64::from(clock.cc.cwnd() - before) / f64::from(MSS);
        assert!((grown - 20.0).abs() < 0.6, "{grown}");
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut cc = Cubic::new(100, MSS, false);
        cc.on_congestion_event(Instant::ZERO, segs(100), MSS);
        assert_eq!((cc.w_max, cc.cwnd_prior, cc.ssthresh), (segs(100), segs(100), segs(70)));
        // The next loss comes at 90 segments, below W_max: W_max becomes
        // 90 × (1 + 0.7) / 2 = 76.5 segments (RFC 9438 §4.7).
        cc.set_cwnd(segs(90));
        cc.on_congestion_event(Instant::ZERO, segs(90), MSS);
        assert_eq!((cc.w_max, cc.cwnd_prior, cc.ssthresh), (76_500, segs(90), segs(63)));
        cc.set_cwnd(segs(63));
        cc.on_exit_recovery(Instant::ZERO, MSS);
        let mut clock = AckClock::new(cc, 100);
        clock.ack();
        let expect = (13.5f64 / 0.4).cbrt() * 1e6;
        assert!((f64::from(clock.cc.k) - expect).abs() <= 1.0);
        // A loss above W_max just records the window.
        clock.cc.set_cwnd(segs(120));
        clock.cc.on_congestion_event(clock.now, segs(120), MSS);
        assert_eq!(clock.cc.w_max, segs(120));
        // Small flights keep ssthresh at two segments at least.
        clock.cc.on_congestion_event(clock.now, MSS, MSS);
        assert_eq!(clock.cc.ssthresh, segs(2));
    }

    #[test]
    fn undo_restores_the_state_exactly() {
        let mut clock = after_loss(100, 100);
        clock.ack();
        clock.run_for(Duration::from_secs(2));
        let before = clock.cc.saved();
        assert!(before.epoch_start.is_some() && before.k > 0);
        let mut twin = clock.clone();
        // A congestion event that proves spurious (D-SACK, RFC 3708).
        let cwnd = clock.cc.cwnd();
        clock.cc.on_congestion_event(clock.now, cwnd, MSS);
        clock.cc.set_cwnd(clock.cc.ssthresh());
        clock.cc.on_exit_recovery(clock.now, MSS);
        assert_ne!(clock.cc.saved(), before);
        clock.cc.undo();
        assert_eq!(clock.cc.saved(), before);
        // It grows on as if the event had never been, to within the
        // fractions of a byte the undo dropped.
        for _ in 0..500 {
            clock.ack();
            twin.ack_at(clock.now);
        }
        assert!(clock.cc.cwnd().abs_diff(twin.cc.cwnd()) <= 2, "{} vs {}", clock.cc.cwnd(), twin.cc.cwnd());
        // A second undo has nothing left to restore.
        let now = clock.cc.saved();
        clock.cc.undo();
        assert_eq!(clock.cc.saved(), now);
        // Undoing an RTO (F-RTO, RFC 5682) likewise.
        let before = clock.cc.saved();
        clock.cc.on_rto(clock.now, before.cwnd, MSS);
        clock.cc.on_rto(clock.now, before.cwnd, MSS);
        clock.cc.undo();
        assert_eq!(clock.cc.saved(), before);
    }

    #[test]
    fn rto_resets_to_one_segment_and_restarts_with_k_zero() {
        let mut clock = after_loss(100, 100);
        clock.ack();
        clock.run_for(Duration::from_secs(1));
        let cwnd = clock.cc.cwnd();
        clock.cc.on_rto(clock.now, cwnd, MSS);
        // RFC 9438 §4.8: ssthresh = FlightSize × β_cubic, cwnd = 1 SMSS.
        assert_eq!(clock.cc.cwnd(), MSS);
        assert_eq!(clock.cc.ssthresh(), scale(cwnd, 7, 10));
        assert_eq!(clock.cc.epoch_start, None);
        // Slow start (no HyStart++ after a loss) back to ssthresh...
        let ssthresh = clock.cc.ssthresh();
        while clock.cc.cwnd() < ssthresh {
            let before = clock.cc.cwnd();
            clock.ack();
            assert_eq!(clock.cc.cwnd() - before, MSS);
        }
        // ...then congestion avoidance with K = 0 and W_max = cwnd_epoch.
        clock.ack();
        assert_eq!(clock.cc.k, 0);
        assert_eq!(clock.cc.w_max, clock.cc.cwnd_epoch);
        assert!(clock.cc.cwnd_epoch >= ssthresh);
    }

    #[test]
    fn application_limited_acks_do_not_grow_the_window() {
        // In slow start...
        let mut clock = AckClock::new(Cubic::new(10, MSS, true), 100);
        clock.app_limited = true;
        clock.run_for(Duration::from_secs(1));
        assert_eq!(clock.cc.cwnd(), segs(10));
        // ...and in congestion avoidance.
        let mut clock = after_loss(100, 100);
        clock.ack();
        clock.run_for(Duration::from_secs(1));
        let cwnd = clock.cc.cwnd();
        clock.app_limited = true;
        clock.run_for(Duration::from_secs(1));
        assert_eq!(clock.cc.cwnd(), cwnd);
    }

    #[test]
    fn application_limited_time_is_not_counted() {
        // Two flows; one is application-limited for 3 s in the middle. Its
        // window afterwards grows exactly as if those 3 s had not passed.
        let mut limited = after_loss(100, 100);
        limited.ack();
        limited.run_for(Duration::from_secs(1));
        let mut steady = limited.clone();
        let shift = {
            let t0 = limited.now;
            limited.app_limited = true;
            limited.run_for(Duration::from_secs(3));
            limited.app_limited = false;
            limited.now - t0
        };
        let mut trace = Vec::new();
        for _ in 0..2000 {
            steady.ack();
            limited.ack_at(steady.now + shift);
            trace.push((steady.cc.cwnd(), limited.cc.cwnd()));
        }
        assert!(trace.iter().all(|(a, b)| a == b), "{:?}", trace.iter().find(|(a, b)| a != b));
        assert!(trace.last().unwrap().0 > trace[0].0);
    }

    #[test]
    fn idle_time_is_not_counted() {
        let mut idle = after_loss(100, 100);
        idle.ack();
        idle.run_for(Duration::from_secs(1));
        let mut steady = idle.clone();
        let epoch = idle.cc.epoch_start.unwrap();
        // Nothing for 10 s, then the ACK clock resumes.
        let gap = idle.rtt * MSS / idle.cc.cwnd();
        idle.ack_at(idle.now + Duration::from_secs(10) + gap);
        steady.ack();
        // t_epoch moved by the idle time (the gap less one RTT)...
        let moved = (Duration::from_secs(10) + gap - idle.rtt).as_micros();
        assert!((idle.cc.epoch_start.unwrap() - epoch).as_micros().abs_diff(moved) <= 1);
        // ...so the window did not jump to 1.5 cwnd towards W_cubic(11 s).
        assert!(idle.cc.cwnd() <= steady.cc.cwnd() + 100, "{} vs {}", idle.cc.cwnd(), steady.cc.cwnd());
        for _ in 0..1000 {
            steady.ack();
            idle.ack_at(steady.now + Duration::from_secs(10));
        }
        let (a, b) = (f64::from(steady.cc.cwnd()), f64::from(idle.cc.cwnd()));
        assert!((a - b).abs() / a < 0.02, "{a} vs {b}");
    }

    #[test]
    fn hystart_ends_cubic_slow_start_and_congestion_avoidance_follows() {
        let mut cc = Cubic::new(10, MSS, true);
        let now = super::super::hystart::tests::slow_start_with_rising_rtt(&mut cc, MSS, 40);
        assert_ne!(cc.ssthresh(), u32::MAX, "HyStart++ never left slow start");
        assert!(cc.ssthresh() >= cc.cwnd() - MSS && cc.ssthresh() <= cc.cwnd());
        // Congestion avoidance from here: the epoch starts with K = 0.
        let cwnd = cc.cwnd();
        let mut clock = AckClock::new(cc, 150);
        clock.ack_at(now + Duration::from_millis(1));
        assert_eq!((clock.cc.k, clock.cc.w_max), (0, cwnd));
        clock.run_for(Duration::from_secs(1));
        let grown = clock.cc.cwnd() - cwnd;
        assert!(grown > 0 && grown < cwnd / 2, "{grown}");
    }

    #[test]
    fn deterministic() {
        let run = || {
            let mut clock = after_loss(100, 37);
            let mut trace = Vec::new();
            for i in 0..20_000u32 {
                clock.ack();
                if i % 4000 == 3999 {
                    clock.loss();
                }
                trace.push(clock.cc.cwnd());
            }
            trace
        };
        let a = run();
        assert_eq!(a, run());
        // And the trace is not flat: losses and regrowth happened.
        assert!(a.iter().max() > a.iter().min());
    }
}
