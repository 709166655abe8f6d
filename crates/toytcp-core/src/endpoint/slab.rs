//! The endpoint's slots, held in fixed-size chunks.
//!
//! Connections used to live in a `Vec<Option<Slot>>` whose slots held a
//! `Box<Connection>`: the box kept the vector's spare capacity (it grows by
//! doubling) from costing a whole connection per unused slot, but every
//! segment then followed two pointers, slot and box, each a cache miss
//! once thousands of connections take turns (BENCHMARKS.md §2). Chunks of
//! [`CHUNK`] slots hold connections inline: spare capacity is at most one
//! chunk, and a slot's bookkeeping shares cache lines with its connection.

use core::ops::{Index, IndexMut};

/// Slots per chunk.
const CHUNK: usize = 16;

/// A growable sequence of `Option<T>` slots that never moves a slot once
/// created (chunks are allocated whole and never reallocated).
#[derive(Debug)]
pub(super) struct Slab<T> {
    chunks: Vec<Box<[Option<T>]>>,
    len: usize,
}

impl<T> Slab<T> {
    /// No slots.
    pub(super) fn new() -> Self {
        Slab { chunks: Vec::new(), len: 0 }
    }

    /// Number of slots.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Appends a slot.
    pub(super) fn push(&mut self, value: Option<T>) {
        if self.len == self.chunks.len() * CHUNK {
            self.chunks.push((0..CHUNK).map(|_| None).collect());
        }
        let i = self.len;
        self.len += 1;
        self[i] = value;
    }

    /// The slot at `i`, if there is one.
    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<&Option<T>> {
        if i < self.len { self.chunks.get(i / CHUNK)?.get(i % CHUNK) } else { None }
    }

    /// The slot at `i`, if there is one.
    #[inline]
    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut Option<T>> {
        if i < self.len { self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK) } else { None }
    }

    /// Every slot, in index order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Option<T>> + '_ {
        self.chunks.iter().flat_map(|c| c.iter()).take(self.len)
    }
}

impl<T> Index<usize> for Slab<T> {
    type Output = Option<T>;
    /// Panics if `i` is not a slot (like a slice).
    fn index(&self, i: usize) -> &Option<T> {
        self.get(i).expect("slot index in range")
    }
}

impl<T> IndexMut<usize> for Slab<T> {
    fn index_mut(&mut self, i: usize) -> &mut Option<T> {
        self.get_mut(i).expect("slot index in range")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_across_chunks() {
        let mut s = Slab::new();
        assert!(s.get(0).is_none());
        for i in 0..100u32 {
            s.push(if i % 3 == 0 { None } else { Some(i) });
        }
        assert_eq!(s.len(), 100);
        assert!(s.get(100).is_none() && s.get_mut(100).is_none());
        for i in 0..100usize {
            assert_eq!(s[i], if i % 3 == 0 { None } else { Some(i as u32) });
        }
        s[33] = Some(7);
        *s.get_mut(34).unwrap() = None;
        let all: Vec<_> = s.iter().copied().collect();
        assert_eq!(all.len(), 100);
        assert_eq!((all[33], all[34], all[35]), (Some(7), None, Some(35)));
    }
}
