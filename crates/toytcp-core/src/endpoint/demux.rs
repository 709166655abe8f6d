//! The demultiplexing table: 4-tuple → slot index.
//!
//! Every segment looks its connection up here, so with thousands of
//! connections the table's cache footprint matters more than anything
//! else about it. `std`'s `HashMap<FourTuple, u32>` keeps 16-byte buckets
//! (256 KiB at 10,000 connections), whose lines were evicted between two
//! uses and cost a miss to memory per segment (BENCHMARKS.md §2). This
//! table keeps 8 bytes per bucket — a 32-bit hash tag and the slot index,
//! no key — and confirms a candidate by comparing the connection's own
//! 4-tuple, which the segment needs next anyway.
//!
//! Open addressing with linear probing, at most 3/4 full, deletion by
//! backward shift (no tombstones). The hash is SipHash-1-3 keyed with a
//! secret derived from the endpoint's seed, so an attacker who chooses
//! 4-tuples cannot aim them at one probe chain (the reason `std` uses
//! SipHash too), and runs stay reproducible from their seed.

use crate::connection::FourTuple;
use core::hash::Hasher;
use siphasher::sip::SipHasher13;

/// Smallest table (buckets).
const MIN_BUCKETS: usize = 16;

/// 4-tuple → slot index. Does not store the tuples: every lookup is given
/// a function that tells whether the tuple of a candidate slot matches.
#[derive(Clone, Debug)]
pub(super) struct Demux {
    /// 0 for an empty bucket, else `tag << 32 | (index + 1)`, where `tag`
    /// is the low 32 bits of the key's hash; its home bucket is
    /// `tag & mask`.
    buckets: Vec<u64>,
    /// Entries held.
    len: usize,
    key: (u64, u64),
}

impl Demux {
    /// An empty table hashing with `key`.
    pub(super) fn new(key: (u64, u64)) -> Self {
        Demux { buckets: Vec::new(), len: 0, key }
    }

    /// Entries held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn tag(&self, t: &FourTuple) -> u32 {
        let mut h = SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write_u64(u64::from(t.local.ip().to_bits()) << 32 | u64::from(t.remote.ip().to_bits()));
        h.write_u32(u32::from(t.local.port()) << 16 | u32::from(t.remote.port()));
        h.finish() as u32
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// The slot index for `t`: the first candidate with `t`'s hash tag for
    /// which `is_match(index)` holds.
    #[inline]
    pub(super) fn get(&self, t: &FourTuple, is_match: impl Fn(u32) -> bool) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let tag = self.tag(t);
        let mask = self.mask();
        let mut at = tag as usize & mask;
        loop {
            let e = self.buckets[at];
            if e == 0 {
                return None;
            }
            if (e >> 32) as u32 == tag {
                let index = (e as u32).wrapping_sub(1);
                if is_match(index) {
                    return Some(index);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds `t → index`. The caller makes sure `t` is not in the table.
    pub(super) fn insert(&mut self, t: &FourTuple, index: u32) {
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        let tag = self.tag(t);
        self.place(u64::from(tag) << 32 | u64::from(index + 1));
        self.len += 1;
    }

    /// Removes the entry `t → index` if there is one.
    pub(super) fn remove(&mut self, t: &FourTuple, index: u32) {
        if self.len == 0 {
            return;
        }
        let tag = self.tag(t);
        let want = u64::from(tag) << 32 | u64::from(index + 1);
        let mask = self.mask();
        let mut hole = tag as usize & mask;
        loop {
            match self.buckets[hole] {
                0 => return,
                e if e == want => break,
                _ => hole = (hole + 1) & mask,
            }
        }
        // Backward-shift deletion: pull later entries of the probe run
        // into the hole when the hole lies between their home and them.
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let e = self.buckets[j];
            if e == 0 {
                break;
            }
            let home = (e >> 32) as usize & mask;
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.buckets[hole] = e;
                hole = j;
            }
        }
        self.buckets[hole] = 0;
        self.len -= 1;
    }

    /// Puts an encoded entry in the first free bucket of its probe run.
    fn place(&mut self, e: u64) {
        let mask = self.mask();
        let mut at = (e >> 32) as usize & mask;
        while self.buckets[at] != 0 {
            at = (at + 1) & mask;
        }
        self.buckets[at] = e;
    }

    /// Doubles the table (entries are moved by their stored tags; no key
    /// is hashed again).
    fn grow(&mut self) {
        let size = (self.buckets.len() * 2).max(MIN_BUCKETS);
        let old = core::mem::replace(&mut self.buckets, vec![0; size]);
        for e in old.into_iter().filter(|&e| e != 0) {
            self.place(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, SocketAddrV4};
    use std::collections::HashMap;

    fn tuple(i: u32) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1000 + (i % 50_000) as u16),
            remote: SocketAddrV4::new(Ipv4Addr::from_bits(0x0a00_0000 | (i / 50_000)), 80),
        }
    }

    /// Against a `HashMap` model through growth, random inserts and
    /// removals (backward shift must keep every probe run intact), with a
    /// tiny key space of tags so collisions are common.
    #[test]
    fn matches_a_hashmap() {
        let mut d = Demux::new((1, 2));
        let mut model: HashMap<FourTuple, u32> = HashMap::new();
        let mut slots: Vec<Option<FourTuple>> = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for step in 0..40_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = tuple((x % 3000) as u32);
            match (model.get(&t).copied(), x >> 60 < 9) {
                (None, true) => {
                    let index = slots.len() as u32;
                    slots.push(Some(t));
                    d.insert(&t, index);
                    model.insert(t, index);
                }
                (Some(index), false) => {
                    d.remove(&t, index);
                    slots[index as usize] = None;
                    model.remove(&t);
                }
                _ => {}
            }
            let is_match = |i: u32| slots.get(i as usize).copied().flatten() == Some(t);
            assert_eq!(d.get(&t, is_match), model.get(&t).copied(), "step {step}");
            assert_eq!(d.len(), model.len());
            // Removing an entry that is not there changes nothing.
            d.remove(&t, u32::MAX - 1);
            assert_eq!(d.len(), model.len());
        }
        for (t, &i) in &model {
            assert_eq!(d.get(t, |c| c == i), Some(i));
        }
        assert!(d.buckets.len() >= 2048);
    }
}
