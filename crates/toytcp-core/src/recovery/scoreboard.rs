//! The sender's SACK scoreboard (RFC 2018 §1, RFC 6675 §3): which
//! sequence ranges above SND.UNA the receiver has selectively acknowledged.
//!
//! Ranges are kept sorted, disjoint and never adjacent. Memory is bounded:
//! at most [`MAX_RANGES`] ranges (8 bytes each, 512 bytes in all), and the
//! storage is allocated only while some range is held. A receiver can only
//! report as many distinct ranges as it holds out-of-order pieces, and a
//! flight of N segments has at most N/2 holes; 64 ranges cover a flight of
//! 128 fully interleaved segments, and since every ACK repeats the most
//! recent blocks (RFC 2018 §4) forgetting the highest range when the limit
//! is hit only delays what we learn about the newest data. Forgetting is
//! always safe: data not known to be SACKed is at worst retransmitted again
//! (RFC 6675 §1: SACK information is advisory), and SACKed data is never
//! dropped from the send buffer before the cumulative ACK covers it. The
//! per-segment SACKed flags of the transmission log do not depend on this
//! limit: a block always marks the segments it covers whole, so a forgotten
//! range only loses the coverage of segments SACKed in pieces.

use crate::seq::SeqNum;

/// Most SACKed ranges remembered (see the module documentation).
pub(crate) const MAX_RANGES: usize = 64;

/// SACKed ranges `[left, right)` above SND.UNA, ascending.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scoreboard {
    ranges: Vec<(SeqNum, SeqNum)>,
}

impl Scoreboard {
    /// An empty scoreboard (usable in a `static`).
    pub(crate) const fn new() -> Self {
        Scoreboard { ranges: Vec::new() }
    }

    /// True when nothing above SND.UNA is known to be SACKed.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// True when the range limit is reached: a new distinct range may be
    /// forgotten, and the transmission log must take a block's coverage
    /// from the block itself.
    pub(crate) fn is_full(&self) -> bool {
        self.ranges.len() >= MAX_RANGES
    }

