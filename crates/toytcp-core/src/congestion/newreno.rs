//! NewReno: RFC 5681 slow start and congestion avoidance, RFC 6582 recovery.

use super::hystart::HyStart;
use super::{AckEvent, CongestionControl};
use crate::time::Instant;

/// RFC 5681 slow start and congestion avoidance; the multiplicative
/// decrease of RFC 5681 §3.1 equation (4) on a congestion event or an RTO.
/// Initial window from RFC 6928 (10 segments by default); HyStart++
/// (RFC 9406) decides when the initial slow start ends, if enabled.
#[derive(Clone, Debug)]
pub struct NewReno {
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged since cwnd last grew in congestion avoidance
    /// (RFC 5681 §3.1, the byte-counting variant).
    bytes_acked: u32,
    /// (cwnd, ssthresh) before the last congestion event or RTO, for undo.
    prior: Option<(u32, u32)>,
    hystart: HyStart,
}

impl NewReno {
    /// A controller with an initial window of `initial_segments` × `smss`,
    /// an arbitrarily high ssthresh (RFC 5681 §3.1), and HyStart++ in the
    /// initial slow start if `hystart`.
    pub fn new(initial_segments: u32, smss: u32, hystart: bool) -> Self {
        NewReno {
            cwnd: initial_segments.max(1).saturating_mul(smss),
            ssthresh: u32::MAX,
            bytes_acked: 0,
            prior: None,
            hystart: HyStart::new(hystart),
        }
    }

    /// RFC 5681 equation (4): ssthresh = max(FlightSize / 2, 2 × SMSS).
    fn halve(flight_size: u32, smss: u32) -> u32 {
        (flight_size / 2).max(2 * smss)
    }
}

impl CongestionControl for NewReno {
    fn name(&self) -> &'static str {
        "newreno"
    }
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn on_ack(&mut self, ack: &AckEvent) {
        if ack.app_limited {
            return;
        }
        let smss = ack.smss;
        if self.cwnd < self.ssthresh {
            // Slow start, RFC 5681 §3.1 equation (2) with L = 1 SMSS (RFC 3465),
            // ended early by HyStart++ (RFC 9406) in the initial one.
            let step = self.hystart.slow_start(ack, self.ssthresh);
            self.cwnd = self.cwnd.saturating_add(step.grow);
            if step.enter_avoidance {
                self.ssthresh = self.cwnd;
            }
        } else {
            // Congestion avoidance: one SMSS per cwnd of acknowledged bytes.
            self.bytes_acked = self.bytes_acked.saturating_add(ack.delivered);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(smss);
            }
        }
    }
    fn on_congestion_event(&mut self, _now: Instant, flight_size: u32, smss: u32) {
        self.prior = Some((self.cwnd, self.ssthresh));
        self.ssthresh = Self::halve(flight_size, smss);
        self.bytes_acked = 0;
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.cwnd = cwnd.max(1);
    }
    fn on_exit_recovery(&mut self, _now: Instant, _smss: u32) {
        self.bytes_acked = 0;
    }
    fn on_rto(&mut self, _now: Instant, flight_size: u32, smss: u32) {
        // Keep the state from before the first of a series of timeouts.
        if self.prior.is_none() || self.cwnd > smss {
            self.prior = Some((self.cwnd, self.ssthresh));
        }
        self.ssthresh = Self::halve(flight_size, smss);
        // Loss window of one segment (RFC 5681 §3.1).
        self.cwnd = smss;
        self.bytes_acked = 0;
    }
    fn undo(&mut self) {
        if let Some((cwnd, ssthresh)) = self.prior.take() {
            // RFC 4015 §3: restore the window from before the spurious event.
            self.cwnd = self.cwnd.max(cwnd);
            self.ssthresh = ssthresh;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::SeqNum;

    const MSS: u32 = 1000;

    fn ack(delivered: u32) -> AckEvent {
        AckEvent {
            now: Instant::ZERO,
            delivered,
            prior_in_flight: 0,
            smss: MSS,
            rtt: None,
            min_rtt: None,
            srtt: None,
            snd_una: SeqNum(0),
            snd_nxt: SeqNum(0),
            app_limited: false,
        }
    }

    #[test]
    fn slow_start_then_avoidance() {
        let mut cc = NewReno::new(10, MSS, true);
        assert_eq!(cc.cwnd(), 10_000);
        cc.on_ack(&ack(1000));
        assert_eq!(cc.cwnd(), 11_000);
        // An ACK of many segments grows by at most one SMSS (L = 1).
        cc.on_ack(&ack(5000));
        assert_eq!(cc.cwnd(), 12_000);
        cc.on_rto(Instant::ZERO, 20_000, MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (1000, 10_000));
        for _ in 0..9 {
            cc.on_ack(&ack(1000));
        }
        assert_eq!(cc.cwnd(), 10_000);
        // Now at ssthresh: one SMSS per cwnd of acknowledged data.
        for _ in 0..9 {
            cc.on_ack(&ack(1000));
        }
        assert_eq!(cc.cwnd(), 10_000);
        cc.on_ack(&ack(1000));
        assert_eq!(cc.cwnd(), 11_000);
    }

    #[test]
    fn hystart_ends_the_initial_slow_start() {
        use crate::congestion::hystart::tests::slow_start_with_rising_rtt;
        // With HyStart++: the rising RTT leads through CSS to ssthresh = cwnd.
        let mut cc = NewReno::new(10, MSS, true);
        slow_start_with_rising_rtt(&mut cc, MSS, 40);
        assert_ne!(cc.ssthresh(), u32::MAX);
        assert!(cc.ssthresh() <= cc.cwnd() && cc.ssthresh() + MSS >= cc.cwnd());
        // Congestion avoidance from there: one SMSS per window.
        let cwnd = cc.cwnd();
        for _ in 0..cwnd.div_ceil(MSS) {
            assert_eq!(cc.cwnd(), cwnd);
            cc.on_ack(&ack(MSS));
        }
        assert_eq!(cc.cwnd(), cwnd + MSS);
        // Without it, slow start goes on through the same rounds.
        let mut cc = NewReno::new(10, MSS, false);
        slow_start_with_rising_rtt(&mut cc, MSS, 10);
        assert_eq!(cc.ssthresh(), u32::MAX);
        assert!(cc.cwnd() > 1000 * MSS);
    }

    #[test]
    fn app_limited_acks_do_not_grow_the_window() {
        let mut cc = NewReno::new(10, MSS, true);
        cc.on_ack(&AckEvent { app_limited: true, ..ack(1000) });
        assert_eq!(cc.cwnd(), 10_000);
    }

    #[test]
    fn congestion_event_halves_and_undo_restores() {
        let mut cc = NewReno::new(10, MSS, true);
        cc.on_congestion_event(Instant::ZERO, 10_000, MSS);
        assert_eq!(cc.ssthresh(), 5000);
        cc.set_cwnd(8000);
        assert_eq!(cc.cwnd(), 8000);
        cc.undo();
        assert_eq!((cc.cwnd(), cc.ssthresh()), (10_000, u32::MAX));
        // Small flights never push ssthresh under two segments.
        cc.on_congestion_event(Instant::ZERO, 1000, MSS);
        assert_eq!(cc.ssthresh(), 2000);
        // Two RTOs in a row: undo goes back to before the first.
        let mut cc = NewReno::new(10, MSS, true);
        cc.on_rto(Instant::ZERO, 10_000, MSS);
        cc.on_rto(Instant::ZERO, 1000, MSS);
        cc.undo();
        assert_eq!((cc.cwnd(), cc.ssthresh()), (10_000, u32::MAX));
    }
}
