//! Sender-side loss recovery with SACK: the RFC 6675 scoreboard and
//! NextSeg, RACK-TLP (RFC 8985), PRR (RFC 6937), and the undo of spurious
//! window reductions (RFC 3522 Eifel after an RTO, RFC 3708 D-SACK after a
//! fast recovery, F-RTO RFC 5682 after an RTO without timestamps).
//!
//! Connections without SACK (or with `sack_recovery` off) keep RFC 6582
//! NewReno in `input.rs`; there DeliveredData could only be guessed from
//! duplicate ACKs, so PRR is used with SACK only (RFC 6937 §3 allows the
//! estimate; NewReno's window inflation already paces a non-SACK recovery).
//!
//! Loss detection, decided once (RFC 8985 §3.4 leaves it open): with `rack`
//! on, RACK is the only detector. Its reordering window is zero until
//! reordering has been seen once DupThresh segments are SACKed or recovery
//! has begun (RFC 8985 §6.2 step 4), which reacts as fast as DupThresh
//! would, so no separate DupThresh rule is kept. With `rack` off, RFC 6675
//! IsLost and the DupThresh duplicate-ACK count drive recovery, and NextSeg
//! rules (3) and (4) (retransmitting un-SACKed data not yet deemed lost,
//! and the rescue retransmission) apply; with RACK those rules are left
//! out, as they would undo RACK's reordering tolerance, and tail losses are
//! the tail loss probe's job.

use super::Connection;
use crate::Transmit;
use crate::congestion::{AckEvent, CongestionControl};
use crate::recovery::{Delivery, RETRANS, Scoreboard, SentLog, SentSeg, sent_after};
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};
use crate::wire::{Flags, Segment};

/// RFC 6675 §2 DupThresh.
const DUP_THRESH: u32 = 3;
/// RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK timer a peer may use.
const WC_DEL_ACK: Duration = Duration::from_millis(200);
/// RFC 8985 §6.2 step 4: rounds a widened reordering window persists.
const REO_WND_PERSIST: u8 = 16;
/// PTO before any RTT sample (RFC 8985 §7.2).
const PTO_NO_RTT: Duration = Duration::from_secs(1);

/// Loss-recovery state of a connection (sender side).
///
/// What every data segment and ACK reads stays inline; what only SACK
/// information, a recovery, an undo or an RTO sets is in [`RareLoss`],
/// boxed on first write (BENCHMARKS.md §2: every byte of `Connection`
/// costs with thousands of connections).
#[derive(Clone, Debug, Default)]
pub(super) struct LossState {
    /// One entry per segment in flight: send times, SACKed/lost/retransmitted.
    pub log: SentLog,
    /// RACK.xmit_ts of the most recently sent segment delivered, with its
    /// transmission number in place of RACK.end_seq (RFC 8985 §6.1).
    pub rack_xmit: Option<(Instant, u32)>,
    /// RACK.rtt: the RTT of that segment.
    pub rack_rtt: Duration,
    /// RACK.fack: the highest sequence delivered.
    pub fack: Option<SeqNum>,
    /// RACK.reordering_seen.
    pub reordering_seen: bool,
    /// RACK.reo_wnd_mult − 1.
    pub reo_wnd_extra: u8,
    /// RACK.reo_wnd_persist.
    pub reo_wnd_persist: u8,
    /// TLP.end_seq (RFC 8985 §7.1): SND.MAX after the probe, while its
    /// outcome is open.
    pub tlp_end: Option<SeqNum>,
    /// TLP.is_retrans: the probe resent old data.
    pub tlp_is_retrans: bool,
    /// The probe timeout fired: send a probe on the next `poll_transmit`.
    pub tlp_due: bool,
    /// 2 × SRTT in microseconds (1 s before any sample), the PTO base.
    pub pto_us: u64,
    /// F-RTO (RFC 5682 §3, SACK-enhanced), for connections without
    /// timestamps: 1 waits for the first ACK after the RTO retransmission,
    /// 2 has sent new data instead of retransmitting and waits for the
    /// second; 0 off.
    pub frto: u8,
    /// The rarely used part, boxed on first write.
    pub rare: RareBoxed,
}

/// The part of [`LossState`] a connection without SACKed or lost
/// segments, recoveries and timeouts leaves at its defaults.
#[derive(Clone, Debug, Default)]
pub(super) struct RareLoss {
    /// SACKed ranges above SND.UNA.
    pub sb: Scoreboard,
    /// RACK.dsack_round.
    pub dsack_round: Option<SeqNum>,
    /// PRR (RFC 6937 §3) prr_delivered: bytes delivered since recovery began.
    pub prr_delivered: u32,
    /// PRR prr_out: bytes sent since recovery began.
    pub prr_out: u32,
    /// PRR RecoverFS: pipe when recovery began.
    pub recover_fs: u32,
    /// RFC 6675 RescueRxt.
    pub rescue_rxt: Option<SeqNum>,
    /// SND.UNA when the current fast recovery began (RFC 3708 undo).
    pub undo_marker: Option<SeqNum>,
    /// Retransmissions sent since then.
    pub undo_retrans: u32,
    /// Of which D-SACKed (in segments).
    pub undo_dsacked: u32,
    /// Our TSval when the first retransmission after an RTO went out (RFC 3522).
    pub rto_tsval: Option<u32>,
}

