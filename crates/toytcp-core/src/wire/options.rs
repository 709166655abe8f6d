//! TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018).

use crate::seq::SeqNum;

/// At most four SACK blocks fit in the 40-byte option space (RFC 2018 §3).
pub const MAX_SACK_BLOCKS: usize = 4;

/// One SACK block: the peer holds `[left, right)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SackBlock {
    /// First sequence number of the block.
    pub left: SeqNum,
    /// Sequence number just past the block.
    pub right: SeqNum,
}

/// The timestamps option (RFC 7323 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the echoed TSval of the peer.
    pub tsecr: u32,
}

/// The options ToyTCP understands; anything else is skipped by length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2), sent only on SYNs.
    pub mss: Option<u16>,
    /// Window scale shift (kind 3, RFC 7323 §2), SYN only.
    pub window_scale: Option<u8>,
    /// SACK-permitted (kind 4, RFC 2018), SYN only.
    pub sack_permitted: bool,
    /// Timestamps (kind 8, RFC 7323 §3).
    pub timestamps: Option<Timestamps>,
    /// SACK blocks (kind 5); the first `sack_count` entries are valid.
    pub sack_blocks: [SackBlock; MAX_SACK_BLOCKS],
    /// Number of valid entries in `sack_blocks`.
    pub sack_count: u8,
}

impl TcpOptions {
    /// The valid SACK blocks.
    pub fn sacks(&self) -> &[SackBlock] {
        &self.sack_blocks[..usize::from(self.sack_count).min(MAX_SACK_BLOCKS)]
    }

    /// Appends a SACK block; returns false when there is no room.
    pub fn push_sack(&mut self, block: SackBlock) -> bool {
        let n = usize::from(self.sack_count);
        if n >= MAX_SACK_BLOCKS {
            return false;
        }
        self.sack_blocks[n] = block;
        self.sack_count += 1;
        true
    }
}

// ---------------------------------------------------------------------------
// Wire encoding (RFC 9293 §3.1 "Options", RFC 7323 §2.2/§3.2, RFC 2018 §2/§3)
// ---------------------------------------------------------------------------

use super::ParseError;

/// End of option list (RFC 9293 §3.1).
const KIND_EOL: u8 = 0;
/// No-operation, used for alignment (RFC 9293 §3.1).
const KIND_NOP: u8 = 1;
/// Maximum segment size (RFC 9293 §3.1, §3.7.1).
const KIND_MSS: u8 = 2;
/// Window scale (RFC 7323 §2.2).
const KIND_WS: u8 = 3;
/// SACK-permitted (RFC 2018 §2).
const KIND_SACK_PERMITTED: u8 = 4;
/// SACK (RFC 2018 §3).
const KIND_SACK: u8 = 5;
/// Timestamps (RFC 7323 §3.2).
const KIND_TIMESTAMPS: u8 = 8;

const LEN_MSS: usize = 4;
const LEN_WS: usize = 3;
const LEN_SACK_PERMITTED: usize = 2;
const LEN_TIMESTAMPS: usize = 10;
/// Bytes per SACK block (two 32-bit sequence numbers).
const SACK_BLOCK_LEN: usize = 8;

/// Largest window-scale shift a receiver honours (RFC 7323 §2.3).
pub(crate) const MAX_WINDOW_SCALE: u8 = 14;

