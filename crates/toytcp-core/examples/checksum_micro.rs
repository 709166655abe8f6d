//! Microbenchmark of the fused copy-and-sum and the plain block sum of
//! `src/wire/checksum.rs`: the crate's own code (included as a module)
//! against the loop it replaced and other variants that were tried.
//!
//! `cargo run --release -p toytcp-core --example checksum_micro [ITERS]`
//!
//! Each variant is timed on 1448-byte payloads (ToyTCP's segment size
//! with timestamps) at source alignments 0, 1 and 3, hot (the same bytes
//! every call), and rotating through 256 KiB buffers (like a send or
//! receive buffer; source and destination move independently). The
//! variants are interleaved and the figure printed is the best of seven
//! rounds, in ns per call. Every variant is first checked against the old
//! sum (`sum_old`) for every length below 3000 at four alignments, and the
//! copies for an exact copy.

use std::hint::black_box;

/// The crate's own module, to time what `Checksum` actually runs.
#[allow(dead_code)]
#[path = "../src/wire/checksum.rs"]
mod checksum;
use checksum::Checksum;
use std::time::Instant;

/// Adds two partial sums with end-around carry.
fn add_folded(a: u64, b: u64) -> u64 {
    let (s, c) = a.overflowing_add(b);
    s + u64::from(c)
}

/// Folds to 16 bits (for comparing variants).
fn fold(mut x: u64) -> u16 {
    x = (x & 0xffff_ffff) + (x >> 32);
    x = (x & 0xffff_ffff) + (x >> 32);
    let mut y = (x & 0xffff) as u32 + (x >> 16) as u32;
    y = (y & 0xffff) + (y >> 16);
    y = (y & 0xffff) + (y >> 16);
    y as u16
}

/// Scalar tail: 32-bit words, then a 16-bit word, then a padded byte.
fn sum_tail(mut rest: &[u8]) -> u64 {
    let mut sum = 0u64;
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

#[inline(always)]
fn word<const N: usize>(s: &[u8; N], i: usize) -> u32 {
    u32::from_ne_bytes(s.as_chunks::<4>().0[i])
}

// ---------------------------------------------------------------- sums

/// The earlier `sum_block`: u32 words into four u64 lanes.
#[inline(never)]
fn sum_old(data: &[u8]) -> u64 {
    let mut acc = [0u64; 4];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for (i, a) in acc.iter_mut().enumerate() {
            *a += u64::from(u32::from_ne_bytes([c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]]));
        }
    }
    acc[0] + acc[1] + acc[2] + acc[3] + sum_tail(chunks.remainder())
}

/// u32 words into wrapping u32 lanes plus their exact high halves; the
/// exact low-half sum is recovered at the end. `W` words per block.
#[inline(always)]
fn sum_split<const B: usize, const W: usize>(data: &[u8]) -> u64 {
    let mut a = [0u32; W];
    let mut h = [0u32; W];
    let (blocks, rest) = data.as_chunks::<B>();
    for s in blocks {
        for i in 0..W {
            let w = word(s, i);
            a[i] = a[i].wrapping_add(w);
            h[i] += w >> 16;
        }
    }
    let mut sum = 0u64;
    for i in 0..W {
        sum += u64::from(a[i].wrapping_sub(h[i] << 16)) + u64::from(h[i]);
    }
    sum + sum_tail16(rest)
}

/// The tail after whole blocks: 16-byte pieces the same way, then scalar.
#[inline(always)]
fn sum_tail16(data: &[u8]) -> u64 {
    let mut a = [0u32; 4];
    let mut h = [0u32; 4];
    let (blocks, rest) = data.as_chunks::<16>();
    for s in blocks {
        for i in 0..4 {
            let w = word(s, i);
            a[i] = a[i].wrapping_add(w);
            h[i] += w >> 16;
        }
    }
    let mut sum = 0u64;
    for i in 0..4 {
        sum += u64::from(a[i].wrapping_sub(h[i] << 16)) + u64::from(h[i]);
    }
    sum + sum_tail(rest)
}

#[inline(never)]
fn sum_split16(d: &[u8]) -> u64 {
    sum_split::<16, 4>(d)
}
#[inline(never)]
fn sum_split32(d: &[u8]) -> u64 {
    sum_split::<32, 8>(d)
}
#[inline(never)]
fn sum_split64(d: &[u8]) -> u64 {
    sum_split::<64, 16>(d)
}
#[inline(never)]
fn sum_split128(d: &[u8]) -> u64 {
    sum_split::<128, 32>(d)
}