impl RareLoss {
    /// The defaults, as a constant (see [`RareBoxed`]).
    const IDLE: RareLoss = RareLoss {
        sb: Scoreboard::new(),
        dsack_round: None,
        prr_delivered: 0,
        prr_out: 0,
        recover_fs: 0,
        rescue_rxt: None,
        undo_marker: None,
        undo_retrans: 0,
        undo_dsacked: 0,
        rto_tsval: None,
    };
}

/// What reading a [`RareBoxed`] that was never written returns.
static IDLE_RARE_LOSS: RareLoss = RareLoss::IDLE;

/// A [`RareLoss`] allocated on first write: reads of one never written
/// see the defaults ([`RareLoss::IDLE`]), a write (through `DerefMut`)
/// allocates it. Paths run for every segment must not write through it
/// unless it is allocated ([`RareBoxed::get_mut`]).
#[derive(Clone, Debug, Default)]
pub(super) struct RareBoxed(Option<Box<RareLoss>>);

impl RareBoxed {
    /// The state if it has been allocated.
    pub fn get_mut(&mut self) -> Option<&mut RareLoss> {
        self.0.as_deref_mut()
    }

    /// Heap bytes held by the box itself, once allocated (for memory
    /// accounting; the scoreboard's storage inside it is counted by
    /// [`Scoreboard::allocated`]).
    pub fn allocated(&self) -> usize {
        self.0.as_ref().map_or(0, |_| core::mem::size_of::<RareLoss>())
    }
}

impl core::ops::Deref for RareBoxed {
    type Target = RareLoss;
    fn deref(&self) -> &RareLoss {
        self.0.as_deref().unwrap_or(&IDLE_RARE_LOSS)
    }
}

impl core::ops::DerefMut for RareBoxed {
    fn deref_mut(&mut self) -> &mut RareLoss {
        self.0.get_or_insert_with(Box::default)
    }
}

impl LossState {
    /// Nothing sent yet; the PTO base is the RFC 8985 §7.2 default of 1 s.
    pub fn new() -> Self {
        LossState { pto_us: PTO_NO_RTT.as_micros() as u64, ..LossState::default() }
    }
}

/// What classifying a delivered segment needs (RFC 8985 §6.2 steps 2–3).
#[derive(Clone, Copy, Debug)]
pub(super) struct DeliveryCtx {
    /// When the ACK arrived.
    pub now: Instant,
    /// Its timestamp echo, if any (non-zero).
    pub tsecr: Option<u32>,
    /// Our TSval offset, to turn a send time into the TSval it carried.
    pub ts_offset: u32,
    /// RACK.min_RTT.
    pub min_rtt: Option<Duration>,
    /// RACK.fack before this ACK.
    pub fack: SeqNum,
    /// RFC 6582 `recover` (F-RTO asks about data below it).
    pub recover: SeqNum,
}

impl DeliveryCtx {
    /// Adds one newly delivered segment to `d`.
    pub fn add(&self, d: &mut Delivery, s: &SentSeg) {
        d.bytes += s.end - s.start;
        let candidate = if s.flags & RETRANS == 0 {
            if s.end <= self.recover {
                d.original_below_recover = true;
            }
            if d.rtt_from.is_none_or(|(t, o)| sent_after(s.xmit, s.order, t, o)) {
                d.rtt_from = Some((s.xmit, s.order));
            }
            if s.end < self.fack {
                d.reordered = true;
            }
            true
        } else {
            if d.rexmit_newest.is_none_or(|(t, o)| sent_after(s.xmit, s.order, t, o)) {
                d.rexmit_newest = Some((s.xmit, s.order));
            }
            // RFC 8985 §6.2 step 2: a retransmitted segment is used only
            // if the ACK is not for an earlier transmission of it.
            let sent_ts = (s.xmit.as_millis() as u32).wrapping_add(self.ts_offset);
            let for_original = self.tsecr.is_some_and(|e| (e.wrapping_sub(sent_ts) as i32) < 0);
            if for_original && s.end < self.fack {
                // The timestamp shows the original arrived, after later
                // data: reordering (RFC 8985 §6.2 step 3).
                d.reordered = true;
            }
            let too_soon = self.min_rtt.is_some_and(|m| self.now.saturating_duration_since(s.xmit) < m);
            !for_original && !too_soon
        };
        if candidate && d.newest.is_none_or(|(t, o)| sent_after(s.xmit, s.order, t, o)) {
            d.newest = Some((s.xmit, s.order));
        }
        if d.high.is_none_or(|h| h < s.end) {
            d.high = Some(s.end);
        }
    }
}

