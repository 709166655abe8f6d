//! Connection and endpoint configuration.

pub use crate::congestion::CongestionAlgorithm;
use crate::time::Duration;

/// TCP keepalive settings (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6). Off by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (RFC 1122: no less than two hours by default).
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is declared dead.
    pub probes: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive { idle: Duration::from_secs(7200), interval: Duration::from_secs(75), probes: 9 }
    }
}

/// Per-connection settings. Every field is public; start from `Default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// The MSS we announce on our SYN, and the largest payload we send
    /// (RFC 9293 §3.7.1, MMS_S − 20). 1460 fits a 1500-byte MTU.
    pub mss: u16,
    /// Send buffer capacity in bytes (unacknowledged plus unsent data) at
    /// the start of the connection. With autotuning (`send_buffer_max`
    /// above it) the buffer grows from here; otherwise it stays this size.
    pub send_buffer: usize,
    /// Ceiling of send-buffer autotuning: the buffer grows to twice
    /// min(cwnd, peer's window) as those grow, up to this size, so that
    /// the buffer never limits a sender the path and the peer would let
    /// send more (the idea of Linux's `tcp_sndbuf_expand`). At or below
    /// `send_buffer` the size is pinned, like a `SO_SNDBUF` set by the
    /// application. Default 4 MiB, Linux's default `tcp_wmem` maximum
    /// (`net.ipv4.tcp_wmem` = 4096 16384 4194304).
    pub send_buffer_max: usize,
    /// Receive buffer capacity in bytes at the start of the connection;
    /// bounds the advertised window.
    pub recv_buffer: usize,
    /// Ceiling of receive-buffer autotuning ("Dynamic Right-Sizing", Fisk
    /// and Feng; Linux's `tcp_rcv_space_adjust`): when the application
    /// reads more than half the buffer per round trip, the buffer grows to
    /// twice that amount, up to this size. The window-scale shift is
    /// chosen from this ceiling on the SYN (RFC 7323 §2.3). At or below
    /// `recv_buffer` the size is pinned, like a `SO_RCVBUF` set by the
    /// application. Default 6 MiB, Linux's default `tcp_rmem` maximum
    /// (`net.ipv4.tcp_rmem` = 4096 131072 6291456).
    pub recv_buffer_max: usize,
    /// Most out-of-order ranges (holes) kept for reassembly. A sender in
    /// slow start can lose every other segment of a window when it
    /// overflows a queue: 256 ranges hold such a window of 512 segments (the
    /// range list costs 16 bytes per range, only while data is held out of
    /// order). With 32, out-of-order data was dropped in a 100 Mbit/s,
    /// 20 ms simulator run and had to be sent again (docs/notes/recovery.md).
    pub max_ooo_ranges: usize,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scale: bool,
    /// Offer SACK-permitted and send SACK blocks for out-of-order data (RFC 2018).
    pub sack: bool,
    /// Offer timestamps for RTT measurement and PAWS (RFC 7323 §3–§5).
    pub timestamps: bool,
    /// Disable the Nagle algorithm (RFC 9293 §3.7.4) when true.
    pub nodelay: bool,
    /// RTO before any RTT sample (RFC 6298 §2.1: 1 s).
    pub initial_rto: Duration,
    /// Lower bound of the RTO (RFC 6298 §2.4: 1 s; 200 ms is common on LANs).
    pub min_rto: Duration,
    /// Upper bound of the RTO (RFC 6298 §2.5: at least 60 s).
    pub max_rto: Duration,
    /// Longest an ACK may be delayed (RFC 9293 §3.8.6.3: less than 0.5 s; RFC 1122 suggests 200 ms).
    pub delayed_ack: Duration,
    /// TIME-WAIT duration, 2×MSL (RFC 9293 §3.4.2).
    pub time_wait: Duration,
    /// SYN / SYN-ACK retransmissions before giving up. RFC 9293 §3.8.3
    /// (MUST-23) wants a SYN retried for at least 3 minutes: with the
    /// default RTOs (1 s doubling, capped at 60 s) 8 retries last 243 s.
    pub syn_retries: u32,
    /// Data retransmissions (consecutive RTO expirations) before giving up (RFC 9293 §3.8.3 R2; Linux tcp_retries2 = 15).
    pub max_retries: u32,
    /// Optional user timeout (RFC 9293 §3.8.3, RFC 5482): give up when data stays unacknowledged this long.
    pub user_timeout: Option<Duration>,
    /// Keepalive, off unless set.
    pub keepalive: Option<Keepalive>,
    /// Initial congestion window in segments (RFC 6928: 10).
    pub initial_window_segments: u32,
    /// Challenge ACKs allowed per connection per second (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// The congestion controller.
    pub congestion: CongestionAlgorithm,
    /// Leave slow start early with HyStart++ (RFC 9406) when the RTT grows.
    pub hystart: bool,
    /// Recover from losses with the SACK scoreboard (RFC 6675: IsLost,
    /// pipe, NextSeg), effective only when SACK was negotiated. Off, or
    /// without SACK, the sender uses RFC 6582 NewReno.
    pub sack_recovery: bool,
    /// RACK-TLP (RFC 8985): time-based loss detection with a reordering
    /// window, and tail loss probes. Needs `sack_recovery`; when on it
    /// replaces the DupThresh rule of RFC 6675 as the loss detector.
    pub rack: bool,
    /// Proportional Rate Reduction (RFC 6937, PRR-SSRB) sets the window
    /// during SACK recovery; off, cwnd drops to ssthresh at once (RFC 6675 §5).
    pub prr: bool,
    /// Detect spurious retransmissions and undo their window reduction
    /// (RFC 4015 §3), on SACK connections with `sack_recovery`: a
    /// retransmission timeout by the Eifel algorithm (RFC 3522) when
    /// timestamps are on, by F-RTO (RFC 5682 §3, SACK-enhanced) when they
    /// are off; a fast recovery when D-SACKs show that every retransmission
    /// of it was unnecessary (RFC 3708). (Eifel also works for NewReno.)
    pub frto: bool,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            mss: 1460,
            send_buffer: 256 * 1024,
            send_buffer_max: 4 << 20,
            recv_buffer: 256 * 1024,
            recv_buffer_max: 6 << 20,
            max_ooo_ranges: 256,
            window_scale: true,
            sack: true,
            timestamps: true,
            nodelay: false,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_secs(1),
            max_rto: Duration::from_secs(60),
            delayed_ack: Duration::from_millis(40),
            time_wait: Duration::from_secs(60),
            syn_retries: 8,
            max_retries: 15,
            user_timeout: None,
            keepalive: None,
            initial_window_segments: 10,
            challenge_ack_limit: 10,
            congestion: CongestionAlgorithm::Cubic,
            hystart: true,
            sack_recovery: true,
            rack: true,
            prr: true,
            frto: true,
        }
    }
}

