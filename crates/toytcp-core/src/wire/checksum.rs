//! The Internet checksum (RFC 1071), used by the IPv4 header (RFC 791
//! §3.1) and TCP (RFC 9293 §3.1).
//!
//! RFC 1071 §2 notes that the one's-complement sum is independent of byte
//! order (§2(B)) and may be computed over wider words with the carries
//! folded back in at the end (§2(C), "parallel summation"). This summer adds
//! the data as native-endian 32-bit words and folds to 16 bits only once,
//! when the sum is finished. Since 2¹⁶ ≡ 1 (mod 2¹⁶ − 1), the folded sum
//! equals the sum of native-endian 16-bit words.
//!
//! Slices longer than a header go through 64-byte blocks summed into
//! sixteen 32-bit lanes (`Lanes`), each keeping the wrapping sum of its
//! words and the exact sum of their high halves, from which the exact sum
//! of the low halves is recovered at the end: three SSE2 operations per
//! 16 bytes (`paddd`, `psrld`, `paddd`), which LLVM vectorises without
//! any `target-cpu` (measured with
//! `crates/toytcp-core/examples/checksum_micro.rs`: 29 ns per
//! 1448 bytes, against 35 ns for 32-bit words widened into 64-bit
//! accumulators).
//!
//! The result is in native byte order, like the words it summed: write it
//! to the wire with `to_ne_bytes`.
//!
//! [`Checksum::add_copied`] sums a slice while copying it (one pass over
//! the bytes instead of a copy followed by a sum): emitting copies the
//! payload from the send buffer into the packet that way, and receiving
//! copies it from the packet into the receive buffer that way, verifying
//! the checksum as it goes. Its loop is the same as the plain sum's, with
//! each loaded block also stored (measured: 35 ns per 1448 bytes, against
//! 49 ns for the earlier loop of zero-extended 16-bit halves and 45–50 ns
//! for `copy_from_slice` followed by a sum; glibc's AVX-512 copy alone is
//! 17 ns).
//!
//! Pieces may have odd lengths: a piece that starts at an odd offset of the
//! summed sequence is summed as if it started at an even one and its folded
//! sum byte-swapped (RFC 1071 §2(B): a sum shifted by one byte position is
//! the byte-swapped sum).

/// A running one's-complement sum over a byte sequence added piece by
/// piece. Words ([`add_2bytes`](Checksum::add_2bytes),
/// [`add_4bytes`](Checksum::add_4bytes)) must be added at even offsets;
/// slices may have any length (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Checksum {
    /// Sum of native-endian 32-bit words (and 16-bit tails); carries are
    /// folded in by [`Checksum::ones_complement`].
    acc: u64,
    /// An odd number of bytes has been added: the next piece starts at an
    /// odd offset.
    odd: bool,
}

impl Checksum {
    /// An empty sum.
    #[inline]
    pub(crate) const fn new() -> Self {
        Checksum { acc: 0, odd: false }
    }

    /// Adds two bytes as one 16-bit word (at an even offset).
    #[inline]
    pub(crate) fn add_2bytes(mut self, b: [u8; 2]) -> Self {
        debug_assert!(!self.odd);
        self.acc += u64::from(u16::from_ne_bytes(b));
        self
    }

    /// Adds four bytes as one 32-bit word (at an even offset).
    #[inline]
    pub(crate) fn add_4bytes(mut self, b: [u8; 4]) -> Self {
        debug_assert!(!self.odd);
        self.acc += u64::from(u32::from_ne_bytes(b));
        self
    }

    /// Adds a slice; the sequence's final odd byte is padded with a zero
    /// byte (RFC 9293 §3.1).
    #[inline]
    pub(crate) fn add_slice(self, data: &[u8]) -> Self {
        self.add_sum(sum_words(data), data.len())
    }

