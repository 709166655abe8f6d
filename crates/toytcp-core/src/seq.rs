//! TCP sequence numbers with modulo-2^32 comparison (RFC 9293 §3.4).
//!
//! Sequence numbers wrap, so `a < b` means "b is ahead of a by less than
//! 2^31", the rule every TCP uses. `SeqNum` therefore implements
//! `PartialOrd` only (it is not a total order) and arithmetic wraps.

use core::cmp::Ordering;
use core::ops::{Add, AddAssign, Sub};

/// A 32-bit TCP sequence (or acknowledgment) number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The signed distance from `other` to `self` (`self - other`), in
    /// the range `-2^31 .. 2^31`.
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The larger of two sequence numbers in modular order.
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.diff(other) >= 0 { self } else { other }
    }

    /// The smaller of two sequence numbers in modular order.
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.diff(other) <= 0 { self } else { other }
    }

    /// `lo <= self < hi` in modular order (RFC 9293 §3.4 acceptability tests).
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        lo <= self && self < hi
    }

    /// `lo <= self <= hi` in modular order.
    pub fn in_range_inclusive(self, lo: SeqNum, hi: SeqNum) -> bool {
        lo <= self && self <= hi
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

impl Sub<SeqNum> for SeqNum {
    type Output = u32;
    /// The forward distance from `rhs` to `self`; callers must know that
    /// `rhs <= self`, otherwise the result is the wrapped distance.
    fn sub(self, rhs: SeqNum) -> u32 {
        self.0.wrapping_sub(rhs.0)
    }
}

impl core::fmt::Display for SeqNum {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordering_across_the_wrap() {
        let near_top = SeqNum(u32::MAX - 10);
        let wrapped = near_top + 20;
        assert_eq!(wrapped, SeqNum(9));
        assert!(near_top < wrapped);
        assert!(wrapped > near_top);
        assert_eq!(wrapped - near_top, 20);
        assert_eq!(wrapped.diff(near_top), 20);
        assert_eq!(near_top.diff(wrapped), -20);
        assert_eq!(near_top.max(wrapped), wrapped);
        assert_eq!(near_top.min(wrapped), near_top);
        assert!(SeqNum(u32::MAX).in_range(near_top, wrapped));
        assert!(SeqNum(0).in_range(near_top, wrapped));
        assert!(!wrapped.in_range(near_top, wrapped));
        assert!(wrapped.in_range_inclusive(near_top, wrapped));
        assert_eq!(SeqNum(3) - 5, SeqNum(u32::MAX - 1));
    }

    proptest! {
        #[test]
        fn adding_less_than_half_the_space_moves_forward(a in any::<u32>(), d in 1u32..(1 << 31)) {
            let a = SeqNum(a);
            let b = a + d;
            prop_assert!(a < b);
            prop_assert!(b > a);
            prop_assert_eq!(b - a, d);
            prop_assert_eq!(b.diff(a), d as i32);
        }
    }
}
