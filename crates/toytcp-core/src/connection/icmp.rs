//! What a connection does with an ICMP error about one of its segments
//! (RFC 9293 §3.9.2.2, MUST-54/55/56; RFC 1122 §4.2.3.9; RFC 5461;
//! RFC 5927; RFC 1191).
//!
//! - The error must quote a sequence number the connection has in flight,
//!   SND.UNA ≤ SEG.SEQ < SND.MAX (RFC 5927 §4.1), or it is ignored: an
//!   off-path attacker who cannot guess it can neither abort nor shrink
//!   the connection.
//! - Source Quench is discarded (MUST-55, RFC 6633).
//! - Fragmentation Needed lowers the effective send MSS to the next-hop
//!   MTU less the IPv4, TCP and timestamp headers (RFC 1191 §6) and resends
//!   what is in flight at the new size at once, without a window
//!   reduction: a smaller path MTU is not congestion (RFC 1191 §6; Linux's
//!   `tcp_simple_retransmit` does the same).
//! - Port or protocol unreachable in SYN-SENT refuses the connection like
//!   a RST would (RFC 1122 §4.2.3.9 lets a host abort on these "hard"
//!   errors; Linux does). "Administratively prohibited" (codes 9, 10, 13:
//!   a firewall's reject) in SYN-SENT closes it as
//!   [`CloseReason::Unreachable`], as Linux fails the connect. In any other
//!   state they, like every other error, are soft (RFC 5461 §4): never an
//!   abort (MUST-56). The last soft error is kept in
//!   [`Stats::soft_error`](super::Stats::soft_error) until an ACK makes
//!   progress, and a later timeout is reported as
//!   [`CloseReason::Unreachable`] when the error arrived while the
//!   timed-out data (or SYN) was waiting.
//! - A Fragmentation Needed whose quoted datagram would have fitted the
//!   reported MTU is ignored (RFC 5927 §7).
//!
//! Path MTU estimates only go down; probing for a larger one (RFC 1191
//! §6.3, RFC 4821) is not done, so a forged message that passes the checks
//! above lowers the MSS for the connection's life (at worst to 500 bytes).

use super::{CloseReason, Connection, SoftError, State};
use crate::time::Instant;
use crate::wire::{IPV4_HEADER_LEN, IcmpError, IcmpMessage, TCP_HEADER_LEN};

/// The smallest path MTU a Fragmentation Needed message can set (an MSS
/// of 512 bytes, 500 with timestamps). RFC 1191 §6 only forbids going
/// below 68, but a forged message with a tiny MTU would make a connection
/// crawl with 28-byte segments (RFC 5927 §7.1); like Linux's default
/// `min_pmtu` (552), lower reports are raised to this floor. ToyTCP sets
/// DF on every segment, so a path whose MTU really is below 552 stays a
/// black hole.
pub const MIN_PATH_MTU: u32 = 552;

/// The MTU plateaus of RFC 1191 §7 (Table 7-1), highest first: what to
/// assume when a router's Fragmentation Needed carries no next-hop MTU.
const MTU_PLATEAUS: [u32; 11] = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// The largest plateau below `len` (RFC 1191 §5: the dropped datagram's
/// total length is known from the quoted header).
fn plateau_below(len: u16) -> u32 {
    MTU_PLATEAUS.into_iter().find(|&p| p < u32::from(len)).unwrap_or(68)
}

/// What [`Connection::handle_icmp`] did with an ICMP error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpOutcome {
    /// The error changed the connection: it lowered the MSS, refused the
    /// connection, or was recorded as its last soft error.
    Acted,
    /// Valid but without effect: Source Quench (MUST-55), a
    /// Fragmentation Needed whose MTU is not below the current one or that
    /// arrives before the handshake settled the MSS, or a connection
    /// already closed.
    Ignored,
    /// The quoted sequence number is not in flight (RFC 5927 §4.1):
    /// stale, or forged by someone who cannot see the connection.
    OutOfWindow,
}