    /// Copies `src` into `dst` (which must have the same length; if it does
    /// not, only the common prefix is copied and summed) and adds the
    /// copied bytes, in one pass.
    #[inline]
    pub(crate) fn add_copied(self, dst: &mut [u8], src: &[u8]) -> Self {
        let n = dst.len().min(src.len());
        debug_assert_eq!(dst.len(), src.len());
        self.add_sum(copy_and_sum(&mut dst[..n], &src[..n]), n)
    }

    /// Adds the sum of a piece of `len` bytes summed as if it started at an
    /// even offset.
    #[inline]
    fn add_sum(mut self, sum: u64, len: usize) -> Self {
        let sum = if self.odd { u64::from(fold(sum).swap_bytes()) } else { sum };
        self.acc = add_folded(self.acc, sum);
        self.odd ^= len & 1 == 1;
        self
    }

    /// The one's complement of the folded sum, in native byte order: the
    /// value to store in a checksum field (with `to_ne_bytes`), or 0 when
    /// verifying data that includes a correct checksum field.
    #[inline]
    pub(crate) fn ones_complement(self) -> u16 {
        !fold(self.acc)
    }
}

/// Folds a 64-bit sum of 16/32-bit words to 16 bits with end-around carry.
#[inline]
fn fold(mut x: u64) -> u16 {
    x = (x & 0xffff_ffff) + (x >> 32);
    x = (x & 0xffff_ffff) + (x >> 32);
    let mut y = (x & 0xffff) as u32 + (x >> 16) as u32;
    y = (y & 0xffff) + (y >> 16);
    y = (y & 0xffff) + (y >> 16);
    y as u16
}

/// Sums `data` as native-endian 32-bit words (then one 16-bit word and a
/// zero-padded last byte for the tail) into a value that [`fold`] reduces.
#[inline]
fn sum_words(data: &[u8]) -> u64 {
    if data.len() <= 64 {
        // Headers (20-byte IPv4, 20-60-byte TCP): plain 32-bit words
        // beat setting up the vector loop.
        return sum_small(data);
    }
    let mut total = 0u64;
    for block in data.chunks(CHUNK) {
        total = add_folded(total, sum_block(block));
    }
    total
}

/// Adds two partial sums without losing a carry (end-around).
#[inline]
fn add_folded(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s + u64::from(carry)
}

/// The longest slice [`sum_block`] and [`copy_and_sum_chunk`] take: 2¹⁶
/// blocks of 64 bytes, one word per block in each of [`Lanes`]' lanes
/// (which can take up to 2¹⁶ + 1).
const CHUNK: usize = 64 << 16;

/// `N` lanes of native-endian 32-bit words: for each lane, the wrapping
/// sum of its words and the exact sum of their high 16-bit halves. With
/// `L` and `H` the exact sums of the low and high halves, the first is
/// `(L + 2¹⁶·H) mod 2³²`, so `L` is recovered as `all − (high << 16)`
/// (mod 2³²) as long as `L < 2³²`; the lane's share of the sum is then
/// `L + H`. Both `L` and `H` are at most `n · 0xffff` after `n` words, so
/// a lane takes up to 2¹⁶ + 1 words (`(2¹⁶ + 1) · 0xffff = 2³² − 1`).
///
/// That is three SSE2 operations per 16 bytes (`paddd`, `psrld`, `paddd`)
/// instead of the four of splitting each word into zero-extended halves or
/// widening it to 64 bits first.
#[derive(Clone, Copy)]
struct Lanes<const N: usize> {
    /// Wrapping sums of the words.
    all: [u32; N],
    /// Exact sums of the words' high halves.
    high: [u32; N],
}

impl<const N: usize> Lanes<N> {
    #[inline(always)]
    const fn new() -> Self {
        Lanes { all: [0; N], high: [0; N] }
    }

