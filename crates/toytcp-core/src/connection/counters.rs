//! The per-connection counters behind [`Connection::stats`](super::Connection::stats).
//!
//! The six counters every segment moves stay inline; the others (retransmits,
//! drops, probes, challenge ACKs, …) live in one box allocated on their first
//! increment. With thousands of connections every byte of `Connection` costs
//! (BENCHMARKS.md §2, docs/notes/perf.md), and a steady exchange never
//! touches the rare counters, so most connections never allocate the box.

use super::Stats;

/// Connection counters: the per-segment ones inline, the rest boxed lazily.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Segments accepted for processing (`Stats::segs_in`).
    pub segs_in: u64,
    /// Segments emitted (`Stats::segs_out`).
    pub segs_out: u64,
    /// Payload bytes received (`Stats::bytes_in`).
    pub bytes_in: u64,
    /// Payload bytes emitted, retransmissions included (`Stats::bytes_out`).
    pub bytes_out: u64,
    /// Bytes delivered in order to the receive buffer (`Stats::bytes_delivered`).
    pub bytes_delivered: u64,
    /// Bytes of our data the peer acknowledged (`Stats::bytes_acked`).
    pub bytes_acked: u64,
    /// Every other counter of [`Stats`]; its per-segment counters and gauges
    /// are unused. `None` until one of them is first incremented.
    rare: Option<Box<Stats>>,
}

impl Counters {
    /// The rarely moved counters, allocated on first use.
    pub fn rare(&mut self) -> &mut Stats {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Heap bytes held: the box of rare counters, once allocated (for
    /// memory accounting).
    pub fn allocated(&self) -> usize {
        self.rare.as_ref().map_or(0, |_| core::mem::size_of::<Stats>())
    }

    /// The rarely moved counters, if any was ever moved.
    pub fn rare_ref(&self) -> Option<&Stats> {
        self.rare.as_deref()
    }

    /// Forgets the last ICMP soft error (progress made it moot, RFC 1122
    /// §4.2.3.9), without allocating the rare counters to do so.
    pub fn clear_soft_error(&mut self) {
        if let Some(rare) = self.rare.as_deref_mut() {
            rare.soft_error = None;
        }
    }

    /// All counters as a [`Stats`] (gauges left at their defaults).
    pub fn snapshot(&self) -> Stats {
        let mut s = self.rare.as_deref().copied().unwrap_or_default();
        s.segs_in = self.segs_in;
        s.segs_out = self.segs_out;
        s.bytes_in = self.bytes_in;
        s.bytes_out = self.bytes_out;
        s.bytes_delivered = self.bytes_delivered;
        s.bytes_acked = self.bytes_acked;
        s
    }
}
