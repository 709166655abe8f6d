//! The Internet checksum (RFC 1071), used by the IPv4 header (RFC 791
//! §3.1) and TCP (RFC 9293 §3.1).
//!
//! RFC 1071 §2 notes that the one's-complement sum is independent of byte
//! order (§2(B)) and may be computed over wider words with the carries
//! folded back in at the end (§2(C), "parallel summation"). This summer adds
//! the data as native-endian 32-bit words into 64-bit accumulators — four of
//! them, so that the compiler can vectorise the loop — and folds to 16 bits
//! only once, when the sum is finished. Since 2¹⁶ ≡ 1 (mod 2¹⁶ − 1), the
//! folded sum equals the sum of native-endian 16-bit words.
//!
//! The result is in native byte order, like the words it summed: write it
//! to the wire with `to_ne_bytes`.

/// A running one's-complement sum. Pieces must be added at even offsets of
/// the summed byte sequence (every piece but the last has an even length).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Checksum {
    /// Sum of native-endian 32-bit words (and 16-bit tails); carries are
    /// folded in by [`Checksum::ones_complement`].
    acc: u64,
}

impl Checksum {
    /// An empty sum.
    #[inline]
    pub(crate) const fn new() -> Self {
        Checksum { acc: 0 }
    }

    /// Adds two bytes as one 16-bit word.
    #[inline]
    pub(crate) fn add_2bytes(mut self, b: [u8; 2]) -> Self {
        self.acc += u64::from(u16::from_ne_bytes(b));
        self
    }

    /// Adds four bytes as one 32-bit word.
    #[inline]
    pub(crate) fn add_4bytes(mut self, b: [u8; 4]) -> Self {
        self.acc += u64::from(u32::from_ne_bytes(b));
        self
    }

    /// Adds a slice; an odd final byte is padded with a zero byte
    /// (RFC 9293 §3.1), so only the last slice may have an odd length.
    #[inline]
    pub(crate) fn add_slice(mut self, data: &[u8]) -> Self {
        self.acc = add_folded(self.acc, sum_words(data));
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
/// Each accumulator takes at most 2¹⁴ words of < 2³², far from overflow for
/// any packet (at most 64 KiB); longer inputs are summed in chunks.
#[inline]
fn sum_words(data: &[u8]) -> u64 {
    let mut total = 0u64;
    for block in data.chunks(1 << 16) {
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

#[inline]
fn sum_block(data: &[u8]) -> u64 {
    let mut acc = [0u64; 4];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for (i, a) in acc.iter_mut().enumerate() {
            let w = [c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]];
            *a += u64::from(u32::from_ne_bytes(w));
        }
    }
    let mut sum = acc[0] + acc[1] + acc[2] + acc[3];
    let mut rest = chunks.remainder();
    while let [a, b, c, d, tail @ ..] = rest {
        sum += u64::from(u32::from_ne_bytes([*a, *b, *c, *d]));
        rest = tail;
    }
    if let [a, b, tail @ ..] = rest {
        sum += u64::from(u16::from_ne_bytes([*a, *b]));
        rest = tail;
    }
    if let [a] = rest {
        sum += u64::from(u16::from_ne_bytes([*a, 0]));
    }
    sum
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

    /// All-ones data, the worst case for carries.
    #[test]
    fn carries() {
        for len in [2, 16, 1500, 65534, 200_000] {
            let d = vec![0xff; len];
            let ours = Checksum::new().add_slice(&d).ones_complement();
            assert_eq!(u16::from_be_bytes(ours.to_ne_bytes()), reference(&d), "len {len}");
        }
        let c = Checksum::new().add_4bytes([0xff; 4]).add_2bytes([0xff; 2]).add_slice(&[0xff; 7]).ones_complement();
        let mut all = vec![0xff; 13];
        all[12] = 0xff;
        assert_eq!(u16::from_be_bytes(c.to_ne_bytes()), reference(&all));
    }
}
