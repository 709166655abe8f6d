//! Congestion control behind a small trait (RFC 5681, RFC 6582, RFC 6928,
//! RFC 9438 CUBIC, RFC 9406 HyStart++).
//!
//! Division of labour: the connection owns loss detection (duplicate ACKs,
//! the SACK scoreboard, RACK, the retransmission timer) and the sending rate
//! *during* recovery (PRR, RFC 6937, or RFC 6582 window inflation), and it
//! tells the controller what happened; the controller owns `cwnd` and
//! `ssthresh` outside recovery: how the window grows on ACKs, how much a
//! congestion event or an RTO takes away, and how a spurious one is undone.
//!
//! Controllers are held inline in the connection through [`Controller`], an
//! enum, so that choosing one costs neither a heap allocation nor a pointer
//! chase per connection.

mod cubic;
pub mod hystart;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

use core::fmt::Debug;

use crate::config::ConnectionConfig;
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};

/// Which congestion controller a connection uses. Displays as, and parses
/// from (ignoring ASCII case), `"newreno"` and `"cubic"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CongestionAlgorithm {
    /// RFC 5681 slow start and congestion avoidance, RFC 6582 recovery.
    NewReno,
    /// CUBIC (RFC 9438), the default as in Linux.
    #[default]
    Cubic,
}

impl CongestionAlgorithm {
    /// The name it displays as and parses from.
    pub fn as_str(self) -> &'static str {
        match self {
            CongestionAlgorithm::NewReno => "newreno",
            CongestionAlgorithm::Cubic => "cubic",
        }
    }
}

impl core::fmt::Display for CongestionAlgorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a congestion algorithm's (see [`CongestionAlgorithm`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCongestionAlgorithm;

impl core::fmt::Display for UnknownCongestionAlgorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("unknown congestion control algorithm (expected \"newreno\" or \"cubic\")")
    }
}

impl core::error::Error for UnknownCongestionAlgorithm {}

impl core::str::FromStr for CongestionAlgorithm {
    type Err = UnknownCongestionAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownCongestionAlgorithm)
    }
}

/// What the connection tells the controller about one ACK that delivered
/// new data outside recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckEvent {
    /// When the ACK arrived.
    pub now: Instant,
    /// Bytes newly delivered by this ACK: cumulatively acknowledged plus
    /// newly SACKed (RFC 6937's DeliveredData).
    pub delivered: u32,
    /// Bytes in flight before this ACK was processed.
    pub prior_in_flight: u32,
    /// The sender maximum segment size.
    pub smss: u32,
    /// An RTT sample taken from this ACK, if it yielded one (Karn-safe).
    pub rtt: Option<Duration>,
    /// The smallest RTT seen on the connection so far, if any.
    pub min_rtt: Option<Duration>,
    /// The smoothed RTT, if any sample was taken (RFC 6298 SRTT).
    pub srtt: Option<Duration>,
    /// SND.UNA after this ACK.
    pub snd_una: SeqNum,
    /// SND.NXT when the ACK was processed (the right edge of data sent;
    /// HyStart++ rounds end when SND.UNA passes the SND.NXT of their start).
    pub snd_nxt: SeqNum,
    /// The flight before this ACK did not fill the congestion window because
    /// the application or the peer's window held it back: RFC 7661 §4.3 and
    /// RFC 9438 §5.8 want cwnd not to grow on such ACKs.
    pub app_limited: bool,
}

/// What a congestion controller must answer and hear about. All sizes are
/// bytes; `smss` is the sender maximum segment size.
pub trait CongestionControl: Debug + Send {
    /// A short name for stats and traces.
    fn name(&self) -> &'static str;
    /// The congestion window.
    fn cwnd(&self) -> u32;
    /// The slow-start threshold.
    fn ssthresh(&self) -> u32;
    /// New data was delivered outside recovery: grow the window.
    fn on_ack(&mut self, ack: &AckEvent);
    /// A loss was detected (third duplicate ACK, RFC 6675 IsLost, or RACK)
    /// and recovery begins: at most once per window of data. Sets
    /// `ssthresh` (the multiplicative decrease) and remembers what
    /// [`CongestionControl::undo`] needs; the connection then sets `cwnd`
    /// through [`CongestionControl::set_cwnd`] while recovery lasts.
    fn on_congestion_event(&mut self, now: Instant, flight_size: u32, smss: u32);
    /// During recovery the connection decides the window (PRR, RFC 6937 §3,
    /// or RFC 6582 inflation) and sets it here.
    fn set_cwnd(&mut self, cwnd: u32);
    /// Recovery ended (the ACK covered the recovery point). RFC 6937 §3
    /// leaves `cwnd = ssthresh` (the connection has already set it);
    /// controllers reset per-epoch state here.
    fn on_exit_recovery(&mut self, now: Instant, smss: u32);
    /// The retransmission timer expired (RFC 5681 §3.1 equation 4: loss window of one segment).
    fn on_rto(&mut self, now: Instant, flight_size: u32, smss: u32);
    /// The last congestion event or RTO proved spurious (F-RTO, RFC 5682;
    /// D-SACK, RFC 3708; Eifel, RFC 3522): restore `cwnd` and `ssthresh`
    /// to what they were before it (RFC 4015 §3 response).
    fn undo(&mut self);
}

