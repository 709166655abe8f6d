//! Segment arrival: RFC 9293 §3.10.7 "SEGMENT ARRIVES", with the RFC 5961
//! and RFC 7323 checks folded in where those RFCs place them.

use super::{CloseReason, Connection, Event, State};
use crate::congestion::{AckEvent, CongestionControl};
use crate::recovery::{Delivery, sent_after};
use crate::rtt::RttEstimator;
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};
use crate::wire::Segment;

/// PAWS: TS.Recent older than this is invalid (RFC 7323 §5.5, 24 days).
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

impl Connection {
    /// Processes one inbound segment addressed to this connection.
    ///
    /// Never fails: an unacceptable segment is counted in [`stats`](Self::stats)
    /// and dropped or answered (ACK, challenge ACK, RST) per RFC 9293
    /// §3.10.7, RFC 5961 and RFC 7323.
    pub fn handle_segment(&mut self, now: Instant, seg: &Segment<'_>) {
        if self.state == State::Closed {
            return;
        }
        self.stats.segs_in += 1;
        self.stats.bytes_in += seg.payload.len() as u64;
        if self.state == State::SynSent {
            self.on_segment_syn_sent(now, seg);
        } else {
            self.on_segment_synchronized(now, seg);
        }
    }

    /// RFC 9293 §3.10.7.3, "If the state is SYN-SENT".
    fn on_segment_syn_sent(&mut self, now: Instant, seg: &Segment<'_>) {
        let h = &seg.header;
        // First, check the ACK bit.
        let mut ack_ok = false;
        if h.flags.ack() {
            if h.ack <= self.iss || h.ack > self.snd_max {
                if !h.flags.rst() {
                    self.rst_out = Some((h.ack, None));
                }
                self.stats.rare().dropped_bad_ack += 1;
                return;
            }
            ack_ok = self.snd_una < h.ack;
        }
        // Second, the RST bit: acceptable only if it acknowledges our SYN
        // (RFC 9293 §3.10.7.3, RFC 5961 §3.2).
        if h.flags.rst() {
            if ack_ok {
                self.enter_closed(CloseReason::Refused);
            } else {
                self.stats.rare().dropped_rst += 1;
            }
            return;
        }
        // Fourth, the SYN bit.
        if !h.flags.syn() {
            return;
        }
        self.last_recv = now;
        self.take_syn_options(seg);
        self.irs = h.seq;
        self.rcv_nxt = h.seq + 1;
        self.init_rcv_window();
        // The window of a SYN is never scaled (RFC 7323 §2.2).
        self.snd_wnd = u32::from(h.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = h.seq;
        self.snd_wl2 = h.ack;
        if ack_ok {
            self.snd_una = h.ack;
            self.snd_nxt = self.snd_nxt.max(self.snd_una);
            if self.sample_rtt(now, seg, &Delivery::default(), true).is_some() {
                self.update_pto();
            }
            self.timers.rto = None;
            self.retries = 0;
            self.stalled_since = None;
            self.rtt.reset_backoff();
            self.establish();
            // Any data or FIN on the SYN-ACK is left for the peer to
            // retransmit (RFC 9293 §3.10.7.3 allows queueing it; we don't).
            self.ack_now = true;
        } else {
            // Simultaneous open (RFC 9293 §3.5 figure 7): answer SYN,ACK.
            self.set_state(State::SynReceived);
            self.snd_nxt = self.iss;
            self.syn_due = true;
        }
    }

    /// RFC 9293 §3.10.7.4, "Otherwise" (SYN-RECEIVED and the synchronized states).
    fn on_segment_synchronized(&mut self, now: Instant, seg: &Segment<'_>) {
        let h = &seg.header;
        let rst = h.flags.rst();

        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost.
        if self.state == State::SynReceived && h.flags.syn() && !h.flags.ack() && !rst && h.seq == self.irs {
            // TS.Recent stays: the SYN lies left of the window, and RFC 7323
            // §5.3 rejects such a segment (R2) before recording its
            // timestamp (R3); Linux's tcp_check_req does the same.
            self.snd_nxt = self.iss;
            self.syn_due = true;
            return;
        }

        // Simultaneous open: the peer's SYN-ACK answers our SYN while we sit
        // in SYN-RECEIVED (RFC 9293 §3.5 figure 8). Its SYN lies just below
        // RCV.NXT, so the sequence test would drop it; take its ACK instead.
        if self.state == State::SynReceived
            && !self.passive
            && h.flags.syn()
            && h.flags.ack()
            && !rst
            && h.seq == self.irs
            && self.snd_una < h.ack
            && h.ack <= self.snd_max
        {
            self.last_recv = now;
            self.snd_wnd = u32::from(h.window);
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = h.seq;
            self.snd_wl2 = h.ack;
            self.process_ack(now, seg);
            self.establish();
            self.ack_now = true;
            return;
        }

        // RFC 7323 §3.2: once negotiated, non-RST segments carry timestamps.
        let ts = h.options.timestamps;
        if self.ts_ok && ts.is_none() && !rst {
            self.stats.rare().dropped_missing_ts += 1;
            return;
        }
        // PAWS, RFC 7323 §5.3 R1.
        if let (true, false, Some(ts)) = (self.ts_ok, rst, ts)
            && (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0
        {
            if now.saturating_duration_since(self.ts_recent_age) > PAWS_IDLE {
                self.ts_recent = ts.tsval;
            } else {
                self.stats.rare().dropped_paws += 1;
                self.ack_now = true;
                // An old duplicate (a late original after its retransmission
                // moved TS.Recent on): its ACK reports it as a D-SACK, as
                // Linux does, or the sender never learns that the
                // retransmission was spurious (RFC 2883 §4.1).
                self.note_old_duplicate(seg);
                return;
            }
        }

        // First, check the sequence number.
        if !self.acceptable(seg) {
            if rst {
                self.stats.rare().dropped_rst += 1;
                return;
            }
            self.stats.rare().dropped_out_of_window += 1;
            let rcv_wnd = self.rcv_adv - self.rcv_nxt;
            if rcv_wnd == 0
                && h.seq == self.rcv_nxt
                && h.flags.ack()
                && self.state != State::SynReceived
                // Only a *valid* ACK (RFC 9293 §3.10.7.4: "special allowance
                // should be made to accept valid ACKs"): within
                // [SND.UNA − MAX.SND.WND, SND.NXT] as in the fifth check
                // below (RFC 5961 §5.2). An ACK of data never sent would
                // otherwise move SND.UNA past SND.MAX (found by cargo-fuzz).
                && h.ack <= self.snd_max
                && h.ack >= self.snd_una - self.max_snd_wnd.max(1)
            {
                // Zero window: still take the ACK and window (RFC 9293 §3.10.7.4).
                self.process_ack(now, seg);
            }
            if self.state == State::TimeWait && h.flags.fin() {
                // A retransmitted FIN: ACK it and restart the 2×MSL timer.
                self.timers.time_wait = Some(now + self.config.time_wait);
            }
            if h.flags.syn() {
                self.challenge_ack(now);
            } else {
                self.ack_now = true;
                self.note_old_duplicate(seg);
            }
            return;
        }
        // RFC 7323 §4.3 (2): remember the peer's timestamp.
        if let Some(ts) = ts
            && h.seq <= self.last_ack_sent
            && (ts.tsval.wrapping_sub(self.ts_recent) as i32) >= 0
        {
            self.ts_recent = ts.tsval;
            self.ts_recent_age = now;
        }

        // Second, check the RST bit (RFC 5961 §3.2).
        if rst {
            if self.state == State::TimeWait {
                // RFC 1337 §3 (F1): ignore every RST in TIME-WAIT (no
                // assassination), in-window ones too: a challenge ACK
                // (RFC 5961 §3.2) only invites a RST at RCV.NXT, which
                // would be ignored as well.
                self.stats.rare().dropped_rst += 1;
            } else if h.seq == self.rcv_nxt {
                match self.state {
                    State::SynReceived if !self.passive => self.enter_closed(CloseReason::Refused),
                    _ => self.enter_closed(CloseReason::Reset),
                }
            } else {
                self.challenge_ack(now);
            }
            return;
        }

        // Fourth, check the SYN bit (RFC 5961 §4.2, RFC 9293 §3.10.7.4).
        if h.flags.syn() {
            if self.state == State::SynReceived && self.passive {
                // A new SYN from the peer: this half-open attempt is void.
                self.enter_closed(CloseReason::Reset);
            } else {
                self.challenge_ack(now);
            }
            return;
        }

        // Fifth, check the ACK field.
        if !h.flags.ack() {
            self.stats.rare().dropped_no_ack += 1;
            return;
        }
        self.last_recv = now;
        self.keepalive_unanswered = 0;
        self.arm_keepalive(now);
        if self.state == State::SynReceived {
            if self.snd_una < h.ack && h.ack <= self.snd_max {
                self.snd_wnd = u32::from(h.window) << self.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = h.seq;
                self.snd_wl2 = h.ack;
                self.establish();
            } else {
                self.rst_out = Some((h.ack, None));
                self.stats.rare().dropped_bad_ack += 1;
                return;
            }
        }
        // RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA − MAX.SND.WND, SND.NXT].
        if h.ack > self.snd_max {
            self.stats.rare().dropped_bad_ack += 1;
            self.ack_now = true;
            return;
        }
        if h.ack < self.snd_una - self.max_snd_wnd.max(1) {
            self.stats.rare().dropped_bad_ack += 1;
            self.challenge_ack(now);
            return;
        }
        self.process_ack(now, seg);
        match self.state {
            State::FinWait1 if self.fin_acked() => {
                self.set_state(State::FinWait2);
                if self.read_closed {
                    // Orphaned: don't wait forever for the peer's FIN (Linux tcp_fin_timeout).
                    self.timers.time_wait = Some(now + self.config.time_wait);
                }
            }
            State::Closing if self.fin_acked() => self.enter_time_wait(now),
            State::LastAck if self.fin_acked() => {
                self.enter_closed(CloseReason::Graceful);
                return;
            }
            _ => {}
        }

        // Seventh, process the segment text.
        if !seg.payload.is_empty() {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    if self.read_closed {
                        // Data after close: RFC 1122 §4.2.2.13 says reset.
                        self.rst_out = Some((self.snd_nxt, None));
                        self.enter_closed(CloseReason::Aborted);
                        return;
                    }
                    self.process_data(now, seg);
                }
                // The peer already sent FIN; data can't legally follow it.
                _ => self.ack_now = true,
            }
        }

        // Eighth, check the FIN bit.
        if h.flags.fin() && !self.fin_received {
            let fin_at = h.seq + seg.payload.len() as u32;
            if fin_at <= self.rcv_adv {
                self.peer_fin = Some(fin_at);
            }
        } else if h.flags.fin() {
            self.ack_now = true;
        }
        self.try_consume_fin(now);
    }

