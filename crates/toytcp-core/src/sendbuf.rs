//! The send buffer: bytes the application has written that the peer has not
//! yet acknowledged (RFC 9293 §3.3.1, the span `SND.UNA .. SND.UNA + len`).
//!
//! Also home of [`Ring`], the growable ring storage shared with the receive
//! buffer ([`crate::reassembly::RecvBuffer`]).
//!
//! # Memory
//!
//! Buffers are given a *logical* capacity (the most they may hold) but only
//! allocate storage as their contents grow: storage doubles on demand (up to
//! the capacity) and is released when a buffer drains empty, unless it is
//! tiny ([`RETAIN_WHEN_EMPTY`]). An idle connection therefore holds (almost)
//! no buffer memory, while a busy one pays for amortised growth only.
//! Storage is never zero-filled in bulk, so growing costs an allocation plus
//! a copy of the live bytes.
//!
//! Releasing on every drain has a price in bulk transfer when a large
//! buffer repeatedly fills and drains (each cycle reallocates, and the
//! system allocator may return the pages to the OS and fault them back in).
//! A connection that prefers speed can raise the limit with
//! `set_retain_when_empty` and free storage itself at idle points with
//! `release_if_empty`. [`crate::Connection`] does exactly that: its buffers
//! keep their storage when they drain, and a release timer frees it once
//! the buffer has stayed empty for a second (`BUFFER_RELEASE_DELAY`),
//! which made bulk transfer several times faster (BENCHMARKS.md) while an
//! idle connection still holds at most [`RETAIN_WHEN_EMPTY`] bytes per
//! buffer.

use crate::wire::Checksum;
use core::fmt;

/// Smallest storage allocation a [`Ring`] makes when it has to grow, so that
/// a stream of tiny writes does not reallocate for every byte or two (and
/// storage then doubles). Small, because every byte of a connection's
/// memory counts once there are thousands of them (BENCHMARKS.md §2): a
/// 100-byte message gets 100 bytes of storage, not 256.
pub(crate) const MIN_STORAGE: usize = 64;

/// Storage of at most this many bytes is kept (not freed) when a buffer
/// drains empty, so small interactive exchanges do not allocate per message;
/// anything larger is released, so idle connections stay cheap.
pub(crate) const RETAIN_WHEN_EMPTY: usize = 256;

/// The most a buffer holds: ring sizes and positions are kept in 32 bits
/// (a connection's memory counts at thousands of connections), so
/// capacities are clamped to this (4 GiB − 1, beyond any TCP window).
pub(crate) const MAX_CAPACITY: usize = u32::MAX as usize;

/// `capacity` clamped to [`MAX_CAPACITY`], in 32 bits.
pub(crate) fn clamp_capacity(capacity: usize) -> u32 {
    u32::try_from(capacity).unwrap_or(u32::MAX)
}

/// Growable ring storage addressed by *logical position*: position 0 is the
/// ring's head (the oldest byte held), position `p` lies `p` bytes after it.
///
/// The ring does not track which bytes are valid; its owner does, and passes
/// that knowledge in (`live` in [`Ring::ensure`]) and only reads back what it
/// wrote. Every operation is at most two bulk slice copies.
///
/// Storage is never zero-filled in bulk: `buf.len()` is the *initialised
/// prefix* of the ring's `size` bytes (which `buf.capacity()` covers), and
/// writes past it extend the vector, so growing costs an allocation and a
/// copy of the live bytes only.
#[derive(Clone)]
pub(crate) struct Ring {
    /// The storage; `buf.capacity() >= size`, and `buf.len() <= size` is the
    /// prefix written so far. Empty (unallocated) until the first write, so
    /// an unused ring costs no heap memory.
    buf: Vec<u8>,
    /// The physical ring size: positions wrap modulo `size`
    /// (≤ [`MAX_CAPACITY`]).
    size: u32,
    /// Index in `buf` of logical position 0; always `< size` unless `size`
    /// is 0 (then 0).
    head: u32,
    /// Storage of at most this size survives [`Ring::drained`]
    /// (saturated at [`MAX_CAPACITY`]: `usize::MAX` keeps all storage).
    retain: u32,
}

