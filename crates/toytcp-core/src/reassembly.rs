//! The receive buffer, with out-of-order reassembly.
//!
//! RFC 9293 §3.10.7.4 ("seventh, process the segment text") has in-order
//! text delivered to the receive buffer and `RCV.NXT` advanced over it; a
//! segment that starts beyond `RCV.NXT` but lies within the window "should
//! be held for later processing" (§3.10.7.4, first check; and §3.4, which
//! lets a receiver keep acceptable out-of-order data). This module does both
//! and merges the held pieces back once the gap before them is filled.
//!
//! Positions are `u64` *stream offsets*: offset 0 is the first data byte
//! after the SYN. The connection maps sequence numbers to offsets (and so
//! never has to think about wrap-around here).
//!
//! # Window accounting
//!
//! The buffer has a capacity; [`RecvBuffer::window`] is `capacity -
//! readable`, the space from [`RecvBuffer::next_offset`] on (RFC 9293
//! §3.8.6.2.2: the offered window is the buffer space not yet holding
//! unread in-order data). Out-of-order data lies within that window and so
//! counts against the capacity; it does not shrink the window itself.
//!
//! # Overlap policy: first copy wins
//!
//! Bytes already received (in order or out of order) are never
//! overwritten: only the parts of a new segment that fill holes are copied.
//! A retransmission with different contents for an already-held byte thus
//! cannot change what the application reads (RFC 9293 leaves the choice
//! open; keeping the first copy also means less copying).
//!
//! # Memory
//!
//! Storage is a [`Ring`] that grows on demand and is released when the
//! buffer drains, or, as the connection configures it, by the connection's
//! release timer once the buffer has stayed empty for a while (see
//! [`crate::sendbuf`]); the out-of-order range list is allocated only while
//! there are out-of-order ranges.

use crate::sendbuf::{Ring, clamp_capacity};
use crate::wire::PendingChecksum;

/// What [`RecvBuffer::insert`] did with a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct InsertOutcome {
    /// Bytes that became in-order (appended to the readable part): the new
    /// bytes of the segment plus any out-of-order data it made contiguous.
    /// `next_offset` advanced by exactly this much.
    pub advanced: usize,
    /// New bytes were held as out-of-order data (the segment started beyond
    /// `next_offset`).
    pub stored_out_of_order: bool,
    /// Nothing new at all: the segment carried data below the window's right
    /// edge and every such byte had already been received. (A segment lying
    /// entirely at or beyond the right edge, such as a zero-window probe, is
    /// not a duplicate; it yields an all-false outcome.)
    pub duplicate: bool,
    /// An in-order insert that also pulled previously out-of-order data in
    /// (it filled a gap; RFC 5681 §4.2 wants an immediate ACK for that).
    pub filled_gap: bool,
    /// Out-of-order data was discarded because holding it would have
    /// exceeded the range limit.
    pub dropped: bool,
}

/// The receive buffer: in-order bytes waiting for the application, plus
/// out-of-order data held for reassembly (RFC 9293 §3.10.7.4).
#[derive(Clone, Debug)]
pub(crate) struct RecvBuffer {
    /// Storage; logical position 0 is stream offset `read_offset`.
    ring: Ring,
    /// Most bytes (readable plus out-of-order) the buffer may hold
    /// (clamped to `sendbuf::MAX_CAPACITY`).
    capacity: u32,
    /// Most distinct out-of-order ranges held at once.
    max_ranges: u32,
    /// Stream offset of the first unread byte.
    read_offset: u64,
    /// In-order bytes waiting for the application.
    readable: usize,
    /// Out-of-order ranges `[start, end)`: ascending, disjoint, never
    /// adjacent to each other, all starting after `next_offset()`.
    ranges: RangeList,
    /// End (stream offset) of text copied into storage by
    /// [`RecvBuffer::stage`] from `next_offset()` on and not yet taken by
    /// [`RecvBuffer::insert`]; 0 when there is none. (Nothing moves
    /// `next_offset()` between the two without clearing it.)
    staged_end: u64,
}

impl RecvBuffer {
    /// An empty buffer that will hold up to `capacity` bytes and at most
    /// `max_ranges` out-of-order ranges (0 disables out-of-order holding).
    /// Allocates nothing until data arrives.
    pub(crate) fn new(capacity: usize, max_ranges: usize) -> Self {
        RecvBuffer {
            ring: Ring::new(),
            capacity: clamp_capacity(capacity),
            max_ranges: u32::try_from(max_ranges).unwrap_or(u32::MAX),
            read_offset: 0,
            readable: 0,
            ranges: RangeList::default(),
            staged_end: 0,
        }
    }

    /// The most bytes the buffer will hold.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Changes the capacity. Held data (readable or out-of-order) is never
    /// dropped. Note that lowering it may shrink the offered window, which
    /// RFC 9293 §3.8.6.2.2 discourages; that is the caller's business.
    pub(crate) fn set_capacity(&mut self, cap: usize) {
        self.capacity = clamp_capacity(cap);
    }

