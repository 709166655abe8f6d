//! Sender-side loss recovery state: the SACK scoreboard (RFC 6675), the
//! per-segment transmission log that RACK (RFC 8985) and microsecond RTT
//! samples need, and the pipe estimate built from both.
//!
//! The connection (`connection/loss.rs`) drives these pieces; this module
//! holds no policy beyond the RFC's definitions of SACKed, lost and pipe.

pub(crate) mod scoreboard;

pub(crate) use scoreboard::Scoreboard;

use crate::seq::SeqNum;
use crate::time::Instant;
use std::collections::VecDeque;

/// The segment has been selectively acknowledged.
pub(crate) const SACKED: u8 = 1;
/// The segment is deemed lost (RFC 6675 IsLost, RACK, or an RTO).
pub(crate) const LOST: u8 = 2;
/// The segment has been retransmitted at least once (Karn, RFC 6298 §3).
pub(crate) const RETRANS: u8 = 4;
/// A retransmission of the segment is in flight and counts in pipe
/// (RFC 6675 §4 SetPipe, step (b)).
pub(crate) const REXMIT_OUT: u8 = 8;

/// One transmitted segment: `[start, end)` (a FIN counts as one octet),
/// when it was last sent and in which transmission, and its flags. 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SentSeg {
    /// First sequence number.
    pub start: SeqNum,
    /// One past the last sequence number (FIN included).
    pub end: SeqNum,
    /// When it was last (re)transmitted (RACK's Segment.xmit_ts).
    pub xmit: Instant,
    /// Number of that transmission on the connection (wrapping). RACK
    /// breaks ties between segments sent in the same microsecond with it:
    /// RFC 8985 §6.2 uses the end sequence number, which orders a
    /// retransmission sent just after new data the wrong way round.
    pub order: u32,
    /// `SACKED`, `LOST`, `RETRANS`, `REXMIT_OUT`.
    pub flags: u8,
}

impl SentSeg {
    fn len(&self) -> u32 {
        self.end - self.start
    }
    /// True when it counts in the `sacked` counter.
    fn sacked(&self) -> bool {
        self.flags & SACKED != 0
    }
    /// True when it counts in the `lost` counter.
    fn lost(&self) -> bool {
        self.flags & (LOST | SACKED) == LOST
    }
    /// True when it counts in the `rexmit_out` counter.
    fn rexmit_out(&self) -> bool {
        self.flags & (REXMIT_OUT | SACKED) == REXMIT_OUT
    }
}

/// RACK's ordering of transmissions (RFC 8985 §6.2, RACK_sent_after):
/// true when (t1, order1) was sent after (t2, order2).
pub(crate) fn sent_after(t1: Instant, order1: u32, t2: Instant, order2: u32) -> bool {
    t1 > t2 || (t1 == t2 && (order1.wrapping_sub(order2) as i32) > 0)
}

/// The transmission log: one entry per segment in flight, covering
/// `[SND.UNA, SND.MAX)` without gaps, ascending. It holds at most a flight's
/// worth of segments (a transmission splits at most two entries), and its
/// storage is allocated only while data is in flight (the connection frees
/// it with the send buffer when the connection goes idle).
///
/// Byte counters are kept alongside so that pipe (RFC 6675 §4) costs O(1):
/// `pipe = flight − sacked − lost + rexmit_out`, which is SetPipe's sum
/// (an octet not SACKed counts once unless deemed lost, and once more if
/// it was retransmitted).
#[derive(Clone, Debug, Default)]
pub(crate) struct SentLog {
    segs: VecDeque<SentSeg>,
    /// SACKed bytes.
    sacked: u32,
    /// SACKed segments (RACK.segs_sacked).
    sacked_segs: u32,
    /// Bytes deemed lost and not SACKed.
    lost: u32,
    /// Retransmitted bytes in flight (not SACKed).
    rexmit_out: u32,
    /// No entry below this sequence number is lost and waiting for its
    /// retransmission (a hint for [`SentLog::next_lost`]).
    lost_hint: Option<SeqNum>,
    /// Transmissions logged so far (wrapping): the next one's `order`.
    transmissions: u32,
}