    /// RFC 9293 §3.10.7.4 first check: the four acceptability cases.
    fn acceptable(&self, seg: &Segment<'_>) -> bool {
        let seq = seg.header.seq;
        let len = seg.seg_len();
        let wnd = self.rcv_adv - self.rcv_nxt;
        let end = self.rcv_nxt + wnd;
        match (len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => seq.in_range(self.rcv_nxt, end),
            (_, 0) => false,
            _ => seq.in_range(self.rcv_nxt, end) || (seq + (len - 1)).in_range(self.rcv_nxt, end),
        }
    }

    /// SYN-RECEIVED or SYN-SENT to ESTABLISHED.
    fn establish(&mut self) {
        self.set_state(State::Established);
        self.events.push_back(Event::Connected);
        if self.syn_retransmitted && !self.rtt.has_sample() {
            // RFC 6298 §5.7: after a lost SYN, start data with RTO ≥ 3 s.
            let initial = self.config.initial_rto.max(Duration::from_secs(3));
            self.rtt = RttEstimator::new(initial, self.config.min_rto, self.config.max_rto);
        }
        self.arm_keepalive(self.last_recv);
        if self.fin_queued {
            // close() was called in SYN-RECEIVED (RFC 9293 §3.10.4).
            self.set_state(State::FinWait1);
        }
    }

