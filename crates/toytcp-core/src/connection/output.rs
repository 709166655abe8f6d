//! Segment output: what `poll_transmit` sends next, in priority order.

use super::{Connection, State};
use crate::Transmit;
use crate::congestion::CongestionControl;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::wire::{self, Flags, SackBlock, SegmentHeader, TcpOptions, Timestamps};

impl Connection {
    /// Writes the next segment to send into `buf` (a whole IPv4 packet)
    /// and says where it goes; `None` when nothing is due. Call until
    /// `None` after every input or application call. `buf` must hold at
    /// least 60 + MSS + 40 bytes (IPv4 + TCP headers with options + payload);
    /// a smaller buffer makes the segment wait.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((seq, ack)) = self.rst_out {
            let flags = if ack.is_some() { Flags::RST | Flags::ACK } else { Flags::RST };
            let t = self.emit(now, buf, seq, flags, ack.unwrap_or(SeqNum(0)), 0, 0)?;
            self.rst_out = None;
            return Some(t);
        }
        match self.state {
            State::Closed | State::Listen => return None,
            State::SynSent => {
                self.ack_now = false;
                return if self.syn_due { self.emit_syn(now, buf) } else { None };
            }
            State::SynReceived => {
                if self.syn_due {
                    return self.emit_syn(now, buf);
                }
            }
            State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck => {
                if self.sack_mode() {
                    // RFC 6675 §4 NextSeg order: lost data first, then new
                    // data, then (without RACK) rules (3) and (4).
                    if self.loss.tlp_due
                        && let Some(t) = self.send_tlp(now, buf)
                    {
                        return Some(t);
                    }
                    if let Some(t) = self.sack_retransmit(now, buf, false) {
                        return Some(t);
                    }
                } else if self.rexmit_pending
                    && let Some(t) = self.retransmit_head(now, buf)
                {
                    return Some(t);
                }
                if let Some(t) = self.next_data_segment(now, buf) {
                    return Some(t);
                }
                if self.sack_mode()
                    && self.in_recovery
                    && !self.config.rack
                    && let Some(t) = self.sack_retransmit(now, buf, true)
                {
                    return Some(t);
                }
            }
            State::FinWait2 | State::TimeWait => {}
        }
        if self.probe_due {
            // Zero-window and keepalive probes: one old byte's sequence
            // number, no data, so the peer must answer with an ACK
            // (RFC 9293 §3.8.6.1, RFC 1122 §4.2.3.6).
            let t = self.emit(now, buf, self.snd_una - 1, Flags::ACK, self.rcv_nxt, 0, 0)?;
            self.probe_due = false;
            return Some(t);
        }
        if self.ack_now {
            // A pure ACK carries SND.MAX, not SND.NXT: after a timeout
            // pulled SND.NXT back (go-back-N) the peer's RCV.NXT may be
            // past SND.NXT, and an ACK below it would be unacceptable and
            // answered with another ACK (RFC 9293 §3.10.7.4), each side
            // dropping the other's ACKs forever (4.4BSD's tcp_output: "use
            // snd_max instead of snd_nxt"). It is capped at the right edge
            // of the peer's window, SND.UNA + SND.WND, as Linux does
            // (tcp_acceptable_seq): when that window has closed, only
            // SEG.SEQ = RCV.NXT is acceptable to the peer.
            let wnd_end = self.snd_una + self.snd_wnd;
            let seq = if self.state == State::SynReceived {
                self.iss + 1
            } else if self.snd_max <= wnd_end {
                self.snd_max
            } else {
                wnd_end.max(self.snd_nxt)
            };
            return self.emit(now, buf, seq, Flags::ACK, self.rcv_nxt, 0, 0);
        }
        None
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), new or retransmitted.
    fn emit_syn(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let (flags, ack) = if self.state == State::SynSent {
            (Flags::SYN, SeqNum(0))
        } else {
            (Flags::SYN | Flags::ACK, self.rcv_nxt)
        };
        let t = self.emit(now, buf, self.iss, flags, ack, 0, 0)?;
        self.syn_due = false;
        if self.snd_max != self.iss {
            self.stats.rare().retransmits += 1;
            // Karn's algorithm (RFC 6298 §3): the SYN went out twice (a
            // duplicate SYN answered, or simultaneous open's SYN-ACK), so
            // its ACK is ambiguous and must not be timed.
            self.rtt_probe = None;
        } else if self.rtt_probe.is_none() {
            // Timed in microseconds even with timestamps, whose echo has
            // only the peer's millisecond granularity (a 0 ms first sample
            // would set SRTT to 0, RFC 6298 §2.2).
            self.rtt_probe = Some((self.iss + 1, now));
        }
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.snd_max.max(self.snd_nxt);
        if self.timers.rto.is_none() {
            self.timers.rto = Some(now + self.rtt.rto());
        }
        Some(t)
    }

    /// One segment at SND.UNA regardless of the congestion window: fast
    /// retransmit and NewReno partial ACKs (RFC 5681 §3.2, RFC 6582 §3.2).
    fn retransmit_head(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.rexmit_pending = false;
        let data_end = self.snd_buf_seq + self.send_buf.len() as u32;
        let seq = self.snd_una;
        // Only data sent before is retransmitted: bytes beyond SND.MAX are
        // new data, for `next_data_segment` and its window checks.
        let sent_end = data_end.min(self.snd_max);
        let avail = if seq <= sent_end { sent_end - seq } else { 0 };
        let len = avail.min(self.smss);
        let fin = self.fin_queued && seq + len == data_end && self.snd_max > data_end;
        if len == 0 && !fin {
            return None;
        }
        let mut flags = Flags::ACK;
        if fin {
            flags = flags | Flags::FIN;
        }
        let offset = (seq - self.snd_buf_seq) as usize;
        let t = self.emit(now, buf, seq, flags, self.rcv_nxt, offset, len as usize)?;
        let end = seq + len + u32::from(fin);
        self.log_transmission(now, seq, end);
        if self.snd_nxt < end {
            self.snd_nxt = end;
        }
        if self.timers.rto.is_none() {
            self.timers.rto = Some(now + self.rtt.rto());
        }
        Some(t)
    }

    /// New data (or go-back-N retransmission after a timeout) from SND.NXT,
    /// within min(SND.WND, cwnd), shaped by Nagle and sender silly-window
    /// avoidance (RFC 9293 §3.7.4, §3.8.6.2.1), with limited transmit
    /// (RFC 3042). The FIN rides on the last data segment.
    pub(super) fn next_data_segment(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let data_end = self.snd_buf_seq + self.send_buf.len() as u32;
        if self.snd_nxt > data_end {
            return None; // FIN already sent
        }
        let avail = data_end - self.snd_nxt;
        let fin_pending = self.fin_queued;
        if avail == 0 && !fin_pending {
            return None;
        }
        let in_flight = self.snd_nxt - self.snd_una;
        let probe = self.loss.tlp_due;
        let rwnd_room = self.snd_wnd.saturating_sub(in_flight);
        // A tail loss probe of new data ignores cwnd (RFC 8985 §7.3).
        let usable = if probe { rwnd_room } else { rwnd_room.min(self.cwnd_room()) };
        let mut len = avail.min(self.smss).min(usable);
        if self.force_send && len == 0 && avail > 0 && self.snd_wnd > in_flight {
            len = avail.min(self.smss).min(self.snd_wnd - in_flight);
        }
        let send_fin = fin_pending && self.snd_nxt + len == data_end;
        if len == 0 && !send_fin {
            self.arm_persist_if_stalled(now, avail, in_flight);
            return None;
        }
        if len > 0 && len < self.smss && !send_fin {
            let all_queued = len == avail;
            let nagle_ok = self.config.nodelay || in_flight == 0;
            let sws_ok = self.max_snd_wnd > 0 && len >= self.max_snd_wnd / 2;
            // Nagle and sender SWS avoidance (RFC 9293 §3.7.4, §3.8.6.2.1)
            // decide when to send new data; bytes sent before and pulled
            // back by a timeout must be resent at once (RFC 6298 §5.4),
            // or a small window can hold a retransmission back until the
            // connection times out.
            let retransmission = self.snd_nxt < self.snd_max;
            if !((all_queued && nagle_ok) || sws_ok || self.force_send || retransmission || probe) {
                self.arm_persist_if_stalled(now, avail, in_flight);
                return None;
            }
        }
        let mut flags = Flags::ACK;
        if len > 0 && self.snd_nxt + len == data_end {
            flags = flags | Flags::PSH;
        }
        if send_fin {
            flags = flags | Flags::FIN;
        }
        let seq = self.snd_nxt;
        let offset = (seq - self.snd_buf_seq) as usize;
        let is_rexmit = seq < self.snd_max;
        let t = self.emit(now, buf, seq, flags, self.rcv_nxt, offset, len as usize)?;
        self.force_send = false;
        if !self.in_recovery && (1..=2).contains(&self.dupacks) {
            // Sent by limited transmit: whatever lies beyond cwnd (RFC 3042
            // §2), kept out of FlightSize at fast retransmit (RFC 5681 §3.2).
            self.limited_transmit_bytes += (in_flight + len).saturating_sub(self.cc.cwnd()).min(len);
        }
        self.snd_nxt = seq + len + u32::from(send_fin);
        if self.snd_nxt > self.snd_max {
            self.snd_max = self.snd_nxt;
        }
        self.log_transmission(now, seq, self.snd_nxt);
        if !is_rexmit && !self.ts_ok && self.rtt_probe.is_none() && len > 0 {
            self.rtt_probe = Some((self.snd_nxt, now));
        }
        self.timers.persist = None;
        self.persist_backoff = 0;
        if self.timers.rto.is_none() {
            self.timers.rto = Some(now + self.rtt.rto());
            // Nothing was outstanding: the user timeout counts from this
            // first transmission (RFC 9293 §3.8.3, RFC 5482 §1).
            self.stalled_since.get_or_insert(now);
        }
        if !is_rexmit && !probe && self.sack_mode() {
            // RFC 8985 §7.2: new data restarts the probe timeout.
            self.arm_tlp(now);
        }
        Some(t)
    }

    /// With nothing in flight and data held back (zero window or silly-window
    /// avoidance), the persist timer makes sure we ask again (RFC 9293 §3.8.6.1).
    fn arm_persist_if_stalled(&mut self, now: Instant, avail: u32, in_flight: u32) {
        if avail > 0 && in_flight == 0 && self.timers.persist.is_none() && self.timers.rto.is_none() {
            self.timers.persist = Some(now + self.persist_interval());
        }
    }

    /// RTO-based persist interval with exponential backoff, capped at the max RTO.
    pub(super) fn persist_interval(&self) -> crate::time::Duration {
        let base = self.rtt.base_rto();
        base.checked_mul(1u32 << self.persist_backoff.min(16)).unwrap_or(self.config.max_rto).min(self.config.max_rto)
    }

    /// The window field for the next segment, applying receiver
    /// silly-window avoidance (RFC 9293 §3.8.6.2.2): the right edge moves
    /// only by at least min(buffer / 2, MSS), and never moves left.
    fn window_to_advertise(&mut self) -> u32 {
        if self.rcv_adv < self.rcv_nxt {
            self.rcv_adv = self.rcv_nxt;
        }
        let free = (self.recv_buf.window() as u64).min(self.max_rcv_window()) as u32;
        let new_edge = self.rcv_nxt + free;
        if new_edge > self.rcv_adv {
            let cap = self.recv_buf.capacity() as u32;
            let threshold = (cap / 2).min(u32::from(self.config.mss)).max(1);
            if new_edge - self.rcv_adv >= threshold {
                self.rcv_adv = new_edge;
            }
        }
        let wnd = self.rcv_adv - self.rcv_nxt;
        // The window field counts units of 1 << shift: rounded down, the
        // edge the peer sees would move left by up to a unit each time
        // RCV.NXT moves by less than one (RFC 7323 §2.4). With autotuning
        // (shift chosen from the ceiling, often 7) round up instead when
        // the buffer has room for it, so that the edge stays put (RFC 9293
        // §3.8.6.2.1). A pinned buffer keeps the rounding down of old.
        let unit_mask = (1u32 << self.rcv_wscale) - 1;
        if wnd & unit_mask != 0 && self.config.recv_autotune() {
            let up = (wnd | unit_mask) + 1;
            if up <= free && (up >> self.rcv_wscale) <= 65535 {
                self.rcv_adv = self.rcv_nxt + up;
                return up;
            }
        }
        wnd
    }

    /// Builds the header and options and writes the packet. State changes
    /// common to every segment happen here (ACK bookkeeping, stats); the
    /// caller advances SND.NXT.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        seq: SeqNum,
        flags: Flags,
        ack: SeqNum,
        offset: usize,
        len: usize,
    ) -> Option<Transmit> {
        let syn = flags.syn();
        let mut options = TcpOptions::default();
        let window;
        if syn {
            options.mss = Some(self.config.mss);
            let offering = self.state == State::SynSent;
            if if offering { self.config.window_scale } else { self.ws_ok } {
                options.window_scale = Some(self.config.rcv_wscale());
            }
            options.sack_permitted = if offering { self.config.sack } else { self.sack_ok };
            let ts = if offering { self.config.timestamps } else { self.ts_ok };
            if ts {
                options.timestamps =
                    Some(Timestamps { tsval: self.ts_now(now), tsecr: if offering { 0 } else { self.ts_recent } });
            }
            // The window in a SYN is never scaled (RFC 7323 §2.2).
            window = (self.recv_buf.window() as u32).min(65535);
        } else {
            if self.ts_ok && !flags.rst() {
                options.timestamps = Some(Timestamps { tsval: self.ts_now(now), tsecr: self.ts_recent });
            }
            if self.sack_ok && flags.ack() && !flags.rst() {
                self.fill_sack_blocks(&mut options);
                // TCP options plus data must fit the MSS (RFC 9293 §3.7.1,
                // RFC 6691 §2): a full-sized data segment has no room for
                // SACK blocks, so send as many as fit (RFC 2018 §4).
                let budget = self.smss as usize + if self.ts_ok { 12 } else { 0 };
                while options.sack_count > 0
                    && wire::segment_overhead(&options) - wire::IPV4_HEADER_LEN - wire::TCP_HEADER_LEN + len > budget
                {
                    options.sack_count -= 1;
                }
                if options.sack_count > 0 {
                    // The D-SACK block went out (it is always the first).
                    self.dsack_out = None;
                }
            }
            window = if flags.rst() { 0 } else { (self.window_to_advertise() >> self.rcv_wscale).min(65535) };
        }
        let header = SegmentHeader {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq,
            ack,
            flags,
            window: window as u16,
            urgent: 0,
            options,
        };
        let (a, b) = self.send_buf.slices(offset, len);
        let n = match wire::emit(*self.tuple.local.ip(), *self.tuple.remote.ip(), &header, &[a, b], buf) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("cannot emit segment: {e}");
                return None;
            }
        };
        self.stats.segs_out += 1;
        self.stats.bytes_out += len as u64;
        if flags.ack() {
            self.ack_now = false;
            self.unacked_bytes = 0;
            self.timers.delack = None;
            self.last_ack_sent = ack;
        }
        tracing::trace!(
            local = %self.tuple.local, remote = %self.tuple.remote,
            "> {} seq {} ack {} win {} len {}", flags, seq, ack, window, len
        );
        Some(Transmit { src: *self.tuple.local.ip(), dst: *self.tuple.remote.ip(), len: n })
    }

    /// SACK blocks for our out-of-order data: the block holding the most
    /// recent arrival first (MUST), then the blocks most recently reported
    /// first, newest first (SHOULD), then any others (RFC 2018 §4). Three
    /// fit beside timestamps, four without.
    fn fill_sack_blocks(&self, options: &mut TcpOptions) {
        if let Some((left, right)) = self.dsack_out {
            // RFC 2883 §4: the D-SACK block comes first; the block holding
            // it (if held out of order) follows as the most recent one.
            options.push_sack(SackBlock { left, right });
        }
        if !self.recv_buf.has_out_of_order() {
            return;
        }
        let max = if options.timestamps.is_some() { 3 } else { 4 };
        let base = self.recv_buf.next_offset();
        let to_seq = |off: u64| self.rcv_nxt + (off - base) as u32;
        let recent = self
            .sack_recent
            .iter()
            .flat_map(|r| r.iter().copied())
            .flatten()
            .filter_map(|o| self.recv_buf.range_containing(o));
        let mut sent = [(0u64, 0u64); 4];
        let mut n = usize::from(options.sack_count);
        for (s, e) in recent.chain(self.recv_buf.out_of_order_ranges()) {
            if n >= max {
                break;
            }
            if !sent[..n].contains(&(s, e)) {
                options.push_sack(SackBlock { left: to_seq(s), right: to_seq(e) });
                sent[n] = (s, e);
                n += 1;
            }
        }
    }
}