/// The controller a connection holds: one variant per algorithm.
#[derive(Clone, Debug)]
pub enum Controller {
    /// RFC 5681 / RFC 6582.
    NewReno(NewReno),
    /// RFC 9438.
    Cubic(Cubic),
}

impl Controller {
    /// The controller `config` asks for (`congestion`, `hystart`), with an
    /// initial window of `initial_window_segments` × `smss` (RFC 6928).
    pub fn new(config: &ConnectionConfig, smss: u32) -> Self {
        match config.congestion {
            CongestionAlgorithm::NewReno => {
                Controller::NewReno(NewReno::new(config.initial_window_segments, smss, config.hystart))
            }
            CongestionAlgorithm::Cubic => {
                Controller::Cubic(Cubic::new(config.initial_window_segments, smss, config.hystart))
            }
        }
    }

    /// Heap bytes the controller holds (CUBIC's undo snapshot, boxed on
    /// the first congestion event; NewReno holds none).
    pub(crate) fn allocated(&self) -> usize {
        match self {
            Controller::NewReno(_) => 0,
            Controller::Cubic(c) => c.allocated(),
        }
    }

    fn inner(&self) -> &dyn CongestionControl {
        match self {
            Controller::NewReno(c) => c,
            Controller::Cubic(c) => c,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Controller::NewReno(c) => c,
            Controller::Cubic(c) => c,
        }
    }
}

impl CongestionControl for Controller {
    fn name(&self) -> &'static str {
        self.inner().name()
    }
    fn cwnd(&self) -> u32 {
        self.inner().cwnd()
    }
    fn ssthresh(&self) -> u32 {
        self.inner().ssthresh()
    }
    fn on_ack(&mut self, ack: &AckEvent) {
        self.inner_mut().on_ack(ack)
    }
    fn on_congestion_event(&mut self, now: Instant, flight_size: u32, smss: u32) {
        self.inner_mut().on_congestion_event(now, flight_size, smss)
    }
    fn set_cwnd(&mut self, cwnd: u32) {
        self.inner_mut().set_cwnd(cwnd)
    }
    fn on_exit_recovery(&mut self, now: Instant, smss: u32) {
        self.inner_mut().on_exit_recovery(now, smss)
    }
    fn on_rto(&mut self, now: Instant, flight_size: u32, smss: u32) {
        self.inner_mut().on_rto(now, flight_size, smss)
    }
    fn undo(&mut self) {
        self.inner_mut().undo()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip() {
        for algorithm in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
            assert_eq!(algorithm.to_string().parse::<CongestionAlgorithm>(), Ok(algorithm));
        }
        assert_eq!("CUBIC".parse::<CongestionAlgorithm>(), Ok(CongestionAlgorithm::Cubic));
        assert_eq!("NewReno".parse::<CongestionAlgorithm>(), Ok(CongestionAlgorithm::NewReno));
        assert_eq!("bbr".parse::<CongestionAlgorithm>(), Err(UnknownCongestionAlgorithm));
        assert_eq!("".parse::<CongestionAlgorithm>(), Err(UnknownCongestionAlgorithm));
    }

    #[test]
    fn controller_follows_the_config() {
        let mut config = ConnectionConfig::default();
        for algorithm in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
            config.congestion = algorithm;
            let cc = Controller::new(&config, 1460);
            assert_eq!(cc.name(), algorithm.as_str());
            assert_eq!(cc.cwnd(), config.initial_window_segments * 1460);
            assert_eq!(cc.ssthresh(), u32::MAX);
        }
    }

    #[test]
    fn controller_stays_small() {
        // Held inline in every connection (idle-connection budget 2 KiB).
        let size = core::mem::size_of::<Controller>();
        assert!(size <= 160, "Controller is {size} bytes");
    }
}