/// Decodes a TCP options area (the bytes between the fixed 20-byte header
/// and the data offset).
///
/// Follows RFC 9293 §3.1: kind 0 (EOL) ends the list, kind 1 (NOP) is a
/// single byte, every other kind carries a length byte counting the kind
/// and length bytes themselves, which must be at least 2 and must not run
/// past the end of the area. Known kinds must have their fixed length
/// (MSS 4, WS 3, SACK-permitted 2, timestamps 10; SACK `2 + 8n` with
/// `n` in `1..=4`, RFC 2018 §3), otherwise the whole area is rejected with
/// [`ParseError::BadOption`]. Unknown kinds are skipped by their length.
/// A window-scale shift above 14 is clamped to 14 (RFC 7323 §2.3). If an
/// option appears twice, the last occurrence wins.
///
/// Never panics and never allocates.
#[inline]
pub(crate) fn decode(bytes: &[u8]) -> Result<TcpOptions, ParseError> {
    // Nearly every segment of a connection with timestamps carries exactly
    // `NOP,NOP,TS` (RFC 7323 Appendix A's layout, which `encode` writes
    // too): take it without the general loop.
    if let [KIND_NOP, KIND_NOP, KIND_TIMESTAMPS, 10, v0, v1, v2, v3, e0, e1, e2, e3] = *bytes {
        return Ok(TcpOptions {
            timestamps: Some(Timestamps {
                tsval: u32::from_be_bytes([v0, v1, v2, v3]),
                tsecr: u32::from_be_bytes([e0, e1, e2, e3]),
            }),
            ..TcpOptions::default()
        });
    }
    let mut opts = TcpOptions::default();
    let mut rest = bytes;
    while let Some((&kind, after_kind)) = rest.split_first() {
        match kind {
            KIND_EOL => break,
            KIND_NOP => {
                rest = after_kind;
                continue;
            }
            _ => {}
        }
        let Some((&len, _)) = after_kind.split_first() else {
            return Err(ParseError::BadOption);
        };
        let len = usize::from(len);
        if len < 2 {
            return Err(ParseError::BadOption);
        }
        let Some((option, tail)) = rest.split_at_checked(len) else {
            return Err(ParseError::BadOption);
        };
        // `option` is exactly `len >= 2` bytes, so this cannot fail.
        let body = option.get(2..).unwrap_or_default();
        match kind {
            KIND_MSS => {
                let b: [u8; LEN_MSS - 2] = body.try_into().map_err(|_| ParseError::BadOption)?;
                opts.mss = Some(u16::from_be_bytes(b));
            }
            KIND_WS => {
                let [shift]: [u8; LEN_WS - 2] = body.try_into().map_err(|_| ParseError::BadOption)?;
                opts.window_scale = Some(shift.min(MAX_WINDOW_SCALE));
            }
            KIND_SACK_PERMITTED => {
                if len != LEN_SACK_PERMITTED {
                    return Err(ParseError::BadOption);
                }
                opts.sack_permitted = true;
            }
            KIND_SACK => {
                let n = body.len() / SACK_BLOCK_LEN;
                if body.len() % SACK_BLOCK_LEN != 0 || n == 0 || n > MAX_SACK_BLOCKS {
                    return Err(ParseError::BadOption);
                }
                opts.sack_blocks = [SackBlock::default(); MAX_SACK_BLOCKS];
                opts.sack_count = 0;
                for chunk in body.chunks_exact(SACK_BLOCK_LEN) {
                    let mut words = chunk.chunks_exact(4).map(be_u32);
                    let left = SeqNum(words.next().unwrap_or_default());
                    let right = SeqNum(words.next().unwrap_or_default());
                    opts.push_sack(SackBlock { left, right });
                }
            }
            KIND_TIMESTAMPS => {
                if len != LEN_TIMESTAMPS {
                    return Err(ParseError::BadOption);
                }
                let (val, ecr) = body.split_at_checked(4).ok_or(ParseError::BadOption)?;
                opts.timestamps = Some(Timestamps { tsval: be_u32(val), tsecr: be_u32(ecr) });
            }
            _ => {} // unknown: skipped by length
        }
        rest = tail;
    }
    Ok(opts)
}

/// Big-endian `u32` from a slice that the caller guarantees is 4 bytes
/// long; any other length yields 0 rather than a panic.
#[inline]
fn be_u32(b: &[u8]) -> u32 {
    <[u8; 4]>::try_from(b).map_or(0, u32::from_be_bytes)
}

/// The number of bytes [`encode`] writes for `opts`: always a multiple of
/// 4 (RFC 9293 §3.1 pads the options area to a 32-bit boundary). May exceed
/// [`MAX_OPTIONS_LEN`](super::MAX_OPTIONS_LEN); callers must check.
pub(crate) fn encoded_len(opts: &TcpOptions) -> usize {
    let mut len = 0;
    if opts.mss.is_some() {
        len += LEN_MSS;
    }
    if opts.timestamps.is_some() {
        // SACKOK + TS, or NOP NOP TS: 12 either way.
        len += 2 + LEN_TIMESTAMPS;
    } else if opts.sack_permitted {
        len += 2 + LEN_SACK_PERMITTED;
    }
    if opts.window_scale.is_some() {
        len += 1 + LEN_WS;
    }
    let n = opts.sacks().len();
    if n > 0 {
        len += 4 + SACK_BLOCK_LEN * n;
    }
    len
}

/// Bounds-checked sequential writer: a write that would not fit is dropped
/// (callers size the buffer with [`encoded_len`] first, so this only
/// guards against panics).
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if let Some(dst) = self.out.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }
}