/// Fewest window units (of `1 << shift` bytes) the starting receive
/// buffer must span when autotuning picks the window-scale shift from the
/// ceiling: with a larger shift a small starting buffer would round down to
/// a window of a unit or two, or to zero.
const MIN_WINDOW_UNITS: usize = 64;

/// The smallest shift that lets `bytes` be advertised whole, at most 14
/// (RFC 7323 §2.3).
fn shift_for(bytes: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (bytes >> shift) > 65535 {
        shift += 1;
    }
    shift
}

impl ConnectionConfig {
    /// True when the receive buffer may grow (`recv_buffer_max` above `recv_buffer`).
    pub fn recv_autotune(&self) -> bool {
        self.recv_buffer_max > self.recv_buffer
    }

    /// True when the send buffer may grow (`send_buffer_max` above `send_buffer`).
    pub fn send_autotune(&self) -> bool {
        self.send_buffer_max > self.send_buffer
    }

    /// The most the send buffer may hold: `send_buffer`, or the
    /// autotuning ceiling above it.
    pub fn send_buffer_ceiling(&self) -> usize {
        self.send_buffer.max(self.send_buffer_max)
    }

    /// Our window-scale shift, sent on our SYN: the smallest that lets the
    /// largest receive buffer be advertised whole, at most 14 (RFC 7323
    /// §2.3). With autotuning that is the ceiling, since the shift cannot
    /// change after the SYN; but no larger than leaves the starting buffer
    /// 64 window units wide (a smaller shift then caps the growth at
    /// 65535 << shift). Pinned, it is the buffer itself.
    pub fn rcv_wscale(&self) -> u8 {
        let pinned = shift_for(self.recv_buffer);
        if !self.recv_autotune() {
            return pinned;
        }
        let mut shift = shift_for(self.recv_buffer_max);
        while shift > pinned && (self.recv_buffer >> shift) < MIN_WINDOW_UNITS {
            shift -= 1;
        }
        shift
    }
}