    /// Bytes the application has read so far (the stream offset of the
    /// next byte to read).
    pub(crate) fn consumed(&self) -> u64 {
        self.read_offset
    }

    /// Stream offset of the next in-order byte expected (`RCV.NXT`'s
    /// offset).
    pub(crate) fn next_offset(&self) -> u64 {
        self.read_offset + self.readable as u64
    }

    /// In-order bytes waiting for the application.
    pub(crate) fn readable(&self) -> usize {
        self.readable
    }

    /// The receive window: `capacity - readable` (zero if the capacity was
    /// lowered below what is readable), the space from
    /// [`RecvBuffer::next_offset`] on.
    pub(crate) fn window(&self) -> usize {
        self.capacity().saturating_sub(self.readable)
    }

    /// Logical ring positions in use: up to the end of the last
    /// out-of-order range, or the readable bytes if there is none.
    fn live(&self) -> usize {
        match self.ranges.last() {
            Some(&(_, end)) => (end - self.read_offset) as usize,
            None => self.readable,
        }
    }

    /// Accepts segment text at stream offset `offset` (RFC 9293
    /// §3.10.7.4).
    ///
    /// The data is trimmed to the window `[next_offset, next_offset +
    /// window)`. If what remains starts at `next_offset` it is appended to
    /// the readable bytes, and out-of-order ranges that have become
    /// contiguous are pulled in; otherwise it is held out of order, merged
    /// with overlapping or adjacent ranges, unless that would make more
    /// than `max_ranges` ranges, in which case it is dropped. Already
    /// received bytes are never overwritten (first copy wins).
    pub(crate) fn insert(&mut self, offset: u64, data: &[u8]) -> InsertOutcome {
        let staged_end = core::mem::take(&mut self.staged_end);
        let mut out = InsertOutcome::default();
        if data.is_empty() {
            return out;
        }
        let nxt = self.next_offset();
        let win_end = nxt + self.window() as u64;
        let end = offset.saturating_add(data.len() as u64).min(win_end);
        let start = offset.max(nxt);
        if start >= end {
            // Nothing within the window is new: a duplicate if some of it
            // lay below the right edge (then all of it was before `nxt`).
            out.duplicate = offset < end;
            return out;
        }

        if start == nxt {
            // In order. Every held range starting before `end` is overlapped
            // (first copy wins: only the holes are copied) and then pulled in.
            let overlapped = self.ranges.partition_point(|r| r.0 < end);
            // Staged text is in storage already (and `stage` made sure no
            // held range overlaps it).
            if !(end <= staged_end && overlapped == 0) {
                self.ring.ensure((end - self.read_offset) as usize, self.capacity(), self.live());
                copy_holes(&mut self.ring, self.read_offset, &self.ranges[..overlapped], start, end, offset, data);
            }
            let mut new_nxt = end;
            let mut pulled = 0;
            while let Some(&(s, e)) = self.ranges.get(pulled) {
                if s > new_nxt {
                    break;
                }
                new_nxt = new_nxt.max(e);
                pulled += 1;
            }
            if pulled > 0 {
                out.filled_gap = true;
                if pulled == self.ranges.len() {
                    // Release the list's storage along with its contents.
                    self.ranges = RangeList::default();
                } else {
                    self.ranges.remove(0..pulled);
                }
            }
            out.advanced = (new_nxt - nxt) as usize;
            self.readable += out.advanced;
            return out;
        }

        // Out of order: ranges i..j overlap or touch [start, end).
        let i = self.ranges.partition_point(|r| r.1 < start);
        let j = self.ranges.partition_point(|r| r.0 <= end);
        if i == j && self.ranges.len() >= self.max_ranges as usize {
            out.dropped = true;
            return out;
        }
        self.ring.ensure((end - self.read_offset) as usize, self.capacity(), self.live());
        let new = copy_holes(&mut self.ring, self.read_offset, &self.ranges[i..j], start, end, offset, data);
        if new == 0 {
            // Entirely inside one held range.
            out.duplicate = true;
            return out;
        }
        out.stored_out_of_order = true;
        if i == j {
            self.ranges.insert(i, (start, end));
        } else {
            let merged = (start.min(self.ranges[i].0), end.max(self.ranges[j - 1].1));
            self.ranges[i] = merged;
            self.ranges.remove(i + 1..j);
        }
        out
    }