/// Biased 16-bit words (w ^ 0x8000 as i16) multiplied by ones that LLVM
/// cannot see, pairwise added into i32 lanes (pmaddwd).
#[inline(never)]
fn sum_madd(data: &[u8]) -> u64 {
    let ones: [i16; 8] = black_box([1; 8]);
    let mut acc = [0i32; 4];
    let (blocks, rest) = data.as_chunks::<16>();
    for s in blocks {
        for i in 0..4 {
            let ws = s.as_chunks::<2>().0;
            let w0 = (u16::from_ne_bytes(ws[2 * i]) ^ 0x8000) as i16;
            let w1 = (u16::from_ne_bytes(ws[2 * i + 1]) ^ 0x8000) as i16;
            acc[i] = acc[i]
                .wrapping_add(i32::from(w0) * i32::from(ones[2 * i]) + i32::from(w1) * i32::from(ones[2 * i + 1]));
        }
    }
    let n = blocks.len() as i64;
    let mut sum = 0i64;
    for a in acc {
        sum += i64::from(a) + n * 0x10000;
    }
    sum as u64 + sum_tail(rest)
}

// ---------------------------------------------------------- copy + sum

/// The earlier `copy_and_sum_chunk`: zero-extended low and high halves.
#[inline(never)]
fn copy_old(dst: &mut [u8], src: &[u8]) -> u64 {
    let mut lo = [0u32; 16];
    let mut hi = [0u32; 16];
    let (src_blocks, src_rest) = src.as_chunks::<64>();
    let (dst_blocks, dst_rest) = dst.as_chunks_mut::<64>();
    for (s, d) in src_blocks.iter().zip(dst_blocks.iter_mut()) {
        *d = *s;
        for i in 0..16 {
            let w = u32::from_ne_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
            lo[i] += w & 0xffff;
            hi[i] += w >> 16;
        }
    }
    let mut sum = 0u64;
    for i in 0..16 {
        sum += u64::from(lo[i]) + u64::from(hi[i]);
    }
    for (d, s) in dst_rest.iter_mut().zip(src_rest) {
        *d = *s;
    }
    add_folded(sum, sum_old(src_rest))
}

/// Copy then sum the split way, `B`-byte blocks.
#[inline(always)]
fn copy_split<const B: usize, const W: usize>(dst: &mut [u8], src: &[u8]) -> u64 {
    let mut a = [0u32; W];
    let mut h = [0u32; W];
    let (src_blocks, src_rest) = src.as_chunks::<B>();
    let (dst_blocks, dst_rest) = dst.as_chunks_mut::<B>();
    for (s, d) in src_blocks.iter().zip(dst_blocks.iter_mut()) {
        let s = *s;
        *d = s;
        let s = &s;
        for i in 0..W {
            let w = word(s, i);
            a[i] = a[i].wrapping_add(w);
            h[i] += w >> 16;
        }
    }
    let mut sum = 0u64;
    for i in 0..W {
        sum += u64::from(a[i].wrapping_sub(h[i] << 16)) + u64::from(h[i]);
    }
    sum + copy_tail16(dst_rest, src_rest)
}

/// Copy-and-sum of the tail after whole blocks: 16-byte pieces, then
/// scalar.
#[inline(always)]
fn copy_tail16(dst: &mut [u8], src: &[u8]) -> u64 {
    let mut a = [0u32; 4];
    let mut h = [0u32; 4];
    let (src_blocks, src_rest) = src.as_chunks::<16>();
    let (dst_blocks, dst_rest) = dst.as_chunks_mut::<16>();
    for (s, d) in src_blocks.iter().zip(dst_blocks.iter_mut()) {
        *d = *s;
        for i in 0..4 {
            let w = word(s, i);
            a[i] = a[i].wrapping_add(w);
            h[i] += w >> 16;
        }
    }
    let mut sum = 0u64;
    for i in 0..4 {
        sum += u64::from(a[i].wrapping_sub(h[i] << 16)) + u64::from(h[i]);
    }
    dst_rest.copy_from_slice(src_rest);
    sum + sum_tail(src_rest)
}