/// What newly delivered segments told us, gathered while processing one ACK.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Delivery {
    /// Bytes newly delivered: cumulatively acknowledged without having been
    /// SACKed before, plus newly SACKed (RFC 6937 DeliveredData).
    pub bytes: u32,
    /// Of which newly SACKed.
    pub sacked: u32,
    /// Send time of the most recently sent delivered segment never
    /// retransmitted: an RTT sample safe under Karn's rule.
    pub rtt_from: Option<(Instant, u32)>,
    /// Send time of the most recently sent delivered segment that had been
    /// retransmitted. An original sent before it gives no RTT sample: its
    /// acknowledgment may have waited for the hole that retransmission
    /// filled (Karn's rule, RFC 6298 §3, as Linux applies it).
    pub rexmit_newest: Option<(Instant, u32)>,
    /// The most recently sent delivered segment, for RACK (RFC 8985 §6.2
    /// step 2); retransmitted ones only when the caller's filter let them.
    pub newest: Option<(Instant, u32)>,
    /// A never-retransmitted segment below the previous highest delivered
    /// sequence was delivered: the network reordered (RFC 8985 §6.2 step 3).
    pub reordered: bool,
    /// Highest end sequence delivered by this ACK.
    pub high: Option<SeqNum>,
    /// A never-retransmitted segment below RFC 6582 `recover` was delivered
    /// (F-RTO, RFC 5682 §3 step 3).
    pub original_below_recover: bool,
}