impl Connection {
    /// Acts on an ICMP error that quotes a segment of this connection
    /// (the caller matched the quoted addresses and ports, as
    /// [`Endpoint::handle`](crate::Endpoint::handle) does). See the module
    /// documentation for what each error does. Drain the outputs
    /// afterwards: a lowered MSS queues retransmissions.
    pub fn handle_icmp(&mut self, now: Instant, msg: &IcmpMessage) -> IcmpOutcome {
        if self.state == State::Closed {
            return IcmpOutcome::Ignored;
        }
        let seq = msg.quoted.seq;
        if !(self.snd_una <= seq && seq < self.snd_max) {
            return IcmpOutcome::OutOfWindow;
        }
        match msg.error {
            IcmpError::SourceQuench => IcmpOutcome::Ignored,
            IcmpError::FragmentationNeeded { next_hop_mtu } => {
                self.on_frag_needed(next_hop_mtu, msg.quoted.ip_total_len)
            }
            e if e.is_hard() && self.state == State::SynSent => {
                self.stats.rare().icmp_errors += 1;
                self.enter_closed(CloseReason::Refused);
                IcmpOutcome::Acted
            }
            // A firewall's "administratively prohibited" (codes 9, 10, 13;
            // firewalld's default reject) ends a connect at once, as in
            // Linux; MUST-56 only protects codes 0, 1 and 5, Time Exceeded
            // and Parameter Problem. Synchronized, it stays soft (RFC 5461).
            IcmpError::AdminProhibited if self.state == State::SynSent => {
                self.stats.rare().icmp_errors += 1;
                self.enter_closed(CloseReason::Unreachable);
                IcmpOutcome::Acted
            }
            error => {
                let rare = self.stats.rare();
                rare.icmp_errors += 1;
                rare.soft_error = Some(SoftError { error, at: now });
                IcmpOutcome::Acted
            }
        }
    }

    /// RFC 1191 §6: lower SMSS to fit the reported path MTU and resend.
    fn on_frag_needed(&mut self, next_hop_mtu: u16, dropped_len: u16) -> IcmpOutcome {
        if !(self.state.is_synchronized() || self.state == State::SynReceived) {
            // SYN-SENT: the MSS is not settled before the peer's SYN, and
            // a SYN is far below any path MTU.
            return IcmpOutcome::Ignored;
        }
        let overhead = (IPV4_HEADER_LEN + TCP_HEADER_LEN) as u32 + if self.ts_ok { 12 } else { 0 };
        let current = self.smss + overhead;
        // RFC 5927 §7: a datagram that would have fitted the reported MTU
        // was not dropped for its size; such a message is forged or stale.
        if next_hop_mtu != 0 && dropped_len <= next_hop_mtu {
            return IcmpOutcome::Ignored;
        }
        let reported = if next_hop_mtu == 0 { plateau_below(dropped_len) } else { u32::from(next_hop_mtu) };
        let mtu = reported.max(MIN_PATH_MTU);
        if mtu >= current {
            return IcmpOutcome::Ignored;
        }
        self.smss = mtu - overhead;
        let rare = self.stats.rare();
        rare.icmp_errors += 1;
        rare.pmtu_reductions += 1;
        tracing::debug!(conn = %self.tuple.local, mtu, smss = self.smss, "path MTU lowered");
        self.resend_after_mss_drop();
        IcmpOutcome::Acted
    }

    /// Resends what was sent at the old size, now, in segments of the new
    /// SMSS, without touching the congestion window (RFC 1191 §6). With
    /// SACK the oversized entries of the transmission log are deemed lost
    /// and NextSeg resends them piece by piece (`emit_range` caps each at
    /// SMSS); without, SND.NXT goes back to SND.UNA (go-back-N) and the
    /// data goes again as new segments are cut. `recover` is moved to
    /// SND.MAX, as after a timeout, so the ACKs and losses this causes do
    /// not start a fast recovery with its window reduction (RFC 6582 §4.1,
    /// RFC 6675 §5.1).
    fn resend_after_mss_drop(&mut self) {
        if self.snd_una == self.snd_max || !self.state.is_synchronized() {
            return;
        }
        // Karn (RFC 6298 §3): the timed segment may be resent.
        self.rtt_probe = None;
        if self.sack_mode() {
            if self.loss.log.mark_lost_longer_than(self.smss) == 0 {
                return;
            }
        } else {
            self.snd_nxt = self.snd_una;
        }
        if !self.in_recovery {
            self.recover = self.snd_max;
            self.dupacks = 0;
        }
    }

    /// A soft error arrived while what timed out was waiting: during the
    /// handshake, or since the oldest unacknowledged data was sent (or
    /// last acknowledged).
    pub(super) fn soft_error_explains_timeout(&self) -> bool {
        let Some(e) = self.stats.rare_ref().and_then(|s| s.soft_error) else { return false };
        match self.state {
            State::SynSent | State::SynReceived => true,
            _ => self.stalled_since.is_none_or(|since| e.at >= since),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateaus_lie_below_the_dropped_size() {
        assert_eq!(plateau_below(1500), 1492);
        assert_eq!(plateau_below(1492), 1006);
        assert_eq!(plateau_below(9000), 8166);
        assert_eq!(plateau_below(65535), 32000);
        assert_eq!(plateau_below(69), 68);
        assert_eq!(plateau_below(20), 68);
    }
}