#[inline(never)]
fn copy_split16(d: &mut [u8], s: &[u8]) -> u64 {
    copy_split::<16, 4>(d, s)
}
/// 128-byte blocks into sixteen lanes (two words per lane per block).
#[inline(never)]
fn copy_split128x16(dst: &mut [u8], src: &[u8]) -> u64 {
    let mut a = [0u32; 16];
    let mut h = [0u32; 16];
    let (src_blocks, src_rest) = src.as_chunks::<128>();
    let (dst_blocks, dst_rest) = dst.as_chunks_mut::<128>();
    for (s, d) in src_blocks.iter().zip(dst_blocks.iter_mut()) {
        let s = *s;
        *d = s;
        for i in 0..16 {
            let (w0, w1) = (word(&s, i), word(&s, i + 16));
            a[i] = a[i].wrapping_add(w0).wrapping_add(w1);
            h[i] += (w0 >> 16) + (w1 >> 16);
        }
    }
    let mut sum = 0u64;
    for i in 0..16 {
        sum += u64::from(a[i].wrapping_sub(h[i] << 16)) + u64::from(h[i]);
    }
    sum + copy_split::<64, 16>(dst_rest, src_rest)
}
#[inline(never)]
fn copy_split32(d: &mut [u8], s: &[u8]) -> u64 {
    copy_split::<32, 8>(d, s)
}
#[inline(never)]
fn copy_split64(d: &mut [u8], s: &[u8]) -> u64 {
    copy_split::<64, 16>(d, s)
}
#[inline(never)]
fn copy_split128(d: &mut [u8], s: &[u8]) -> u64 {
    copy_split::<128, 32>(d, s)
}

/// `copy_from_slice` then the split sum over the destination.
#[inline(never)]
fn copy_then_split(d: &mut [u8], s: &[u8]) -> u64 {
    d.copy_from_slice(s);
    sum_split::<64, 16>(d)
}

/// `copy_from_slice` then the old sum over the destination.
#[inline(never)]
fn copy_then_old(d: &mut [u8], s: &[u8]) -> u64 {
    d.copy_from_slice(s);
    sum_old(d)
}

/// The pmaddwd sum fused with the copy, 64-byte blocks.
#[inline(never)]
fn copy_madd(dst: &mut [u8], src: &[u8]) -> u64 {
    let ones: [i16; 32] = black_box([1; 32]);
    let mut acc = [0i32; 16];
    let (src_blocks, src_rest) = src.as_chunks::<64>();
    let (dst_blocks, dst_rest) = dst.as_chunks_mut::<64>();
    for (s, d) in src_blocks.iter().zip(dst_blocks.iter_mut()) {
        *d = *s;
        for i in 0..16 {
            let ws = s.as_chunks::<2>().0;
            let w0 = (u16::from_ne_bytes(ws[2 * i]) ^ 0x8000) as i16;
            let w1 = (u16::from_ne_bytes(ws[2 * i + 1]) ^ 0x8000) as i16;
            acc[i] = acc[i]
                .wrapping_add(i32::from(w0) * i32::from(ones[2 * i]) + i32::from(w1) * i32::from(ones[2 * i + 1]));
        }
    }
    let n = src_blocks.len() as i64;
    let mut sum = 0i64;
    for a in acc {
        sum += i64::from(a) + n * 0x10000;
    }
    sum as u64 + copy_tail16(dst_rest, src_rest)
}

/// The crate's `Checksum::add_slice`, unfolded like the others.
#[inline(never)]
fn sum_crate(d: &[u8]) -> u64 {
    u64::from(!Checksum::new().add_slice(d).ones_complement())
}

/// The crate's `Checksum::add_copied`.
#[inline(never)]
fn copy_crate(d: &mut [u8], s: &[u8]) -> u64 {
    u64::from(!Checksum::new().add_copied(d, s).ones_complement())
}

// ------------------------------------------------------------- harness

type SumFn = fn(&[u8]) -> u64;
type CopyFn = fn(&mut [u8], &[u8]) -> u64;

const LEN: usize = 1448;
const RING: usize = 256 * 1024;

/// Best-of-`reps` ns per call of `f` over `iters` calls, hot or rotating.
fn time(iters: usize, reps: usize, mut f: impl FnMut(usize) -> u64) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        let mut acc = 0u64;
        for i in 0..iters {
            acc = acc.wrapping_add(f(i));
        }
        black_box(acc);
        best = best.min(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    best
}