    /// Copies the text of a segment that starts at the next in-order
    /// offset into the storage [`RecvBuffer::insert`] would copy it to,
    /// verifying the segment's TCP checksum on the way (one pass over the
    /// bytes instead of a checksum pass and a copy).
    ///
    /// Returns `None`, having touched nothing, if the text cannot be staged
    /// (empty, more than the window, or overlapping held out-of-order
    /// data): the caller verifies the checksum separately. Otherwise
    /// returns whether the checksum verifies. The staged bytes lie beyond
    /// the readable ones, so nothing the application can read changes
    /// either way; if it verified, the next `insert` of (part of) that
    /// text skips the copy. [`RecvBuffer::unstage`] forgets it.
    pub(crate) fn stage(&mut self, data: &[u8], check: PendingChecksum) -> Option<bool> {
        self.staged_end = 0;
        let start = self.next_offset();
        let end = start + data.len() as u64;
        if data.is_empty() || data.len() > self.window() || self.ranges.first().is_some_and(|r| r.0 < end) {
            return None;
        }
        let pos = (start - self.read_offset) as usize;
        self.ring.ensure(pos + data.len(), self.capacity(), self.live());
        let ok = PendingChecksum::finish(self.ring.write_summing(pos, data, check.into_sum()));
        if ok {
            self.staged_end = end;
        }
        Some(ok)
    }

    /// Forgets text staged by [`RecvBuffer::stage`] and not inserted.
    pub(crate) fn unstage(&mut self) {
        self.staged_end = 0;
    }

    /// Copies in-order bytes into `buf` and returns how many. Storage is
    /// released when the buffer drains completely.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.readable);
        if n == 0 {
            return 0;
        }
        let (a, b) = self.ring.slices(0, n);
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()..n].copy_from_slice(b);
        self.ring.advance(n);
        self.readable -= n;
        self.read_offset += n as u64;
        if self.readable == 0 && self.ranges.is_empty() {
            self.staged_end = 0;
            self.ring.drained();
        }
        n
    }

    /// Sets how much storage is kept when the buffer drains (see
    /// [`crate::sendbuf::SendBuffer::set_retain_when_empty`]).
    pub(crate) fn set_retain_when_empty(&mut self, bytes: usize) {
        self.ring.set_retain(bytes);
    }

    /// Whether nothing at all (readable or out-of-order) is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.readable == 0 && self.ranges.is_empty()
    }

    /// Frees all storage now if nothing (readable or out-of-order) is held.
    pub(crate) fn release_if_empty(&mut self) {
        if self.readable == 0 && self.ranges.is_empty() {
            self.staged_end = 0;
            self.ring.release();
            self.ranges = RangeList::default();
        }
    }

    /// Heap bytes currently held (for memory accounting).
    pub(crate) fn allocated(&self) -> usize {
        self.ring.allocated() + self.ranges.allocated()
    }

    /// The readable bytes, as up to two slices (the second is non-empty only
    /// where the storage wraps).
    #[allow(dead_code, reason = "part of the buffer API; not yet used by the connection")]
    pub(crate) fn peek(&self) -> (&[u8], &[u8]) {
        self.ring.slices(0, self.readable)
    }

    /// The out-of-order ranges `[start, end)` held, ascending. They are
    /// disjoint and not adjacent (adjacent ones are merged).
    pub(crate) fn out_of_order_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().copied()
    }

    /// The merged out-of-order range `[start, end)` containing `offset`, if
    /// any: what the first SACK block reports for the segment that just
    /// arrived (RFC 2018 §4).
    pub(crate) fn range_containing(&self, offset: u64) -> Option<(u64, u64)> {
        let i = self.ranges.partition_point(|r| r.1 <= offset);
        self.ranges.get(i).copied().filter(|r| r.0 <= offset)
    }

    /// Whether any out-of-order data is held.
    pub(crate) fn has_out_of_order(&self) -> bool {
        !self.ranges.is_empty()
    }
}

/// The out-of-order ranges, boxed: most of the time there are none, and
/// the buffer (inside every connection) is then one pointer smaller than
/// with a `Vec` (every byte of a connection counts at thousands of them,
/// BENCHMARKS.md §2). Reads go through `Deref` to a slice (empty when
/// there is no list).
#[derive(Clone, Debug, Default)]
struct RangeList(
    #[allow(clippy::box_collection, reason = "one pointer when empty, the common case")] Option<Box<Vec<(u64, u64)>>>,
);

impl RangeList {
    fn insert(&mut self, i: usize, range: (u64, u64)) {
        self.0.get_or_insert_with(Box::default).insert(i, range);
    }

    /// Removes the ranges at indices `r`.
    fn remove(&mut self, r: core::ops::Range<usize>) {
        if let Some(v) = self.0.as_mut() {
            v.drain(r);
        }
    }

    /// Heap bytes held.
    fn allocated(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |v| core::mem::size_of::<Vec<(u64, u64)>>() + v.capacity() * core::mem::size_of::<(u64, u64)>())
    }
}

