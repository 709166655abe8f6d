//! The connection's queue of application events, held inline.
//!
//! A connection rarely has more than one or two events pending between
//! two `poll_event` calls (`Readable` and `Writable` are raised at most
//! once until the application acts). A `VecDeque` keeps them in a heap
//! allocation of its own, which costs an extra cache miss per segment when
//! thousands of connections take turns (BENCHMARKS.md §2); this queue keeps
//! the first few inline and spills to a `VecDeque` only beyond that.

use super::Event;
use std::collections::VecDeque;

/// Events held without a heap allocation (three keep the queue at 16
/// bytes).
const INLINE: usize = 3;

/// A FIFO of [`Event`]s: up to [`INLINE`] inline, the rest spilled.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    inline: [Option<Event>; INLINE],
    /// Index in `inline` of the oldest inline event.
    head: u8,
    /// Inline events held.
    len: u8,
    /// Events after the inline ones (used only while `inline` is full or
    /// this is non-empty, so order is kept); boxed, as it is almost never
    /// needed, to keep the queue small.
    #[allow(clippy::box_collection, reason = "one pointer in the queue for a spill that is almost never used")]
    spill: Option<Box<VecDeque<Event>>>,
}

impl EventQueue {
    /// Appends an event.
    pub(super) fn push_back(&mut self, event: Event) {
        match &mut self.spill {
            None if usize::from(self.len) < INLINE => self.push_inline(event),
            Some(spill) => spill.push_back(event),
            None => self.spill = Some(Box::new(VecDeque::from([event]))),
        }
    }

    /// Heap bytes held by the spill, while there is one (for memory
    /// accounting).
    pub(super) fn allocated(&self) -> usize {
        self.spill
            .as_ref()
            .map_or(0, |s| core::mem::size_of::<VecDeque<Event>>() + s.capacity() * core::mem::size_of::<Event>())
    }

    /// Takes the oldest event.
    pub(super) fn pop_front(&mut self) -> Option<Event> {
        if self.len == 0 {
            return self.take_spilled();
        }
        let event = self.inline[usize::from(self.head)].take();
        self.head = ((usize::from(self.head) + 1) % INLINE) as u8;
        self.len -= 1;
        if self.len == 0 {
            // Refill from the spill so later pushes stay behind it.
            while usize::from(self.len) < INLINE
                && let Some(e) = self.take_spilled()
            {
                self.push_inline(e);
            }
        }
        event
    }

    /// The oldest spilled event; the spill is freed once empty.
    fn take_spilled(&mut self) -> Option<Event> {
        let spill = self.spill.as_mut()?;
        let e = spill.pop_front();
        if spill.is_empty() {
            self.spill = None;
        }
        e
    }

    fn push_inline(&mut self, event: Event) {
        let at = (usize::from(self.head) + usize::from(self.len)) % INLINE;
        self.inline[at] = Some(event);
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::CloseReason;

    /// FIFO order through inline storage, spilling and refilling.
    #[test]
    fn fifo_across_spill() {
        let all = [
            Event::Connected,
            Event::Readable,
            Event::Writable,
            Event::PeerFinished,
            Event::Readable,
            Event::Writable,
            Event::Closed(CloseReason::Graceful),
        ];
        let mut q = EventQueue::default();
        let mut model = VecDeque::new();
        // Interleave pushes and pops in a fixed pattern over many steps.
        for step in 0..200usize {
            let pushes = [1, 3, 0, 6, 2, 0, 0][step % 7];
            for k in 0..pushes {
                let e = all[(step + k) % all.len()];
                q.push_back(e);
                model.push_back(e);
            }
            let pops = [0, 1, 2, 1, 4, 3, 1][step % 7];
            for _ in 0..pops {
                assert_eq!(q.pop_front(), model.pop_front(), "step {step}");
            }
        }
        while let Some(e) = model.pop_front() {
            assert_eq!(q.pop_front(), Some(e));
        }
        assert_eq!(q.pop_front(), None);
    }
}