impl Ring {
    /// An empty ring with no storage allocated.
    pub(crate) const fn new() -> Self {
        Ring { buf: Vec::new(), size: 0, head: 0, retain: RETAIN_WHEN_EMPTY as u32 }
    }

    /// Heap bytes held by the storage.
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Sets how much storage [`Ring::drained`] keeps (see
    /// [`SendBuffer::set_retain_when_empty`]).
    pub(crate) fn set_retain(&mut self, bytes: usize) {
        self.retain = u32::try_from(bytes).unwrap_or(u32::MAX);
    }

    /// Frees all storage. Only for when the owner holds no bytes.
    pub(crate) fn release(&mut self) {
        *self = Ring { retain: self.retain, ..Ring::new() };
    }

    /// The physical ring size (the storage allocated, in bytes).
    #[cfg(test)]
    pub(crate) fn storage(&self) -> usize {
        self.size()
    }

    /// `size` as a `usize`.
    #[inline]
    fn size(&self) -> usize {
        self.size as usize
    }

    /// `head` as a `usize`.
    #[inline]
    fn head(&self) -> usize {
        self.head as usize
    }

    /// Maps `head + pos` (which is `< 2 * size`) into `buf`.
    #[inline]
    fn wrap(&self, index: usize) -> usize {
        if index >= self.size() { index - self.size() } else { index }
    }

    /// Makes logical positions `0 .. needed` addressable, growing the
    /// storage if necessary. Growth at least doubles the storage (starting
    /// from [`MIN_STORAGE`]) but never exceeds `max(limit, needed)`. The
    /// first `live` bytes (which must be addressable already) are preserved;
    /// anything beyond them is not.
    pub(crate) fn ensure(&mut self, needed: usize, limit: usize, live: usize) {
        if needed <= self.size() {
            return;
        }
        debug_assert!(needed <= MAX_CAPACITY);
        let size = needed.max(self.size().saturating_mul(2)).max(MIN_STORAGE).min(limit.max(needed)).min(MAX_CAPACITY);
        let mut grown = Vec::with_capacity(size);
        if live > 0 {
            // The live span may include never-written holes (between
            // out-of-order ranges) beyond the initialised prefix: copy what
            // is initialised and zero-fill the rest.
            let start = self.head();
            let first = live.min(self.size() - start);
            let init = self.buf.len();
            for (from, to) in [(start, start + first), (0, live - first)] {
                let init_end = to.min(init).max(from);
                grown.extend_from_slice(&self.buf[from..init_end]);
                grown.resize(grown.len() + (to - init_end), 0);
            }
        }
        self.buf = grown;
        self.size = size as u32;
        self.head = 0;
    }

    /// The bytes at logical positions `pos .. pos + len`, as up to two
    /// slices (the second is non-empty only if the range wraps). The range
    /// must have been written (see [`Ring::write_at`]) unless `len` is 0.
    #[inline]
    pub(crate) fn slices(&self, pos: usize, len: usize) -> (&[u8], &[u8]) {
        if len == 0 {
            return (&[], &[]);
        }
        debug_assert!(pos + len <= self.size());
        let start = self.wrap(self.head() + pos);
        let first = len.min(self.size() - start);
        (&self.buf[start..start + first], &self.buf[..len - first])
    }

    /// Copies `data` to logical positions `pos .. pos + data.len()`, which
    /// must be addressable (see [`Ring::ensure`]).
    #[inline]
    pub(crate) fn write_at(&mut self, pos: usize, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        debug_assert!(pos + data.len() <= self.size());
        let start = self.wrap(self.head() + pos);
        let first = data.len().min(self.size() - start);
        self.put(start, &data[..first]);
        self.put(0, &data[first..]);
    }

    /// [`Ring::write_at`] that also adds the bytes to `sum` while copying
    /// them (one pass; see `wire::checksum`).
    #[inline]
    pub(crate) fn write_summing(&mut self, pos: usize, data: &[u8], mut sum: Checksum) -> Checksum {
        if data.is_empty() {
            return sum;
        }
        debug_assert!(pos + data.len() <= self.size());
        let start = self.wrap(self.head() + pos);
        let first = data.len().min(self.size() - start);
        for (at, src) in [(start, &data[..first]), (0, &data[first..])] {
            if src.is_empty() {
                continue;
            }
            // Storage past the initialised prefix is zero-filled first
            // (once per ring: the prefix only grows).
            if self.buf.len() < at + src.len() {
                self.buf.resize(at + src.len(), 0);
            }
            sum = sum.add_copied(&mut self.buf[at..at + src.len()], src);
        }
        sum
    }

    /// Copies `src` to `buf[at .. at + src.len()]` (within `size`), extending
    /// the initialised prefix as needed; a gap before `at` (only possible
    /// for out-of-order data) is zero-filled.
    #[inline]
    fn put(&mut self, at: usize, src: &[u8]) {
        let init = self.buf.len();
        if at + src.len() <= init {
            self.buf[at..at + src.len()].copy_from_slice(src);
        } else {
            if at > init {
                self.buf.resize(at, 0);
            }
            let overlap = self.buf.len() - at;
            self.buf[at..].copy_from_slice(&src[..overlap]);
            self.buf.extend_from_slice(&src[overlap..]);
            debug_assert!(self.buf.len() <= self.size());
        }
    }

    /// Discards the `n` bytes at the front: logical position `n` becomes 0.
    /// `n` must not exceed the storage size.
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        debug_assert!(n <= self.size());
        if self.size != 0 {
            // `wrap` keeps it below `size`, which fits in 32 bits.
            self.head = self.wrap(self.head() + n) as u32;
        }
    }