fn main() {
    let iters: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let reps = 7;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let src: Vec<u8> = (0..RING + 4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut dst = vec![0u8; RING + 4096];
    // Offsets of successive payloads in the ring (1448-byte strides, like
    // consecutive segments of a byte stream).
    let slots = RING / LEN;

    let sums: [(&str, SumFn); 7] = [
        ("crate add_slice", sum_crate),
        ("sum_old (u32->u64 x4)", sum_old),
        ("sum_split16", sum_split16),
        ("sum_split32", sum_split32),
        ("sum_split64", sum_split64),
        ("sum_split128", sum_split128),
        ("sum_madd (pmaddwd)", sum_madd),
    ];
    let copies: [(&str, CopyFn); 10] = [
        ("crate add_copied", copy_crate),
        ("copy_old (lo/hi u32)", copy_old),
        ("copy_split16", copy_split16),
        ("copy_split128x16", copy_split128x16),
        ("copy_split32", copy_split32),
        ("copy_split64", copy_split64),
        ("copy_split128", copy_split128),
        ("copy_then_split64", copy_then_split),
        ("copy_then_old", copy_then_old),
        ("copy_madd (pmaddwd)", copy_madd),
    ];

    // Correctness against the first variant, all lengths 0..3000 at 4
    // alignments.
    for len in 0..3000 {
        for al in 0..4 {
            let s = &src[al..al + len];
            let want = fold(sum_old(s));
            for (name, f) in &sums {
                assert_eq!(fold(f(s)), want, "{name} len {len}");
            }
            for (name, f) in &copies {
                let d = &mut dst[..len];
                d.fill(0);
                assert_eq!(fold(f(d, s)), want, "{name} len {len}");
                assert_eq!(&dst[..len], s, "{name} len {len}");
            }
        }
    }

    println!("ns per {LEN}-byte call, best of {reps} rounds x {iters} calls (variants interleaved)");
    let mut sum_t = vec![[f64::INFINITY; 4]; sums.len()];
    let mut copy_t = vec![[f64::INFINITY; 4]; copies.len()];
    for _ in 0..reps {
        for (k, (_, f)) in sums.iter().enumerate() {
            for (j, al) in [0usize, 1, 3].into_iter().enumerate() {
                let s = &src[al..al + LEN];
                sum_t[k][j] = sum_t[k][j].min(time(iters, 1, |_| f(black_box(s))));
            }
            sum_t[k][3] = sum_t[k][3].min(time(iters, 1, |i| {
                let o = (i % slots) * LEN;
                f(black_box(&src[o..o + LEN]))
            }));
        }
        for (k, (_, f)) in copies.iter().enumerate() {
            for (j, al) in [0usize, 1, 3].into_iter().enumerate() {
                let s = &src[al..al + LEN];
                copy_t[k][j] = copy_t[k][j].min(time(iters, 1, |_| f(black_box(&mut dst[8..8 + LEN]), black_box(s))));
            }
            copy_t[k][3] = copy_t[k][3].min(time(iters, 1, |i| {
                // Source and destination rotate independently (send
                // buffer into a packet, packet into a receive buffer).
                let o = (i % slots) * LEN;
                let p = ((i * 7) % slots) * LEN + 2;
                f(black_box(&mut dst[p..p + LEN]), black_box(&src[o..o + LEN]))
            }));
        }
    }
    println!("{:<24} {:>8} {:>8} {:>8} {:>8}", "variant", "al0", "al1", "al3", "ring");
    let names = sums.iter().map(|v| v.0).chain(copies.iter().map(|v| v.0));
    for (name, t) in names.zip(sum_t.iter().chain(&copy_t)) {
        println!("{name:<24} {:>8.1} {:>8.1} {:>8.1} {:>8.1}", t[0], t[1], t[2], t[3]);
    }
    let mut row = Vec::new();
    for al in [0usize, 1, 3] {
        let s = &src[al..al + LEN];
        row.push(time(iters, reps, |_| {
            black_box(&mut dst[8..8 + LEN]).copy_from_slice(black_box(s));
            0
        }));
    }
    println!("{:<24} {:>8.1} {:>8.1} {:>8.1}", "memcpy only", row[0], row[1], row[2]);
}
