//! Congestion control behind a small trait (RFC 5681, RFC 6582, RFC 6928).
//!
//! The connection owns loss detection (duplicate-ACK counting, the NewReno
//! `recover` point, the retransmission timer) and tells the controller what
//! happened; the controller owns `cwnd` and `ssthresh`. SACK-based recovery,
//! RACK-TLP and CUBIC plug in here later.

use core::fmt::Debug;

/// What a congestion controller must answer and hear about. All sizes are
/// bytes; `smss` is the sender maximum segment size.
pub trait CongestionControl: Debug + Send {
    /// A short name for stats and traces.
    fn name(&self) -> &'static str;
    /// The congestion window.
    fn cwnd(&self) -> u32;
    /// The slow-start threshold.
    fn ssthresh(&self) -> u32;
    /// New data acknowledged outside recovery.
    fn on_ack(&mut self, newly_acked: u32, smss: u32);
    /// The third duplicate ACK started fast retransmit / fast recovery.
    fn on_enter_recovery(&mut self, flight_size: u32, smss: u32);
    /// A further duplicate ACK during recovery (window inflation).
    fn on_dup_ack_in_recovery(&mut self, smss: u32);
    /// A partial ACK during recovery (RFC 6582 §3.2 step 5).
    fn on_partial_ack(&mut self, newly_acked: u32, smss: u32);
    /// A full ACK ended recovery (RFC 6582 §3.2 step 3).
    fn on_exit_recovery(&mut self, flight_size: u32, smss: u32);
    /// The retransmission timer expired (RFC 5681 §3.1 equation 4).
    fn on_rto(&mut self, flight_size: u32, smss: u32);
}

/// RFC 5681 slow start and congestion avoidance with RFC 6582 NewReno
/// recovery; initial window from RFC 6928 (10 segments by default).
#[derive(Clone, Debug)]
pub struct NewReno {
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged since cwnd last grew in congestion avoidance
    /// (RFC 5681 §3.1, the byte-counting variant).
    bytes_acked: u32,
}

impl NewReno {
    /// A controller with an initial window of `initial_segments` × `smss`
    /// and an arbitrarily high ssthresh (RFC 5681 §3.1).
    pub fn new(initial_segments: u32, smss: u32) -> Self {
        NewReno { cwnd: initial_segments.max(1).saturating_mul(smss), ssthresh: u32::MAX, bytes_acked: 0 }
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
    fn on_ack(&mut self, newly_acked: u32, smss: u32) {
        if self.cwnd < self.ssthresh {
            // Slow start, RFC 5681 §3.1 equation (2) with L = 1 SMSS (RFC 3465).
            self.cwnd = self.cwnd.saturating_add(newly_acked.min(smss));
        } else {
            // Congestion avoidance: one SMSS per cwnd of acknowledged bytes.
            self.bytes_acked = self.bytes_acked.saturating_add(newly_acked);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(smss);
            }
        }
    }
    fn on_enter_recovery(&mut self, flight_size: u32, smss: u32) {
        self.ssthresh = Self::halve(flight_size, smss);
        self.cwnd = self.ssthresh + 3 * smss;
        self.bytes_acked = 0;
    }
    fn on_dup_ack_in_recovery(&mut self, smss: u32) {
        self.cwnd = self.cwnd.saturating_add(smss);
    }
    fn on_partial_ack(&mut self, newly_acked: u32, smss: u32) {
        // Deflate by the amount acknowledged, add back one SMSS if at least
        // one SMSS was acknowledged (RFC 6582 §3.2 step 5).
        self.cwnd = self.cwnd.saturating_sub(newly_acked);
        if newly_acked >= smss {
            self.cwnd = self.cwnd.saturating_add(smss);
        }
        self.cwnd = self.cwnd.max(smss);
    }
    fn on_exit_recovery(&mut self, flight_size: u32, smss: u32) {
        // RFC 6582 §3.2 step 3, option (1): min(ssthresh, max(FlightSize, SMSS) + SMSS).
        self.cwnd = self.ssthresh.min(flight_size.max(smss) + smss);
        self.bytes_acked = 0;
    }
    fn on_rto(&mut self, flight_size: u32, smss: u32) {
        self.ssthresh = Self::halve(flight_size, smss);
        // Loss window of one segment (RFC 5681 §3.1).
        self.cwnd = smss;
        self.bytes_acked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    #[test]
    fn slow_start_then_avoidance() {
        let mut cc = NewReno::new(10, MSS);
        assert_eq!(cc.cwnd(), 10_000);
        cc.on_ack(1000, MSS);
        assert_eq!(cc.cwnd(), 11_000);
        // An ACK of many segments grows by at most one SMSS (L = 1).
        cc.on_ack(5000, MSS);
        assert_eq!(cc.cwnd(), 12_000);
        cc.on_rto(20_000, MSS);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (1000, 10_000));
        for _ in 0..9 {
            cc.on_ack(1000, MSS);
        }
        assert_eq!(cc.cwnd(), 10_000);
        // Now at ssthresh: one SMSS per cwnd of acknowledged data.
        for _ in 0..9 {
            cc.on_ack(1000, MSS);
        }
        assert_eq!(cc.cwnd(), 10_000);
        cc.on_ack(1000, MSS);
        assert_eq!(cc.cwnd(), 11_000);
    }

    #[test]
    fn newreno_recovery_arithmetic() {
        let mut cc = NewReno::new(10, MSS);
        cc.on_enter_recovery(10_000, MSS);
        assert_eq!((cc.ssthresh(), cc.cwnd()), (5000, 8000));
        cc.on_dup_ack_in_recovery(MSS);
        assert_eq!(cc.cwnd(), 9000);
        cc.on_partial_ack(3000, MSS);
        assert_eq!(cc.cwnd(), 7000);
        cc.on_partial_ack(500, MSS);
        assert_eq!(cc.cwnd(), 6500);
        cc.on_exit_recovery(2000, MSS);
        assert_eq!(cc.cwnd(), 3000);
        cc.on_exit_recovery(9000, MSS);
        assert_eq!(cc.cwnd(), 5000);
        // Small flights never push ssthresh under two segments.
        cc.on_enter_recovery(1000, MSS);
        assert_eq!(cc.ssthresh(), 2000);
    }
}