    /// To be called when the owner holds no bytes at all: frees storage
    /// larger than the retain limit (default [`RETAIN_WHEN_EMPTY`]) and
    /// rewinds the head so the next contents start contiguous.
    pub(crate) fn drained(&mut self) {
        if self.size > self.retain {
            self.release();
        }
        self.head = 0;
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring").field("size", &self.size).field("head", &self.head).finish()
    }
}

/// Bytes the application has written but the peer has not acknowledged
/// (sent or not).
///
/// Byte 0 of the buffer is the byte at `SND.UNA` (RFC 9293 §3.3.1); the
/// connection decides which part has been sent (`SND.NXT - SND.UNA`) and
/// reads segment payloads with [`SendBuffer::slices`]. Storage grows with
/// the contents and is released when the buffer drains (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct SendBuffer {
    /// Storage; logical position 0 is the oldest unacknowledged byte.
    ring: Ring,
    /// Bytes held.
    len: u32,
    /// The most bytes the application may have outstanding.
    capacity: u32,
}

impl SendBuffer {
    /// An empty buffer that will hold up to `capacity` bytes. Allocates
    /// nothing until the first write.
    pub(crate) fn new(capacity: usize) -> Self {
        SendBuffer { ring: Ring::new(), len: 0, capacity: clamp_capacity(capacity) }
    }

    /// The most bytes the buffer will hold.
    #[allow(dead_code, reason = "part of the buffer API; not yet used by the connection")]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Changes the capacity. Held data is never dropped: if the buffer holds
    /// more than `cap`, it simply accepts no writes until it drains below it.
    pub(crate) fn set_capacity(&mut self, cap: usize) {
        self.capacity = clamp_capacity(cap);
    }

    /// Bytes held (written and not yet acknowledged).
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes that can still be written.
    pub(crate) fn free(&self) -> usize {
        self.capacity().saturating_sub(self.len())
    }