    /// Adds one word to each lane.
    #[inline(always)]
    fn add(&mut self, words: &[[u8; 4]; N]) {
        for (i, w) in words.iter().enumerate() {
            let w = u32::from_ne_bytes(*w);
            self.all[i] = self.all[i].wrapping_add(w);
            self.high[i] += w >> 16;
        }
    }

    /// The lanes' sum of 16-bit halves.
    #[inline(always)]
    fn total(&self) -> u64 {
        let mut sum = 0u64;
        for i in 0..N {
            let low = self.all[i].wrapping_sub(self.high[i] << 16);
            sum += u64::from(low) + u64::from(self.high[i]);
        }
        sum
    }
}

/// Copies `src` into `dst` (same length) and returns the sum of `src` as
/// [`sum_words`] computes it, in chunks of at most [`CHUNK`] bytes.
#[inline]
fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    let mut total = 0u64;
    for (d, s) in dst.chunks_mut(CHUNK).zip(src.chunks(CHUNK)) {
        total = add_folded(total, copy_and_sum_chunk(d, s));
    }
    total
}

/// [`copy_and_sum`] of at most [`CHUNK`] bytes: 64-byte blocks into
/// sixteen [`Lanes`], then 16-byte blocks into four, then the last 0–15
/// bytes one word at a time.
fn copy_and_sum_chunk(dst: &mut [u8], src: &[u8]) -> u64 {
    debug_assert!(src.len() <= CHUNK && dst.len() == src.len());
    let (src_blocks, _) = src.as_chunks::<4>().0.as_chunks::<16>();
    let (dst_blocks, _) = dst.as_chunks_mut::<4>().0.as_chunks_mut::<16>();
    let mut wide = Lanes::<16>::new();
    for (d, s) in dst_blocks.iter_mut().zip(src_blocks) {
        // Through a local, so that the sum reads the loaded registers
        // rather than loading the block again after the store.
        let s = *s;
        *d = s;
        wide.add(&s);
    }
    let done = src_blocks.len() * 64;
    let (src, dst) = (&src[done..], &mut dst[done..]);
    let (src_quads, _) = src.as_chunks::<4>().0.as_chunks::<4>();
    let (dst_quads, _) = dst.as_chunks_mut::<4>().0.as_chunks_mut::<4>();
    let mut narrow = Lanes::<4>::new();
    for (d, s) in dst_quads.iter_mut().zip(src_quads) {
        let s = *s;
        *d = s;
        narrow.add(&s);
    }
    let done = src_quads.len() * 16;
    wide.total() + narrow.total() + copy_and_sum_tail(&mut dst[done..], &src[done..])
}

/// [`sum_block`] for short slices, one 32-bit word at a time.
#[inline]
fn sum_small(data: &[u8]) -> u64 {
    let (words, rest) = data.as_chunks::<4>();
    let mut sum = 0u64;
    for w in words {
        sum += u64::from(u32::from_ne_bytes(*w));
    }
    sum + sum_bytes(rest)
}

/// [`sum_small`] for the last 0–15 bytes after the blocks (no loop set-up
/// for more than three words).
#[inline(always)]
fn sum_tail(data: &[u8]) -> u64 {
    debug_assert!(data.len() < 16);
    let (words, rest) = data.as_chunks::<4>();
    let mut sum = 0u64;
    for w in words.iter().take(3) {
        sum += u64::from(u32::from_ne_bytes(*w));
    }
    sum + sum_bytes(rest)
}