impl core::ops::Deref for RangeList {
    type Target = [(u64, u64)];
    fn deref(&self) -> &[(u64, u64)] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl core::ops::DerefMut for RangeList {
    fn deref_mut(&mut self) -> &mut [(u64, u64)] {
        self.0.as_deref_mut().map_or(&mut [], Vec::as_mut_slice)
    }
}

/// Copies the parts of `[start, end)` not covered by `held` (sorted,
/// disjoint ranges) from `data` (which begins at stream offset `offset`)
/// into `ring` (whose position 0 is stream offset `base`). Returns how many
/// bytes were copied.
fn copy_holes(
    ring: &mut Ring,
    base: u64,
    held: &[(u64, u64)],
    start: u64,
    end: u64,
    offset: u64,
    data: &[u8],
) -> usize {
    let mut copied = 0;
    let mut copy = |from: u64, to: u64| {
        let src = &data[(from - offset) as usize..(to - offset) as usize];
        ring.write_at((from - base) as usize, src);
        copied += src.len();
    };
    let mut cursor = start;
    for &(s, e) in held {
        if s > cursor {
            copy(cursor, s.min(end));
        }
        cursor = cursor.max(e);
        if cursor >= end {
            break;
        }
    }
    if cursor < end {
        copy(cursor, end);
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The readable bytes, concatenated.
    fn peeked(b: &RecvBuffer) -> Vec<u8> {
        let (x, y) = b.peek();
        [x, y].concat()
    }

    /// Reads everything readable.
    fn read_all(b: &mut RecvBuffer) -> Vec<u8> {
        let mut v = vec![0; b.readable()];
        assert_eq!(b.read(&mut v), v.len());
        v
    }

    /// The out-of-order ranges as a vector.
    fn ranges(b: &RecvBuffer) -> Vec<(u64, u64)> {
        b.out_of_order_ranges().collect()
    }

    /// Bytes `[from, to)` of a test stream (byte i is `i as u8`).
    fn stream(from: u64, to: u64) -> Vec<u8> {
        (from..to).map(|i| i as u8).collect()
    }

    /// In-order segments are appended and read back.
    #[test]
    fn in_order() {
        let mut b = RecvBuffer::new(100, 4);
        assert_eq!(b.window(), 100);
        let o = b.insert(0, b"hello");
        assert_eq!(o, InsertOutcome { advanced: 5, ..Default::default() });
        assert_eq!(b.insert(5, b" world").advanced, 6);
        assert_eq!(b.next_offset(), 11);
        assert_eq!(b.readable(), 11);
        assert_eq!(b.window(), 89);
        assert_eq!(peeked(&b), b"hello world");
        let mut buf = [0; 4];
        assert_eq!(b.read(&mut buf), 4);
        assert_eq!(&buf, b"hell");
        assert_eq!(b.window(), 93);
        assert_eq!(read_all(&mut b), b"o world");
        assert_eq!(b.read(&mut buf), 0);
        assert_eq!(b.next_offset(), 11);
        assert!(!b.has_out_of_order());
    }

    /// The pending checksum of a segment carrying `data`, as the parser
    /// would leave it: summing `data` completes it to a valid checksum.
    fn pending_for(data: &[u8]) -> PendingChecksum {
        let mut pkt = vec![0u8; 40 + data.len()];
        let n = crate::wire::emit(
            core::net::Ipv4Addr::new(10, 0, 0, 1),
            core::net::Ipv4Addr::new(10, 0, 0, 2),
            &crate::wire::SegmentHeader { src_port: 1, dst_port: 2, ..Default::default() },
            &[data],
            &mut pkt,
        )
        .unwrap();
        let (seg, pending) = crate::wire::parse_unverified(&pkt[..n]).unwrap();
        assert_eq!(seg.payload, data);
        pending
    }

    /// Staged text is copied and checked in one pass; when it verifies,
    /// `insert` finds it in place; when it does not, nothing becomes
    /// readable and a later insert copies for itself.
    #[test]
    fn staging() {
        let mut b = RecvBuffer::new(1000, 4);
        let good = stream(0, 301);
        assert_eq!(b.stage(&good, pending_for(&good)), Some(true));
        assert_eq!(b.readable(), 0);
        assert_eq!(b.insert(0, &good).advanced, 301);
        assert_eq!(read_all(&mut b), good);

        // A corrupted copy fails and leaves nothing readable.
        let good = stream(301, 600);
        let mut bad = good.clone();
        bad[17] ^= 4;
        assert_eq!(b.stage(&bad, pending_for(&good)), Some(false));
        assert_eq!(b.readable(), 0);
        b.unstage();
        // The intact text arrives without staging (another path): copied.
        assert_eq!(b.insert(301, &good).advanced, 299);
        assert_eq!(read_all(&mut b), good);

        // Staged, but `insert` is given only a prefix (window trimmed).
        let good = stream(600, 700);
        assert_eq!(b.stage(&good, pending_for(&good)), Some(true));
        assert_eq!(b.insert(600, &good[..40]).advanced, 40);
        assert_eq!(read_all(&mut b), &good[..40]);
        // The marker was used up: the rest is copied normally.
        assert_eq!(b.insert(640, &good[40..]).advanced, 60);
        assert_eq!(read_all(&mut b), &good[40..]);

        // Not stageable: empty, beyond the window, overlapping held data.
        assert_eq!(b.stage(&[], pending_for(&[])), None);
        let big = stream(700, 1701);
        assert_eq!(b.stage(&big, pending_for(&big)), None);
        b.insert(750, &stream(750, 760));
        let over = stream(700, 800);
        assert_eq!(b.stage(&over, pending_for(&over)), None);
        // Ending before held data is fine, and wrapping storage too.
        let before = stream(700, 750);
        assert_eq!(b.stage(&before, pending_for(&before)), Some(true));
        let o = b.insert(700, &before);
        assert_eq!((o.advanced, o.filled_gap), (60, true));
        assert_eq!(read_all(&mut b), stream(700, 760));
    }

    /// Empty segments change nothing and are not duplicates.
    #[test]
    fn empty_segment() {
        let mut b = RecvBuffer::new(100, 4);
        assert_eq!(b.insert(0, b""), InsertOutcome::default());
        assert_eq!(b.insert(50, b""), InsertOutcome::default());
        assert_eq!(b.next_offset(), 0);
    }

    /// Old data is a duplicate; partially old data is trimmed.
    #[test]
    fn duplicates_and_left_trim() {
        let mut b = RecvBuffer::new(100, 4);
        b.insert(0, &stream(0, 10));
        let o = b.insert(0, &stream(0, 10));
        assert!(o.duplicate);
        assert_eq!(o.advanced, 0);
        assert!(b.insert(3, &stream(3, 7)).duplicate);
        let o = b.insert(5, &stream(5, 15));
        assert!(!o.duplicate);
        assert_eq!(o.advanced, 5);
        assert_eq!(read_all(&mut b), stream(0, 15));
        // Still a duplicate after the data has been read.
        assert!(b.insert(2, &stream(2, 12)).duplicate);
    }

    /// Data beyond the window's right edge is trimmed; a segment wholly
    /// beyond it is not accepted and not a duplicate.
    #[test]
    fn trims_beyond_window() {
        let mut b = RecvBuffer::new(10, 4);
        let o = b.insert(0, &stream(0, 15));
        assert_eq!(o.advanced, 10);
        assert_eq!(b.window(), 0);
        // Zero-window probe.
        assert_eq!(b.insert(10, &stream(10, 11)), InsertOutcome::default());
        // Old bytes plus bytes beyond the edge: a duplicate.
        assert!(b.insert(8, &stream(8, 12)).duplicate);
        let mut buf = [0; 4];
        b.read(&mut buf);
        // Out-of-order, trimmed at the edge (14).
        let o = b.insert(12, &stream(12, 20));
        assert!(o.stored_out_of_order);
        assert_eq!(ranges(&b), [(12, 14)]);
        assert_eq!(b.insert(20, &stream(20, 30)), InsertOutcome::default());
        let o = b.insert(10, &stream(10, 12));
        assert_eq!(o.advanced, 4);
        assert!(o.filled_gap);
        assert_eq!(read_all(&mut b), stream(4, 14));
    }

    /// Out-of-order data overlapping a held range on the left, the right,
    /// both sides, or inside it.
    #[test]
    fn overlaps_each_side() {
        let mut b = RecvBuffer::new(1000, 4);
        assert!(b.insert(100, &stream(100, 200)).stored_out_of_order);
        assert_eq!(b.range_containing(150), Some((100, 200)));
        // Overlap on the left side of the held range.
        let o = b.insert(80, &stream(80, 120));
        assert!(o.stored_out_of_order && !o.duplicate && o.advanced == 0);
        assert_eq!(ranges(&b), [(80, 200)]);
        // Overlap on the right side.
        b.insert(190, &stream(190, 230));
        assert_eq!(ranges(&b), [(80, 230)]);
        // Adjacent on the right merges too.
        b.insert(230, &stream(230, 240));
        assert_eq!(ranges(&b), [(80, 240)]);
        // Adjacent on the left.
        b.insert(70, &stream(70, 80));
        assert_eq!(ranges(&b), [(70, 240)]);
        // Covering it on both sides.
        let o = b.insert(60, &stream(60, 250));
        assert!(o.stored_out_of_order);
        assert_eq!(ranges(&b), [(60, 250)]);
        // Inside: a duplicate.
        let o = b.insert(100, &stream(100, 150));
        assert!(o.duplicate && !o.stored_out_of_order);
        assert_eq!(ranges(&b), [(60, 250)]);
        // In-order overlapping the held range's left part.
        let o = b.insert(0, &stream(0, 70));
        assert_eq!(o.advanced, 250);
        assert!(o.filled_gap);
        assert!(!b.has_out_of_order());
        assert_eq!(read_all(&mut b), stream(0, 250));
    }

    /// A segment spanning several held ranges merges them all.
    #[test]
    fn bridge_merges_ranges() {
        let mut b = RecvBuffer::new(1000, 8);
        b.insert(10, &stream(10, 20));
        b.insert(30, &stream(30, 40));
        b.insert(50, &stream(50, 60));
        b.insert(70, &stream(70, 80));
        assert_eq!(ranges(&b), [(10, 20), (30, 40), (50, 60), (70, 80)]);
        assert_eq!(b.range_containing(20), None);
        assert_eq!(b.range_containing(35), Some((30, 40)));
        assert_eq!(b.range_containing(39), Some((30, 40)));
        assert_eq!(b.range_containing(40), None);
        assert_eq!(b.range_containing(5), None);
        b.insert(15, &stream(15, 55));
        assert_eq!(ranges(&b), [(10, 60), (70, 80)]);
        assert_eq!(b.range_containing(12), Some((10, 60)));
    }

    /// An in-order segment filling the first gap pulls in every range that
    /// becomes contiguous, stopping at the next hole.
    #[test]
    fn gap_fill_pulls_multiple_ranges() {
        let mut b = RecvBuffer::new(1000, 8);
        b.insert(10, &stream(10, 20));
        b.insert(25, &stream(25, 30));
        b.insert(20, &stream(20, 25)); // bridges the two: one range now
        assert_eq!(ranges(&b), [(10, 30)]);
        b.insert(40, &stream(40, 50));
        b.insert(50, &stream(50, 60));
        b.insert(70, &stream(70, 80));
        assert_eq!(ranges(&b), [(10, 30), (40, 60), (70, 80)]);
        let o = b.insert(0, &stream(0, 10));
        assert_eq!(o.advanced, 30);
        assert!(o.filled_gap);
        assert_eq!(ranges(&b), [(40, 60), (70, 80)]);
        // Segment reaching into the second range and beyond the first hole.
        let o = b.insert(30, &stream(30, 45));
        assert_eq!(o.advanced, 30);
        assert_eq!(b.next_offset(), 60);
        assert_eq!(ranges(&b), [(70, 80)]);
        // A segment covering everything up to and past the last range.
        let o = b.insert(55, &stream(55, 90));
        assert_eq!(o.advanced, 30);
        assert!(o.filled_gap);
        assert!(!b.has_out_of_order());
        assert_eq!(read_all(&mut b), stream(0, 90));
    }

    /// Reaching the range limit drops new separate ranges but still allows
    /// extending or merging existing ones and in-order data.
    #[test]
    fn range_limit() {
        let mut b = RecvBuffer::new(1000, 2);
        b.insert(10, &stream(10, 20));
        b.insert(30, &stream(30, 40));
        let o = b.insert(50, &stream(50, 60));
        assert!(o.dropped && !o.stored_out_of_order && !o.duplicate);
        assert_eq!(ranges(&b), [(10, 20), (30, 40)]);
        // Extending an existing range is fine.
        assert!(b.insert(40, &stream(40, 45)).stored_out_of_order);
        // Merging two is fine.
        assert!(b.insert(20, &stream(20, 30)).stored_out_of_order);
        assert_eq!(ranges(&b), [(10, 45)]);
        assert!(b.insert(50, &stream(50, 60)).stored_out_of_order);
        assert_eq!(b.insert(0, &stream(0, 10)).advanced, 45);

        let mut none = RecvBuffer::new(1000, 0);
        assert!(none.insert(5, b"x").dropped);
        assert_eq!(none.insert(0, b"abc").advanced, 3);
    }

    /// Reads interleaved with in-order and out-of-order inserts, with the
    /// storage wrapping and growing.
    #[test]
    fn reads_interleaved() {
        let mut b = RecvBuffer::new(3000, 4);
        let mut got = Vec::new();
        let mut next = 0u64;
        for round in 0..50u64 {
            let n = 100 + round * 37 % 500;
            // Second half first (out of order), then the first half.
            let mid = next + n / 2;
            if b.window() as u64 >= n {
                assert!(b.insert(mid, &stream(mid, next + n)).stored_out_of_order);
                let o = b.insert(next, &stream(next, mid));
                assert_eq!(o.advanced as u64, n);
                assert!(o.filled_gap);
                next += n;
            }
            let mut buf = vec![0; (round as usize * 53) % 700];
            let r = b.read(&mut buf);
            got.extend_from_slice(&buf[..r]);
        }
        got.extend(read_all(&mut b));
        assert_eq!(got, stream(0, next));
        assert_eq!(b.ring.storage(), 0);
    }

    /// Changing the capacity moves the window's right edge but keeps
    /// everything held.
    #[test]
    fn set_capacity_keeps_data() {
        let mut b = RecvBuffer::new(100, 4);
        assert_eq!(b.capacity(), 100);
        b.insert(0, &stream(0, 60));
        b.insert(80, &stream(80, 100));
        b.set_capacity(50);
        assert_eq!(b.capacity(), 50);
        assert_eq!(b.window(), 0);
        assert_eq!(b.insert(60, &stream(60, 70)), InsertOutcome::default());
        assert_eq!(ranges(&b), [(80, 100)]);
        b.set_capacity(200);
        assert_eq!(b.window(), 140);
        let o = b.insert(60, &stream(60, 80));
        assert_eq!(o.advanced, 40);
        assert!(o.filled_gap);
        assert_eq!(read_all(&mut b), stream(0, 100));
    }

    /// Growing the storage while the live span contains never-written
    /// holes (between out-of-order ranges, past the storage's initialised
    /// prefix) keeps the held data intact.
    #[test]
    fn growth_with_unwritten_holes() {
        let mut b = RecvBuffer::new(4000, 4);
        b.insert(0, &stream(0, 600));
        b.insert(600, &stream(600, 700));
        assert_eq!(b.ring.storage(), 1200);
        let mut buf = [0; 650];
        assert_eq!(b.read(&mut buf), 650);
        // Wraps to the start of the storage, leaving its end unwritten.
        assert!(b.insert(1250, &stream(1250, 1260)).stored_out_of_order);
        // Forces growth across the hole.
        assert!(b.insert(2150, &stream(2150, 2160)).stored_out_of_order);
        assert!(b.ring.storage() > 1200);
        assert_eq!(ranges(&b), [(1250, 1260), (2150, 2160)]);
        assert_eq!(b.insert(700, &stream(700, 2150)).advanced, 1460);
        assert_eq!(read_all(&mut b), stream(650, 2160));
    }

    /// First copy wins: held bytes are not overwritten by a retransmission
    /// with different contents.
    #[test]
    fn first_copy_wins() {
        let mut b = RecvBuffer::new(100, 4);
        b.insert(5, b"AAAAA");
        b.insert(3, b"bbbbbbbbbb"); // 3..13 over 5..10
        b.insert(0, b"ccccc"); // 0..5 over 3..5
        assert_eq!(read_all(&mut b), b"cccbbAAAAAbbb");
    }

    /// Storage is allocated lazily and released when drained, even after
    /// out-of-order activity.
    #[test]
    fn memory_released() {
        let mut b = RecvBuffer::new(65535, 4);
        assert_eq!(b.ring.storage(), 0);
        b.insert(3000, &stream(3000, 4000));
        assert!(b.ring.storage() >= 4000);
        b.insert(0, &stream(0, 3000));
        assert_eq!(b.ranges.allocated(), 0);
        read_all(&mut b);
        assert_eq!(b.ring.storage(), 0);
        assert_eq!(b.allocated(), 0);

        // Retaining across drains, then releasing explicitly.
        b.set_retain_when_empty(usize::MAX);
        b.insert(4000, &stream(4000, 9000));
        assert!(b.allocated() >= 5000);
        b.release_if_empty();
        assert!(b.allocated() >= 5000);
        read_all(&mut b);
        assert!(b.allocated() >= 5000);
        b.insert(9000, &stream(9000, 9100));
        assert_eq!(read_all(&mut b), stream(9000, 9100));
        b.release_if_empty();
        assert_eq!(b.allocated(), 0);
        b.insert(9100, &stream(9100, 9200));
        assert_eq!(read_all(&mut b), stream(9100, 9200));
    }

    proptest! {
        /// Random segments of a random stream, in random order and with
        /// duplicates, interleaved with random reads, agree with a model
        /// (a `Vec<Option<u8>>` of the stream); finally in-order
        /// retransmissions complete the stream, and the application has read
        /// every byte exactly once, in order.
        #[test]
        fn matches_model(
            data in proptest::collection::vec(any::<u8>(), 1..10_000),
            capacity in 1usize..2000,
            max_ranges in 0usize..6,
            segs in proptest::collection::vec((0.0f64..1.0, 1usize..400, 0usize..600), 1..120),
        ) {
            let len = data.len() as u64;
            let mut b = RecvBuffer::new(capacity, max_ranges);
            // `model[i]` is `Some` once byte `i` has been accepted.
            let mut model: Vec<Option<u8>> = vec![None; data.len()];
            let mut delivered = Vec::new();
            let mut read_pos = 0u64;

            for (pos, seg_len, read_len) in segs {
                let nxt = b.next_offset();
                let win_end = nxt + b.window() as u64;
                // Start anywhere from 200 bytes before the window to 100
                // bytes beyond it.
                let span = (b.window() + 300) as f64;
                let start = (nxt + (pos * span) as u64).saturating_sub(200).min(len - 1);
                let end = (start + seg_len as u64).min(len);
                let seg = &data[start as usize..end as usize];

                // Predict with the model.
                let (s, e) = (start.max(nxt), end.min(win_end));
                let mut exp = InsertOutcome::default();
                if s >= e {
                    exp.duplicate = start < e;
                } else {
                    let new = (s..e).filter(|&i| model[i as usize].is_none()).count();
                    let mut trial = model.clone();
                    for i in s..e {
                        trial[i as usize].get_or_insert(data[i as usize]);
                    }
                    if s == nxt {
                        let new_nxt = (nxt..len).find(|&i| trial[i as usize].is_none()).unwrap_or(len);
                        exp.advanced = (new_nxt - nxt) as usize;
                        exp.filled_gap = new_nxt > e
                            || b.out_of_order_ranges().any(|r| r.0 < e);
                        model = trial;
                    } else if runs(&trial, nxt).len() > max_ranges {
                        exp.dropped = true;
                    } else if new == 0 {
                        exp.duplicate = true;
                    } else {
                        exp.stored_out_of_order = true;
                        model = trial;
                    }
                }
                let got = b.insert(start, seg);
                prop_assert_eq!(got, exp);

                let nxt = (0..len).find(|&i| model[i as usize].is_none()).unwrap_or(len);
                prop_assert_eq!(b.next_offset(), nxt);
                prop_assert_eq!(b.readable() as u64, nxt - read_pos);
                prop_assert_eq!(b.window(), capacity - b.readable());
                let want_runs = runs(&model, nxt);
                prop_assert_eq!(ranges(&b), want_runs.clone());
                prop_assert_eq!(b.has_out_of_order(), !want_runs.is_empty());
                for &(rs, re) in &want_runs {
                    prop_assert_eq!(b.range_containing(rs), Some((rs, re)));
                    prop_assert_eq!(b.range_containing(re - 1), Some((rs, re)));
                    prop_assert_eq!(b.range_containing(re), None);
                }
                prop_assert!(b.live() <= capacity);
                prop_assert_eq!(peeked(&b), &data[read_pos as usize..nxt as usize]);

                let mut buf = vec![0; read_len];
                let r = b.read(&mut buf);
                prop_assert_eq!(r, read_len.min(b.readable() + r));
                delivered.extend_from_slice(&buf[..r]);
                read_pos += r as u64;
            }

            // Retransmit in order until everything has been delivered.
            while read_pos < len {
                let nxt = b.next_offset();
                let end = (nxt + b.window() as u64).min(len);
                if end > nxt {
                    let o = b.insert(nxt, &data[nxt as usize..end as usize]);
                    prop_assert!(o.advanced as u64 >= end - nxt);
                }
                prop_assert_eq!(b.read(&mut []), 0);
                let got = read_all(&mut b);
                read_pos += got.len() as u64;
                delivered.extend(got);
            }
            prop_assert_eq!(delivered, data);
            prop_assert!(!b.has_out_of_order());
            prop_assert_eq!(b.readable(), 0);
            prop_assert!(b.ring.storage() <= crate::sendbuf::RETAIN_WHEN_EMPTY);
        }
    }

    proptest! {
        /// A random stream cut into random segments, delivered in random
        /// order together with random duplicate segments, into a buffer big
        /// enough for all of it: every byte arrives in order exactly once,
        /// with no retransmission needed.
        #[test]
        fn shuffled_segments_reassemble(
            pieces in proptest::collection::vec((1usize..300, any::<u32>()), 1..60),
            dups in proptest::collection::vec((0.0f64..1.0, 1usize..300, any::<u32>()), 0..30),
            bytes in proptest::collection::vec(any::<u8>(), 18_000),
            reads in proptest::collection::vec(0usize..500, 90),
        ) {
            let total: usize = pieces.iter().map(|p| p.0).sum();
            let data = &bytes[..total];
            // (sort key, start, end)
            let mut segs = Vec::new();
            let mut at = 0;
            for &(n, key) in &pieces {
                segs.push((key, at, at + n));
                at += n;
            }
            for &(pos, n, key) in &dups {
                let s = ((pos * total as f64) as usize).min(total - 1);
                segs.push((key, s, (s + n).min(total)));
            }
            segs.sort_by_key(|s| s.0);

            let mut b = RecvBuffer::new(total, usize::MAX);
            let mut delivered = Vec::new();
            let mut advanced = 0;
            for (i, &(_, s, e)) in segs.iter().enumerate() {
                let o = b.insert(s as u64, &data[s..e]);
                prop_assert!(!o.dropped);
                advanced += o.advanced;
                let mut buf = vec![0; reads[i]];
                let r = b.read(&mut buf);
                delivered.extend_from_slice(&buf[..r]);
            }
            prop_assert_eq!(advanced, total);
            prop_assert!(!b.has_out_of_order());
            prop_assert_eq!(b.next_offset(), total as u64);
            delivered.extend(read_all(&mut b));
            prop_assert_eq!(&delivered[..], data);
        }
    }

    /// Maximal runs of received bytes at or after `from`, as `[start, end)`.
    fn runs(model: &[Option<u8>], from: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut i = from as usize;
        while i < model.len() {
            if model[i].is_some() {
                let s = i;
                while i < model.len() && model[i].is_some() {
                    i += 1;
                }
                out.push((s as u64, i as u64));
            } else {
                i += 1;
            }
        }
        out
    }
}