    /// Appends as much of `data` as fits and returns how many bytes that was.
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        let len = self.len();
        self.ring.ensure(len + n, self.capacity(), len);
        self.ring.write_at(len, &data[..n]);
        // At most `capacity` (32 bits) is held.
        self.len = (len + n) as u32;
        n
    }

    /// Drops `n` bytes from the front (they were acknowledged); `n` is
    /// clamped to [`SendBuffer::len`]. Storage is released when the buffer
    /// becomes empty.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.len());
        self.ring.advance(n);
        self.len -= n as u32;
        if self.len == 0 {
            self.ring.drained();
        }
    }

    /// Sets how much storage is kept when the buffer drains: storage of at
    /// most `bytes` is kept for reuse, larger storage is freed (default
    /// [`RETAIN_WHEN_EMPTY`]). `usize::MAX` never frees automatically, which
    /// suits bulk transfer (no reallocation per drain) but leaves an idle
    /// connection holding its peak storage; pair it with
    /// [`SendBuffer::release_if_empty`] at idle points.
    pub(crate) fn set_retain_when_empty(&mut self, bytes: usize) {
        self.ring.set_retain(bytes);
    }

    /// Frees all storage now if the buffer is empty.
    pub(crate) fn release_if_empty(&mut self) {
        if self.len == 0 {
            self.ring.release();
        }
    }

    /// Heap bytes currently held (for memory accounting).
    pub(crate) fn allocated(&self) -> usize {
        self.ring.allocated()
    }

    /// The bytes `[offset, offset + len)`, clamped to what is held, as up to
    /// two slices (the second is non-empty only where the storage wraps).
    pub(crate) fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        let start = offset.min(self.len());
        let end = offset.saturating_add(len).min(self.len());
        self.ring.slices(start, end - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Concatenates the two slices returned by `slices`.
    fn collect(b: &SendBuffer, offset: usize, len: usize) -> Vec<u8> {
        let (a, c) = b.slices(offset, len);
        [a, c].concat()
    }

    /// A fresh buffer allocates nothing and reports its capacity.
    #[test]
    fn new_is_empty_and_unallocated() {
        let b = SendBuffer::new(1000);
        assert_eq!(b.capacity(), 1000);
        assert_eq!(b.len(), 0);
        assert!(b.is_empty());
        assert_eq!(b.free(), 1000);
        assert_eq!(b.ring.storage(), 0);
        assert_eq!(b.slices(0, 10), (&[][..], &[][..]));
    }

    /// Writes are truncated at capacity.
    #[test]
    fn write_truncates_at_capacity() {
        let mut b = SendBuffer::new(10);
        assert_eq!(b.write(b"hello"), 5);
        assert_eq!(b.write(b"world!!"), 5);
        assert_eq!(b.write(b"x"), 0);
        assert_eq!(b.len(), 10);
        assert_eq!(b.free(), 0);
        assert_eq!(collect(&b, 0, 100), b"helloworld");
        assert!(b.ring.storage() <= 10);
    }

    /// `slices` clamps both ends to what is held.
    #[test]
    fn slices_clamp() {
        let mut b = SendBuffer::new(100);
        b.write(b"abcdef");
        assert_eq!(collect(&b, 2, 3), b"cde");
        assert_eq!(collect(&b, 4, 100), b"ef");
        assert_eq!(collect(&b, 6, 1), b"");
        assert_eq!(collect(&b, 60, 1), b"");
        assert_eq!(collect(&b, 1, usize::MAX), b"bcdef");
    }

    /// Consuming drops from the front, clamps, and wrapped data comes back
    /// as two slices.
    #[test]
    fn consume_and_wrap() {
        const N: usize = 256;
        let mut b = SendBuffer::new(N);
        let data: Vec<u8> = (0..N).map(|i| i as u8).collect();
        assert_eq!(b.write(&data), N);
        assert_eq!(b.ring.storage(), N);
        b.consume(100);
        assert_eq!(b.len(), N - 100);
        assert_eq!(b.write(&data[..50]), 50);
        let (x, y) = b.slices(0, usize::MAX);
        assert_eq!(x, &data[100..]);
        assert_eq!(y, &data[..50]);
        assert_eq!(collect(&b, N - 110, 20), [&data[246..], &data[..10]].concat());
        b.consume(usize::MAX);
        assert!(b.is_empty());
        assert_eq!(b.write(b"xy"), 2);
        assert_eq!(collect(&b, 0, 2), b"xy");
    }

    /// Storage grows with the contents (preserving wrapped data) and is
    /// released when the buffer drains.
    #[test]
    fn grows_and_releases() {
        let mut b = SendBuffer::new(1 << 20);
        b.write(&[1; 100]);
        // The first allocation fits the data (at least MIN_STORAGE).
        assert_eq!(b.ring.storage(), 100.max(MIN_STORAGE));
        b.write(&[9; 4]); // grows: doubles
        assert_eq!(b.ring.storage(), 200.max(MIN_STORAGE));
        b.consume(94);
        b.write(&[2; 100]); // wraps within the storage
        assert_eq!(b.ring.storage(), 200.max(MIN_STORAGE));
        b.write(&[3; 1000]); // grows while wrapped
        assert_eq!(b.len(), 1110);
        assert!(b.ring.storage() >= 1110 && b.ring.storage() < 4096);
        let all = collect(&b, 0, usize::MAX);
        assert_eq!(&all[..10], &[vec![1; 6], vec![9; 4]].concat()[..]);
        assert_eq!(&all[10..110], &[2; 100][..]);
        assert_eq!(&all[110..], &[3; 1000][..]);
        b.consume(1110);
        assert_eq!(b.ring.storage(), 0);
        // Small storage is retained when drained.
        b.write(b"abc");
        b.consume(3);
        assert_eq!(b.ring.storage(), MIN_STORAGE);
        assert!(b.allocated() >= MIN_STORAGE);
        b.release_if_empty();
        assert_eq!(b.allocated(), 0);
    }

    /// With a large retain limit storage survives draining until released
    /// explicitly; releasing a non-empty buffer does nothing.
    #[test]
    fn retain_and_release() {
        let mut b = SendBuffer::new(1 << 20);
        b.set_retain_when_empty(usize::MAX);
        b.write(&[5; 5000]);
        let held = b.allocated();
        assert!(held >= 5000);
        b.release_if_empty();
        assert_eq!(b.allocated(), held);
        b.consume(5000);
        assert_eq!(b.allocated(), held);
        b.write(&[6; 3000]);
        assert_eq!(b.allocated(), held);
        assert_eq!(b.slices(0, 3000), (&[6; 3000][..], &[][..]));
        b.consume(3000);
        b.release_if_empty();
        assert_eq!(b.allocated(), 0);
        b.write(b"again");
        assert_eq!(b.slices(0, 9), (&b"again"[..], &[][..]));
    }

    /// Lowering the capacity below the contents keeps them.
    #[test]
    fn set_capacity_keeps_data() {
        let mut b = SendBuffer::new(100);
        b.write(&[7; 80]);
        b.set_capacity(50);
        assert_eq!(b.len(), 80);
        assert_eq!(b.free(), 0);
        assert_eq!(b.write(b"x"), 0);
        b.consume(40);
        assert_eq!(b.free(), 10);
        assert_eq!(b.write(&[8; 20]), 10);
        b.set_capacity(1000);
        assert_eq!(b.write(&[9; 500]), 500);
        let all = collect(&b, 0, usize::MAX);
        assert_eq!(all.len(), 550);
        assert_eq!(&all[..40], &[7; 40]);
        assert_eq!(&all[40..50], &[8; 10]);
        assert_eq!(&all[50..], &[9; 500][..]);
    }

    /// Growth never exceeds the capacity.
    #[test]
    fn growth_bounded_by_capacity() {
        let mut b = SendBuffer::new(1000);
        for _ in 0..10 {
            b.write(&[0; 99]);
        }
        assert_eq!(b.len(), 990);
        assert!(b.ring.storage() <= 1000);
    }

    proptest::proptest! {
        /// Random writes, consumes and capacity changes agree with a
        /// `VecDeque` model.
        #[test]
        fn matches_model(ops in proptest::collection::vec((0u8..4, 0usize..700), 1..200)) {
            let mut b = SendBuffer::new(1500);
            let mut model = std::collections::VecDeque::new();
            let mut cap = 1500usize;
            let mut counter = 0u8;
            for (op, n) in ops {
                match op {
                    0 | 1 => {
                        let data: Vec<u8> = (0..n).map(|_| { counter = counter.wrapping_add(1); counter }).collect();
                        let w = b.write(&data);
                        proptest::prop_assert_eq!(w, n.min(cap.saturating_sub(model.len())));
                        model.extend(&data[..w]);
                    }
                    2 => {
                        b.consume(n);
                        model.drain(..n.min(model.len()));
                    }
                    _ => {
                        cap = n * 3;
                        b.set_capacity(cap);
                    }
                }
                proptest::prop_assert_eq!(b.len(), model.len());
                let off = n % (model.len() + 1);
                let got = collect(&b, off, n);
                let want: Vec<u8> = model.iter().skip(off).take(n).copied().collect();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