    /// The SACKed ranges, ascending.
    pub(crate) fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.ranges
    }

    /// The highest SACKed sequence number plus one (RFC 6675 HighACK is
    /// the highest *cumulatively or selectively* acknowledged octet).
    pub(crate) fn high(&self) -> Option<SeqNum> {
        self.ranges.last().map(|r| r.1)
    }

    /// Heap bytes held.
    pub(crate) fn allocated(&self) -> usize {
        self.ranges.capacity() * core::mem::size_of::<(SeqNum, SeqNum)>()
    }

    /// Records `[left, right)` as SACKed, merging it with overlapping or
    /// adjacent ranges. Returns the bytes that were not SACKed before. The
    /// caller has checked that `left < right` and that the block lies
    /// within (SND.UNA, SND.MAX] (RFC 2018 §3 and RFC 6675 §5.1 leave
    /// invalid blocks to be ignored).
    pub(crate) fn insert(&mut self, left: SeqNum, right: SeqNum) -> u32 {
        if left.diff(right) >= 0 {
            return 0;
        }
        // Ranges i..j overlap or touch [left, right).
        let i = self.ranges.partition_point(|r| r.1 < left);
        let j = self.ranges.partition_point(|r| r.0 <= right);
        let mut covered = 0u32;
        for &(s, e) in &self.ranges[i..j] {
            let lo = s.max(left);
            let hi = e.min(right);
            if lo < hi {
                covered += hi - lo;
            }
        }
        let new = (right - left) - covered;
        if i == j {
            if self.ranges.len() >= MAX_RANGES {
                if i == self.ranges.len() {
                    // The new range would be the highest: forget it.
                    return 0;
                }
                // Forget the highest range (see the module documentation);
                // it lies above the new one and does not touch it.
                self.ranges.pop();
            }
            self.ranges.insert(i, (left, right));
        } else {
            let merged = (self.ranges[i].0.min(left), self.ranges[j - 1].1.max(right));
            self.ranges[i] = merged;
            self.ranges.drain(i + 1..j);
        }
        new
    }

    /// SND.UNA moved to `snd_una`: forgets everything below it.
    pub(crate) fn advance(&mut self, snd_una: SeqNum) {
        let k = self.ranges.partition_point(|r| r.1 <= snd_una);
        if k == self.ranges.len() {
            self.clear();
            return;
        }
        self.ranges.drain(..k);
        if let Some(first) = self.ranges.first_mut()
            && first.0 < snd_una
        {
            first.0 = snd_una;
        }
    }

    /// Forgets everything and frees the storage (RFC 2018 §8 allows a
    /// sender to discard SACK information, e.g. after a reneging timeout).
    pub(crate) fn clear(&mut self) {
        self.ranges = Vec::new();
    }

    /// True when every octet of `[left, right)` is SACKed.
    pub(crate) fn covers(&self, left: SeqNum, right: SeqNum) -> bool {
        let i = self.ranges.partition_point(|r| r.1 <= left);
        self.ranges.get(i).is_some_and(|&(s, e)| s <= left && right <= e)
    }

    /// SACKed octets at or above `seq`.
    pub(crate) fn sacked_above(&self, seq: SeqNum) -> u32 {
        let i = self.ranges.partition_point(|r| r.1 <= seq);
        self.ranges[i..].iter().map(|&(s, e)| e - s.max(seq)).sum()
    }

    /// SACKed ranges wholly or partly at or above `seq` (RFC 6675 §4
    /// IsLost counts "discontiguous SACKed sequences").
    pub(crate) fn ranges_above(&self, seq: SeqNum) -> usize {
        self.ranges.len() - self.ranges.partition_point(|r| r.1 <= seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(n: u32) -> SeqNum {
        SeqNum(n)
    }

    #[test]
    fn insert_merges_and_counts_new_bytes() {
        let mut sb = Scoreboard::default();
        assert_eq!(sb.allocated(), 0);
        assert_eq!(sb.insert(s(100), s(200)), 100);
        assert_eq!(sb.insert(s(300), s(400)), 100);
        assert_eq!(sb.insert(s(150), s(250)), 50);
        assert_eq!(sb.ranges(), &[(s(100), s(250)), (s(300), s(400))]);
        // Adjacent ranges merge.
        assert_eq!(sb.insert(s(250), s(300)), 50);
        assert_eq!(sb.ranges(), &[(s(100), s(400))]);
        // A repeat is no news.
        assert_eq!(sb.insert(s(120), s(130)), 0);
        assert!(sb.covers(s(100), s(400)));
        assert!(!sb.covers(s(90), s(110)));
        assert_eq!(sb.high(), Some(s(400)));
        assert_eq!(sb.sacked_above(s(350)), 50);
        assert_eq!(sb.ranges_above(s(0)), 1);
    }

    #[test]
    fn advance_trims_and_frees() {
        let mut sb = Scoreboard::default();
        sb.insert(s(100), s(200));
        sb.insert(s(300), s(400));
        sb.advance(s(150));
        assert_eq!(sb.ranges(), &[(s(150), s(200)), (s(300), s(400))]);
        sb.advance(s(200));
        assert_eq!(sb.ranges(), &[(s(300), s(400))]);
        sb.advance(s(400));
        assert!(sb.is_empty());
        assert_eq!(sb.allocated(), 0);
    }

    #[test]
    fn wraps_around_the_sequence_space() {
        let mut sb = Scoreboard::default();
        sb.insert(s(u32::MAX - 100), s(50));
        sb.insert(s(100), s(200));
        assert_eq!(sb.ranges_above(s(u32::MAX - 200)), 2);
        assert_eq!(sb.sacked_above(s(0)), 150);
        sb.advance(s(10));
        assert_eq!(sb.ranges(), &[(s(10), s(50)), (s(100), s(200))]);
    }

    #[test]
    fn range_count_is_bounded() {
        let mut sb = Scoreboard::default();
        for k in 0..200u32 {
            sb.insert(s(k * 10), s(k * 10 + 5));
        }
        assert_eq!(sb.ranges().len(), MAX_RANGES);
        // The lowest ranges are the ones kept.
        assert_eq!(sb.ranges()[0], (s(0), s(5)));
        assert!(sb.allocated() <= 2 * MAX_RANGES * 8);
    }

    proptest! {
        /// The scoreboard's SACKed set is the union of the blocks received
        /// (above SND.UNA), as long as the range limit is not hit.
        #[test]
        fn equals_union_of_blocks(
            base in any::<u32>(),
            blocks in prop::collection::vec((0u32..4000, 1u32..300), 0..40),
            una_steps in prop::collection::vec(0u32..500, 0..4),
        ) {
            let mut sb = Scoreboard::default();
            let mut model = vec![false; 4400];
            let mut una = 0u32;
            let mut steps = una_steps.into_iter();
            for (k, (off, len)) in blocks.into_iter().enumerate() {
                let (l, r) = (off.max(una + 1), off + len);
                if l < r {
                    let before = model[l as usize..r as usize].iter().filter(|b| !**b).count() as u32;
                    let new = sb.insert(SeqNum(base.wrapping_add(l)), SeqNum(base.wrapping_add(r)));
                    prop_assert_eq!(new, before);
                    model[l as usize..r as usize].iter_mut().for_each(|b| *b = true);
                }
                if k % 10 == 9 && let Some(step) = steps.next() {
                    una += step;
                    sb.advance(SeqNum(base.wrapping_add(una)));
                    model[..una as usize].iter_mut().for_each(|b| *b = false);
                }
                // Compare as sets.
                let mut want = Vec::new();
                let mut i = 0usize;
                while i < model.len() {
                    if model[i] {
                        let st = i;
                        while i < model.len() && model[i] { i += 1; }
                        want.push((SeqNum(base.wrapping_add(st as u32)), SeqNum(base.wrapping_add(i as u32))));
                    } else {
                        i += 1;
                    }
                }
                prop_assume!(want.len() <= MAX_RANGES);
                prop_assert_eq!(sb.ranges(), &want[..]);
                prop_assert_eq!(sb.sacked_above(SeqNum(base.wrapping_add(una))), model.iter().filter(|b| **b).count() as u32);
            }
        }
    }
}