    /// The ACK processing common to all synchronized states (RFC 9293
    /// §3.10.7.4 fifth check, RFC 5681, RFC 6582, RFC 6298; with SACK,
    /// RFC 6675, RFC 8985 and RFC 6937 in `loss.rs`).
    pub(super) fn process_ack(&mut self, now: Instant, seg: &Segment<'_>) {
        let h = &seg.header;
        let ack = h.ack;
        // RFC 7323 §2.2: the window of a segment with SYN set is never
        // scaled (the SYN-ACK of a simultaneous open comes through here).
        let seg_wnd = if h.flags.syn() { u32::from(h.window) } else { u32::from(h.window) << self.snd_wscale };
        self.probes_unanswered = 0;
        if ack == self.snd_una && self.snd_una == self.snd_max && h.options.sacks().is_empty() {
            // Nothing outstanding (a receiver's common case, once per data
            // segment): no loss recovery to run, only the window update. (A
            // D-SACK for data already acknowledged still goes the long way:
            // it may undo a recovery.)
            self.update_send_window(h.seq, ack, seg_wnd);
            return;
        }
        let sack_mode = self.sack_mode();
        let prior_in_flight = self.pipe();
        let app_limited = self.app_limited(prior_in_flight);
        let ctx = self.delivery_ctx(now, seg);
        let mut delivery = Delivery::default();
        let advanced = ack > self.snd_una;
        let mut acked = 0;
        let mut data_acked = 0;
        if advanced {
            acked = ack - self.snd_una;
            self.last_advance = acked;
            // The path works: an earlier ICMP soft error no longer explains
            // a later timeout (keepalive, persist, retransmission).
            self.stats.clear_soft_error();
            data_acked =
                if ack > self.snd_buf_seq { (ack - self.snd_buf_seq).min(self.send_buf.len() as u32) } else { 0 };
            self.send_buf.consume(data_acked as usize);
            self.snd_buf_seq += data_acked;
            self.stats.bytes_acked += u64::from(data_acked);
            // SND.WND counts from SND.UNA: keep the right edge where the
            // peer put it until a window update passes the SND.WL1/SND.WL2
            // test below (as 4.4BSD's tcp_input does with snd_wnd -= acked).
            // Otherwise an ACK whose window is too old to be taken (a
            // retransmission with a lower SEG.SEQ) slides the edge right,
            // and we send beyond the peer's window (RFC 9293 §3.8.6.2.1).
            self.snd_wnd = self.snd_wnd.saturating_sub(acked);
            self.snd_una = ack;
            if self.snd_nxt < self.snd_una {
                self.snd_nxt = self.snd_una;
            }
            // SACKed data stays in the send buffer until this point
            // (RFC 2018 §8): only the cumulative ACK consumes it.
            self.loss.log.ack_to(ack, |s| ctx.add(&mut delivery, s));
            if let Some(rare) = self.loss.rare.get_mut() {
                rare.sb.advance(ack);
            }
            if self.send_buf.is_empty() {
                self.arm_release(now);
            }
        }
        let sacks = !h.options.sacks().is_empty();
        let dsack = if sack_mode && sacks { self.take_sack_blocks(seg, &ctx, &mut delivery) } else { None };
        let rtt_sample = self.sample_rtt(now, seg, &delivery, advanced);
        if rtt_sample.is_some() {
            self.update_pto();
        }
        if advanced {
            // The backed-off RTO is kept until a valid RTT sample: an ACK
            // of retransmitted data (Karn) leaves it (RFC 9293 §3.8.2,
            // RFC 6298 §5 note after (5.7)).
            if rtt_sample.is_some() {
                self.rtt.reset_backoff();
            }
            self.retries = 0;
            // The user timeout now runs for what is still outstanding, sent
            // no later than now (RFC 5482 §1).
            self.stalled_since = (self.snd_una != self.snd_max).then_some(now);
            self.limited_transmit_bytes = 0;
            self.check_spurious_rto(seg);
        }
        let dupack = !advanced
            && ack == self.snd_una
            && seg.payload.is_empty()
            && !h.flags.syn()
            && !h.flags.fin()
            && self.snd_una != self.snd_max
            && (seg_wnd == self.snd_wnd || sacks)
            && seg_wnd != 0;
        if dupack {
            // A duplicate ACK (RFC 5681 §2; with SACK blocks, RFC 6675 §2's
            // definition, which does not ask for an unchanged window: Linux
            // receivers move their window on nearly every ACK, and without
            // this a loss waits for the RTO). Answers to zero-window probes
            // repeat SND.UNA too, but a closed window says nothing about
            // loss: they are not counted, or probing would end in a fast
            // retransmit into the closed window.
            self.dupacks += 1;
            self.stats.rare().dup_acks += 1;
        } else if advanced {
            self.dupacks = 0;
        }
        if sack_mode {
            self.sack_on_ack(now, &delivery, dsack, prior_in_flight, app_limited, rtt_sample, advanced, sacks);
        } else if advanced {
            self.newreno_on_advance(now, acked, data_acked, prior_in_flight, app_limited, rtt_sample);
        } else if dupack {
            self.newreno_on_dupack(now, ack);
        }
        if advanced {
            // RFC 6298 §5.2 and §5.3.
            self.timers.rto = if self.snd_una == self.snd_max { None } else { Some(now + self.rtt.rto()) };
            if self.snd_una == self.snd_max {
                self.timers.tlp = None;
                self.timers.reorder = None;
            } else if sack_mode {
                self.arm_tlp(now);
            }
            self.signal_writable();
        }
        self.update_send_window(h.seq, ack, seg_wnd);
        if advanced {
            self.sndbuf_expand();
        }
    }