/// [`sum_tail`] while copying `src` into `dst` (same length, under 16
/// bytes), in pieces of 8, 4, 2 and 1 bytes rather than through a call to
/// `memcpy`.
#[inline(always)]
fn copy_and_sum_tail(dst: &mut [u8], src: &[u8]) -> u64 {
    debug_assert!(src.len() < 16 && dst.len() == src.len());
    let mut sum = 0u64;
    let mut at = 0;
    if let Some(s) = src.get(at..at + 8) {
        let s: [u8; 8] = s.try_into().unwrap_or_default();
        dst[at..at + 8].copy_from_slice(&s);
        let [a, b, c, d, e, f, g, h] = s;
        sum += u64::from(u32::from_ne_bytes([a, b, c, d])) + u64::from(u32::from_ne_bytes([e, f, g, h]));
        at += 8;
    }
    if let Some(s) = src.get(at..at + 4) {
        let s: [u8; 4] = s.try_into().unwrap_or_default();
        dst[at..at + 4].copy_from_slice(&s);
        sum += u64::from(u32::from_ne_bytes(s));
        at += 4;
    }
    if let Some(s) = src.get(at..at + 2) {
        let s: [u8; 2] = s.try_into().unwrap_or_default();
        dst[at..at + 2].copy_from_slice(&s);
        sum += u64::from(u16::from_ne_bytes(s));
        at += 2;
    }
    if let (Some(d), Some(&s)) = (dst.get_mut(at), src.get(at)) {
        *d = s;
        sum += u64::from(u16::from_ne_bytes([s, 0]));
    }
    sum
}

/// The sum of the last 0–3 bytes, the third one padded with a zero byte.
#[inline(always)]
fn sum_bytes(rest: &[u8]) -> u64 {
    match *rest {
        [a, b, c] => u64::from(u16::from_ne_bytes([a, b])) + u64::from(u16::from_ne_bytes([c, 0])),
        [a, b] => u64::from(u16::from_ne_bytes([a, b])),
        [a] => u64::from(u16::from_ne_bytes([a, 0])),
        _ => 0,
    }
}