impl SentLog {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.segs.len()
    }

    /// True when nothing is logged (nothing in flight).
    pub(crate) fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Heap bytes held.
    pub(crate) fn allocated(&self) -> usize {
        self.segs.capacity() * core::mem::size_of::<SentSeg>()
    }

    /// Frees the storage if nothing is logged.
    pub(crate) fn release_if_empty(&mut self) {
        if self.segs.is_empty() {
            self.segs = VecDeque::new();
        }
    }

    /// The entries, ascending.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SentSeg> + '_ {
        self.segs.iter()
    }

    /// The highest entry.
    pub(crate) fn last(&self) -> Option<SentSeg> {
        self.segs.back().copied()
    }

    /// Nothing in flight is SACKed, deemed lost, or a retransmission still
    /// counted in pipe.
    #[inline]
    pub(crate) fn is_clean(&self) -> bool {
        self.sacked == 0 && self.lost == 0 && self.rexmit_out == 0
    }

    /// SACKed bytes.
    pub(crate) fn sacked_bytes(&self) -> u32 {
        self.sacked
    }

    /// SACKed segments.
    pub(crate) fn sacked_segs(&self) -> u32 {
        self.sacked_segs
    }

    /// Bytes deemed lost, not SACKed.
    pub(crate) fn lost_bytes(&self) -> u32 {
        self.lost
    }

    /// RFC 6675 §4 SetPipe for a flight of `flight` octets.
    #[inline]
    pub(crate) fn pipe(&self, flight: u32) -> u32 {
        flight.saturating_sub(self.sacked).saturating_sub(self.lost).saturating_add(self.rexmit_out)
    }

    #[inline]
    fn unaccount(&mut self, s: SentSeg) {
        if s.sacked() {
            self.sacked -= s.len();
            self.sacked_segs -= 1;
        }
        if s.lost() {
            self.lost -= s.len();
        }
        if s.rexmit_out() {
            self.rexmit_out -= s.len();
        }
    }

    #[inline]
    fn account(&mut self, s: SentSeg) {
        if s.sacked() {
            self.sacked += s.len();
            self.sacked_segs += 1;
        }
        if s.lost() {
            self.lost += s.len();
        }
        if s.rexmit_out() {
            self.rexmit_out += s.len();
        }
    }

    /// Changes entry `i`'s flags, keeping the counters right.
    fn set_flags(&mut self, i: usize, flags: u8) {
        let old = self.segs[i];
        self.unaccount(old);
        let new = SentSeg { flags, ..old };
        self.segs[i] = new;
        self.account(new);
    }

    /// Index of the first entry ending after `seq`.
    fn index_after(&self, seq: SeqNum) -> usize {
        self.segs.partition_point(|s| s.end <= seq)
    }

    /// Splits the entry holding `seq` strictly inside it in two.
    fn split_at(&mut self, seq: SeqNum) {
        let i = self.index_after(seq);
        let Some(&s) = self.segs.get(i) else { return };
        if !(s.start < seq && seq < s.end) {
            return;
        }
        self.unaccount(s);
        let lo = SentSeg { end: seq, ..s };
        let hi = SentSeg { start: seq, ..s };
        self.segs[i] = lo;
        self.segs.insert(i + 1, hi);
        self.account(lo);
        self.account(hi);
    }

    /// Records the transmission of `[start, end)` at `now`: new data
    /// (beyond the last entry) is appended, anything below it is a
    /// retransmission of the entries it covers. Returns the number of
    /// octets that were retransmitted.
    #[inline]
    pub(crate) fn on_transmit(&mut self, start: SeqNum, end: SeqNum, now: Instant) -> u32 {
        if start.diff(end) >= 0 {
            return 0;
        }
        let top = self.segs.back().map_or(start, |s| s.end);
        let order = self.transmissions;
        self.transmissions = self.transmissions.wrapping_add(1);
        let mut rexmit = 0;
        if start < top {
            let rend = end.min(top);
            self.split_at(start);
            self.split_at(rend);
            let mut i = self.index_after(start);
            while let Some(&s) = self.segs.get(i) {
                if s.start >= rend {
                    break;
                }
                let flags = s.flags | RETRANS | REXMIT_OUT;
                self.set_flags(i, flags);
                self.segs[i].xmit = now;
                self.segs[i].order = order;
                rexmit += s.len();
                i += 1;
            }
        }
        let nstart = start.max(top);
        if nstart < end {
            self.segs.push_back(SentSeg { start: nstart, end, xmit: now, order, flags: 0 });
        }
        rexmit
    }

    /// SND.UNA advanced to `una`: drops the acknowledged entries and hands
    /// the newly delivered ones (those not SACKed before) to `f`.
    #[inline]
    pub(crate) fn ack_to(&mut self, una: SeqNum, mut f: impl FnMut(&SentSeg)) {
        while let Some(&s) = self.segs.front() {
            if s.start >= una {
                break;
            }
            if s.end <= una {
                self.segs.pop_front();
                self.unaccount(s);
                if !s.sacked() {
                    f(&s);
                }
            } else {
                // Partly acknowledged (a peer acknowledging inside a segment).
                self.unaccount(s);
                let rest = SentSeg { start: una, ..s };
                self.segs[0] = rest;
                self.account(rest);
                if !s.sacked() {
                    f(&SentSeg { end: una, ..s });
                }
                break;
            }
        }
    }

    /// Marks SACKed every entry overlapping `[left, right)` that the block
    /// or the scoreboard covers whole, handing each to `f`.
    pub(crate) fn mark_sacked(&mut self, sb: &Scoreboard, left: SeqNum, right: SeqNum, mut f: impl FnMut(&SentSeg)) {
        let mut i = self.index_after(left);
        while let Some(&s) = self.segs.get(i) {
            if s.start >= right {
                break;
            }
            if !s.sacked() && ((left <= s.start && s.end <= right) || sb.covers(s.start, s.end)) {
                self.set_flags(i, s.flags | SACKED);
                f(&s);
            }
            i += 1;
        }
    }

    /// Marks entry `i` lost: its retransmission (if any) no longer counts
    /// in pipe. Returns true if it was not deemed lost already.
    fn mark_lost(&mut self, i: usize) -> bool {
        let s = self.segs[i];
        if s.sacked() || (s.flags & LOST != 0 && s.flags & REXMIT_OUT == 0) {
            return false;
        }
        self.set_flags(i, (s.flags | LOST) & !REXMIT_OUT);
        self.lost_hint = Some(self.lost_hint.map_or(s.start, |h| h.min(s.start)));
        true
    }

    /// RFC 6675 §4 IsLost applied from SND.UNA upwards: an entry is lost
    /// when `dupthresh` discontiguous SACKed ranges, or more than
    /// (`dupthresh` − 1) × SMSS SACKed octets, lie above it. Returns the
    /// number of entries newly marked.
    pub(crate) fn mark_lost_dupthresh(&mut self, sb: &Scoreboard, dupthresh: u32, smss: u32) -> u32 {
        let mut marked = 0;
        for i in 0..self.segs.len() {
            let s = self.segs[i];
            if s.sacked() {
                continue;
            }
            let lost = sb.ranges_above(s.end) >= dupthresh as usize
                || sb.sacked_above(s.end) > (dupthresh - 1).saturating_mul(smss);
            if !lost {
                break;
            }
            if s.flags & LOST == 0 && self.mark_lost(i) {
                marked += 1;
            }
        }
        marked
    }

    /// Marks the first entry lost (a fast retransmit after DupThresh
    /// duplicate ACKs, RFC 6675 §5 step 4.3).
    pub(crate) fn mark_head_lost(&mut self) -> bool {
        !self.segs.is_empty() && self.segs[0].flags & LOST == 0 && self.mark_lost(0)
    }

    /// After a retransmission timeout (RFC 6675 §5.1): every entry not
    /// SACKed is deemed lost and none of the retransmissions counts in pipe
    /// any more; SACKed ones stay SACKed and are not sent again.
    pub(crate) fn mark_all_lost(&mut self) {
        for i in 0..self.segs.len() {
            self.mark_lost(i);
        }
    }

    /// The path MTU shrank (RFC 1191 §6): every entry not SACKed that is
    /// longer than `max_len` octets was too large for the path and is
    /// deemed lost, its retransmission (if any, sent at the old size too)
    /// no longer counted in pipe. Returns the number of entries marked.
    pub(crate) fn mark_lost_longer_than(&mut self, max_len: u32) -> u32 {
        let mut marked = 0;
        for i in 0..self.segs.len() {
            if self.segs[i].len() > max_len && self.mark_lost(i) {
                marked += 1;
            }
        }
        marked
    }

    /// Entries inside `[left, right)` that were retransmitted: what a
    /// D-SACK above SND.UNA can prove spurious.
    pub(crate) fn retransmitted_within(&self, left: SeqNum, right: SeqNum) -> u32 {
        let from = self.index_after(left);
        self.segs.range(from..).take_while(|s| s.start < right).filter(|s| s.flags & RETRANS != 0).count() as u32
    }

    /// The receiver reneged (RFC 2018 §8): the entry at SND.UNA is SACKed
    /// although the cumulative ACK has not covered it.
    pub(crate) fn head_sacked(&self) -> bool {
        self.segs.front().is_some_and(|s| s.sacked())
    }

    /// Forgets every SACKed mark (RFC 2018 §8: after a retransmission
    /// timeout the sender SHOULD ignore prior SACK information when the
    /// receiver may have discarded SACKed data).
    pub(crate) fn clear_sacked(&mut self) {
        for i in 0..self.segs.len() {
            let s = self.segs[i];
            if s.sacked() {
                self.set_flags(i, s.flags & !SACKED);
            }
        }
    }

    /// Undo (RFC 3522, RFC 3708): entries deemed lost but not retransmitted
    /// are no longer considered lost.
    pub(crate) fn clear_unretransmitted_losses(&mut self) {
        for i in 0..self.segs.len() {
            let s = self.segs[i];
            if s.flags & LOST != 0 && s.flags & REXMIT_OUT == 0 {
                self.set_flags(i, s.flags & !LOST);
            }
        }
    }

    /// True when RACK has nothing to look at: the first entry was never
    /// retransmitted, is neither SACKed nor lost, and was not sent before
    /// `(xmit, order)`, so [`SentLog::rack_detect`] would stop there.
    #[inline]
    pub(crate) fn rack_idle(&self, xmit: Instant, order: u32) -> bool {
        self.segs.front().is_none_or(|s| s.flags == 0 && !sent_after(xmit, order, s.xmit, s.order))
    }

    /// RFC 8985 §6.2 step 5 (RACK_detect_loss): every entry sent before
    /// RACK's most recently delivered segment `(xmit, order)` is lost once
    /// `deadline(entry)` has passed. Returns (entries newly marked, the
    /// latest deadline still pending). Entries are ascending in sequence,
    /// and those never retransmitted also in send time, so the scan stops at
    /// the first never-retransmitted entry sent after RACK's segment: in
    /// the common case without holes it looks at one entry.
    pub(crate) fn rack_detect(
        &mut self,
        xmit: Instant,
        order: u32,
        now: Instant,
        wait: impl FnOnce() -> crate::time::Duration,
    ) -> (u32, Option<Instant>) {
        let mut wait = Some(wait);
        let mut waited = None;
        let mut marked = 0;
        let mut pending: Option<Instant> = None;
        for i in 0..self.segs.len() {
            let s = self.segs[i];
            if s.sacked() || (s.flags & LOST != 0 && s.flags & REXMIT_OUT == 0) {
                continue;
            }
            if !sent_after(xmit, order, s.xmit, s.order) {
                if s.flags & RETRANS == 0 {
                    break;
                }
                continue;
            }
            let wait = *waited.get_or_insert_with(|| wait.take().map_or(crate::time::Duration::ZERO, |f| f()));
            let deadline = s.xmit + wait;
            if deadline <= now {
                if self.mark_lost(i) {
                    marked += 1;
                }
            } else {
                pending = Some(pending.map_or(deadline, |p| p.max(deadline)));
            }
        }
        (marked, pending)
    }

    /// RFC 6675 §4 NextSeg rule (1): the first entry deemed lost whose
    /// retransmission is not in flight.
    pub(crate) fn next_lost(&mut self) -> Option<SentSeg> {
        let hint = self.lost_hint?;
        let mut i = self.index_after(hint);
        while let Some(&s) = self.segs.get(i) {
            if s.lost() && s.flags & REXMIT_OUT == 0 {
                self.lost_hint = Some(s.start);
                return Some(s);
            }
            i += 1;
        }
        self.lost_hint = None;
        None
    }

    /// RFC 6675 §4 NextSeg rule (3): the first entry below `high_ack` that
    /// is neither SACKed nor retransmitted.
    pub(crate) fn next_unsacked_below(&self, high_ack: SeqNum) -> Option<SentSeg> {
        self.segs.iter().take_while(|s| s.end <= high_ack).find(|s| s.flags & (SACKED | RETRANS) == 0).copied()
    }

    /// The highest entry below `limit` not SACKed (RFC 6675 §4 NextSeg
    /// rule (4), the rescue retransmission).
    pub(crate) fn highest_unsacked_below(&self, limit: SeqNum) -> Option<SentSeg> {
        self.segs.iter().rev().skip_while(|s| s.end > limit).find(|s| !s.sacked()).copied()
    }

    /// The O(1) part of [`SentLog::check`]: the first entry starts at
    /// SND.UNA and the last ends at SND.MAX.
    pub(crate) fn check_ends(&self, snd_una: SeqNum, snd_max: SeqNum) -> Result<(), &'static str> {
        if let (Some(f), Some(b)) = (self.segs.front(), self.segs.back())
            && (f.start != snd_una || b.end != snd_max)
        {
            return Err("transmission log does not cover [SND.UNA, SND.MAX)");
        }
        Ok(())
    }

    /// Checks the log against `[snd_una, snd_max)`, and its counters.
    pub(crate) fn check(&self, snd_una: SeqNum, snd_max: SeqNum) -> Result<(), &'static str> {
        self.check_ends(snd_una, snd_max)?;
        let mut probe = SentLog::default();
        let mut prev: Option<SeqNum> = None;
        for &s in &self.segs {
            if s.start.diff(s.end) >= 0 || prev.is_some_and(|p| p != s.start) {
                return Err("transmission log entries not contiguous");
            }
            prev = Some(s.end);
            probe.account(s);
        }
        if (probe.sacked, probe.sacked_segs, probe.lost, probe.rexmit_out)
            != (self.sacked, self.sacked_segs, self.lost, self.rexmit_out)
        {
            return Err("transmission log counters out of step");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn s(n: u32) -> SeqNum {
        SeqNum(n)
    }
    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn log_of(n: u32) -> SentLog {
        let mut log = SentLog::default();
        for k in 0..n {
            log.on_transmit(s(k * 100), s(k * 100 + 100), t(u64::from(k)));
        }
        log
    }

    #[test]
    fn pipe_follows_setpipe() {
        let mut log = log_of(10);
        assert_eq!(log.pipe(1000), 1000);
        let mut sb = Scoreboard::default();
        sb.insert(s(300), s(600));
        let mut got = Vec::new();
        log.mark_sacked(&sb, s(300), s(600), |x| got.push(x.start));
        assert_eq!(got, vec![s(300), s(400), s(500)]);
        assert_eq!(log.pipe(1000), 700);
        // Three SACKed segments above 0..300: all three are lost.
        assert_eq!(log.mark_lost_dupthresh(&sb, 3, 100), 3);
        assert_eq!(log.pipe(1000), 400);
        // Retransmitting one adds it back.
        let first = log.next_lost().unwrap();
        assert_eq!(first.start, s(0));
        assert_eq!(log.on_transmit(s(0), s(100), t(50)), 100);
        assert_eq!(log.pipe(1000), 500);
        assert_eq!(log.next_lost().unwrap().start, s(100));
        log.check(s(0), s(1000)).unwrap();
        // The cumulative ACK delivers what was not SACKed.
        let mut delivered = Vec::new();
        log.ack_to(s(600), |x| delivered.push((x.start, x.end)));
        assert_eq!(delivered, vec![(s(0), s(100)), (s(100), s(200)), (s(200), s(300))]);
        log.check(s(600), s(1000)).unwrap();
        assert_eq!(log.pipe(400), 400);
    }

    /// A block marks the segments it covers even when the scoreboard had to
    /// forget it (range limit): the log does not depend on the limit.
    #[test]
    fn block_marks_segments_without_the_scoreboard() {
        let mut log = log_of(4);
        let sb = Scoreboard::default();
        let mut got = Vec::new();
        log.mark_sacked(&sb, s(50), s(300), |x| got.push(x.start));
        // 0..100 is only partly covered: not SACKed.
        assert_eq!(got, vec![s(100), s(200)]);
        assert_eq!(log.sacked_bytes(), 200);
        log.check(s(0), s(400)).unwrap();
    }

    #[test]
    fn retransmission_splits_entries() {
        let mut log = log_of(3);
        assert_eq!(log.on_transmit(s(50), s(150), t(10)), 100);
        assert_eq!(log.len(), 5);
        log.check(s(0), s(300)).unwrap();
        let flags: Vec<_> = log.iter().map(|x| (x.start.0, x.flags & RETRANS != 0)).collect();
        assert_eq!(flags, vec![(0, false), (50, true), (100, true), (150, false), (200, false)]);
        // Part retransmission, part new data.
        assert_eq!(log.on_transmit(s(250), s(400), t(11)), 50);
        log.check(s(0), s(400)).unwrap();
    }

    #[test]
    fn rack_marks_by_time_and_stops_early() {
        let mut log = log_of(10);
        // Segment 5 (sent at 5 ms) delivered; RTT 20 ms, reordering window 5 ms.
        let wait = Duration::from_millis(25);
        let (marked, pending) = log.rack_detect(t(5), 5, t(20), || wait);
        assert_eq!(marked, 0);
        assert_eq!(pending, Some(t(4) + wait));
        let (marked, _) = log.rack_detect(t(5), 5, t(30), || wait);
        assert_eq!(marked, 5);
        assert_eq!(log.lost_bytes(), 500);
        // Already lost and not retransmitted: not counted twice.
        assert_eq!(log.rack_detect(t(5), 5, t(40), || wait).0, 0);
        // A retransmission that is itself lost is marked again, with every
        // other entry sent before the newly delivered one.
        log.on_transmit(s(0), s(100), t(41));
        assert_eq!(log.rack_detect(t(6), 6, t(100), || wait).0, 1);
        assert_eq!(log.rack_detect(t(42), 11, t(100), || wait).0, 5);
        log.check(s(0), s(1000)).unwrap();
    }

    #[test]
    fn rto_marks_everything_not_sacked() {
        let mut log = log_of(4);
        let mut sb = Scoreboard::default();
        sb.insert(s(200), s(300));
        log.mark_sacked(&sb, s(200), s(300), |_| {});
        log.mark_all_lost();
        assert_eq!(log.pipe(400), 0);
        let order: Vec<_> = core::iter::from_fn(|| {
            let x = log.next_lost()?;
            log.on_transmit(x.start, x.end, t(9));
            Some(x.start.0)
        })
        .collect();
        assert_eq!(order, vec![0, 100, 300]);
        log.clear_unretransmitted_losses();
        log.check(s(0), s(400)).unwrap();
    }
}