    /// Window update (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2 rule).
    fn update_send_window(&mut self, seq: SeqNum, ack: SeqNum, seg_wnd: u32) {
        if self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack) {
            self.snd_wnd = seg_wnd;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(seg_wnd);
            if seg_wnd > 0 {
                self.timers.persist = None;
                self.persist_backoff = 0;
            }
        }
    }

    /// RFC 6582 NewReno, an ACK that advanced SND.UNA (no SACK scoreboard).
    fn newreno_on_advance(
        &mut self,
        now: Instant,
        acked: u32,
        data_acked: u32,
        prior_in_flight: u32,
        app_limited: bool,
        rtt: Option<Duration>,
    ) {
        if self.in_recovery {
            if self.snd_una >= self.recover {
                self.in_recovery = false;
                self.dupacks = 0;
                // RFC 6582 §3.2 step 3, option (1): min(ssthresh, max(FlightSize, SMSS) + SMSS).
                let flight = self.snd_max - self.snd_una;
                self.cc.set_cwnd(self.cc.ssthresh().min(flight.max(self.smss) + self.smss));
                self.cc.on_exit_recovery(now, self.smss);
            } else {
                // NewReno partial ACK (RFC 6582 §3.2 step 5).
                // Deflate by the amount acknowledged, add back one SMSS
                // if at least one SMSS was acknowledged.
                let mut cwnd = self.cc.cwnd().saturating_sub(acked);
                if acked >= self.smss {
                    cwnd = cwnd.saturating_add(self.smss);
                }
                self.cc.set_cwnd(cwnd.max(self.smss));
                self.rexmit_pending = true;
                self.rtt_probe = None;
            }
        } else if data_acked > 0 {
            self.cc.on_ack(&AckEvent {
                now,
                delivered: data_acked,
                prior_in_flight,
                smss: self.smss,
                rtt,
                min_rtt: self.rtt.min_rtt(),
                srtt: self.rtt.srtt(),
                snd_una: self.snd_una,
                snd_nxt: self.snd_nxt,
                app_limited,
            });
        }
    }

    /// RFC 6582 NewReno, a duplicate ACK (no SACK scoreboard).
    fn newreno_on_dupack(&mut self, now: Instant, ack: SeqNum) {
        if self.in_recovery {
            // RFC 6582 / RFC 5681 §3.2 step 4: inflate by one segment.
            self.cc.set_cwnd(self.cc.cwnd().saturating_add(self.smss));
        } else if self.dupacks == 3
            && (ack >= self.recover
                // RFC 6582 §4.2 ACK heuristic (§3.2 step 2): below
                // `recover`, duplicate ACKs after a small advance (at most
                // 4 SMSS) still mean a lost segment; after a large one they
                // are likelier to come from needless go-back-N
                // retransmissions. Without it, every loss below `recover`
                // after an RTO waits for the (backed-off) timer again.
                || (self.cc.cwnd() > self.smss && self.last_advance <= 4 * self.smss))
        {
            // Fast retransmit (RFC 5681 §3.2, RFC 6582 §3.2 step 2).
            // FlightSize leaves out what limited transmit sent (RFC 5681
            // §3.2 step 2: it "MUST NOT be included in this calculation").
            let flight = (self.snd_max - self.snd_una).saturating_sub(self.limited_transmit_bytes);
            self.limited_transmit_bytes = 0;
            self.cc.on_congestion_event(now, flight, self.smss);
            // RFC 5681 §3.2 step 3: cwnd = ssthresh + 3 × SMSS.
            self.cc.set_cwnd(self.cc.ssthresh().saturating_add(3 * self.smss));
            self.in_recovery = true;
            self.recover = self.snd_max;
            self.rexmit_pending = true;
            self.rtt_probe = None;
            self.stats.rare().fast_retransmits += 1;
            self.stats.rare().fast_recoveries += 1;
        }
    }

    /// Takes an RTT sample: from the send time of the newest segment this
    /// ACK delivered that was never retransmitted and was sent after every
    /// retransmission it delivered (microseconds, Karn-safe, RFC 6298 §3:
    /// an original sent before a retransmission may have been acknowledged
    /// only when the retransmission filled the hole before it; Linux goes
    /// further and takes no cumulative-ACK sample at all then), else from
    /// the one timed segment (the SYN or SYN-ACK always; data only without
    /// timestamps), else from the timestamp echo (RFC 7323 §4, whole
    /// milliseconds).
    fn sample_rtt(&mut self, now: Instant, seg: &Segment<'_>, d: &Delivery, advanced: bool) -> Option<Duration> {
        let ack = seg.header.ack;
        if let Some((sent, order)) = d.rtt_from
            && d.rexmit_newest.is_none_or(|(t, o)| sent_after(sent, order, t, o))
        {
            if self.rtt_probe.is_some_and(|(end, _)| ack >= end) {
                self.rtt_probe = None;
            }
            let rtt = now.saturating_duration_since(sent);
            self.rtt.sample(rtt);
            return Some(rtt);
        }
        if !advanced {
            return None;
        }
        // The SYN (or SYN-ACK) is timed by the probe even with timestamps:
        // it is not in the transmission log, and the probe has microseconds.
        if let Some((end, sent)) = self.rtt_probe
            && ack >= end
        {
            let rtt = now.saturating_duration_since(sent);
            self.rtt.sample(rtt);
            self.rtt_probe = None;
            return Some(rtt);
        }
        // After a SYN timeout the echo times the first SYN (RFC 7323 §4.3
        // leaves TS.Recent alone for a retransmitted SYN), i.e. the whole
        // backoff: no sample then, and RFC 6298 §5.7's 3 s RTO applies
        // until data gives one.
        let handshake_after_timeout = self.syn_retransmitted && !self.rtt.has_sample();
        if self.ts_ok
            && !handshake_after_timeout
            && let Some(ts) = seg.header.options.timestamps
            && ts.tsecr != 0
        {
            let ms = self.ts_now(now).wrapping_sub(ts.tsecr);
            if (ms as i32) >= 0 {
                // The echo has whole milliseconds: 0 means "under 1 ms",
                // and taken as 0 it would drag SRTT down and pin the
                // minimum RTT (RACK's reordering window, RFC 8985 §6.2) at
                // 0 on a sub-millisecond path. Round up instead.
                let rtt = Duration::from_millis(u64::from(ms.max(1)));
                self.rtt.sample(rtt);
                return Some(rtt);
            }
        }
        None
    }

    /// RFC 9293 §3.10.7.4 seventh: accept text into the reassembly buffer
    /// and decide when to ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2).
    fn process_data(&mut self, now: Instant, seg: &Segment<'_>) {
        let mut data = seg.payload;
        let rel = i64::from(seg.header.seq.diff(self.rcv_nxt));
        let mut offset = self.recv_buf.next_offset() as i64 + rel;
        if offset < 0 {
            let skip = usize::try_from(-offset).unwrap_or(usize::MAX).min(data.len());
            data = &data[skip..];
            offset = 0;
        }
        // RFC 9293 §3.10.7.4: only the part of the segment within the window
        // is processed; nothing past the right edge we advertised (RCV.NXT +
        // RCV.WND), even when the buffer has room (found by cargo-fuzz).
        let start = seg.header.seq + (seg.payload.len() - data.len()) as u32;
        let room = usize::try_from(self.rcv_adv.diff(start).max(0)).unwrap_or(0);
        data = &data[..data.len().min(room)];
        let outcome = self.recv_buf.insert(offset as u64, data);
        if outcome.dropped {
            self.stats.rare().dropped_ooo_limit += 1;
        }
        // D-SACK (RFC 2883 §4): report data received before, the part
        // below RCV.NXT or a segment held out of order already.
        let seq = seg.header.seq;
        if seq < self.rcv_nxt {
            if self.sack_ok {
                self.dsack_out = Some((seq, (seq + seg.payload.len() as u32).min(self.rcv_nxt)));
            }
        } else if outcome.duplicate {
            self.stats.rare().dup_segments_received += 1;
            if self.sack_ok {
                self.dsack_out = Some((start, start + data.len() as u32));
            }
        }
        // A duplicate of data held out of order triggers an ACK too, and
        // its block must come first as well (RFC 2018 §4).
        let held_duplicate = outcome.duplicate && offset as u64 > self.recv_buf.next_offset();
        if outcome.stored_out_of_order || held_duplicate {
            let recent = self.sack_recent.get_or_insert_with(Box::default);
            **recent = [Some(offset as u64), recent[0], recent[1], recent[2]];
        }
        if outcome.advanced > 0 {
            self.rcv_nxt += outcome.advanced as u32;
            self.stats.bytes_delivered += outcome.advanced as u64;
            self.rcv_space_adjust(now, seg);
            if !self.readable_signalled {
                self.readable_signalled = true;
                self.events.push_back(Event::Readable);
            }
        }
        self.rcv_mss = self.rcv_mss.max(seg.payload.len() as u32).min(u32::from(self.config.mss));
        if outcome.advanced < seg.payload.len() || outcome.filled_gap || self.recv_buf.has_out_of_order() {
            // Out of order, duplicate, trimmed or filling a gap: ACK at once.
            self.ack_now = true;
        } else {
            self.unacked_bytes += outcome.advanced as u32;
            if self.unacked_bytes >= 2 * self.rcv_mss {
                self.ack_now = true;
            } else if self.timers.delack.is_none() {
                self.timers.delack = Some(now + self.config.delayed_ack);
            }
        }
    }

    /// A segment wholly below RCV.NXT (dropped by the sequence check):
    /// count it, and report it in a D-SACK block (RFC 2883 §4.1).
    fn note_old_duplicate(&mut self, seg: &Segment<'_>) {
        let len = seg.payload.len() as u32;
        let seq = seg.header.seq;
        if len == 0 || (seq + len).diff(self.rcv_nxt) > 0 || self.rcv_nxt - seq > (1 << 30) {
            return;
        }
        self.stats.rare().dup_segments_received += 1;
        if self.sack_ok {
            self.dsack_out = Some((seq, seq + len));
        }
    }

    /// Consumes the peer's FIN once everything before it has arrived
    /// (RFC 9293 §3.10.7.4 eighth).
    fn try_consume_fin(&mut self, now: Instant) {
        let Some(fin_at) = self.peer_fin else { return };
        if self.fin_received || fin_at != self.rcv_nxt {
            return;
        }
        self.rcv_nxt += 1;
        if self.rcv_adv < self.rcv_nxt {
            self.rcv_adv = self.rcv_nxt;
        }
        self.fin_received = true;
        self.ack_now = true;
        self.events.push_back(Event::PeerFinished);
        match self.state {
            State::SynReceived | State::Established => self.set_state(State::CloseWait),
            State::FinWait1 => {
                if self.fin_acked() {
                    self.enter_time_wait(now);
                } else {
                    self.set_state(State::Closing);
                }
            }
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        self.timers.rto = None;
        self.timers.persist = None;
        self.timers.keepalive = None;
        self.timers.tlp = None;
        self.timers.reorder = None;
        self.timers.time_wait = Some(now + self.config.time_wait);
    }

    /// A rate-limited challenge ACK (RFC 5961 §3.2, §4.2, §5.2, §7).
    fn challenge_ack(&mut self, now: Instant) {
        if now.saturating_duration_since(self.challenge_window_start) >= Duration::from_secs(1) {
            self.challenge_window_start = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < self.config.challenge_ack_limit {
            self.challenge_count += 1;
            self.stats.rare().challenge_acks += 1;
            self.ack_now = true;
        } else {
            self.stats.rare().challenge_acks_suppressed += 1;
        }
    }

    /// RCV.NXT: the next sequence number expected from the peer (used by
    /// the endpoint's TIME-WAIT reuse check, RFC 9293 §3.6.1).
    pub fn rcv_nxt(&self) -> SeqNum {
        self.rcv_nxt
    }

    /// One past the highest sequence number sent (SYN and FIN included):
    /// a connection reopened from TIME-WAIT must start above it (RFC 9293
    /// §3.6.1, MAY-2 condition 1).
    pub fn snd_max(&self) -> SeqNum {
        self.snd_max
    }
}