/// RFC 8985 §6.2 step 4: the reordering window once reordering has been
/// seen (or before DupThresh segments are SACKed): min_RTT / 4 times the
/// D-SACK multiplier, at most SRTT.
fn reo_wnd_of(rtt: &crate::rtt::RttEstimator, extra: u8) -> Duration {
    let Some(min_rtt) = rtt.min_rtt() else { return Duration::ZERO };
    let wnd = (min_rtt / 4).saturating_mul(u32::from(extra) + 1);
    rtt.srtt().map_or(wnd, |s| wnd.min(s))
}

impl Connection {
    /// The scoreboard drives recovery: SACK negotiated and `sack_recovery` on.
    pub(super) fn sack_mode(&self) -> bool {
        self.sack_ok && self.config.sack_recovery
    }

    /// RACK-TLP is on (it needs the scoreboard).
    fn rack_on(&self) -> bool {
        self.sack_mode() && self.config.rack
    }

    /// Recovering: in fast recovery, or retransmitting after an RTO until
    /// SND.UNA passes the recovery point (RFC 6582 `recover`).
    pub(super) fn recovering(&self) -> bool {
        self.in_recovery || self.snd_una < self.recover
    }

    /// Bytes in flight: RFC 6675 pipe with the scoreboard, else SND.MAX − SND.UNA.
    pub(super) fn pipe(&self) -> u32 {
        let flight = self.snd_max - self.snd_una;
        if self.sack_mode() { self.loss.log.pipe(flight) } else { flight }
    }

    /// How many more bytes the congestion window lets go now.
    pub(super) fn cwnd_room(&self) -> u32 {
        let cwnd = self.cc.cwnd();
        if !self.sack_mode() {
            let mut cwnd = cwnd;
            if !self.in_recovery && (1..=2).contains(&self.dupacks) && self.snd_nxt == self.snd_max {
                // Limited transmit (RFC 3042).
                cwnd = cwnd.saturating_add(self.dupacks * self.smss);
            }
            return cwnd.saturating_sub(self.snd_nxt - self.snd_una);
        }
        let room = cwnd.saturating_sub(self.pipe());
        if !self.in_recovery {
            return room;
        }
        if self.loss.rare.prr_out == 0 {
            // The first retransmission of a recovery goes at once (RFC 6675
            // §5 step 4.3; RFC 6937 forces it the same way).
            room.max(self.smss)
        } else if self.config.prr {
            // PRR counts whole segments: any room lets one go (RFC 6937 §3).
            if room > 0 { room.max(self.smss) } else { 0 }
        } else if room >= self.smss {
            room
        } else {
            0 // RFC 6675 §5 step (C): only while cwnd − pipe ≥ 1 SMSS.
        }
    }

    /// The ACK fields RFC 8985 needs to classify delivered segments.
    pub(super) fn delivery_ctx(&self, now: Instant, seg: &Segment<'_>) -> DeliveryCtx {
        DeliveryCtx {
            now,
            tsecr: if self.ts_ok { seg.header.options.timestamps.map(|t| t.tsecr).filter(|&e| e != 0) } else { None },
            ts_offset: self.ts_offset,
            min_rtt: self.rtt.min_rtt(),
            fack: self.loss.fack.unwrap_or(self.snd_una).max(self.snd_una),
            recover: self.recover,
        }
    }

    /// Takes the SACK blocks of an ACK (SND.UNA already moved): valid ones
    /// go to the scoreboard and mark the log; a D-SACK (RFC 2883 §4: the
    /// first block below the cumulative ACK, or inside the second block)
    /// is returned, not taken as new SACK information. Blocks reaching past
    /// SND.MAX, empty or reversed ones are ignored (RFC 2018 §3).
    pub(super) fn take_sack_blocks(
        &mut self,
        seg: &Segment<'_>,
        ctx: &DeliveryCtx,
        d: &mut Delivery,
    ) -> Option<(SeqNum, SeqNum)> {
        let blocks = seg.header.options.sacks();
        let ack = seg.header.ack;
        let mut dsack = None;
        for (i, b) in blocks.iter().enumerate() {
            let (left, right) = (b.left, b.right);
            if left.diff(right) >= 0 || right > self.snd_max {
                continue;
            }
            if i == 0 && (left < ack || blocks.get(1).is_some_and(|b2| b2.left <= left && right <= b2.right)) {
                // A D-SACK: sanity-check it lies within what we could have sent.
                if left >= self.snd_una - self.max_snd_wnd.clamp(1, 1 << 30) {
                    self.stats.rare().dsacks_received += 1;
                    dsack = Some((left, right));
                }
                continue;
            }
            // Validate as offsets from SND.UNA: sequence order wraps, so
            // `left < right <= SND.MAX` alone lets a block whose left edge
            // lies far above SND.MAX (and whose right edge wraps round
            // below it) through, and an unsorted scoreboard panics.
            let flight = self.snd_max - self.snd_una;
            let hi = right - self.snd_una;
            let lo = if left < self.snd_una { 0 } else { left - self.snd_una };
            if hi > flight || lo >= hi {
                continue;
            }
            let (left, right) = (self.snd_una + lo, self.snd_una + hi);
            let LossState { log, rare, .. } = &mut self.loss;
            let sb = &mut rare.sb;
            let full = sb.is_full();
            if sb.insert(left, right) > 0 || full {
                let before = d.bytes;
                log.mark_sacked(sb, left, right, |s| ctx.add(d, s));
                d.sacked += d.bytes - before;
            }
        }
        dsack
    }

