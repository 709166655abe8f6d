//! States, events, close reasons, addresses and statistics of a connection.

use crate::time::Duration;
use core::net::SocketAddrV4;

/// The eleven connection states of RFC 9293 §3.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a SYN (held by an endpoint's listener).
    Listen,
    /// Our SYN sent, waiting for the peer's SYN.
    SynSent,
    /// SYN received and SYN-ACK sent, waiting for its ACK.
    SynReceived,
    /// Open; data flows both ways.
    Established,
    /// We closed first; our FIN is not yet acknowledged.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed first; we may still send.
    CloseWait,
    /// Both sides closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed first and so did we; waiting for the ACK of our FIN.
    LastAck,
    /// Waiting 2×MSL so that old duplicates die out (RFC 9293 §3.6.1).
    TimeWait,
}

impl State {
    /// True from ESTABLISHED on: the states RFC 9293 calls synchronized
    /// (SYN-RECEIVED excluded).
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::Listen | State::SynSent | State::SynReceived)
    }

    /// The RFC's spelling, e.g. `SYN-SENT`.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }
}

impl core::fmt::Display for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Both FINs exchanged and acknowledged.
    Graceful,
    /// The peer sent an acceptable RST on an established connection.
    Reset,
    /// The peer answered our SYN with RST (RFC 9293 §3.10.7.3).
    Refused,
    /// Retransmissions, SYN retries, keepalive probes or the user timeout ran out (RFC 9293 §3.8.3).
    TimedOut,
    /// The local application aborted the connection.
    Aborted,
    /// Retransmissions or SYN retries ran out, as for
    /// [`TimedOut`](CloseReason::TimedOut), after an ICMP error (a soft
    /// error, RFC 1122 §4.2.3.9, RFC 5461 §4) had reported the destination
    /// unreachable while the data waited; [`Stats::soft_error`] says which
    /// (Linux reports such a timeout as `EHOSTUNREACH`).
    Unreachable,
}

impl core::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CloseReason::Graceful => "closed",
            CloseReason::Reset => "connection reset by peer",
            CloseReason::Refused => "connection refused",
            CloseReason::TimedOut => "connection timed out",
            CloseReason::Aborted => "connection aborted",
            CloseReason::Unreachable => "destination unreachable",
        })
    }
}

/// What an application learns from a connection, via `poll_event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// The three-way handshake completed (ESTABLISHED).
    Connected,
    /// New in-order data can be read.
    Readable,
    /// Send-buffer space freed after a send found it full.
    Writable,
    /// The peer's FIN arrived: after the buffered data, reads return end of stream.
    PeerFinished,
    /// The connection is closed.
    Closed(CloseReason),
}

/// A connection's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FourTuple {
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
}

/// Per-connection counters and gauges, in the spirit of Linux's `tcp_info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Segments accepted for processing.
    pub segs_in: u64,
    /// Segments emitted.
    pub segs_out: u64,
    /// Payload bytes received in segments (before duplicate trimming).
    pub bytes_in: u64,
    /// Payload bytes emitted, retransmissions included.
    pub bytes_out: u64,
    /// Payload bytes delivered in order to the receive buffer.
    pub bytes_delivered: u64,
    /// Payload bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Segments retransmitted (RTO, fast retransmit, NewReno partial ACK).
    pub retransmits: u64,
    /// Retransmission timer expirations.
    pub timeouts: u64,
    /// Fast retransmits entered on the third duplicate ACK (RFC 5681 §3.2).
    pub fast_retransmits: u64,
    /// Duplicate ACKs received (RFC 5681 §2).
    pub dup_acks: u64,
    /// Challenge ACKs sent (RFC 5961 §3–§5).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the rate limit (RFC 5961 §7).
    pub challenge_acks_suppressed: u64,
    /// Zero-window probes sent (RFC 9293 §3.8.6.1).
    pub window_probes: u64,
    /// Keepalive probes sent.
    pub keepalive_probes: u64,
    /// Segments dropped as unacceptable (outside the window, RFC 9293 §3.10.7.4 first check).
    pub dropped_out_of_window: u64,
    /// Segments dropped by PAWS (RFC 7323 §5).
    pub dropped_paws: u64,
    /// Segments without timestamps on a timestamp connection, dropped (RFC 7323 §3.2).
    pub dropped_missing_ts: u64,
    /// Segments dropped for an unacceptable ACK (RFC 5961 §5, RFC 9293 §3.10.7.4 fifth check).
    pub dropped_bad_ack: u64,
    /// Non-RST segments without ACK in a synchronized state, dropped.
    pub dropped_no_ack: u64,
    /// RSTs ignored (outside the window or unacceptable in SYN-SENT).
    pub dropped_rst: u64,
    /// Out-of-order data dropped because the hole limit was reached.
    pub dropped_ooo_limit: u64,
    /// Recovery episodes entered (NewReno fast recovery or SACK recovery).
    pub fast_recoveries: u64,
    /// Of which driven by the SACK scoreboard (RFC 6675).
    pub sack_recoveries: u64,
    /// Segments RACK deemed lost by time (RFC 8985 §6.2).
    pub rack_losses: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tlp_probes: u64,
    /// Window reductions undone because the retransmissions behind them were
    /// spurious (RFC 3522 after an RTO, RFC 3708 D-SACK after a recovery).
    pub spurious_undos: u64,
    /// D-SACK blocks received (RFC 2883).
    pub dsacks_received: u64,
    /// Retransmission timeouts that found the data at SND.UNA SACKed: the
    /// receiver had discarded SACKed data, and the SACK information was
    /// dropped (RFC 2018 §8).
    pub sack_reneging: u64,
    /// Received segments whose payload had all been received before
    /// (reported with a D-SACK block when SACK is on).
    pub dup_segments_received: u64,
    /// Smoothed RTT (RFC 6298), once measured.
    pub srtt: Option<Duration>,
    /// RTT variation (RFC 6298).
    pub rttvar: Duration,
    /// Current retransmission timeout, backoff included.
    pub rto: Duration,
    /// Congestion window in bytes.
    pub cwnd: u32,
    /// Slow-start threshold in bytes.
    pub ssthresh: u32,
    /// Effective send MSS (payload bytes per segment).
    pub smss: u32,
    /// The peer's window, scaled.
    pub snd_wnd: u32,
    /// The window we advertise.
    pub rcv_wnd: u32,
    /// The last soft ICMP error for this connection and when it arrived
    /// (RFC 1122 §4.2.3.9; the application's view of soft errors,
    /// RFC 9293 §3.9.1.8, MUST-47).
    pub soft_error: Option<SoftError>,
    /// ICMP errors acted on: soft errors recorded, path MTU reductions,
    /// a refusal (RFC 9293 §3.9.2.2).
    pub icmp_errors: u64,
    /// Path MTU reductions from ICMP Fragmentation Needed (RFC 1191 §6).
    pub pmtu_reductions: u64,
}

/// A soft ICMP error a connection received (RFC 1122 §4.2.3.9): it does
/// not abort the connection, but is reported if the connection later
/// times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SoftError {
    /// What the ICMP message said.
    pub error: crate::wire::IcmpError,
    /// When it arrived.
    pub at: crate::time::Instant,
}