/// Encodes `opts` into `out` in the layout Linux uses, which keeps every
/// multi-byte option 32-bit aligned with NOPs (RFC 7323 Appendix A):
///
/// 1. MSS `2,4,mss` (RFC 9293 §3.1)
/// 2. with SACK-permitted and timestamps: `4,2` + `8,10,TSval,TSecr`;
///    timestamps only: `NOP NOP` + `8,10,…`; SACK-permitted only:
///    `NOP NOP 4,2` (RFC 2018 §2, RFC 7323 §3.2)
/// 3. window scale: `NOP 3,3,shift` (RFC 7323 §2.2)
/// 4. SACK blocks: `NOP NOP 5,2+8n,…` (RFC 2018 §3)
///
/// Returns the number of bytes written, which equals [`encoded_len`]. If
/// `out` is shorter than that, nothing is written and 0 is returned.
pub(crate) fn encode(opts: &TcpOptions, out: &mut [u8]) -> usize {
    let len = encoded_len(opts);
    let Some(out) = out.get_mut(..len) else {
        return 0;
    };
    let mut w = Writer { out, pos: 0 };
    if let Some(mss) = opts.mss {
        let [hi, lo] = mss.to_be_bytes();
        w.put(&[KIND_MSS, LEN_MSS as u8, hi, lo]);
    }
    match (opts.sack_permitted, opts.timestamps) {
        (sack_ok, Some(ts)) => {
            if sack_ok {
                w.put(&[KIND_SACK_PERMITTED, LEN_SACK_PERMITTED as u8]);
            } else {
                w.put(&[KIND_NOP, KIND_NOP]);
            }
            w.put(&[KIND_TIMESTAMPS, LEN_TIMESTAMPS as u8]);
            w.put(&ts.tsval.to_be_bytes());
            w.put(&ts.tsecr.to_be_bytes());
        }
        (true, None) => w.put(&[KIND_NOP, KIND_NOP, KIND_SACK_PERMITTED, LEN_SACK_PERMITTED as u8]),
        (false, None) => {}
    }
    if let Some(shift) = opts.window_scale {
        w.put(&[KIND_NOP, KIND_WS, LEN_WS as u8, shift]);
    }
    let sacks = opts.sacks();
    if !sacks.is_empty() {
        // At most 4 blocks, so the length is at most 34 and fits a u8.
        let sack_len = (2 + SACK_BLOCK_LEN * sacks.len()) as u8;
        w.put(&[KIND_NOP, KIND_NOP, KIND_SACK, sack_len]);
        for b in sacks {
            w.put(&b.left.0.to_be_bytes());
            w.put(&b.right.0.to_be_bytes());
        }
    }
    debug_assert_eq!(w.pos, len);
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sack(left: u32, right: u32) -> SackBlock {
        SackBlock { left: SeqNum(left), right: SeqNum(right) }
    }

    /// The `NOP,NOP,TS` fast path decodes exactly what the general loop
    /// decodes from the same option in another layout, and near misses
    /// (wrong length byte, other kind) still go through the checks.
    #[test]
    fn timestamp_fast_path_agrees_with_the_loop() {
        let ts = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
        let fast: Vec<u8> = [&[1, 1, 8, 10][..], &ts].concat();
        let slow: Vec<u8> = [&[8, 10][..], &ts, &[1, 1]].concat();
        let d = decode(&fast).unwrap();
        assert_eq!(d, decode(&slow).unwrap());
        assert_eq!(d.timestamps, Some(Timestamps { tsval: 0x1234_5678, tsecr: 0x9abc_def0 }));
        let mut bad = fast.clone();
        bad[3] = 9; // TS with length 9 runs past the area
        assert_eq!(decode(&bad), Err(ParseError::BadOption));
        bad[3] = 10;
        bad[2] = 2; // MSS with length 10
        assert_eq!(decode(&bad), Err(ParseError::BadOption));
    }

    #[test]
    fn decode_empty_and_padding() {
        assert_eq!(decode(&[]), Ok(TcpOptions::default()));
        assert_eq!(decode(&[KIND_NOP; 8]), Ok(TcpOptions::default()));
        assert_eq!(decode(&[KIND_EOL; 4]), Ok(TcpOptions::default()));
    }

    #[test]
    fn decode_all_known_options() {
        let bytes = [
            2, 4, 0x05, 0xb4, // MSS 1460
            1, 3, 3, 7, // NOP, WS 7
            4, 2, // SACK-permitted
            8, 10, 0, 0, 0, 1, 0, 0, 0, 2, // TS 1/2
            5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40, // 2 SACK blocks
        ];
        let o = decode(&bytes).unwrap();
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.window_scale, Some(7));
        assert!(o.sack_permitted);
        assert_eq!(o.timestamps, Some(Timestamps { tsval: 1, tsecr: 2 }));
        assert_eq!(o.sacks(), &[sack(10, 20), sack(30, 40)]);
    }

    #[test]
    fn decode_stops_at_eol() {
        // Garbage after EOL (here an MSS with a bad length) is not looked at.
        assert_eq!(decode(&[2, 4, 0, 100, 0, 2, 9, 9]).unwrap().mss, Some(100));
    }

    #[test]
    fn decode_skips_unknown_kinds() {
        // Kind 30 (MPTCP) with 6 bytes, kind 254 (experimental) with 2.
        let o = decode(&[30, 6, 1, 2, 3, 4, 254, 2, 2, 4, 1, 0]).unwrap();
        assert_eq!(o.mss, Some(256));
    }

    #[test]
    fn decode_clamps_window_scale() {
        assert_eq!(decode(&[3, 3, 14]).unwrap().window_scale, Some(14));
        assert_eq!(decode(&[3, 3, 15]).unwrap().window_scale, Some(14));
        assert_eq!(decode(&[3, 3, 255]).unwrap().window_scale, Some(14));
    }

    #[test]
    fn decode_rejects_malformed() {
        let bad: &[&[u8]] = &[
            &[2],                                // kind without length byte
            &[30, 0],                            // length 0
            &[30, 1, 1, 1],                      // length 1
            &[30, 5, 0, 0],                      // runs past the area
            &[2, 3, 0],                          // MSS length 3
            &[2, 5, 0, 0, 0],                    // MSS length 5
            &[3, 4, 0, 0],                       // WS length 4
            &[3, 2],                             // WS length 2
            &[4, 3, 0],                          // SACK-permitted length 3
            &[8, 8, 0, 0, 0, 0, 0, 0],           // TS length 8
            &[5, 2],                             // SACK with zero blocks
            &[5, 6, 0, 0, 0, 0],                 // SACK not 2 + 8n
            &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0], // SACK not 2 + 8n
        ];
        for b in bad {
            assert_eq!(decode(b), Err(ParseError::BadOption), "{b:?}");
        }
        // Five SACK blocks (42 bytes) is over the limit even in a large buffer.
        let mut five = vec![5u8, 42];
        five.extend([0u8; 40]);
        assert_eq!(decode(&five), Err(ParseError::BadOption));
        // Four is fine.
        let mut four = vec![5u8, 34];
        four.extend([0u8; 32]);
        assert_eq!(decode(&four).unwrap().sack_count, 4);
    }

    #[test]
    fn decode_last_sack_option_wins() {
        let o = decode(&[5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 10, 0, 0, 0, 3, 0, 0, 0, 4]).unwrap();
        assert_eq!(o.sacks(), &[sack(3, 4)]);
    }

    #[test]
    fn encode_variants_match_linux_layout() {
        let ts = Some(Timestamps { tsval: 0x0102_0304, tsecr: 0x0506_0708 });
        let mut buf = [0u8; 64];

        let o = TcpOptions { timestamps: ts, ..Default::default() };
        let n = encode(&o, &mut buf);
        assert_eq!(&buf[..n], &[1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8]);

        let o = TcpOptions { sack_permitted: true, ..Default::default() };
        let n = encode(&o, &mut buf);
        assert_eq!(&buf[..n], &[1, 1, 4, 2]);

        let mut o = TcpOptions { timestamps: ts, ..Default::default() };
        o.push_sack(sack(0x0a0b_0c0d, 0x1a1b_1c1d));
        let n = encode(&o, &mut buf);
        assert_eq!(
            &buf[..n],
            &[1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 5, 10, 0xa, 0xb, 0xc, 0xd, 0x1a, 0x1b, 0x1c, 0x1d]
        );

        let o = TcpOptions { mss: Some(536), window_scale: Some(0), ..Default::default() };
        let n = encode(&o, &mut buf);
        assert_eq!(&buf[..n], &[2, 4, 2, 24, 1, 3, 3, 0]);

        assert_eq!(encode(&TcpOptions::default(), &mut buf), 0);
    }

    #[test]
    fn encode_into_short_buffer_writes_nothing() {
        let o = TcpOptions { mss: Some(1), ..Default::default() };
        let mut buf = [0xffu8; 3];
        assert_eq!(encode(&o, &mut buf), 0);
        assert_eq!(buf, [0xff; 3]);
    }

    fn arb_options() -> impl Strategy<Value = TcpOptions> {
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(0..=MAX_WINDOW_SCALE),
            any::<bool>(),
            proptest::option::of((any::<u32>(), any::<u32>())),
            proptest::collection::vec((any::<u32>(), any::<u32>()), 0..=MAX_SACK_BLOCKS),
        )
            .prop_map(|(mss, window_scale, sack_permitted, ts, sacks)| {
                let mut o = TcpOptions {
                    mss,
                    window_scale,
                    sack_permitted,
                    timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                    ..Default::default()
                };
                for (l, r) in sacks {
                    o.push_sack(sack(l, r));
                }
                o
            })
    }

    proptest! {
        #[test]
        fn decode_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn encode_decode_round_trip(o in arb_options()) {
            let mut buf = [0u8; 64];
            let n = encode(&o, &mut buf);
            prop_assert_eq!(n, encoded_len(&o));
            prop_assert_eq!(n % 4, 0);
            prop_assert_eq!(decode(&buf[..n]), Ok(o));
        }
    }
}