    /// The SACK-mode part of ACK processing, after the cumulative ACK and
    /// the SACK blocks were taken: D-SACK undo, RACK, recovery entry/exit,
    /// PRR, TLP, and window growth outside recovery.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sack_on_ack(
        &mut self,
        now: Instant,
        d: &Delivery,
        dsack: Option<(SeqNum, SeqNum)>,
        prior_in_flight: u32,
        app_limited: bool,
        rtt: Option<Duration>,
        advanced: bool,
        sacks: bool,
    ) {
        if let Some(h) = d.high {
            self.loss.fack = Some(self.loss.fack.map_or(h, |f| f.max(h)));
        }
        if dsack.is_none()
            && !self.in_recovery
            && self.loss.frto == 0
            && self.loss.tlp_end.is_none()
            && self.loss.log.is_clean()
            && self.config.rack
        {
            // The common case: nothing SACKed, lost or retransmitted in
            // flight, so RACK has no candidate (everything outstanding was
            // sent after what this ACK delivered), no probe is pending and
            // no recovery can start. Only RACK's state and the window move.
            if d.bytes > 0 && !self.recovering() {
                // A late segment delivered here still shows reordering.
                self.loss.reordering_seen |= d.reordered;
                self.rack_update(now, d);
                self.timers.reorder = None;
                self.grow_cwnd(now, d.bytes, prior_in_flight, app_limited, rtt);
                return;
            }
        }
        if let Some((l, r)) = dsack {
            self.on_dsack(now, l, r);
        }
        if self.loss.frto != 0 {
            self.frto_on_ack(d, advanced);
        }
        if self.config.rack {
            // A D-SACK shows a retransmission was unnecessary: the network
            // reordered (or duplicated) data. Count it as reordering seen,
            // as Linux does, or the window would stay zero (RFC 8985 §6.2
            // step 4) whenever RACK retransmits a late segment before it
            // arrives, and every reordering would cost a retransmission.
            if d.reordered || dsack.is_some() {
                self.loss.reordering_seen = true;
            }
            self.rack_update(now, d);
            if dsack.is_some() && self.loss.rare.dsack_round.is_none_or(|r| self.snd_una >= r) {
                // RFC 8985 §6.2 step 4: widen the reordering window.
                self.loss.reo_wnd_extra = self.loss.reo_wnd_extra.saturating_add(1);
                self.loss.rare.dsack_round = Some(self.snd_max);
                self.loss.reo_wnd_persist = REO_WND_PERSIST;
            }
            self.rack_detect_loss(now);
        } else {
            let LossState { log, rare, .. } = &mut self.loss;
            log.mark_lost_dupthresh(&rare.sb, DUP_THRESH, self.smss);
            if !self.recovering() && self.dupacks >= DUP_THRESH {
                self.loss.log.mark_head_lost();
            }
        }
        self.tlp_on_ack(now, dsack, advanced, sacks, prior_in_flight);
        if self.in_recovery {
            if self.snd_una >= self.recover {
                self.exit_recovery(now);
            } else {
                self.prr_on_ack(d.bytes);
            }
        } else if self.loss.log.lost_bytes() > 0 && self.snd_una >= self.recover {
            self.enter_recovery(now, prior_in_flight);
            self.prr_on_ack(d.bytes);
        } else if d.bytes > 0 {
            self.grow_cwnd(now, d.bytes, prior_in_flight, app_limited, rtt);
        }
    }

    /// RFC 8985 §6.2 step 2: RACK.xmit_ts and RACK.rtt from the most
    /// recently sent segment this ACK delivered.
    fn rack_update(&mut self, now: Instant, d: &Delivery) {
        if let Some((t, o)) = d.newest {
            self.loss.rack_rtt = now.saturating_duration_since(t);
            if self.loss.rack_xmit.is_none_or(|(rt, ro)| sent_after(t, o, rt, ro)) {
                self.loss.rack_xmit = Some((t, o));
            }
        }
    }

    /// Outside recovery the controller grows the window by what was delivered.
    fn grow_cwnd(
        &mut self,
        now: Instant,
        delivered: u32,
        prior_in_flight: u32,
        app_limited: bool,
        rtt: Option<Duration>,
    ) {
        self.cc.on_ack(&AckEvent {
            now,
            delivered,
            prior_in_flight,
            smss: self.smss,
            rtt,
            min_rtt: self.rtt.min_rtt(),
            srtt: self.rtt.srtt(),
            snd_una: self.snd_una,
            snd_nxt: self.snd_max,
            app_limited,
        });
    }

    /// RFC 8985 §6.2 step 5 and §6.3: marks what RACK deems lost and arms
    /// the reordering timer for what may still be only reordered.
    fn rack_detect_loss(&mut self, now: Instant) {
        let Some((xmit, order)) = self.loss.rack_xmit else {
            self.timers.reorder = None;
            return;
        };
        if self.loss.log.rack_idle(xmit, order) {
            // The common case without holes: nothing sent before RACK's
            // segment is outstanding.
            self.timers.reorder = None;
            return;
        }
        // The window is computed only if some segment is a candidate (not
        // in the common case of an ACK without holes).
        let zero = !self.loss.reordering_seen && (self.recovering() || self.loss.log.sacked_segs() >= DUP_THRESH);
        let (rtt, extra) = (&self.rtt, self.loss.reo_wnd_extra);
        let rack_rtt = self.loss.rack_rtt;
        let wait = move || rack_rtt.saturating_add(if zero { Duration::ZERO } else { reo_wnd_of(rtt, extra) });
        let (marked, pending) = self.loss.log.rack_detect(xmit, order, now, wait);
        if marked > 0 {
            self.stats.rare().rack_losses += u64::from(marked);
        }
        self.timers.reorder = pending;
    }

    /// The reordering timer fired (RFC 8985 §6.3).
    pub(super) fn on_reorder_timeout(&mut self, now: Instant) {
        if !self.rack_on() || self.snd_una == self.snd_max {
            return;
        }
        let prior_in_flight = self.pipe();
        self.rack_detect_loss(now);
        if !self.in_recovery && self.loss.log.lost_bytes() > 0 && self.snd_una >= self.recover {
            self.enter_recovery(now, prior_in_flight);
            self.prr_on_ack(0);
        }
    }

    /// RFC 6675 §5 step 4 / RFC 6937 §3: recovery begins. The flight
    /// handed to the controller (and PRR's RecoverFS) is pipe before the
    /// loss was marked, the data actually in the network: SND.MAX − SND.UNA
    /// also counts SACKed data and lost data not yet repaired, and after a
    /// long recovery it can be many times the path's capacity, which would
    /// set ssthresh far too high (RFC 6937 §3 notes the same for RecoverFS;
    /// Linux bases ssthresh on cwnd).
    fn enter_recovery(&mut self, now: Instant, pipe: u32) {
        let flight = pipe.max(self.smss);
        self.cc.on_congestion_event(now, flight, self.smss);
        self.in_recovery = true;
        self.recover = self.snd_max;
        self.stats.rare().fast_recoveries += 1;
        self.stats.rare().sack_recoveries += 1;
        self.stats.rare().fast_retransmits += 1;
        self.loss.rare.prr_delivered = 0;
        self.loss.rare.prr_out = 0;
        self.loss.rare.recover_fs = flight.max(1);
        self.loss.rare.rescue_rxt = None;
        // A retransmitted probe still in flight may be D-SACKed too: count
        // it, or its D-SACK could undo a recovery that repaired a real loss
        // (the bug Linux fixed in tcp_init_undo).
        let tlp_rexmit_out = self.loss.tlp_end.is_some() && self.loss.tlp_is_retrans;
        self.loss.tlp_end = None;
        self.loss.tlp_due = false;
        self.timers.tlp = None;
        self.loss.rare.undo_marker = self.config.frto.then_some(self.snd_una);
        self.loss.rare.undo_retrans = u32::from(tlp_rexmit_out);
        self.loss.rare.undo_dsacked = 0;
        if !self.config.prr {
            self.cc.set_cwnd(self.cc.ssthresh());
        }
    }

    /// RFC 6937 §3, PRR-SSRB: the window after an ACK in recovery.
    fn prr_on_ack(&mut self, delivered: u32) {
        if !self.config.prr {
            return;
        }
        self.loss.rare.prr_delivered = self.loss.rare.prr_delivered.saturating_add(delivered);
        let pipe = u64::from(self.pipe());
        let ssthresh = u64::from(self.cc.ssthresh());
        let prr_delivered = u64::from(self.loss.rare.prr_delivered);
        let prr_out = u64::from(self.loss.rare.prr_out);
        let sndcnt = if pipe > ssthresh {
            // Proportional part: CEIL(prr_delivered * ssthresh / RecoverFS) − prr_out.
            let fs = u64::from(self.loss.rare.recover_fs.max(1));
            (prr_delivered * ssthresh).div_ceil(fs).saturating_sub(prr_out)
        } else {
            // Slow-start reduction bound.
            let limit = prr_delivered.saturating_sub(prr_out).max(u64::from(delivered)) + u64::from(self.smss);
            (ssthresh - pipe).min(limit)
        };
        let cwnd = (pipe + sndcnt).min(u64::from(u32::MAX)) as u32;
        self.cc.set_cwnd(cwnd.max(1));
    }

    /// RFC 6937 §3 / RFC 6675 §5: recovery ends with cwnd = ssthresh.
    fn exit_recovery(&mut self, now: Instant) {
        self.in_recovery = false;
        self.dupacks = 0;
        self.cc.set_cwnd(self.cc.ssthresh());
        self.cc.on_exit_recovery(now, self.smss);
        if self.loss.reo_wnd_persist > 0 {
            self.loss.reo_wnd_persist -= 1;
            if self.loss.reo_wnd_persist == 0 {
                self.loss.reo_wnd_extra = 0;
            }
        }
    }

    /// A D-SACK arrived: RFC 3708-style undo once every retransmission of
    /// the last fast recovery has been reported as a duplicate.
    fn on_dsack(&mut self, now: Instant, left: SeqNum, right: SeqNum) {
        let Some(marker) = self.loss.rare.undo_marker else { return };
        if left < marker || self.loss.rare.undo_retrans == 0 {
            return;
        }
        // Only duplicates of our retransmissions count (as Linux's
        // tcp_sacktag_one): a D-SACK of an original the network duplicated
        // says nothing about whether the retransmissions were needed. Above
        // SND.UNA the log tells which entries were retransmitted; below it
        // the entries are gone and the block's segments are counted.
        self.loss.rare.undo_dsacked += if left >= self.snd_una {
            self.loss.log.retransmitted_within(left, right)
        } else {
            (right.min(self.snd_una) - left).div_ceil(self.smss).max(1)
        };
        if self.loss.rare.undo_dsacked < self.loss.rare.undo_retrans {
            return;
        }
        self.loss.rare.undo_marker = None;
        self.stats.rare().spurious_undos += 1;
        tracing::debug!(conn = %self.tuple.local, "fast recovery was spurious (D-SACK): undo");
        if self.in_recovery {
            self.in_recovery = false;
            self.cc.on_exit_recovery(now, self.smss);
        }
        self.cc.undo();
        self.recover = self.snd_una;
        self.loss.log.clear_unretransmitted_losses();
    }

    /// RFC 3522 (Eifel): the first ACK advancing SND.UNA after an RTO
    /// echoes a timestamp older than the retransmission, so the original
    /// transmission was acknowledged and the timeout was spurious: restore
    /// the window (RFC 4015 §3) and go on with new data.
    pub(super) fn check_spurious_rto(&mut self, seg: &Segment<'_>) {
        // Read before taking: taking would allocate the rare state.
        let Some(retrans_ts) = self.loss.rare.rto_tsval else { return };
        self.loss.rare.rto_tsval = None;
        let Some(ts) = seg.header.options.timestamps else { return };
        if ts.tsecr == 0 || (ts.tsecr.wrapping_sub(retrans_ts) as i32) >= 0 {
            return;
        }
        self.stats.rare().spurious_undos += 1;
        tracing::debug!(conn = %self.tuple.local, "retransmission timeout was spurious (Eifel): undo");
        self.cc.undo();
        self.rtt.reset_backoff();
        self.recover = self.snd_una;
        if self.sack_mode() {
            self.loss.log.clear_unretransmitted_losses();
        } else {
            self.snd_nxt = self.snd_max;
        }
    }

    /// F-RTO's ACK processing (RFC 5682 §3, SACK-enhanced version).
    fn frto_on_ack(&mut self, d: &Delivery, advanced: bool) {
        if self.loss.frto == 1 {
            // Step 2: the first ACK. A duplicate ACK, or one covering the
            // whole flight, says nothing; otherwise send new data (up to
            // two segments, which is what slow start's cwnd now allows)
            // instead of retransmitting, if there is new data to send.
            let data_end = self.snd_buf_seq + self.send_buf.len() as u32;
            let new_data = data_end > self.snd_max && self.snd_wnd > self.snd_max - self.snd_una;
            self.loss.frto = if advanced && self.snd_una < self.recover && new_data { 2 } else { 0 };
            return;
        }
        // Step 3: the second ACK. If it delivers data sent before the
        // timeout and never retransmitted, the originals were not lost.
        self.loss.frto = 0;
        if d.original_below_recover {
            self.stats.rare().spurious_undos += 1;
            tracing::debug!(conn = %self.tuple.local, "retransmission timeout was spurious (F-RTO): undo");
            self.cc.undo();
            self.rtt.reset_backoff();
            self.recover = self.snd_una;
            self.loss.log.clear_unretransmitted_losses();
        }
    }

    /// The retransmission timer expired on a SACK connection (RFC 6675
    /// §5.1): keep the scoreboard, deem everything not SACKed lost, and
    /// let NextSeg resend it, SACKed data excluded, as cwnd allows. F-RTO
    /// is armed after a first timeout outside recovery when timestamps are
    /// off (with them, Eifel decides, `check_spurious_rto`).
    pub(super) fn sack_on_rto(&mut self, was_in_recovery: bool) {
        self.loss.frto = u8::from(self.config.frto && !self.ts_ok && !was_in_recovery && self.retries == 1);
        if self.loss.log.head_sacked() {
            // The data at SND.UNA was SACKed yet never cumulatively ACKed:
            // the receiver reneged (dropped its out-of-order queue). RFC
            // 2018 §8: after the timeout the segment at the left edge MUST
            // be retransmitted whether SACKed or not; forget all SACK
            // information, so everything still unacknowledged goes again.
            self.loss.log.clear_sacked();
            if let Some(rare) = self.loss.rare.get_mut() {
                rare.sb.clear();
            }
            self.stats.rare().sack_reneging += 1;
        }
        self.loss.log.mark_all_lost();
        self.loss.tlp_end = None;
        self.loss.tlp_due = false;
        if let Some(rare) = self.loss.rare.get_mut() {
            rare.undo_marker = None;
        }
        self.timers.tlp = None;
        self.timers.reorder = None;
    }

    /// RFC 8985 §7.2: (re)arms the probe timeout.
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        self.timers.tlp = None;
        if !self.rack_on()
            || self.recovering()
            || self.loss.tlp_end.is_some()
            || self.snd_una == self.snd_max
            || !self.state.is_synchronized()
        {
            return;
        }
        // 2 × SRTT in microseconds, cached by `update_pto` at each RTT sample
        // (this runs for every new segment sent).
        let mut pto = self.loss.pto_us;
        if self.snd_max - self.snd_una <= self.smss {
            pto = pto.saturating_add(WC_DEL_ACK.as_micros() as u64);
        }
        let at = Instant::from_micros(now.as_micros().saturating_add(pto));
        if self.timers.rto.is_none_or(|rto| at < rto) {
            self.timers.tlp = Some(at);
        }
    }

    /// Recomputes the cached base PTO, 2 × SRTT (RFC 8985 §7.2), after an
    /// RTT sample.
    pub(super) fn update_pto(&mut self) {
        self.loss.pto_us = match self.rtt.srtt_nanos() {
            Some(ns) => ns / 500, // 2 × SRTT, in microseconds
            None => PTO_NO_RTT.as_micros() as u64,
        };
    }

    /// The probe timeout fired (RFC 8985 §7.3): a probe goes out next.
    pub(super) fn on_tlp_timeout(&mut self) {
        if self.rack_on() && !self.recovering() && self.loss.tlp_end.is_none() && self.snd_una != self.snd_max {
            self.loss.tlp_due = true;
        }
    }

    /// RFC 8985 §7.4: did the probe repair a loss?
    fn tlp_on_ack(
        &mut self,
        now: Instant,
        dsack: Option<(SeqNum, SeqNum)>,
        advanced: bool,
        sacks: bool,
        prior_in_flight: u32,
    ) {
        let Some(end) = self.loss.tlp_end else { return };
        if self.snd_una < end {
            return;
        }
        if !self.loss.tlp_is_retrans || dsack.is_some_and(|(_, r)| r == end) || (!advanced && !sacks) {
            self.loss.tlp_end = None;
        } else if self.snd_una > end {
            // Only the probe got through: one segment was lost and the probe
            // repaired it. Reduce the window as a recovery would have.
            self.loss.tlp_end = None;
            self.cc.on_congestion_event(now, prior_in_flight, self.smss);
            self.cc.set_cwnd(self.cc.ssthresh());
            self.cc.on_exit_recovery(now, self.smss);
        }
    }

    /// Sends the tail loss probe (RFC 8985 §7.3): new data if the peer's
    /// window allows, else the last segment again.
    pub(super) fn send_tlp(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let before = self.snd_max;
        let t = match self.next_data_segment(now, buf) {
            Some(t) if self.snd_max > before => {
                self.loss.tlp_is_retrans = false;
                Some(t)
            }
            Some(t) => Some(t),
            None => {
                let last = self.loss.log.last()?;
                let t = self.emit_range(now, buf, last.start, last.end)?;
                self.loss.tlp_is_retrans = true;
                Some(t)
            }
        };
        self.loss.tlp_due = false;
        if t.is_some() {
            self.loss.tlp_end = Some(self.snd_max);
            self.stats.rare().tlp_probes += 1;
            self.timers.tlp = None;
            self.timers.rto = Some(now + self.rtt.rto());
        }
        t
    }

    /// RFC 6675 §4 NextSeg, rules (1), or with `rule34` rules (3) and (4),
    /// as cwnd − pipe allows.
    pub(super) fn sack_retransmit(&mut self, now: Instant, buf: &mut [u8], rule34: bool) -> Option<Transmit> {
        // Called on every `poll_transmit`: nothing deemed lost is the common
        // case. F-RTO step 2b sends new data before any more retransmission.
        if (!rule34 && self.loss.log.lost_bytes() == 0) || self.loss.frto == 2 || self.cwnd_room() == 0 {
            return None;
        }
        let seg = if !rule34 {
            self.loss.log.next_lost()?
        } else if let Some(s) = self.loss.rare.sb.high().and_then(|h| self.loss.log.next_unsacked_below(h)) {
            s
        } else {
            if self.loss.rare.rescue_rxt.is_some() {
                return None;
            }
            // The tail of the window that was in flight when recovery began
            // (new data sent since is not what the rescue is for).
            let s = self.loss.log.highest_unsacked_below(self.recover)?;
            if s.flags & RETRANS != 0 {
                return None;
            }
            self.loss.rare.rescue_rxt = Some(self.recover);
            s
        };
        self.emit_range(now, buf, seg.start, seg.end)
    }

    /// Retransmits `[start, end)` (a FIN as its last octet if it held one),
    /// or only its first SMSS octets when the range is longer: after the
    /// path MTU shrank (RFC 1191 §6) the log still holds segments of the
    /// old size, and each is resent in pieces of the new one (the log
    /// splits the entry, the rest stays deemed lost for the next call).
    pub(super) fn emit_range(&mut self, now: Instant, buf: &mut [u8], start: SeqNum, end: SeqNum) -> Option<Transmit> {
        let data_end = self.snd_buf_seq + self.send_buf.len() as u32;
        let mut fin = self.fin_queued && end == data_end + 1;
        let mut dend = if fin { end - 1 } else { end };
        if start < self.snd_buf_seq || dend < start || dend > data_end {
            return None;
        }
        if dend - start > self.smss {
            dend = start + self.smss;
            fin = false;
        }
        let end = dend + u32::from(fin);
        let len = dend - start;
        let mut flags = Flags::ACK;
        if len > 0 && dend == data_end {
            // As a first transmission would have it (RFC 9293 §3.9.1).
            flags = flags | Flags::PSH;
        }
        if fin {
            flags = flags | Flags::FIN;
        }
        let offset = (start - self.snd_buf_seq) as usize;
        let t = self.emit(now, buf, start, flags, self.rcv_nxt, offset, len as usize)?;
        self.log_transmission(now, start, end);
        if self.timers.rto.is_none() {
            self.timers.rto = Some(now + self.rtt.rto());
        }
        Some(t)
    }

    /// Bookkeeping for every data or FIN transmission `[start, end)`.
    pub(super) fn log_transmission(&mut self, now: Instant, start: SeqNum, end: SeqNum) {
        let rexmit = self.loss.log.on_transmit(start, end, now);
        if rexmit > 0 {
            self.stats.rare().retransmits += 1;
            // Karn (RFC 6298 §3): the timed segment may be ambiguous now.
            if self.rtt_probe.is_some_and(|(e, _)| start < e) {
                self.rtt_probe = None;
            }
            if self.loss.rare.undo_marker.is_some() {
                self.loss.rare.undo_retrans += 1;
            }
            if self.loss.rare.rto_tsval.is_none()
                && self.config.frto
                && self.ts_ok
                && self.snd_una < self.recover
                && !self.in_recovery
                && self.retries > 0
            {
                self.loss.rare.rto_tsval = Some(self.ts_now(now));
            }
        }
        if self.in_recovery {
            self.loss.rare.prr_out = self.loss.rare.prr_out.saturating_add(end - start);
        }
    }

    /// RFC 7661 idea: the flight did not fill cwnd before this ACK (the
    /// application or the peer's window held it back).
    pub(super) fn app_limited(&self, prior_in_flight: u32) -> bool {
        prior_in_flight.saturating_add(self.smss) <= self.cc.cwnd()
    }

    /// Checks the recovery state against the sequence space; `walk_log`
    /// also walks every entry of the transmission log (O(entries)).
    pub(super) fn check_loss_invariants(&self, walk_log: bool) -> Result<(), &'static str> {
        if walk_log {
            self.loss.log.check(self.snd_una, self.snd_max)?;
        } else {
            self.loss.log.check_ends(self.snd_una, self.snd_max)?;
        }
        if self.state.is_synchronized()
            && self.snd_una != self.iss
            && self.loss.log.is_empty() != (self.snd_una == self.snd_max)
        {
            return Err("transmission log empty while data is in flight, or the reverse");
        }
        let flight = self.snd_max - self.snd_una;
        let mut prev_end = 0;
        for &(l, r) in self.loss.rare.sb.ranges() {
            // As offsets from SND.UNA (sequence order wraps): sorted,
            // disjoint, non-empty, within the flight.
            let (lo, hi) = (l - self.snd_una, r - self.snd_una);
            if lo < prev_end || lo >= hi || hi > flight {
                return Err("SACK scoreboard outside [SND.UNA, SND.MAX] or unsorted");
            }
            prev_end = hi;
        }
        if self.sack_mode() && self.pipe() > flight.saturating_mul(2) {
            return Err("pipe exceeds twice the flight");
        }
        if self.loss.log.sacked_bytes() > flight {
            return Err("more SACKed than in flight");
        }
        Ok(())
    }
}