/// Sums at most [`CHUNK`] bytes: 64-byte blocks into sixteen [`Lanes`],
/// then 16-byte blocks into four, then the last 0–15 bytes.
#[inline]
fn sum_block(data: &[u8]) -> u64 {
    debug_assert!(data.len() <= CHUNK);
    let (blocks, _) = data.as_chunks::<4>().0.as_chunks::<16>();
    let mut wide = Lanes::<16>::new();
    for b in blocks {
        wide.add(b);
    }
    let data = &data[blocks.len() * 64..];
    let (quads, _) = data.as_chunks::<4>().0.as_chunks::<4>();
    let mut narrow = Lanes::<4>::new();
    for q in quads {
        narrow.add(q);
    }
    wide.total() + narrow.total() + sum_tail(&data[quads.len() * 16..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::checksum::Sum16BitWords;

    /// A straightforward RFC 1071 reference: big-endian 16-bit words, folded
    /// after every addition.
    fn reference(data: &[u8]) -> u16 {
        let mut sum = 0u32;
        for pair in data.chunks(2) {
            let w = u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0));
            sum += w;
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// RFC 1071 §3's worked example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let c = Checksum::new().add_slice(&data).ones_complement();
        assert_eq!(u16::from_be_bytes(c.to_ne_bytes()), !0xddf2);
    }

    /// Every length from 0 to 300 and a few large ones, against the
    /// reference and etherparse, with pieces added in different ways.
    #[test]
    fn matches_reference() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..70_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let lens = (0..300).chain([1460, 1461, 4096, 65535, 65536, 65537, 70_000]);
        for len in lens {
            let d = &data[..len];
            let ours = Checksum::new().add_slice(d).ones_complement();
            assert_eq!(u16::from_be_bytes(ours.to_ne_bytes()), reference(d), "len {len}");
            if len <= 65535 {
                let theirs = Sum16BitWords::new().add_slice(d).ones_complement();
                assert_eq!(ours, theirs, "len {len}");
            }
            // Split at an even offset, plus words added separately.
            let cut = (len / 3) & !1;
            let split = Checksum::new().add_slice(&d[..cut]).add_slice(&d[cut..]).ones_complement();
            assert_eq!(split, ours, "len {len} cut {cut}");
            if len >= 6 {
                let words = Checksum::new()
                    .add_4bytes([d[0], d[1], d[2], d[3]])
                    .add_2bytes([d[4], d[5]])
                    .add_slice(&d[6..])
                    .ones_complement();
                assert_eq!(words, ours, "len {len}");
            }
        }
    }

    /// Copying while summing gives the plain sum and an exact copy, for
    /// every length 0–300 and large ones, at every alignment, and pieces
    /// of odd length (summed at odd offsets) combine correctly.
    #[test]
    fn copied_sum_matches_and_odd_pieces_combine() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let data: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in (0..300).chain([1447, 1448, 1460, 9000, 65536, 200_000]) {
            for align in [0, 1, 3] {
                let src = &data[align..align + len];
                let mut dst = vec![0u8; len + 1];
                let copied = Checksum::new().add_copied(&mut dst[1..], src).ones_complement();
                assert_eq!(&dst[1..], src, "len {len}");
                assert_eq!(u16::from_be_bytes(copied.to_ne_bytes()), reference(src), "len {len} align {align}");
            }
        }
        for len in [0usize, 1, 2, 7, 64, 65, 129, 1448] {
            let d = &data[..len];
            for cut1 in 0..=len.min(9) {
                for cut2 in cut1..=len.min(cut1 + 70) {
                    let mut out = vec![0u8; cut2 - cut1];
                    let pieces = Checksum::new()
                        .add_slice(&d[..cut1])
                        .add_copied(&mut out, &d[cut1..cut2])
                        .add_slice(&d[cut2..])
                        .ones_complement();
                    assert_eq!(u16::from_be_bytes(pieces.to_ne_bytes()), reference(d), "{len} {cut1} {cut2}");
                }
            }
        }
    }

    /// A lane takes 2¹⁶ + 1 all-ones words without overflowing (its low
    /// and high halves then sum to exactly 2³² − 1 each), and all-ones
    /// inputs of exactly [`CHUNK`] bytes and just beyond (a second chunk
    /// with 64- and 16-byte blocks and an odd tail) sum correctly, plain
    /// and copied.
    #[test]
    fn lane_bound_and_chunk_edges() {
        let mut lane = Lanes::<1>::new();
        for _ in 0..(1 << 16) + 1 {
            lane.add(&[[0xff; 4]]);
        }
        assert_eq!(lane.high, [u32::MAX]);
        assert_eq!(lane.total(), 2 * u64::from(u32::MAX));

        for len in [CHUNK, CHUNK + 64 + 16 + 7] {
            let d = vec![0xff; len];
            assert_eq!(fold(sum_block(&d[..CHUNK])), fold(sum_small(&d[..CHUNK])), "len {len}");
            let ours = Checksum::new().add_slice(&d).ones_complement();
            assert_eq!(u16::from_be_bytes(ours.to_ne_bytes()), reference(&d), "len {len}");
            let mut out = vec![0; len];
            let copied = Checksum::new().add_copied(&mut out, &d).ones_complement();
            assert_eq!(copied, ours, "len {len}");
            assert!(out == d, "len {len}");
        }
    }

    /// All-ones data, the worst case for carries.
    #[test]
    fn carries() {
        for len in [2, 16, 1500, 65534, 200_000] {
            let d = vec![0xff; len];
            let ours = Checksum::new().add_slice(&d).ones_complement();
            assert_eq!(u16::from_be_bytes(ours.to_ne_bytes()), reference(&d), "len {len}");
            let copied = Checksum::new().add_copied(&mut vec![0; len], &d).ones_complement();
            assert_eq!(copied, ours, "len {len}");
        }
        let c = Checksum::new().add_4bytes([0xff; 4]).add_2bytes([0xff; 2]).add_slice(&[0xff; 7]).ones_complement();
        let mut all = vec![0xff; 13];
        all[12] = 0xff;
        assert_eq!(u16::from_be_bytes(c.to_ne_bytes()), reference(&all));
    }
}
